"""Option expiry in the risk model: when an option is expired, its intrinsic value, the expired
risk array published for it, and the settlement values at an epoch's close (docs/protocol.md §10.7)."""

import pytest

from circuits.protocol.risk import (
    InstrumentError,
    RiskModelError,
    epoch_risk_arrays,
    intrinsic_value,
    is_expired,
    option_value,
    portfolio_risk,
    settlement_values,
)
from circuits.protocol.risk.book import unit_greeks
from circuits.protocol.risk.expiry import SettlementValue, settlement_value
from circuits.protocol.risk.instruments import Future, Option, OptionRight
from circuits.protocol.risk.scenarios import MarketInputs, RiskParameters

NOW = 1_700_000_000
CALL = Option(0, OptionRight.CALL, 60_000, NOW)
PUT = Option(0, OptionRight.PUT, 60_000, NOW)
BOOK = [Future(0), CALL, PUT]


def test_an_option_is_expired_from_its_expiry_on():
    assert not is_expired(CALL, NOW - 1)
    assert is_expired(CALL, NOW) and is_expired(CALL, NOW + 1)
    assert not is_expired(Future(0), 1 << 63)
    with pytest.raises(InstrumentError):
        is_expired(CALL, -1)


@pytest.mark.parametrize("price,call,put", [(65_000, 5_000, 0), (55_000, 0, 5_000), (60_000, 0, 0), (1, 0, 59_999)])
def test_intrinsic_values(price, call, put):
    assert intrinsic_value(CALL, price) == call
    assert intrinsic_value(PUT, price) == put
    assert intrinsic_value(CALL, price) - intrinsic_value(PUT, price) == price - CALL.strike  # parity at expiry


def test_intrinsic_value_refuses_a_price_outside_the_bounds():
    with pytest.raises(RiskModelError):
        intrinsic_value(CALL, 0)


def test_an_expired_option_is_published_at_intrinsic_value_with_nothing_at_risk():
    markets = {0: MarketInputs(65_000, 600_000)}
    arrays = epoch_risk_arrays(7, BOOK, markets, NOW + 60)  # expired between the last close and this open
    future, call, put = arrays.arrays
    assert not future.expired and future.mark == 65_000
    assert call.expired and call.mark == 5_000 and call.short_charge == 0 and call.pnl == (0,) * 16
    assert put.expired and put.mark == 0 and put.short_charge == 0 and put.pnl == (0,) * 16
    # a short call past expiry owes exactly its payoff: no scenario loss, no short charge
    risk = portfolio_risk(arrays.arrays, [0, -1, 0])
    assert risk.requirement == 0


def test_a_live_option_is_still_valued_by_the_model():
    markets = {0: MarketInputs(65_000, 600_000)}
    call = epoch_risk_arrays(7, BOOK, markets, NOW - 86_400).arrays[1]
    assert not call.expired and call.mark > 5_000 and call.short_charge > 0 and any(call.pnl)


def test_an_expired_option_has_no_greeks():
    greeks = unit_greeks(CALL, MarketInputs(65_000, 600_000), NOW)
    assert (greeks.delta, greeks.gamma, greeks.vega, greeks.theta) == (0, 0, 0, 0)


def test_settlement_values_at_a_close():
    closing = [65_000, 61_000, 61_000]  # market 0's price is what both options read
    at_expiry = settlement_values(BOOK, closing, {0: 600_000}, NOW)
    assert at_expiry == [SettlementValue(65_000, False), SettlementValue(5_000, True), SettlementValue(0, True)]
    before = settlement_values(BOOK, closing, {0: 600_000}, NOW - 3_600)
    assert before[1] == SettlementValue(option_value(CALL, 65_000, 600_000, NOW - 3_600), False)
    assert not before[2].expires and before[2].price == option_value(PUT, 65_000, 600_000, NOW - 3_600)


def test_a_live_option_needs_a_volatility_and_an_expired_one_does_not():
    with pytest.raises(RiskModelError, match="volatility"):
        settlement_value(CALL, 65_000, None, NOW - 1)
    assert settlement_value(CALL, 65_000, None, NOW) == SettlementValue(5_000, True)


def test_settlement_values_need_one_price_a_market():
    with pytest.raises(RiskModelError, match="2 closing prices for 3"):
        settlement_values(BOOK, [65_000, 1], {}, NOW)


def test_expired_arrays_keep_the_scenario_count_of_the_policy():
    params = RiskParameters(price_steps=2)
    call = epoch_risk_arrays(7, [CALL], {0: MarketInputs(65_000, 600_000)}, NOW, params).arrays[0]
    assert len(call.pnl) == len(params.scenarios()) == 12


def test_a_live_value_beyond_the_settlement_price_bound_is_refused():
    # a put under a -100 % rate is worth K e^(rT) > K: ten years out it would pass 2^48
    put = Option(0, OptionRight.PUT, (1 << 48) - 1, NOW + 10 * 365 * 86_400)
    with pytest.raises(RiskModelError, match="beyond the settlement price bound"):
        settlement_value(put, 60_000, 600_000, NOW, rate=-1_000_000)
