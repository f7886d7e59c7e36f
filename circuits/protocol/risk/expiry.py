"""Option expiry: when an option stops being valued by the model and what it is worth then.

An option is **expired** at a time ``at`` when ``at >= expiry`` (the model values only strictly
before expiry, ``black_scholes.years_to_expiry``). Its worth is then its **intrinsic value**
against the underlying's price, exact integers: ``max(P - K, 0)`` for a call, ``max(K - P, 0)``
for a put.

The clearing cycle (docs/protocol.md §10.7) reads two times per epoch:

- at the **close**, every option market gets a settlement value (``settlement_values``): an
  option expired by the close at its intrinsic value against the underlying's closing price,
  flagged ``expires`` (the settle statement closes the position: size and cost basis 0); a live
  option at the model's value (rounded down, as its mark);
- at the **open**, an option that expired since the previous close (its holders still hold it:
  they settle it at the coming close) is published as an ``expired`` risk array: mark = intrinsic
  value against the mark price, every scenario P&L 0 (nothing is left to move: the payoff is fixed
  by the settlement price, not a model) and no short charge. An option already extinguished is
  held by no one, so the same harmless array stands for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from circuits.protocol.risk.black_scholes import check_price, option_value
from circuits.protocol.risk.errors import RiskModelError
from circuits.protocol.risk.instruments import PRICE_LIMIT, Future, Instrument, Option, OptionRight, exact_int

TIMESTAMP_LIMIT = 1 << 64


def is_expired(instrument: Instrument, at: int) -> bool:
    """True for an option at or past its expiry at Unix time ``at``; a future never expires."""
    exact_int("valuation time", at, 0, TIMESTAMP_LIMIT)
    return isinstance(instrument, Option) and at >= instrument.expiry


def intrinsic_value(option: Option, price: int) -> int:
    """max(P - K, 0) for a call, max(K - P, 0) for a put: exact, at the underlying's price."""
    check_price(price)
    if option.right is OptionRight.CALL:
        return max(price - option.strike, 0)
    return max(option.strike - price, 0)


@dataclass(frozen=True)
class SettlementValue:
    """One market's settlement price at an epoch's close, and whether it closes the position."""

    price: int
    expires: bool


def settlement_value(instrument: Instrument, underlying_price: int, vol: int | None, at: int,
                     rate: int = 0) -> SettlementValue:
    """A future at the underlying's closing price; an option expired by ``at`` at its intrinsic
    value (expires); a live one at the model's value, rounded down (needs the volatility)."""
    if isinstance(instrument, Future):
        return SettlementValue(check_price(underlying_price), False)
    if is_expired(instrument, at):
        return SettlementValue(intrinsic_value(instrument, underlying_price), True)
    if vol is None:
        raise RiskModelError(f"the live option on market {instrument.market} needs a volatility to be valued")
    value = option_value(instrument, underlying_price, vol, at, rate)
    if value >= PRICE_LIMIT:  # a put under a negative rate may be worth more than its strike
        raise RiskModelError(f"the option is worth {value}, beyond the settlement price bound 2^48")
    return SettlementValue(value, False)


def settlement_values(instruments: Sequence[Instrument], closing_prices: Sequence[int],
                      vols: Mapping[int, int], at: int) -> list[SettlementValue]:
    """Every market's settlement value at the close ``at``: instrument i is market i, valued
    against its underlying's closing price (``closing_prices`` indexed by market)."""
    if len(instruments) != len(closing_prices):
        raise RiskModelError(f"{len(closing_prices)} closing prices for {len(instruments)} instruments")
    return [settlement_value(i, closing_prices[i.market], vols.get(i.market), at) for i in instruments]
