"""The close-out of a liquidated account: what moves to the backstop, the penalty, the successor
state, and how a loss beyond the account's collateral is allocated. Pure integer arithmetic.

Once the guardians have opened an account's state, the service closes it out in public at the
mark prices P_m (docs/protocol.md §11):

- **Closing** q_m of a position b_m (same sign, |q_m| <= |b_m|) is a venue-style fill of -q_m at
  P_m for the defaulter (``b' = b - q``, ``k' = k - q P``: the fill statement's arithmetic) and
  of +q_m at P_m for the backstop, fee 0. The two fills cancel per market in size and in cost
  basis, so zero-sum accounting stays in the fill machinery. A fill at the mark leaves equity
  unchanged; it releases ``|q| P im`` of initial requirement.
- **Penalty** (to the insurance fund, debited from the defaulter's collateral):
  ``ceil(sum_m |q_m| P_m mm_m penalty_rate / RATE_SCALE^2)``: one rounding of the exact
  rational, upward (against the defaulter, as funding rounds against the payer), then capped so
  the account can pay it: at its equity in a full close-out, at min(equity, collateral) in a
  partial one (its remaining positions keep their pnl in the cost bases until settlement, so
  only collateral pays now), and never below 0.
- **Partial** close-out, the rule: close the same fraction, ``step`` millionths
  (STEP_SCALE), of every position, ``|q_m| = ceil(|b_m| step / STEP_SCALE)``, with ``step`` the
  smallest found by binary search over [0, STEP_SCALE] such that after the penalty the successor
  meets **initial** margin at the marks (``(E - penalty) RATE_SCALE >= sum |b'_m| P_m im_m``).
  The returned step restores initial margin and the step before it does not. (The health after
  a step grows with the step up to the penalty's rounding, less than one collateral unit per
  step, so an earlier lone step passing by that unit is the only way a smaller step could pass.)
- **Full** close-out when only closing everything restores it, or nothing does (equity below
  0): every position is closed and the successor is **flat**: sizes and cost bases 0, collateral
  ``max(0, E - penalty)``. Its ``realized_pnl = sum_m (b_m P_m - k_m)`` is folded into that
  collateral, as a settlement at the marks would: the service books it as the account's pnl of
  the state's epoch, so the epoch still sums to zero. ``shortfall = max(0, penalty - E)`` (the
  penalty is 0 then) is the loss the collateral could not pay: ``allocate_shortfall`` splits it.
- The successor: nonce + 1, the given salt, same account id and epoch; it passes ``validate()``.

**Portfolio mode** (``PortfolioRule``; ``FlatRule`` is the rule above as an object): the prices
are the risk record's marks (``risk_marks``) or the settlement prices, the target is portfolio
initial margin (``PortfolioRisk.initial_surplus``), the penalty ``ceil(rate R(q) / 10^6)`` with
R(q) the portfolio requirement of the closed sizes, and the close-out the cheapest of the least
moves that restore: part of one position, or the same fraction of every one (``_least_closeout``).
A position whose price is 0 (an option valued below one unit) cannot be closed by a fill:
``UnclosablePositionError``.

Bounds: |q| <= |b| < 2^40 and P < 2^48, so every product here is below 2^134; Python's integers
are exact, and the successor's values are checked against the state's bounds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from circuits.inputs import state_to_json
from circuits.protocol.risk.errors import RiskModelError
from circuits.protocol.risk.scenarios import RiskArray, check_initial_factor, portfolio_risk
from circuits.state import (
    ACCOUNT_BITS,
    PRICE_BITS,
    RATE_SCALE,
    AccountState,
    check_range,
)
from zkmargin.curves import Curve
from zkmargin.errors import ZkMarginError

STEP_SCALE = RATE_SCALE  # a partial close-out closes ``step`` millionths of every position


class CloseoutError(ZkMarginError, ValueError):
    """A close-out or a loss allocation cannot be computed from these inputs."""

    reason = "closeout"


def _amount(name: str, value: object, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CloseoutError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < low:
        raise CloseoutError(f"{name} = {value} is below {low}")
    return value


def _rate(name: str, value: object) -> int:
    rate = _amount(name, value)
    if rate > RATE_SCALE:
        raise CloseoutError(f"{name} = {rate} is above {RATE_SCALE} (100 %)")
    return rate


@dataclass(frozen=True)
class CloseoutFill:
    """One side of a close-out trade, in the venue's fill terms (fee 0)."""

    account_id: int
    market: int
    size_delta: int
    price: int
    fee: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"account_id": self.account_id, "market": self.market, "size_delta": str(self.size_delta),
                "price": str(self.price), "fee": str(self.fee)}


