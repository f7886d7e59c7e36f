"""Scenarios, risk arrays and the portfolio check: SPAN's scenario set, exact integer scenario
prices, monotone arrays, conservative rounding for longs and shorts, the circuit's inequality,
the canonical encoding, and hedged against naked books next to the flat rate."""

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from circuits.protocol.risk import RiskArrayError, RiskModelError
from circuits.protocol.risk.black_scholes import (
    SECONDS_PER_YEAR,
    VOL_MAX,
    VOL_MIN,
    bs_value,
)
from circuits.protocol.risk.instruments import Future, Option, OptionRight
from circuits.protocol.risk.scenarios import (
    ENCODING_OFFSET,
    MAX_INITIAL_FACTOR,
    SHORT_OPTION_MIN_CHARGE,
    EpochRiskArrays,
    MarketInputs,
    RiskArray,
    RiskParameters,
    epoch_risk_arrays,
    equity_at_marks,
    flat_rate_requirement,
    portfolio_risk,
    risk_array,
    scenario_pnl,
)
from circuits.state import RATE_SCALE
from verifier.core.config import (
    DEFAULT_MARKETS,  # read only: the flat rates a deployment starts with
)

CALL, PUT = OptionRight.CALL, OptionRight.PUT
NOW = 1_700_000_000
DAY = 86_400
PARAMS = RiskParameters()
SCENARIOS = PARAMS.scenarios()
MINIMUM_ONLY = RiskParameters(short_option_rate=0)  # the same scenarios, the minimum charge alone
BTC = 60_000 * 10**6  # collateral units (10^-6 USDC) per base unit (1 BTC)


def regular_by_vol(direction):
    """Indices of the weight-1 scenarios at one volatility direction, ordered by price move."""
    chosen = [s for s, sc in enumerate(SCENARIOS) if sc.vol_direction == direction and sc.weight == 1]
    return sorted(chosen, key=lambda s: SCENARIOS[s].price_steps)


# --- the scenario set ---------------------------------------------------------------------------

def test_default_set_is_spans_sixteen_in_spans_order():
    assert len(SCENARIOS) == 16
    assert [(s.price_steps, s.vol_direction) for s in SCENARIOS[:14]] == [
        (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1), (2, 1), (2, -1), (-2, 1), (-2, -1),
        (3, 1), (3, -1), (-3, 1), (-3, -1)]
    assert all(s.weight == 1 for s in SCENARIOS[:14])
    assert [(s.price_steps, s.vol_direction, s.weight) for s in SCENARIOS[14:]] == [
        (6, 0, Fraction(35, 100)), (-6, 0, Fraction(35, 100))]  # +-2 x range at 35 %
    assert SCENARIOS[14].label(3) == "price +2 x range, vol unchanged, 7/20 weight"


def test_scenario_prices_round_away_from_zero_and_extremes_weigh_exactly():
    # 101 x 15 % / 3 = 5.05 -> 6; the extreme 101 x 30 % = 30.3 -> 31 -> 40 (a multiple of 20)
    moves = [PARAMS.price_move(101, s) for s in SCENARIOS]
    assert moves[2:6] == [6, 6, -6, -6]
    assert moves[14:] == [40, -40]
    assert [PARAMS.price_move(60, s) for s in SCENARIOS[:14:2]] == [0, 3, -3, 6, -6, 9, -9]  # exact: no rounding


@settings(max_examples=200, deadline=None)
@given(price=st.integers(1, (1 << 48) - 1), scan=st.integers(1, 333_333), steps=st.integers(1, 5))
def test_no_scenario_is_milder_than_its_nominal_move(price, scan, steps):
    params = RiskParameters(price_scan_range=scan, price_steps=steps)
    for scenario in params.scenarios():
        move = params.price_move(price, scenario)
        nominal = Fraction(price * scan * scenario.price_steps, RATE_SCALE * steps)
        assert abs(move) >= abs(nominal) and abs(move) - abs(nominal) < scenario.weight_denominator
        assert (move >= 0) == (scenario.price_steps >= 0)
        assert move * scenario.weight_numerator % scenario.weight_denominator == 0


def test_volatility_shifts_are_clamped_to_the_model_bounds():
    assert PARAMS.scenario_vol(VOL_MIN + 5, SCENARIOS[1]) == VOL_MIN
    assert PARAMS.scenario_vol(VOL_MAX - 5, SCENARIOS[0]) == VOL_MAX
    assert PARAMS.scenario_vol(600_000, SCENARIOS[14]) == 600_000


