"""Black–Scholes against textbook values (Hull, Options, Futures, and Other Derivatives), the
model's own identities, and the integers it publishes (units and rounding directions)."""

import math

import numpy as np
import pytest

from circuits.protocol.risk import ExpiredOptionError, RiskModelError
from circuits.protocol.risk.black_scholes import (
    SECONDS_PER_YEAR,
    VOL_MAX,
    VOL_MIN,
    bs_greeks,
    bs_value,
    option_greeks,
    option_value,
)
from circuits.protocol.risk.instruments import Option, OptionRight
from zkmargin.errors import ZkMarginError

CALL, PUT = OptionRight.CALL, OptionRight.PUT
NOW = 1_700_000_000
MILLION = 1_000_000


# --- the float model against published values -------------------------------------------------

def test_hull_example_15_6_call_and_put_values():
    # Hull, Example 15.6: S0 = 42, K = 40, r = 10 %, sigma = 20 %, T = 0.5: c = 4.76, p = 0.81
    assert float(bs_value(CALL, 42, 40, 0.5, 0.2, 0.1)) == pytest.approx(4.76, abs=0.005)
    assert float(bs_value(PUT, 42, 40, 0.5, 0.2, 0.1)) == pytest.approx(0.81, abs=0.005)


def test_hull_greek_letters_chapter_running_example():
    # Hull, "The Greek Letters": a call with S0 = 49, K = 50, r = 5 %, sigma = 20 %, T = 20 weeks
    # (0.3846 years): price 2.40, delta 0.522, gamma 0.066, vega 12.1, theta -4.31 a year
    assert float(bs_value(CALL, 49, 50, 0.3846, 0.2, 0.05)) == pytest.approx(2.40, abs=0.005)
    greeks = bs_greeks(CALL, 49, 50, 0.3846, 0.2, 0.05)
    assert greeks.delta == pytest.approx(0.522, abs=0.0005)
    assert greeks.gamma == pytest.approx(0.066, abs=0.0005)
    assert greeks.vega == pytest.approx(12.1, abs=0.05)
    assert greeks.theta == pytest.approx(-4.31, abs=0.005)


GRID = [(spot, strike, years, vol, rate)
        for spot in (20.0, 49.0, 100.0, 250.0)
        for strike in (30.0, 50.0, 100.0)
        for years in (0.01, 0.3846, 2.0)
        for vol in (0.05, 0.2, 1.2)
        for rate in (0.0, 0.05, -0.01)]


def test_put_call_parity_across_a_grid():
    spot, strike, years, vol, rate = (np.array(column) for column in zip(*GRID))
    calls = bs_value(CALL, spot, strike, years, vol, rate)
    puts = bs_value(PUT, spot, strike, years, vol, rate)
    forward_gap = spot - strike * np.exp(-rate * years)
    np.testing.assert_allclose(calls - puts, forward_gap, rtol=0, atol=1e-9 * spot.max())


@pytest.mark.parametrize("case", GRID[::7])
def test_greeks_match_finite_differences_of_the_value(case):
    spot, strike, years, vol, rate = case
    for right in (CALL, PUT):
        greeks = bs_greeks(right, spot, strike, years, vol, rate)

        def value(s=spot, t=years, v=vol, right=right):
            return float(bs_value(right, s, strike, t, v, rate))

        h, dv, dt = spot * 1e-6, 1e-6, years * 1e-6
        assert greeks.delta == pytest.approx((value(s=spot + h) - value(s=spot - h)) / (2 * h), abs=1e-6)
        assert greeks.gamma == pytest.approx(
            (value(s=spot + 100 * h) - 2 * value() + value(s=spot - 100 * h)) / (100 * h)**2, rel=1e-3, abs=1e-6)
        assert greeks.vega == pytest.approx((value(v=vol + dv) - value(v=vol - dv)) / (2 * dv), rel=1e-5, abs=1e-6)
        # theta is the change with calendar time: time to expiry shrinks
        assert greeks.theta == pytest.approx(-(value(t=years + dt) - value(t=years - dt)) / (2 * dt),
                                             rel=1e-4, abs=1e-4)


def test_put_greeks_follow_from_the_call_by_parity():
    call = bs_greeks(CALL, 49, 50, 0.3846, 0.2, 0.05)
    put = bs_greeks(PUT, 49, 50, 0.3846, 0.2, 0.05)
    assert put.delta == pytest.approx(call.delta - 1, abs=1e-12)
    assert (put.gamma, put.vega) == pytest.approx((call.gamma, call.vega), abs=1e-12)
    assert put.theta - call.theta == pytest.approx(0.05 * 50 * math.exp(-0.05 * 0.3846), abs=1e-9)


