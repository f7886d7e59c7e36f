"""The trader's side of portfolio margin (docs/protocol.md §10.6): the epoch's risk record, checked.

In portfolio mode (``GET /config`` says ``margin_mode: portfolio``) a margin attestation is the
``portfolio`` statement over the epoch's published risk arrays (``GET /epochs/{id}/risk``). Before
the trader proves anything against a record, or shows figures computed from it, it checks that
the record is the one the service will verify against and that it describes this deployment:

- it is the record of the epoch asked for, on this account's curve, with one array per market;
- its Poseidon digest, recomputed here from the arrays, is the digest it carries (the circuit's
  last public input: a record whose digest does not match its arrays could only waste a proof);
- instrument i is what market i of ``GET /markets`` is (a future on market i, or the option with
  the configured right, strike, expiry and underlying);
- an instrument is marked expired exactly when it is an option past its expiry at the valuation time;
- it gives the market inputs of every underlying, and the price it valued each at is the epoch's
  mark price.

The figures (scenario P&L, requirement, surplus, Greeks) are ``circuits.protocol.risk.book``'s;
the refusal before proving is ``circuits.portfolio.require_portfolio_margin``'s.
"""

from __future__ import annotations

from dataclasses import dataclass

from circuits.portfolio import risk_arrays_from_json
from circuits.protocol.api import EpochRisk, Market
from circuits.protocol.risk.book import BookReport, book_report
from circuits.protocol.risk.errors import RiskModelError
from circuits.protocol.risk.expiry import is_expired
from circuits.protocol.risk.instruments import Future, Instrument, Option, OptionRight, instrument_to_dict
from circuits.protocol.risk.scenarios import EpochRiskArrays, MarketInputs
from circuits.state import AccountState
from prover.portfolio_status import market_inputs_from_json
from zkmargin.errors import ZkMarginError

PORTFOLIO_MODE = "portfolio"


class RiskRecordRefusedError(ZkMarginError):
    """The service's risk record is not one a proof should be made against."""


@dataclass(frozen=True)
class CheckedRisk:
    """An epoch's risk record that passed every check: its arrays and the inputs that valued them."""

    arrays: EpochRiskArrays
    markets: dict[int, MarketInputs]
    valued_at: int
    digest: int


def configured_instrument(market: Market) -> Instrument:
    """The risk model's instrument for a market as ``GET /markets`` shows it."""
    if market.option is None:
        return Future(market.market, perpetual=market.kind == "perpetual")
    spec = market.option
    return Option(spec.underlying, OptionRight(spec.right), spec.strike, spec.expiry)


def _same_instrument(published: Instrument, configured: Instrument) -> bool:
    return published == configured


def _refuse(epoch_id: int, why: str) -> RiskRecordRefusedError:
    return RiskRecordRefusedError(f"the service's risk record of epoch {epoch_id} is refused: {why} "
                                  "(nothing was proven; tell the operator)")


def check_risk_record(record: EpochRisk, epoch_id: int, mark_prices: list[int] | None, markets: list[Market],
                      curve: str) -> CheckedRisk:
    """The record, checked (see the module docstring); ``RiskRecordRefusedError`` naming the first
    check that fails."""
    if record.epoch != epoch_id:
        raise _refuse(epoch_id, f"it is the record of epoch {record.epoch}")
    if record.curve != curve:
        raise _refuse(epoch_id, f"it is on {record.curve}, this account on {curve}")
    try:
        arrays = risk_arrays_from_json(record.model_dump(mode="json"), "the risk record")
        inputs = market_inputs_from_json([m.model_dump(mode="json") for m in record.markets],
                                         "the risk record's markets")
    except (ZkMarginError, RiskModelError) as exc:
        raise _refuse(epoch_id, f"it does not parse ({exc})") from None
    if len(arrays.arrays) != len(markets):
        raise _refuse(epoch_id, f"it has {len(arrays.arrays)} instruments, the service {len(markets)} markets")
    for i, (array, market) in enumerate(zip(arrays.arrays, markets)):
        configured = configured_instrument(market)
        if not _same_instrument(array.instrument, configured):
            raise _refuse(epoch_id, f"instrument {i} is {instrument_to_dict(array.instrument)}, but market {i} "
                                    f"({market.name}) is {instrument_to_dict(configured)}")
        if array.expired != is_expired(configured, record.valued_at):
            raise _refuse(epoch_id, f"instrument {i} is {'' if array.expired else 'not '}marked expired at "
                                    f"{record.valued_at}, its expiry says otherwise")
    unvalued = sorted({a.instrument.market for a in arrays.arrays} - set(inputs))
    if unvalued:
        raise _refuse(epoch_id, f"it gives no price and volatility for underlying market {unvalued[0]}")
    for index, market_inputs in inputs.items():
        if mark_prices is None or not 0 <= index < len(mark_prices) or mark_prices[index] != market_inputs.price:
            raise _refuse(epoch_id, f"it values market {index} at {market_inputs.price}, not at the epoch's mark "
                                    "price")
    recomputed = arrays.digest(curve)
    if str(recomputed) != record.digest:
        raise _refuse(epoch_id, f"its digest {record.digest} is not the digest of its arrays ({recomputed})")
    return CheckedRisk(arrays, inputs, record.valued_at, recomputed)


def portfolio_report(state: AccountState, risk: CheckedRisk) -> BookReport:
    """The state's figures against the record: ``book_report``'s integers, nothing recomputed here."""
    return book_report(state.collateral, state.sizes, state.costs, risk.arrays, risk.markets, risk.valued_at)