@pytest.mark.parametrize("changes", [
    {"price_scan_range": 0}, {"price_scan_range": 500_000},  # 2 x 50 % would reach zero
    {"extreme_weight_numerator": 21}, {"extreme_weight_numerator": 0}, {"price_steps": 0},
    {"short_option_rate": RATE_SCALE + 1}, {"vol_scan_range": -1}, {"price_steps": True},
])
def test_bad_scenario_policies_are_refused(changes):
    with pytest.raises(RiskModelError):
        RiskParameters(**changes)


# --- risk arrays -------------------------------------------------------------------------------

def test_a_long_future_is_linear_and_exact():
    array = risk_array(Future(0), MarketInputs(BTC, 600_000), NOW, PARAMS)
    assert array.mark == BTC and array.short_charge == 0
    nominal_step = BTC * PARAMS.price_scan_range // (RATE_SCALE * 3)  # BTC divides exactly
    for s, scenario in enumerate(SCENARIOS):
        assert array.pnl[s] * scenario.weight_denominator == (
            nominal_step * scenario.price_steps * scenario.weight_numerator)
    assert array.pnl[0] == array.pnl[1] == 0  # volatility does not move a future


def option_inputs(right, strike, days, vol=600_000, price=BTC, rate=0):
    option = Option(0, right, strike, NOW + days * DAY)
    return option, MarketInputs(price, vol, rate)


def test_a_long_call_gains_with_price_and_with_volatility():
    option, market = option_inputs(CALL, BTC, 30)
    pnl = risk_array(option, market, NOW, PARAMS).pnl
    for direction in (1, -1):
        ordered = [pnl[s] for s in regular_by_vol(direction)]
        assert ordered == sorted(ordered) and ordered[0] < 0 < ordered[-1]
    for up, down in zip(regular_by_vol(1), regular_by_vol(-1)):
        assert pnl[up] > pnl[down]
    assert pnl[14] > 0 > pnl[15]


@settings(max_examples=60, deadline=None)
@given(strike=st.integers(1, 10**12), days=st.integers(1, 730), vol=st.integers(VOL_MIN, VOL_MAX),
       price=st.integers(1, 10**12), rate=st.integers(-100_000, 100_000))
def test_option_arrays_are_monotone_in_the_price(strike, days, vol, price, rate):
    for right, sign in ((CALL, 1), (PUT, -1)):
        option, market = option_inputs(right, strike, days, vol, price, rate)
        pnl = risk_array(option, market, NOW, PARAMS).pnl
        for direction in (1, -1):
            ordered = [sign * pnl[s] for s in regular_by_vol(direction)]
            assert ordered == sorted(ordered), (right, direction)


@settings(max_examples=100, deadline=None)
@given(strike=st.integers(1_000, 10**9), days=st.integers(1, 400), vol=st.integers(VOL_MIN, VOL_MAX),
       price=st.integers(1_000, 10**9), right=st.sampled_from([CALL, PUT]))
def test_published_integers_are_conservative_for_longs_and_shorts(strike, days, vol, price, right):
    """Against the float model: in every scenario (and the unmoved book) a long's published
    mark + P&L is at most its model result, and a short's published result minus its short
    charge is at most its model result, with no charge but the minimum."""
    option, market = option_inputs(right, strike, days, vol, price)
    array = risk_array(option, market, NOW, MINIMUM_ONLY)
    assert array.short_charge == SHORT_OPTION_MIN_CHARGE  # the minimum alone must cover the rounding
    years = days * DAY / SECONDS_PER_YEAR
    model_mark = float(bs_value(right, price, strike, years, vol / RATE_SCALE))
    assert array.mark == math.floor(model_mark)
    assert -array.mark - array.short_charge <= -model_mark
    for s, scenario in enumerate(SCENARIOS):
        spot = price + PARAMS.price_move(price, scenario)
        value = float(bs_value(right, spot, strike, years, PARAMS.scenario_vol(vol, scenario) / RATE_SCALE))
        w = scenario.weight_numerator / scenario.weight_denominator
        model_long = model_mark + w * (value - model_mark)
        assert array.mark + array.pnl[s] <= model_long + 1e-9 * max(1.0, model_long)
        assert -array.mark - array.pnl[s] - array.short_charge <= -model_long + 1e-9 * max(1.0, model_long)


def test_the_short_option_charge():
    option, market = option_inputs(CALL, BTC, 30)
    assert risk_array(option, market, NOW, PARAMS).short_charge == BTC // 100
    option, market = option_inputs(CALL, 50, 30, price=101)
    assert risk_array(option, market, NOW, PARAMS).short_charge == SHORT_OPTION_MIN_CHARGE  # 1.01 -> 2
    option, market = option_inputs(CALL, 50, 30, price=1001)
    assert risk_array(option, market, NOW, PARAMS).short_charge == 11  # 10.01 rounds up