def test_values_stay_within_no_arbitrage_bounds_and_the_zero_price_limit():
    spot, strike, years, vol, rate = (np.array(column) for column in zip(*GRID))
    calls = bs_value(CALL, spot, strike, years, vol, rate)
    puts = bs_value(PUT, spot, strike, years, vol, rate)
    discounted = strike * np.exp(-rate * years)
    assert np.all(calls >= np.maximum(spot - discounted, 0)) and np.all(calls <= spot)
    assert np.all(puts >= np.maximum(discounted - spot, 0)) and np.all(puts <= discounted)
    assert float(bs_value(CALL, -5.0, 50, 1.0, 0.2)) == 0.0
    assert float(bs_value(PUT, 0.0, 50, 1.0, 0.2, 0.05)) == pytest.approx(50 * math.exp(-0.05))


# --- the integers it publishes ---------------------------------------------------------------

def option_expiring_in(years: float, right=CALL, strike=40 * MILLION) -> Option:
    return Option(0, right, strike, NOW + round(years * SECONDS_PER_YEAR))


def test_published_value_is_the_model_value_rounded_down():
    # Hull, Example 15.6 at a price scale of 10^6 collateral units per unit: 4.76 -> 4 759 422
    call = option_expiring_in(0.5)
    published = option_value(call, 42 * MILLION, 200_000, NOW, rate=100_000)
    model = float(bs_value(CALL, 42 * MILLION, 40 * MILLION, 0.5, 0.2, 0.1))
    assert published == math.floor(model) == 4_759_422
    assert published < model < published + 1


def test_published_greeks_units_and_hull_values():
    # Hull's running example at a price scale of 10^6 (see test_hull_greek_letters_chapter_running_example)
    call = option_expiring_in(0.3846, strike=50 * MILLION)
    greeks = option_greeks(call, 49 * MILLION, 200_000, NOW, rate=50_000)
    assert greeks.delta == pytest.approx(522_000, abs=500)  # 0.522 in millionths
    assert greeks.gamma == pytest.approx(round(0.066 * 49 / 100 * MILLION), abs=250)  # delta change for +1 %
    assert greeks.vega == pytest.approx(121_000, abs=500)  # 12.1 per unit of vol = 0.121 per vol point
    assert greeks.theta == pytest.approx(-11_800, abs=50)  # -4.31 a year = -0.0118 a calendar day


def test_published_greeks_round_away_from_zero():
    call = option_expiring_in(0.3846, strike=50 * MILLION)
    put = option_expiring_in(0.3846, right=PUT, strike=50 * MILLION)
    years = (call.expiry - NOW) / SECONDS_PER_YEAR
    for option in (call, put):
        model = bs_greeks(option.right, 49 * MILLION, 50 * MILLION, years, 0.2, 0.05)
        published = option_greeks(option, 49 * MILLION, 200_000, NOW, rate=50_000)
        exact = {"delta": model.delta * MILLION, "gamma": model.gamma * 49 * MILLION / 100 * MILLION,
                 "vega": model.vega / 100, "theta": model.theta / 365}
        for name, value in exact.items():
            rounded = getattr(published, name)
            assert abs(rounded) >= abs(value) and abs(rounded) - abs(value) < 1, name
            assert math.copysign(1, rounded) == math.copysign(1, value), name
    assert option_greeks(put, 49 * MILLION, 200_000, NOW, rate=50_000).delta < 0


@pytest.mark.parametrize("price, vol, rate, words", [
    (0, 200_000, 0, "price"),
    (1 << 48, 200_000, 0, "price"),
    (42.0, 200_000, 0, "integer"),
    (True, 200_000, 0, "integer"),
    (42, VOL_MIN - 1, 0, "volatility"),
    (42, VOL_MAX + 1, 0, "volatility"),
    (42, 200_000, 1_000_001, "rate"),
])
def test_inputs_are_validated(price, vol, rate, words):
    with pytest.raises(RiskModelError, match=words):
        option_value(option_expiring_in(0.5, strike=40), price, vol, NOW, rate)


@pytest.mark.parametrize("now_offset", [0, 1])
def test_an_option_at_or_past_expiry_is_not_valued(now_offset):
    option = option_expiring_in(0.5)
    with pytest.raises(ExpiredOptionError, match="intrinsic"):
        option_value(option, 42 * MILLION, 200_000, option.expiry + now_offset)
    with pytest.raises(ZkMarginError):
        option_greeks(option, 42 * MILLION, 200_000, option.expiry + now_offset)


def test_one_second_before_expiry_is_intrinsic_value_at_most():
    call = Option(0, CALL, 40 * MILLION, NOW + 1)
    assert option_value(call, 42 * MILLION, 200_000, NOW) == 2 * MILLION  # floor of a value just above 2e6
    put = Option(0, PUT, 40 * MILLION, NOW + 1)
    assert option_value(put, 42 * MILLION, 200_000, NOW) == 0