@dataclass(frozen=True)
class Waterfall:
    """Who pays a loss the defaulter's equity cannot: its collateral, the insurance fund, winners."""

    shortfall: int  # the part beyond the collateral: from_insurance + sum(socialized)
    from_collateral: int
    from_insurance: int
    socialized: Mapping[int, int] = field(default_factory=dict)  # account -> levy (> 0)

    def to_json(self) -> dict[str, Any]:
        return {"shortfall": str(self.shortfall), "from_collateral": str(self.from_collateral),
                "from_insurance": str(self.from_insurance),
                "socialized": {str(account): str(levy) for account, levy in sorted(self.socialized.items())}}


@dataclass(frozen=True)
class CloseoutPlan:
    """A close-out of one revealed state at the mark prices (see the module docstring)."""

    state: AccountState
    closed: tuple[int, ...]  # per market: size moved to the backstop, same sign as the position
    prices: tuple[int, ...]
    step: int  # millionths of every position closed (rounded up per position)
    penalty: int
    full: bool
    equity_before: int
    equity_after: int  # equity_before - penalty; negative only in a full close-out
    realized_pnl: int  # full close-out: the pnl folded into the successor's collateral; else 0
    shortfall: int
    successor: AccountState
    rule: str = "flat"  # or "portfolio" (see "Portfolio mode" below)
    order: tuple[int, ...] = ()  # portfolio: the move's instruments (one, or every open one)
    closed_requirement: int = 0  # portfolio: R(q), the portfolio requirement of the closed sizes

    @property
    def account_id(self) -> int:
        return self.state.account_id

    @property
    def loss_from_collateral(self) -> int:
        """The part of a realized loss the defaulter's collateral pays (0 without a loss)."""
        return min(self.state.collateral, max(0, -self.realized_pnl))

    def defaulter_fills(self) -> list[CloseoutFill]:
        return [CloseoutFill(self.account_id, m, -q, p) for m, (q, p) in enumerate(zip(self.closed, self.prices))
                if q]

    def backstop_fills(self, backstop_account: int) -> list[CloseoutFill]:
        check_range("backstop account id", backstop_account, 0, 1 << ACCOUNT_BITS)
        if backstop_account == self.account_id:
            raise CloseoutError(f"account {backstop_account} cannot be its own backstop")
        return [CloseoutFill(backstop_account, m, q, p) for m, (q, p) in enumerate(zip(self.closed, self.prices))
                if q]

    def waterfall(self, insurance_balance: int, winners: Mapping[int, int]) -> Waterfall:
        """This plan's shortfall allocated (see ``allocate_shortfall``)."""
        return allocate_shortfall(self.shortfall, insurance_balance, winners,
                                  from_collateral=self.loss_from_collateral)

    def to_json(self) -> dict[str, Any]:
        document = self._flat_json()
        if self.rule != "flat":  # a flat plan's document stays exactly what it always was
            document.update(rule=self.rule, order=list(self.order), closed_requirement=str(self.closed_requirement))
        return document

    def _flat_json(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "closed": [str(q) for q in self.closed],
            "prices": [str(p) for p in self.prices],
            "step": self.step,
            "penalty": str(self.penalty),
            "full": self.full,
            "equity_before": str(self.equity_before),
            "equity_after": str(self.equity_after),
            "realized_pnl": str(self.realized_pnl),
            "shortfall": str(self.shortfall),
            "successor": state_to_json(self.successor),
        }