def test_published_values_are_bounded():
    future = Future(0)
    with pytest.raises(RiskArrayError, match="2\\^50"):
        RiskArray(future, 1, 0, (0, 1 << 50))
    with pytest.raises(RiskArrayError):
        RiskArray(future, -1, 0, (0,))


def test_an_epoch_needs_inputs_for_every_underlying_and_whole_arrays():
    option = Option(1, CALL, 100, NOW + DAY)
    with pytest.raises(RiskModelError, match="market 1"):
        epoch_risk_arrays(7, [Future(0), option], {0: MarketInputs(100, 500_000)}, NOW)
    short = RiskArray(Future(0), 100, 0, (0,) * 15)
    with pytest.raises(RiskArrayError, match="15 scenarios"):
        EpochRiskArrays(7, (short,))


# --- the portfolio check -----------------------------------------------------------------------

def arrays_for(instruments, price=BTC, vol=600_000):
    return epoch_risk_arrays(3, instruments, {0: MarketInputs(price, vol)}, NOW).arrays


signed_pnl = st.integers(-(1 << 50) + 1, (1 << 50) - 1)


@st.composite
def books(draw):
    count = draw(st.integers(1, 6))
    arrays = tuple(RiskArray(Future(0), draw(st.integers(0, 1 << 40)), draw(st.integers(0, 1 << 20)),
                             tuple(draw(st.lists(signed_pnl, min_size=16, max_size=16))))
                   for _ in range(count))
    sizes = draw(st.lists(st.integers(-(1 << 40), (1 << 40) - 1), min_size=count, max_size=count))
    return arrays, sizes


@settings(max_examples=200, deadline=None)
@given(book=books(), equity=st.integers(-(1 << 100), 1 << 100))
def test_the_surplus_is_the_circuits_inequalities(book, equity):
    """surplus >= 0 exactly when every scenario's inequality and the unmoved book's hold:
    E + sum_i b_i pnl_i[s] >= short charge for all s, and E >= short charge."""
    arrays, sizes = book
    risk = portfolio_risk(arrays, sizes)
    charge = sum(-b * a.short_charge for b, a in zip(sizes, arrays) if b < 0)
    per_scenario = [equity + sum(b * a.pnl[s] for b, a in zip(sizes, arrays)) - charge for s in range(16)]
    assert risk.short_option_charge == charge
    assert (risk.surplus(equity) >= 0) == (all(x >= 0 for x in per_scenario) and equity >= charge)
    assert risk.surplus(equity) == min(equity - charge, *per_scenario)
    if risk.worst_scenario is not None:
        assert risk.scenario_pnl[risk.worst_scenario] == min(risk.scenario_pnl) < 0


@settings(max_examples=200, deadline=None)
@given(book=books(), equity=st.integers(-(1 << 100), 1 << 100),
       factor=st.integers(RATE_SCALE, MAX_INITIAL_FACTOR))
def test_the_initial_surplus_scales_every_scenario_and_the_charge(book, equity, factor):
    """E 10^6 + factor (P&L_s - Q) >= 0 for every scenario and the unmoved book, exactly when the
    initial surplus is; at factor 10^6 it is the maintenance surplus in millionths."""
    arrays, sizes = book
    risk = portfolio_risk(arrays, sizes)
    per_scenario = [equity * RATE_SCALE + factor * (pnl - risk.short_option_charge)
                    for pnl in (0, *risk.scenario_pnl)]
    assert risk.initial_surplus(equity, factor) == min(per_scenario)
    assert risk.initial_surplus(equity, RATE_SCALE) == risk.surplus(equity) * RATE_SCALE
    assert (equity >= risk.initial_requirement(factor)) == (risk.initial_surplus(equity, factor) >= 0)


@pytest.mark.parametrize("factor", [RATE_SCALE - 1, MAX_INITIAL_FACTOR + 1, True, 1.25])
def test_an_initial_factor_out_of_range_is_refused(factor):
    arrays = arrays_for([Future(0)])
    with pytest.raises(RiskArrayError, match="initial-margin factor"):
        portfolio_risk(arrays, [1]).initial_surplus(0, factor)


def test_scenario_pnl_is_exact_beyond_64_bits():
    big = (1 << 50) - 1
    arrays = [RiskArray(Future(0), 0, 0, (big,) * 16), RiskArray(Future(0), 0, 0, (-big,) * 16)]
    sizes = [(1 << 40) - 1, -(1 << 40)]
    assert scenario_pnl(arrays, sizes) == ((((1 << 40) - 1) * big + (1 << 40) * big),) * 16


