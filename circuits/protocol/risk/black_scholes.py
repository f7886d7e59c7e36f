"""Black–Scholes values and Greeks of European options, and the integers the model publishes.

The model (Hull, *Options, Futures, and Other Derivatives*, ch. 15 and 19), for spot S, strike
K, time to expiry T in years, volatility sigma and a continuously compounded rate r::

    d1 = (ln(S/K) + (r + sigma^2/2) T) / (sigma sqrt(T))      d2 = d1 - sigma sqrt(T)
    call = S N(d1) - K e^(-rT) N(d2)                         put = K e^(-rT) N(-d2) - S N(-d1)
    delta_call = N(d1)        delta_put = N(d1) - 1          gamma = N'(d1) / (S sigma sqrt(T))
    vega = S sqrt(T) N'(d1)   (per unit of sigma, the same for calls and puts)
    theta_call = -S N'(d1) sigma / (2 sqrt(T)) - r K e^(-rT) N(d2)            (per year)
    theta_put  = -S N'(d1) sigma / (2 sqrt(T)) + r K e^(-rT) N(-d2)

N is the standard normal distribution function (``0.5 erfc(-x / sqrt 2)``, accurate in both
tails) and N' its density. A value is clamped to its no-arbitrage bounds (a call to
[max(S - K e^(-rT), 0), S], a put to [max(K e^(-rT) - S, 0), K e^(-rT)]) so float error
cannot publish an impossible price.

**Floating point stays inside this module.** Its inputs and outputs at the protocol's edge are
integers:

==========  ==============================================  =====================================
quantity    unit                                            published rounding
==========  ==============================================  =====================================
price, K    collateral units per base unit, [1, 2^48)       (input)
vol         millionths of annualised volatility             (input) [VOL_MIN, VOL_MAX]
rate        millionths per year, continuously compounded    (input) [-RATE_SCALE, RATE_SCALE]
time        Unix seconds; a year is 365 days (ACT/365)      (input) strictly before expiry
value       collateral units per option                     **down** (floor)
delta       millionths                                      away from zero
gamma       millionths of delta per 1 % rise of the price   away from zero
vega        collateral units per vol point (0.01 of sigma)  away from zero
theta       collateral units per calendar day               away from zero
==========  ==============================================  =====================================

Why these directions: a value rounds **down** because a holder never counts more than the
model's value, so a long's equity and every long scenario gain is understated and every long
loss overstated; the rounding the down direction gives a short (less than two collateral units
per option, see ``circuits.protocol.risk.scenarios``) is paid for by the short-option minimum
charge, at least two units per short option. Greeks are sensitivities shown to traders, not amounts:
rounding their magnitude up never reports a risk smaller than the model's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from circuits.protocol.risk.errors import ExpiredOptionError, RiskModelError
from circuits.protocol.risk.instruments import (
    MIN_PRICE,
    PRICE_LIMIT,
    Option,
    OptionRight,
)
from circuits.state import RATE_SCALE

SECONDS_PER_DAY = 86_400
DAYS_PER_YEAR = 365
SECONDS_PER_YEAR = DAYS_PER_YEAR * SECONDS_PER_DAY
VOL_MIN = 1_000  # 0.1 % a year: below it an option is its discounted intrinsic value
VOL_MAX = 5_000_000  # 500 % a year
RATE_LIMIT = RATE_SCALE  # |r| <= 100 % a year
DELTA_SCALE = RATE_SCALE  # delta and gamma are published in millionths
GAMMA_MOVE_PERCENT = 1  # gamma: the change of delta for a 1 % rise of the price
VEGA_VOL_POINT = 100  # vega: the change of value for 1/100 of sigma (one vol point)

FloatArray = NDArray[np.float64]

_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def norm_cdf(x: ArrayLike) -> FloatArray:
    """N(x) = erfc(-x / sqrt 2) / 2: accurate in the lower tail, where 1 - N would cancel."""
    return np.asarray(0.5 * _erfc(-np.asarray(x, dtype=np.float64) / math.sqrt(2.0)), dtype=np.float64)


def _d1_d2(spot: FloatArray, strike: FloatArray, years: FloatArray, vol: FloatArray,
           rate: FloatArray) -> tuple[FloatArray, FloatArray]:
    sigma_root_t = vol * np.sqrt(years)
    d1 = (np.log(spot / strike) + (rate + 0.5 * vol * vol) * years) / sigma_root_t
    return d1, d1 - sigma_root_t


def _float_inputs(*values: ArrayLike) -> list[FloatArray]:
    arrays = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in values))
    return [np.array(a, dtype=np.float64) for a in arrays]


def bs_value(right: OptionRight, spot: ArrayLike, strike: ArrayLike, years: ArrayLike,
             vol: ArrayLike, rate: ArrayLike = 0.0) -> FloatArray:
    """The model value of one option (floats, broadcast over numpy arrays).

    A spot at or below zero (a scenario's price moved past zero) takes the limit S -> 0:
    a call is worth 0, a put K e^(-rT)."""
    s, k, t, v, r = _float_inputs(spot, strike, years, vol, rate)
    discounted_strike = k * np.exp(-r * t)
    positive = s > 0
    safe_spot = np.where(positive, s, 1.0)
    d1, d2 = _d1_d2(safe_spot, k, t, v, r)
    if right is OptionRight.CALL:
        raw = safe_spot * norm_cdf(d1) - discounted_strike * norm_cdf(d2)
        value = np.clip(raw, np.maximum(safe_spot - discounted_strike, 0.0), safe_spot)
        return np.where(positive, value, 0.0)
    raw = discounted_strike * norm_cdf(-d2) - safe_spot * norm_cdf(-d1)
    value = np.clip(raw, np.maximum(discounted_strike - safe_spot, 0.0), discounted_strike)
    return np.where(positive, value, discounted_strike)


@dataclass(frozen=True)
class Greeks:
    """Model sensitivities of one option, as floats: delta and gamma per price unit, vega per
    unit of sigma, theta per year."""

    delta: float
    gamma: float
    vega: float
    theta: float


def _cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def bs_greeks(right: OptionRight, spot: float, strike: float, years: float, vol: float,
              rate: float = 0.0) -> Greeks:
    """The four Greeks of one option (see the module docstring's formulas)."""
    root_t = math.sqrt(years)
    d1 = (math.log(spot / strike) + (rate + 0.5 * vol * vol) * years) / (vol * root_t)
    d2 = d1 - vol * root_t
    density = math.exp(-0.5 * d1 * d1) / math.sqrt(2.0 * math.pi)
    discounted_strike = strike * math.exp(-rate * years)
    decay = -spot * density * vol / (2.0 * root_t)
    if right is OptionRight.CALL:
        delta = _cdf(d1)
        theta = decay - rate * discounted_strike * _cdf(d2)
    else:
        delta = _cdf(d1) - 1.0
        theta = decay + rate * discounted_strike * _cdf(-d2)
    gamma = density / (spot * vol * root_t)
    vega = spot * root_t * density
    return Greeks(delta=delta, gamma=gamma, vega=vega, theta=theta)


# --- the integer edge ---------------------------------------------------------------------------

def _exact_int(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RiskModelError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if not low <= value < high:
        raise RiskModelError(f"{name} = {value} is outside [{low}, {high})")
    return value


def check_price(price: int) -> int:
    return _exact_int("price", price, MIN_PRICE, PRICE_LIMIT)


def check_vol(vol: int) -> int:
    return _exact_int("implied volatility (millionths)", vol, VOL_MIN, VOL_MAX + 1)


def check_rate(rate: int) -> int:
    return _exact_int("interest rate (millionths a year)", rate, -RATE_LIMIT, RATE_LIMIT + 1)


def years_to_expiry(option: Option, now: int) -> float:
    """(expiry - now) / 365 days; an option at or past its expiry is not valued: it settles."""
    _exact_int("valuation time", now, 0, 1 << 64)
    if now >= option.expiry:
        raise ExpiredOptionError(
            f"the option expired at {option.expiry}, not after the valuation time {now}: "
            "it settles at intrinsic value")
    return (option.expiry - now) / SECONDS_PER_YEAR


def round_away_from_zero(x: float) -> int:
    """The integer of larger magnitude next to x (x itself when it is an integer)."""
    if not math.isfinite(x):
        raise RiskModelError(f"the model produced a non-finite number {x!r}")
    return math.ceil(x) if x >= 0 else math.floor(x)


def floor_int(x: float) -> int:
    if not math.isfinite(x):
        raise RiskModelError(f"the model produced a non-finite number {x!r}")
    return math.floor(x)


@dataclass(frozen=True)
class PublishedGreeks:
    """Greeks as published (units and rounding in the module docstring)."""

    delta: int
    gamma: int
    vega: int
    theta: int


def option_value(option: Option, price: int, vol: int, now: int, rate: int = 0) -> int:
    """The published value of one option, rounded down (floor): a holder never counts more."""
    years = years_to_expiry(option, now)
    model = bs_value(option.right, check_price(price), option.strike, years,
                     check_vol(vol) / RATE_SCALE, check_rate(rate) / RATE_SCALE)
    return floor_int(float(model))


def option_greeks(option: Option, price: int, vol: int, now: int, rate: int = 0) -> PublishedGreeks:
    """The published Greeks of one option, each rounded away from zero."""
    years = years_to_expiry(option, now)
    spot = check_price(price)
    greeks = bs_greeks(option.right, spot, option.strike, years, check_vol(vol) / RATE_SCALE,
                       check_rate(rate) / RATE_SCALE)
    return PublishedGreeks(
        delta=round_away_from_zero(greeks.delta * DELTA_SCALE),
        gamma=round_away_from_zero(greeks.gamma * spot * GAMMA_MOVE_PERCENT / 100 * DELTA_SCALE),
        vega=round_away_from_zero(greeks.vega / VEGA_VOL_POINT),
        theta=round_away_from_zero(greeks.theta / DAYS_PER_YEAR),
    )
