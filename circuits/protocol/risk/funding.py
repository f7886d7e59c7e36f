"""Perpetual funding: a cumulative index per market and settlements that never create money.

**What the oracles sign.** A funding **rate** per market and epoch, in millionths of the
epoch's mark price (positive: longs pay shorts), with the same quorum and circuit breaker as
prices. A rate is a small bounded number that each oracle can compute from its own premium
samples and that a median can combine; the index is then derived by the service from the rate
and the epoch's (already quorum-signed) price. Signing the index itself would need every oracle
to agree on a path-dependent running sum (one missed epoch splits them forever); signing a raw
premium would move the premium-to-rate formula (clamps, interest component) into the service,
where no quorum checks it.

**The index.** Kept exact by scaling with RATE_SCALE: for market m, in units of collateral
units per base unit times 10^6::

    F_m(N + 1) = F_m(N) + P_m(N) * rate_m(N)

One long unit owes ``(F_now - F_then) / 10^6`` collateral units between two indices; a short
unit receives the same. |rate| <= MAX_FUNDING_RATE (100 % of the price per epoch; the
operator's circuit breaker is far tighter) and P < 2^48 bound one epoch's step by 2^68; the
index is kept in (-2^100, 2^100) (``FUNDING_INDEX_BITS``), 2^32 epochs of the largest step.

**The charge.** A position b last settled at ``F_then`` pays ``ceil(b (F_now - F_then) / 10^6)``
(negative: it receives the magnitude). Rounding up the amount owed is the StarkEx rule in one
formula: a payer's payment rounds up and a receiver's receipt rounds down, so funding never
creates money. In a circuit: |b (F_now - F_then)| < 2^40 x 2^101 = 2^141, and the quotient q is
pinned by ``0 <= q 10^6 - b dF < 10^6``, all far below either field's modulus (> 2^253).

**Zero sum.** In an epoch where every position settles from the same F_then to the same F_now
and the book is balanced (sum of sizes 0, each long has a short), the exact amounts sum to
``dF * sum b / 10^6 = 0``; each rounded payment exceeds its exact amount by less than one unit,
so the payments sum to a **remainder** R with 0 <= R < (number of positions). The remainder goes
to the insurance fund; with flows to accounts counted negative for payers,
``longs + shorts + R = 0`` exactly (``FundingSettlement``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from circuits.protocol.risk.errors import FundingError
from circuits.state import EPOCH_BITS, MAX_MARKETS, PRICE_BITS, RATE_SCALE, SIZE_BITS

MAX_FUNDING_RATE = RATE_SCALE  # |rate| <= 100 % of the price per epoch
FUNDING_STEP_BITS = PRICE_BITS + 20  # |P x rate| < 2^48 x 2^20 (RATE_SCALE < 2^20)
FUNDING_INDEX_BITS = 100  # |F| < 2^100: 2^32 epochs of the largest step


def _exact_int(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FundingError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if not low <= value < high:
        raise FundingError(f"{name} = {value} is outside [{low}, {high})")
    return value


def check_funding_rate(rate: int) -> int:
    return _exact_int("funding rate (millionths per epoch)", rate, -MAX_FUNDING_RATE, MAX_FUNDING_RATE + 1)


def check_index_value(value: int) -> int:
    limit = 1 << FUNDING_INDEX_BITS
    return _exact_int("funding index", value, -limit + 1, limit)


@dataclass(frozen=True)
class FundingIndex:
    """Market m's cumulative funding index at the start of ``epoch`` (scaled by 10^6)."""

    market: int
    epoch: int
    value: int = 0

    def __post_init__(self) -> None:
        _exact_int("funding market", self.market, 0, MAX_MARKETS)
        _exact_int("funding epoch", self.epoch, 0, (1 << EPOCH_BITS) - 1)
        check_index_value(self.value)

    def advance(self, price: int, rate: int) -> FundingIndex:
        """The index of the next epoch: F + P x rate, with the epoch's price and signed rate."""
        step = _exact_int("funding price", price, 1, 1 << PRICE_BITS) * check_funding_rate(rate)
        value = self.value + step
        if abs(value) >= 1 << FUNDING_INDEX_BITS:
            raise FundingError(f"market {self.market}: the funding index would leave (-2^100, 2^100)")
        return FundingIndex(self.market, self.epoch + 1, value)


def funding_payment(size: int, index_then: int, index_now: int) -> int:
    """What a position pays between two indices: ceil(b (F_now - F_then) / 10^6).

    Positive: the account pays that much; negative: it receives the magnitude. Rounding the
    amount owed up makes a payer pay at least, and a receiver receive at most, the exact amount."""
    _exact_int("size", size, -(1 << SIZE_BITS), 1 << SIZE_BITS)
    delta = check_index_value(index_now) - check_index_value(index_then)
    return -(-size * delta // RATE_SCALE)


@dataclass(frozen=True)
class FundingSettlement:
    """One market's funding for one epoch: per position the flow to the account (negative: it
    paid), the long and short totals and the remainder the insurance fund keeps."""

    flows: tuple[int, ...]
    longs: int
    shorts: int
    remainder: int

    def __post_init__(self) -> None:
        if self.longs + self.shorts + self.remainder != 0 or sum(self.flows) != self.longs + self.shorts:
            raise FundingError("a funding settlement must sum to zero with its remainder")


def settle_funding(sizes: Sequence[int], index_then: int, index_now: int) -> FundingSettlement:
    """Settle every position of a balanced book (sizes sum to 0) from one index to the next."""
    if sum(sizes) != 0:
        raise FundingError(f"the book is not balanced: its sizes sum to {sum(sizes)}, not 0")
    flows = tuple(-funding_payment(b, index_then, index_now) for b in sizes)
    longs = sum(flow for b, flow in zip(sizes, flows) if b > 0)
    shorts = sum(flow for b, flow in zip(sizes, flows) if b < 0)
    return FundingSettlement(flows, longs, shorts, -(longs + shorts))
