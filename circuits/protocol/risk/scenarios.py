"""Scenarios, risk arrays and the portfolio check (SPAN-style).

**Scenarios.** With a price scan range R (millionths of the price), a volatility scan range V
(millionths of annualised volatility, an absolute shift) and ``price_steps`` n (3 by default),
the set is SPAN's: every price move j/n of R for j = 0, +-1, ..., +-n, each once with the
volatility up V and once down V, then the two extreme moves +-``extreme_multiple`` x R (2 by
default) at unchanged volatility, counted at a partial weight w = 7/20 (SPAN's 35 %). That is
S = 2 (2n + 1) + 2 = 16 scenarios, in SPAN's order (unchanged up/down, +1/3 up/down, -1/3
up/down, ..., extremes last). A volatility shift is clamped to [VOL_MIN, VOL_MAX].

**Integer scenario prices.** Scenario s moves the price by an integer dP_s: |P R j / (n 10^6)|
rounded **up** (away from zero, so no scenario is milder than its nominal size); an extreme
move's magnitude is further rounded up to a multiple of w's denominator, so that its weighted
move w dP_s is an exact integer. Futures scenarios are never clipped at zero (a loss beyond the
price is only harsher); an option at a price at or below zero takes its S -> 0 limit.

**Risk arrays.** Per instrument, for one long unit (gains positive):

- a future: mark P, ``pnl[s] = w_s dP_s`` — exact, so longs and shorts both see their true
  scenario result;
- an option: mark ``floor(V(P, vol))`` and ``pnl[s] = floor(w_s (V(P + dP_s, vol_s) - mark))``
  (V the Black–Scholes value in floats, ``black_scholes``): a long's equity and every scenario
  result round down, against the long. The same integers favour a short by less than two
  collateral units per option (the floored mark by less than 1 - w_s in a weighted scenario,
  the floored P&L by less than 1), so every short option pays at least two units of
  short-option minimum charge: with it, the published check is at least as strict as the
  model's for both sides, in every scenario;
- a short-option minimum charge per short unit: ``max(2, ceil(P x rate / 10^6))`` for an option
  (default rate 1 % of the underlying's price), 0 for a future;
- an option at or past its expiry (``expiry``): mark = its intrinsic value at P, every P&L 0, no
  short charge, flagged ``expired`` (it settles at the coming close, at a price fixed by then).

**The check** a circuit proves for hidden sizes b_i, equity E at the marks and public arrays:
``E + min(0, min_s sum_i b_i pnl_i[s]) >= sum over short options of |b_i| charge_i``, i.e. one
inequality per scenario plus the unmoved book (scenario "none", P&L 0): a book that gains in
every scenario earns no credit, as in SPAN. Everything here is exact integer arithmetic on the
published arrays (Python ints: 2^40 x 2^50 does not fit numpy's int64).

**Bounds.** A published mark, charge and |pnl| are below 2^50 (``RISK_ARRAY_BITS``; a call is
worth at most its scenario price, below 1.4 x 2^48 with the default set, a put at most K <
2^48). With |b| < 2^40 and at most 64 instruments, |sum_i b_i pnl_i[s]| < 2^96: far from any
field modulus.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache

import numpy as np

from circuits.protocol.risk.black_scholes import (
    VOL_MAX,
    VOL_MIN,
    bs_value,
    check_price,
    check_rate,
    check_vol,
    floor_int,
    years_to_expiry,
)
from circuits.protocol.risk.errors import RiskArrayError, RiskModelError
from circuits.protocol.risk.expiry import intrinsic_value, is_expired
from circuits.protocol.risk.instruments import Future, Instrument, Option
from circuits.state import EPOCH_BITS, MAX_MARKETS, RATE_SCALE, SIZE_BITS

RISK_ARRAY_BITS = 50  # |pnl|, mark and short charge per unit are below 2^50
ENCODING_OFFSET = 1 << RISK_ARRAY_BITS  # a signed pnl is absorbed as pnl + 2^50, in [0, 2^51)
RISK_DOMAIN = "zkm/risk1"  # sponge domain tag (object, version); the curve is appended
DEFAULT_PRICE_SCAN_RANGE = 150_000  # 15 % of the price
DEFAULT_VOL_SCAN_RANGE = 100_000  # 10 volatility points
DEFAULT_SHORT_OPTION_RATE = 10_000  # 1 % of the underlying's price per short option
SHORT_OPTION_MIN_CHARGE = 2  # covers a short's rounding gain: < 1 from the mark, < 1 per scenario


@dataclass(frozen=True)
class Scenario:
    """A price move of ``price_steps``/n of the scan range, a volatility shift of
    ``vol_direction`` x the volatility scan range, counted at weight num/den."""

    price_steps: int
    vol_direction: int
    weight_numerator: int = 1
    weight_denominator: int = 1

    @property
    def weight(self) -> Fraction:
        return Fraction(self.weight_numerator, self.weight_denominator)

    def label(self, steps_per_range: int) -> str:
        move = Fraction(self.price_steps, steps_per_range)
        price = "price unchanged" if move == 0 else f"price {'+' if move > 0 else '-'}{abs(move)} x range"
        vol = {1: "vol up", -1: "vol down", 0: "vol unchanged"}[self.vol_direction]
        weight = "" if self.weight == 1 else f", {self.weight} weight"
        return f"{price}, {vol}{weight}"


@dataclass(frozen=True)
class RiskParameters:
    """The operator's scenario policy (see the module docstring); all integers."""

    price_scan_range: int = DEFAULT_PRICE_SCAN_RANGE
    vol_scan_range: int = DEFAULT_VOL_SCAN_RANGE
    price_steps: int = 3
    extreme_multiple: int = 2
    extreme_weight_numerator: int = 7
    extreme_weight_denominator: int = 20
    short_option_rate: int = DEFAULT_SHORT_OPTION_RATE

    def __post_init__(self) -> None:
        for name in ("price_scan_range", "vol_scan_range", "price_steps", "extreme_multiple",
                     "extreme_weight_numerator", "extreme_weight_denominator", "short_option_rate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise RiskModelError(f"{name} must be a non-negative integer, got {value!r}")
        if not 1 <= self.price_steps <= 10 or self.extreme_multiple < 1:
            raise RiskModelError("price_steps must be 1..10 and extreme_multiple at least 1")
        if self.extreme_multiple * self.price_scan_range >= RATE_SCALE or self.price_scan_range == 0:
            raise RiskModelError(
                f"the price scan range must be positive and its extreme move ({self.extreme_multiple} x "
                f"{self.price_scan_range} millionths) below 100 % of the price")
        if not 0 < self.extreme_weight_numerator <= self.extreme_weight_denominator:
            raise RiskModelError("the extreme weight must lie in (0, 1]")
        if self.short_option_rate > RATE_SCALE:
            raise RiskModelError("the short-option minimum rate is at most 100 % (1 000 000)")

    def scenarios(self) -> tuple[Scenario, ...]:
        """SPAN's order: unchanged, then +j/n and -j/n for j = 1..n, each vol up then down;
        the extreme up and down moves last."""
        moves = [0] + [sign * j for j in range(1, self.price_steps + 1) for sign in (1, -1)]
        regular = [Scenario(move, vol) for move in moves for vol in (1, -1)]
        extreme = self.extreme_multiple * self.price_steps
        tails = [Scenario(sign * extreme, 0, self.extreme_weight_numerator, self.extreme_weight_denominator)
                 for sign in (1, -1)]
        return (*regular, *tails)

    def price_move(self, price: int, scenario: Scenario) -> int:
        """dP_s: nominal P R j / (n 10^6), magnitude rounded up (to a multiple of the weight's
        denominator for a weighted move, so w dP_s is exact)."""
        numerator = price * self.price_scan_range * abs(scenario.price_steps)
        magnitude = -(-numerator // (RATE_SCALE * self.price_steps))
        granule = scenario.weight_denominator
        magnitude = -(-magnitude // granule) * granule
        return magnitude if scenario.price_steps >= 0 else -magnitude

    def scenario_vol(self, vol: int, scenario: Scenario) -> int:
        shifted = vol + scenario.vol_direction * self.vol_scan_range
        return min(max(shifted, VOL_MIN), VOL_MAX)

    def short_option_charge(self, price: int) -> int:
        """Per short option: ceil(P x rate / 10^6), at least SHORT_OPTION_MIN_CHARGE (it absorbs
        the rounding a short gets from values rounded down)."""
        return max(SHORT_OPTION_MIN_CHARGE, -(-price * self.short_option_rate // RATE_SCALE))


@dataclass(frozen=True)
class MarketInputs:
    """What the epoch's signed record gives the model for one market: the mark price, the
    implied volatility (millionths) and a rate (millionths a year, zero by default)."""

    price: int
    vol: int
    rate: int = 0

    def __post_init__(self) -> None:
        check_price(self.price)
        check_vol(self.vol)
        check_rate(self.rate)


@dataclass(frozen=True)
class RiskArray:
    """One instrument's published integers: mark value, short-option charge per short unit, and
    the P&L of one long unit in each scenario."""

    instrument: Instrument
    mark: int
    short_charge: int
    pnl: tuple[int, ...]
    expired: bool = False  # an option past its expiry: mark = intrinsic value, P&L 0, no charge

    def __post_init__(self) -> None:
        limit = 1 << RISK_ARRAY_BITS
        if not 0 <= self.mark < limit or not 0 <= self.short_charge < limit:
            raise RiskArrayError(f"mark {self.mark} or short charge {self.short_charge} is outside [0, 2^50)")
        for s, value in enumerate(self.pnl):
            if not -limit < value < limit:
                raise RiskArrayError(f"scenario {s} P&L {value} is outside (-2^50, 2^50)")


def future_risk_array(future: Future, market: MarketInputs, params: RiskParameters) -> RiskArray:
    pnl = []
    for scenario in params.scenarios():
        weighted = params.price_move(market.price, scenario) * scenario.weight_numerator
        assert weighted % scenario.weight_denominator == 0  # price_move makes it exact
        pnl.append(weighted // scenario.weight_denominator)
    return RiskArray(future, market.price, 0, tuple(pnl))


def option_risk_array(option: Option, market: MarketInputs, now: int, params: RiskParameters) -> RiskArray:
    years = years_to_expiry(option, now)
    scenarios = params.scenarios()
    rate = market.rate / RATE_SCALE
    mark_model = bs_value(option.right, market.price, option.strike, years, market.vol / RATE_SCALE, rate)
    mark = floor_int(float(mark_model))
    spots = np.array([market.price + params.price_move(market.price, s) for s in scenarios], dtype=np.float64)
    vols = np.array([params.scenario_vol(market.vol, s) for s in scenarios], dtype=np.float64) / RATE_SCALE
    values = bs_value(option.right, spots, option.strike, years, vols, rate)
    pnl = tuple(floor_int(s.weight_numerator * (float(v) - mark) / s.weight_denominator)
                for s, v in zip(scenarios, values))
    return RiskArray(option, mark, params.short_option_charge(market.price), pnl)


def expired_risk_array(option: Option, market: MarketInputs, params: RiskParameters) -> RiskArray:
    """An option past its expiry (``expiry``): worth its intrinsic value at the mark price, which
    the coming settlement pays; nothing moves it, so every scenario P&L is 0 and no short charge."""
    return RiskArray(option, intrinsic_value(option, market.price), 0, (0,) * len(params.scenarios()), expired=True)


def risk_array(instrument: Instrument, market: MarketInputs, now: int, params: RiskParameters) -> RiskArray:
    if isinstance(instrument, Future):
        return future_risk_array(instrument, market, params)
    if is_expired(instrument, now):
        return expired_risk_array(instrument, market, params)
    return option_risk_array(instrument, market, now, params)


@dataclass(frozen=True)
class EpochRiskArrays:
    """An epoch's published arrays, in the deployment's instrument order (index i)."""

    epoch: int
    arrays: tuple[RiskArray, ...]
    scenarios: tuple[Scenario, ...] = field(default_factory=lambda: RiskParameters().scenarios())

    def __post_init__(self) -> None:
        if not 0 <= self.epoch < 1 << EPOCH_BITS:
            raise RiskArrayError(f"epoch {self.epoch} is outside [0, 2^64)")
        if not 1 <= len(self.arrays) <= MAX_MARKETS:
            raise RiskArrayError(f"an epoch publishes 1..{MAX_MARKETS} instruments, got {len(self.arrays)}")
        for i, array in enumerate(self.arrays):
            if len(array.pnl) != len(self.scenarios):
                raise RiskArrayError(f"instrument {i} has {len(array.pnl)} scenarios, not {len(self.scenarios)}")

    def field_elements(self) -> list[int]:
        """The canonical encoding a Poseidon digest absorbs: epoch, S, N, then per instrument
        its mark, its short charge and its S P&Ls each offset by 2^50 (all in [0, 2^64): valid
        elements of both fields, and linear for a circuit to undo)."""
        elements = [self.epoch, len(self.scenarios), len(self.arrays)]
        for array in self.arrays:
            elements += [array.mark, array.short_charge, *(p + ENCODING_OFFSET for p in array.pnl)]
        return elements

    def domain(self, curve_name: str) -> str:
        """Object, version and curve. The shape is not repeated here: the encoding starts with S
        and N, and "zkm/risk1/bls12381/16x16" would not fit the sponge's 23-character tag."""
        return f"{RISK_DOMAIN}/{curve_name}"

    def digest(self, curve: str | None = None) -> int:
        from zkmargin.curves import get_curve

        return _risk_digest(self, get_curve(curve).name)


@lru_cache(maxsize=64)
def _risk_digest(risk: EpochRiskArrays, curve_name: str) -> int:
    """The Poseidon sponge of the encoding. Cached by value: the service rebuilds an epoch's arrays
    from its stored record for every portfolio transition and attestation, and the sponge costs
    tens of milliseconds in Python (47 ms at M = 16) where hashing and comparing the integers costs
    microseconds."""
    from zkmargin.curves import get_curve
    from zkmargin.poseidon import poseidon_sponge

    c = get_curve(curve_name)
    return int(poseidon_sponge(risk.field_elements(), risk.domain(c.name), c))


def epoch_risk_arrays(epoch: int, instruments: Sequence[Instrument], markets: Mapping[int, MarketInputs],
                      now: int, params: RiskParameters | None = None) -> EpochRiskArrays:
    """Value every instrument against its underlying market's inputs."""
    policy = params or RiskParameters()
    arrays = []
    for i, instrument in enumerate(instruments):
        if instrument.market not in markets:
            raise RiskModelError(f"instrument {i}: no price and volatility for market {instrument.market}")
        arrays.append(risk_array(instrument, markets[instrument.market], now, policy))
    return EpochRiskArrays(epoch, tuple(arrays), policy.scenarios())


# --- a portfolio against the arrays: exactly the circuit's integers -----------------------------

@dataclass(frozen=True)
class PortfolioRisk:
    """A book's scenario results: P&L per scenario, the worst one, the short-option charge."""

    scenario_pnl: tuple[int, ...]
    worst_scenario: int | None  # None: no scenario loses (the unmoved book is the worst)
    short_option_charge: int

    @property
    def worst_pnl(self) -> int:
        """min(0, min_s sum_i b_i pnl_i[s]): the unmoved book counts as a scenario."""
        return min(0, *self.scenario_pnl)

    @property
    def requirement(self) -> int:
        return -self.worst_pnl + self.short_option_charge

    def surplus(self, equity: int) -> int:
        """E + worst P&L - short charge: the circuit proves this is >= 0."""
        return equity + self.worst_pnl - self.short_option_charge

    def initial_requirement(self, factor: int) -> int:
        """The requirement at an initial-margin factor (millionths, >= 10^6), in collateral units
        rounded up: ceil(factor x requirement / 10^6). factor 10^6 is the maintenance requirement."""
        return -(-check_initial_factor(factor) * self.requirement // RATE_SCALE)

    def initial_surplus(self, equity: int, factor: int) -> int:
        """E 10^6 + factor (worst P&L - short charge), in millionths of a collateral unit: what the
        initial-margin variants of transfer and fill prove >= 0 (docs/protocol.md §10.6); its floor
        division by 10^6 is the surplus in collateral units (negative: the shortfall, rounded up)."""
        return equity * RATE_SCALE + check_initial_factor(factor) * (self.worst_pnl - self.short_option_charge)


# The initial-margin factor scales every scenario's loss and the short charge; 10^7 (x10) keeps
# factor x |sum b RA| below 2^120, inside the 2^128 budget a difference's range check may take.
DEFAULT_INITIAL_FACTOR = 1_250_000
MAX_INITIAL_FACTOR = 10_000_000


def check_initial_factor(factor: int) -> int:
    if isinstance(factor, bool) or not isinstance(factor, int) or not RATE_SCALE <= factor <= MAX_INITIAL_FACTOR:
        raise RiskArrayError(f"the initial-margin factor must be an integer in [{RATE_SCALE}, {MAX_INITIAL_FACTOR}] "
                             f"millionths, got {factor!r}")
    return factor


def _check_sizes(arrays: Sequence[RiskArray], sizes: Sequence[int]) -> None:
    if len(sizes) != len(arrays):
        raise RiskArrayError(f"{len(sizes)} sizes for {len(arrays)} instruments")
    for i, b in enumerate(sizes):
        if isinstance(b, bool) or not isinstance(b, int) or not -(1 << SIZE_BITS) <= b < 1 << SIZE_BITS:
            raise RiskArrayError(f"size of instrument {i} must be an integer in [-2^40, 2^40), got {b!r}")


def scenario_pnl(arrays: Sequence[RiskArray], sizes: Sequence[int]) -> tuple[int, ...]:
    """sum_i b_i pnl_i[s] for every scenario s, in exact integers."""
    _check_sizes(arrays, sizes)
    count = len(arrays[0].pnl) if arrays else 0
    return tuple(sum(b * array.pnl[s] for b, array in zip(sizes, arrays)) for s in range(count))


def short_option_charge(arrays: Sequence[RiskArray], sizes: Sequence[int]) -> int:
    """sum over short positions of |b_i| x charge_i (futures carry charge 0)."""
    _check_sizes(arrays, sizes)
    return sum(-b * array.short_charge for b, array in zip(sizes, arrays) if b < 0)


def portfolio_risk(arrays: Sequence[RiskArray], sizes: Sequence[int]) -> PortfolioRisk:
    pnl = scenario_pnl(arrays, sizes)
    worst = min(range(len(pnl)), key=lambda s: (pnl[s], s)) if pnl else None
    if worst is not None and pnl[worst] >= 0:
        worst = None
    return PortfolioRisk(pnl, worst, short_option_charge(arrays, sizes))


def equity_at_marks(collateral: int, sizes: Sequence[int], costs: Sequence[int],
                    arrays: Sequence[RiskArray]) -> int:
    """E = c + sum_i (b_i mark_i - k_i), the state's equity with marks for prices."""
    _check_sizes(arrays, sizes)
    if len(costs) != len(sizes):
        raise RiskArrayError(f"{len(sizes)} sizes but {len(costs)} cost bases")
    return collateral + sum(b * array.mark - k for b, k, array in zip(sizes, costs, arrays))


def flat_rate_requirement(arrays: Sequence[RiskArray], sizes: Sequence[int],
                          underlying_prices: Sequence[int], rates: Sequence[int]) -> int:
    """The flat-rate requirement for comparison, in collateral units rounded up:
    ceil(sum_i |b_i P_i| rate_i / 10^6), P_i the underlying's price (an option is charged as the
    linear position it is a right on: what a flat-rate market would ask of it)."""
    _check_sizes(arrays, sizes)
    scaled = sum(abs(b * p) * rate for b, p, rate in zip(sizes, underlying_prices, rates))
    return -(-scaled // RATE_SCALE)