def test_a_flat_book_has_no_worst_scenario_and_needs_nothing():
    arrays = arrays_for([Future(0), Option(0, CALL, BTC, NOW + 30 * DAY)])
    risk = portfolio_risk(arrays, [0, 0])
    assert (risk.worst_scenario, risk.worst_pnl, risk.requirement) == (None, 0, 0)


def test_sizes_must_match_and_stay_in_bounds():
    arrays = arrays_for([Future(0)])
    with pytest.raises(RiskArrayError, match="1 instruments"):
        portfolio_risk(arrays, [1, 2])
    with pytest.raises(RiskArrayError, match="2\\^40"):
        portfolio_risk(arrays, [1 << 40])


def test_boundary_equity_passes_and_one_unit_less_fails():
    arrays = arrays_for([Future(0), Option(0, CALL, BTC, NOW + 30 * DAY)])
    sizes, costs = [2, -3], [2 * BTC, -3 * 4_000 * 10**6]
    risk = portfolio_risk(arrays, sizes)
    needed = risk.requirement - equity_at_marks(0, sizes, costs, arrays)
    assert risk.surplus(equity_at_marks(needed, sizes, costs, arrays)) == 0
    assert risk.surplus(equity_at_marks(needed - 1, sizes, costs, arrays)) == -1


MAINTENANCE = DEFAULT_MARKETS[0]["maintenance_rate"]  # 5 % today


def test_a_hedged_book_needs_far_less_than_the_flat_rate():
    # long 1 BTC perpetual, short 1 deep in-the-money call (delta ~ 0.99): the hedge counts
    arrays = arrays_for([Future(0), Option(0, CALL, 40_000 * 10**6, NOW + 30 * DAY)])
    sizes = [1, -1]
    risk = portfolio_risk(arrays, sizes)
    flat = flat_rate_requirement(arrays, sizes, [BTC, BTC], [MAINTENANCE, MAINTENANCE])
    assert flat == 6_000 * 10**6  # 2 x 5 % x 60 000
    assert 0 < risk.requirement < flat // 4
    assert risk.short_option_charge == BTC // 100  # most of what remains is the short-option minimum


def test_a_naked_short_option_needs_more_than_the_flat_rate():
    arrays = arrays_for([Option(0, CALL, BTC, NOW + 30 * DAY)])
    risk = portfolio_risk(arrays, [-1])
    flat = flat_rate_requirement(arrays, [-1], [BTC], [MAINTENANCE])
    assert flat == 3_000 * 10**6
    assert risk.requirement > 2 * flat
    assert SCENARIOS[risk.worst_scenario].price_steps == 3 and SCENARIOS[risk.worst_scenario].vol_direction == 1


# --- the canonical encoding ------------------------------------------------------------------

def sample_epoch():
    return epoch_risk_arrays(9, [Future(0), Option(0, PUT, 55_000 * 10**6, NOW + 10 * DAY)],
                             {0: MarketInputs(BTC, 600_000)}, NOW)


def test_encoding_layout_and_decoding():
    epoch = sample_epoch()
    elements = epoch.field_elements()
    assert elements[:3] == [9, 16, 2] and len(elements) == 3 + 2 * (16 + 2)
    assert all(0 <= e < 1 << 64 for e in elements)
    for i, array in enumerate(epoch.arrays):
        chunk = elements[3 + i * 18: 3 + (i + 1) * 18]
        assert chunk[:2] == [array.mark, array.short_charge]
        assert tuple(e - ENCODING_OFFSET for e in chunk[2:]) == array.pnl


def test_the_digest_binds_every_value_and_the_curve():
    epoch = sample_epoch()
    base = epoch.digest("bls12381")
    assert base == sample_epoch().digest("bls12381")
    assert base != epoch.digest("bn128")
    altered = list(epoch.arrays[1].pnl)
    altered[5] -= 1
    other = EpochRiskArrays(9, (epoch.arrays[0], RiskArray(epoch.arrays[1].instrument, epoch.arrays[1].mark,
                                                           epoch.arrays[1].short_charge, tuple(altered))))
    assert other.digest("bls12381") != base
    assert EpochRiskArrays(10, epoch.arrays).digest("bls12381") != base
    swapped = EpochRiskArrays(9, (epoch.arrays[1], epoch.arrays[0]))
    assert swapped.digest("bls12381") != base
    # the digest is cached by value: a rebuilt, equal record gets the sponge's own value, computed afresh here
    from zkmargin.curves import get_curve
    from zkmargin.poseidon import poseidon_sponge

    fresh = int(poseidon_sponge(epoch.field_elements(), epoch.domain("bls12381"), get_curve("bls12381")))
    assert sample_epoch().digest("bls12381") == fresh == base and other.digest("bls12381") != fresh