@dataclass(frozen=True)
class _Terms:
    """The validated inputs of one close-out."""

    state: AccountState
    prices: tuple[int, ...]
    maintenance_rates: tuple[int, ...]
    initial_rates: tuple[int, ...]
    penalty_rate: int
    salt: int


def plan_closeout(state: AccountState, prices: Sequence[int], maintenance_rates: Sequence[int],
                  initial_rates: Sequence[int], penalty_rate: int, *, salt: int,
                  curve: Curve | str | None = None) -> CloseoutPlan:
    """The least close-out (per the same-fraction rule) after which the account meets initial margin."""
    terms = _validated_terms(state, prices, maintenance_rates, initial_rates, penalty_rate, salt, curve)
    nothing = _plan_at(terms, 0)
    if _restores_initial_margin(nothing, terms):
        return _checked(nothing, curve)
    everything = _plan_at(terms, STEP_SCALE)
    if not _restores_initial_margin(everything, terms):
        return _checked(everything, curve)  # negative equity: full close-out with a shortfall
    failing, passing = 0, STEP_SCALE
    while passing - failing > 1:  # invariant: ``failing`` does not restore, ``passing`` does
        middle = (failing + passing) // 2
        if _restores_initial_margin(_plan_at(terms, middle), terms):
            passing = middle
        else:
            failing = middle
    return _checked(_plan_at(terms, passing), curve)


def plan_at_step(state: AccountState, prices: Sequence[int], maintenance_rates: Sequence[int],
                 initial_rates: Sequence[int], penalty_rate: int, step: int, *, salt: int,
                 curve: Curve | str | None = None) -> CloseoutPlan:
    """The close-out of ``step`` millionths of every position, whether or not it restores margin."""
    terms = _validated_terms(state, prices, maintenance_rates, initial_rates, penalty_rate, salt, curve)
    return _checked(_plan_at(terms, check_range("close-out step", step, 0, STEP_SCALE + 1)), curve)


def restores_initial_margin(plan: CloseoutPlan, initial_rates: Sequence[int]) -> bool:
    """After the plan, equity minus the penalty covers the initial requirement at the marks."""
    return (plan.equity_after * RATE_SCALE
            - sum(abs(b * p) * im for b, p, im in zip(plan.successor.sizes, plan.prices, initial_rates))) >= 0


def _restores_initial_margin(plan: CloseoutPlan, terms: _Terms) -> bool:
    return restores_initial_margin(plan, terms.initial_rates)


def _validated_terms(state: AccountState, prices: Sequence[int], maintenance_rates: Sequence[int],
                     initial_rates: Sequence[int], penalty_rate: int, salt: int,
                     curve: Curve | str | None) -> _Terms:
    state.validate(curve)
    for name, values in (("mark prices", prices), ("maintenance rates", maintenance_rates),
                         ("initial rates", initial_rates)):
        if len(values) != state.markets:
            raise CloseoutError(f"{len(values)} {name} for a state of {state.markets} markets")
    for m, (p, mm, im) in enumerate(zip(prices, maintenance_rates, initial_rates)):
        check_range(f"mark price of market {m}", p, 1, 1 << PRICE_BITS)
        if _rate(f"maintenance rate of market {m}", mm) > _rate(f"initial rate of market {m}", im):
            raise CloseoutError(f"market {m}: the maintenance rate {mm} exceeds the initial rate {im}")
    return _Terms(state, tuple(prices), tuple(maintenance_rates), tuple(initial_rates),
                  _rate("penalty rate", penalty_rate), _amount("successor salt", salt))


def _closed_sizes(sizes: Sequence[int], step: int) -> tuple[int, ...]:
    """ceil(|b| step / STEP_SCALE) of every position, with the position's sign."""
    return tuple((1 if b > 0 else -1) * -(-abs(b) * step // STEP_SCALE) for b in sizes)


def _penalty(terms: _Terms, closed: Sequence[int]) -> int:
    released = sum(abs(q) * p * mm for q, p, mm in zip(closed, terms.prices, terms.maintenance_rates))
    return -(-released * terms.penalty_rate // (RATE_SCALE * RATE_SCALE))


def _plan_at(terms: _Terms, step: int) -> CloseoutPlan:
    state = terms.state
    closed = _closed_sizes(state.sizes, step)
    sizes = tuple(b - q for b, q in zip(state.sizes, closed))
    equity = state.equity(terms.prices)
    full = not any(sizes) and (any(closed) or step == STEP_SCALE)
    if full:
        return _full_plan(terms, step, closed, equity)
    penalty = min(_penalty(terms, closed), max(0, min(equity, state.collateral)))
    costs = tuple(k - q * p for k, q, p in zip(state.costs, closed, terms.prices))
    successor = state.next(nonce=state.nonce + 1, salt=terms.salt, collateral=state.collateral - penalty,
                           sizes=sizes, costs=costs)
    return CloseoutPlan(state, closed, terms.prices, step, penalty, False, equity, equity - penalty, 0, 0,
                        successor)


def _full_plan(terms: _Terms, step: int, closed: tuple[int, ...], equity: int) -> CloseoutPlan:
    state = terms.state
    realized_pnl = sum(b * p - k for b, k, p in zip(state.sizes, state.costs, terms.prices))
    penalty = min(_penalty(terms, closed), max(0, equity))
    after = equity - penalty
    flat = (0,) * state.markets
    successor = state.next(nonce=state.nonce + 1, salt=terms.salt, collateral=max(0, after), sizes=flat,
                           costs=flat)
    return CloseoutPlan(state, closed, terms.prices, step, penalty, True, equity, after, realized_pnl,
                        max(0, -after), successor)


def _checked(plan: CloseoutPlan, curve: Curve | str | None) -> CloseoutPlan:
    plan.successor.validate(curve)
    return plan


# --- Portfolio mode: the same close-out under the portfolio risk model (docs/protocol.md §11) -----


class UnclosablePositionError(CloseoutError):
    """The least close-out would close a position at price 0, which no fill can carry (price >= 1)."""

    reason = "unclosable_position"

    def __init__(self, market: int, size: int):
        super().__init__(f"the close-out would close {size:+d} of instrument {market} at price 0 (an option the "
                         "risk model values below one collateral unit): a fill's price is at least 1, so the "
                         "position cannot be closed")
        self.market = market
        self.size = size


@dataclass(frozen=True)
class FlatRule:
    """Today's rule: initial margin at flat per-market rates, the same fraction of every position."""

    prices: tuple[int, ...]
    maintenance_rates: tuple[int, ...]
    initial_rates: tuple[int, ...]

    def plan(self, state: AccountState, penalty_rate: int, *, salt: int, full: bool = False,
             curve: Curve | str | None = None) -> CloseoutPlan:
        terms = (state, self.prices, self.maintenance_rates, self.initial_rates, penalty_rate)
        if full:
            return plan_at_step(*terms, STEP_SCALE, salt=salt, curve=curve)
        return plan_closeout(*terms, salt=salt, curve=curve)

    def restores(self, plan: CloseoutPlan) -> bool:
        return restores_initial_margin(plan, self.initial_rates)


@dataclass(frozen=True)
class PortfolioRule:
    """The portfolio rule: the epoch's risk arrays (instrument i = market i), the prices the
    close-out trades at (``risk_marks`` while the epoch is open, its settlement prices once
    closed), and the initial-margin factor alpha (millionths, >= 10^6)."""

    arrays: tuple[RiskArray, ...]
    marks: tuple[int, ...]
    factor: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "arrays", tuple(self.arrays))
        object.__setattr__(self, "marks", tuple(self.marks))
        if len(self.arrays) != len(self.marks):
            raise CloseoutError(f"{len(self.marks)} close-out prices for {len(self.arrays)} risk arrays")
        for i, price in enumerate(self.marks):
            check_range(f"close-out price of instrument {i}", price, 0, 1 << PRICE_BITS)
        try:
            check_initial_factor(self.factor)
        except RiskModelError as exc:
            raise CloseoutError(str(exc)) from None

    def plan(self, state: AccountState, penalty_rate: int, *, salt: int, full: bool = False,
             curve: Curve | str | None = None) -> CloseoutPlan:
        if full:
            return plan_portfolio_at_step(state, self, penalty_rate, STEP_SCALE, salt=salt, curve=curve)
        return plan_portfolio_closeout(state, self, penalty_rate, salt=salt, curve=curve)

    def restores(self, plan: CloseoutPlan) -> bool:
        return restores_portfolio_initial_margin(plan, self)

    def surplus(self, plan: CloseoutPlan) -> int:
        """The successor's initial surplus in millionths: (E - penalty) 10^6 + alpha (worst P&L - Q)."""
        return portfolio_risk(self.arrays, plan.successor.sizes).initial_surplus(plan.equity_after, self.factor)


CloseoutRule = FlatRule | PortfolioRule


def risk_marks(arrays: Sequence[RiskArray]) -> tuple[int, ...]:
    """The prices a portfolio close-out trades at while the epoch is open: each instrument's published
    mark (a future's is the market's mark price, an option's the model's value rounded down), the same
    integers the equity of the portfolio statement is taken at."""
    return tuple(array.mark for array in arrays)


def restores_portfolio_initial_margin(plan: CloseoutPlan, rule: PortfolioRule) -> bool:
    """After the plan, (E - penalty) 10^6 + alpha (worst P&L - short charge) >= 0 for the successor's
    sizes: the initial-margin variant of the portfolio check (``PortfolioRisk.initial_surplus``)."""
    return rule.surplus(plan) >= 0


def closed_requirement(rule: PortfolioRule, closed: Sequence[int]) -> int:
    """R(q): the portfolio (maintenance) requirement of the closed sizes as a book of their own."""
    return portfolio_risk(rule.arrays, closed).requirement


@dataclass(frozen=True)
class _PortfolioTerms:
    state: AccountState
    rule: PortfolioRule
    penalty_rate: int
    salt: int


def plan_portfolio_closeout(state: AccountState, rule: PortfolioRule, penalty_rate: int, *, salt: int,
                            curve: Curve | str | None = None) -> CloseoutPlan:
    """The least close-out (in the rule's order, see ``_least_closeout``) after which the account
    meets portfolio initial margin; UnclosablePositionError if it would close at price 0."""
    terms = _portfolio_terms(state, rule, penalty_rate, salt, curve)
    return _closable(_checked(_least_closeout(terms), curve))


def plan_portfolio_at_step(state: AccountState, rule: PortfolioRule, penalty_rate: int, step: int, *, salt: int,
                           curve: Curve | str | None = None) -> CloseoutPlan:
    """``step`` millionths of every position closed at the rule's prices with the portfolio penalty,
    whether or not it restores margin (10^6: the full close-out of a missed settlement)."""
    terms = _portfolio_terms(state, rule, penalty_rate, salt, curve)
    step = check_range("close-out step", step, 0, STEP_SCALE + 1)
    closed = _closed_sizes(state.sizes, step)
    order = tuple(i for i, q in enumerate(closed) if q)
    return _closable(_checked(_portfolio_plan(terms, closed, order, step, everything=step == STEP_SCALE), curve))


def _portfolio_terms(state: AccountState, rule: PortfolioRule, penalty_rate: int, salt: int,
                     curve: Curve | str | None) -> _PortfolioTerms:
    state.validate(curve)
    if len(rule.arrays) != state.markets:
        raise CloseoutError(f"{len(rule.arrays)} risk arrays for a state of {state.markets} markets")
    return _PortfolioTerms(state, rule, _rate("penalty rate", penalty_rate), _amount("successor salt", salt))


def _closable(plan: CloseoutPlan) -> CloseoutPlan:
    for market, (q, price) in enumerate(zip(plan.closed, plan.prices)):
        if q and price == 0:
            raise UnclosablePositionError(market, q)
    return plan


def _least_closeout(terms: _PortfolioTerms) -> CloseoutPlan:
    """Nothing if the account meets initial margin; everything if even that does not restore it
    (equity below 0). Otherwise (docs/protocol.md §11, "Portfolio mode"):

    1. the candidate moves are ``t`` units of one open position (t <= |b_i|), in index order, and,
       with two or more open, ``t`` millionths of every open one (each rounded up), last;
    2. for each, a ternary search finds the ``t`` of the highest initial surplus (concave in ``t``:
       a minimum of linear scenario results, less a convex penalty) and a binary search below it
       the least ``t`` that restores (``t`` passes, ``t - 1`` does not);
    3. of the moves that restore, the one with the least penalty is the close-out (ties: the
       earlier move).

    Some move always restores: with one position open, closing it whole is closing everything;
    with more, the same fraction at 10^6 is (and with equity >= 0 everything restores)."""
    sizes = terms.state.sizes
    nothing = _portfolio_plan(terms, (0,) * len(sizes), (), 0)
    if terms.rule.restores(nothing):
        return nothing
    everything = _portfolio_plan(terms, tuple(sizes), (), STEP_SCALE, everything=True)
    opened = [i for i, b in enumerate(sizes) if b]
    if not terms.rule.restores(everything):
        return replace(everything, order=tuple(opened))
    moves: list[int | None] = [*opened, None] if len(opened) > 1 else list(opened)
    restoring = [(plan.penalty, rank, plan) for rank, move in enumerate(moves)
                 for plan in [_least_move(terms, opened, move)] if plan is not None]
    assert restoring, "closing everything restores, and some move reaches it"
    return min(restoring, key=lambda found: found[:2])[2]


def _with(closed: Sequence[int], market: int, size: int) -> tuple[int, ...]:
    return tuple(size if i == market else q for i, q in enumerate(closed))


def _moved(sizes: Sequence[int], closed: Sequence[int], remaining: Sequence[int], move: int | None,
           units: int) -> tuple[int, ...]:
    """``closed`` plus ``units`` of position ``move`` (with its sign), or for ``move`` None plus
    ``units`` millionths of every position in ``remaining`` (each rounded up)."""
    if move is not None:
        return _with(closed, move, (1 if sizes[move] > 0 else -1) * units)
    fraction = _closed_sizes(sizes, units)
    return tuple(fraction[i] if i in remaining else q for i, q in enumerate(closed))


def _least_move(terms: _PortfolioTerms, opened: Sequence[int], move: int | None) -> CloseoutPlan | None:
    """The least ``t`` of this move that restores initial margin (see ``_least_closeout``), or None."""
    sizes = terms.state.sizes
    limit = STEP_SCALE if move is None else abs(sizes[move])
    taken = tuple(opened) if move is None else (move,)
    start = (0,) * len(sizes)

    def plan(units: int) -> CloseoutPlan:
        return _portfolio_plan(terms, _moved(sizes, start, opened, move, units), taken,
                               units if move is None else 0)

    def surplus(units: int) -> int:
        return terms.rule.surplus(plan(units))
    best = _best_units(surplus, limit)
    passing = best if surplus(best) >= 0 else limit if surplus(limit) >= 0 else None
    if passing is None:
        return None
    failing = 0  # closing nothing does not restore
    while passing - failing > 1:
        middle = (failing + passing) // 2
        if surplus(middle) >= 0:
            passing = middle
        else:
            failing = middle
    return plan(passing)


def _best_units(surplus: Callable[[int], int], limit: int) -> int:
    """Ternary search for the ``t`` in [0, limit] of the highest (concave) surplus, ties to the least."""
    low, high = 0, limit
    while high - low > 2:
        left, right = low + (high - low) // 3, high - (high - low) // 3
        if surplus(left) < surplus(right):
            low = left + 1
        else:
            high = right
    return max(range(low, high + 1), key=lambda units: (surplus(units), -units))


def _portfolio_plan(terms: _PortfolioTerms, closed: tuple[int, ...], order: tuple[int, ...], step: int, *,
                    everything: bool = False) -> CloseoutPlan:
    """The plan closing ``closed`` at the rule's prices, penalty ceil(rate R(q) / 10^6) capped as the
    flat rule caps it; full when it leaves no position (``everything``: even when none was held)."""
    state, prices = terms.state, terms.rule.marks
    requirement = closed_requirement(terms.rule, closed)
    due = -(-requirement * terms.penalty_rate // RATE_SCALE)
    sizes = tuple(b - q for b, q in zip(state.sizes, closed))
    equity = state.equity(prices)
    if not any(sizes) and (any(closed) or everything):
        realized_pnl = sum(b * p - k for b, k, p in zip(state.sizes, state.costs, prices))
        penalty = min(due, max(0, equity))
        after = equity - penalty
        flat = (0,) * state.markets
        successor = state.next(nonce=state.nonce + 1, salt=terms.salt, collateral=max(0, after), sizes=flat,
                               costs=flat)
        return CloseoutPlan(state, closed, prices, step, penalty, True, equity, after, realized_pnl,
                            max(0, -after), successor, rule="portfolio", order=order, closed_requirement=requirement)
    penalty = min(due, max(0, min(equity, state.collateral)))
    costs = tuple(k - q * p for k, q, p in zip(state.costs, closed, prices))
    successor = state.next(nonce=state.nonce + 1, salt=terms.salt, collateral=state.collateral - penalty,
                           sizes=sizes, costs=costs)
    return CloseoutPlan(state, closed, prices, step, penalty, False, equity, equity - penalty, 0, 0, successor,
                        rule="portfolio", order=order, closed_requirement=requirement)


def allocate_shortfall(shortfall: int, insurance_balance: int, winners: Mapping[int, int], *,
                       from_collateral: int = 0) -> Waterfall:
    """The insurance fund pays first, up to its balance; winners carry the rest pro rata to their pnl.

    Each winner's levy is ``floor(rest * pnl / total)``; the units left by the rounding (fewer
    than the number of winners) go one each to the largest remainders, ties to the lower account
    id, so the levies sum to exactly the rest and each is within one unit of its exact share.
    A levy never exceeds the winner's pnl: a rest larger than the winners' total is refused.
    """
    _amount("shortfall", shortfall)
    _amount("insurance fund balance", insurance_balance)
    _amount("loss paid from collateral", from_collateral)
    for account, pnl in winners.items():
        check_range("winner account id", account, 0, 1 << ACCOUNT_BITS)
        _amount(f"winning pnl of account {account}", pnl, low=1)
    from_insurance = min(shortfall, insurance_balance)
    rest = shortfall - from_insurance
    return Waterfall(shortfall, from_collateral, from_insurance, _pro_rata(rest, winners))


def _pro_rata(rest: int, winners: Mapping[int, int]) -> dict[int, int]:
    if rest == 0:
        return {}
    total = sum(winners.values())
    if not winners:
        raise CloseoutError(f"a loss of {rest} is left after the insurance fund and no account won "
                            f"in the epoch to carry it")
    if rest > total:
        raise CloseoutError(f"a loss of {rest} is left after the insurance fund, more than the "
                            f"winners' pnl of {total}")
    levies = {account: rest * pnl // total for account, pnl in winners.items()}
    left = rest - sum(levies.values())
    by_remainder = sorted(winners, key=lambda account: (-(rest * winners[account] % total), account))
    for account in by_remainder[:left]:
        levies[account] += 1
    return {account: levy for account, levy in sorted(levies.items()) if levy}
