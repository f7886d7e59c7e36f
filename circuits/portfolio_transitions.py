"""Withdrawals and fills in portfolio mode: the scenario rule at an initial-margin scale.

``portfolio-transfer`` proves what ``transfer`` proves (collateral moves by exactly the public
signed amount; the old state opens the old commitment and is in the epoch or flat and behind
it; the new commitment opens to the successor) and ``portfolio-fill`` what ``fill`` proves (the
private fill opens the public fill commitment and moves one instrument's size and cost basis,
the fee leaves the collateral). Instead of the flat rates, both check the successor against the
epoch's risk arrays (docs/protocol.md §10.6), with every scenario loss and the short-option
charge scaled by the **initial-margin factor** alpha (millionths, ``ZKMARGIN_PORTFOLIO_INITIAL_FACTOR``):

    E * 10^6 + alpha * (sum_i b_i RA_i[s] - Q) >= 0   for every scenario s,
    E * 10^6 - alpha * Q >= 0                         for the unmoved book,

which is ``PortfolioRisk.initial_surplus(E, alpha) >= 0``. A transfer checks it after a
withdrawal (the amount's sign bit gates it: a deposit only adds collateral). A fill passes when
the successor meets it (route 0), OR (route 1) the fill is risk-reducing (``|b'| + |db| = |b|``
in its instrument, as in ``fill``) and does not lower the maintenance-scale surplus: for a private
floor F that is one of the old book's values ``E + sum_i b_i RA_i[t] - Q`` (the product of
their differences from F is 0), every new value is at least F. So min_new >= F >= min_old: a
fee or a bad price cannot dodge the rule, and a book below margin may still deleverage. The
route bit and the floor are the prover's choice (existential inputs: the statement claims a
route exists); the route bit may be 1 only for a risk-reducing fill.

Public inputs, in order: the transition's own (``portfolio-transfer``: account id, old
commitment, new commitment, amount, epoch; ``portfolio-fill``: account id, old commitment, new
commitment, fill commitment, epoch), then mark_0..mark_{M-1}, the risk digest (the epoch's
arrays, recomputed in circuit exactly as in ``portfolio``) and ``initial_factor`` alpha in
[10^6, 10^7]; the escrow variants append the escrow inputs. The verifier builds all of them
from its own records: the epoch's stored risk record and its configured alpha.

Bounds and no-wrap (``_check_bound_derivation`` recomputes them at import). As in
circuits/portfolio.py, E lies in (-(2^96 + 2^94), 2^97 + 2^94) and |sum b RA| and Q are at most
2^96, so |E| 10^6 < 2^118 and alpha |sum b RA - Q| < 2^24 x 2^97: log2(alpha) <= log2(10^7) <
23.3 bits on top of the maintenance check's 98. Every initial value lies in (-2^121, 2^121); the
route-1 value 10^6 (new - F) in (-2^120, 2^120) (new and F each in (-2^98.6, 2^98)). Each is
proven to lie in [0, 2^122) (``INITIAL_BITS``); a negative one would appear as r - 2^121,
far above 2^122 on both fields (r > 2^253), so no value wraps around the modulus. alpha is a
public input the verifier bounds (``PublicInput`` low/high), not a hidden value.

JSON for ``prepare``::

    portfolio-transfer: {"state": STATE, "amount": a, "risk": RISK, "initial_factor": alpha}
    portfolio-fill:     {"state": STATE, "fill": FILL, "risk": RISK, "initial_factor": alpha}

STATE and FILL as in ``circuits.inputs``, RISK as in ``circuits.portfolio``; ``escrow_key`` for
the escrow variants.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from circuits.base import Inputs, Prepared, PublicInput, PublicVars
from circuits.common import (
    ACCOUNT,
    EPOCH,
    NEW_COMMITMENT,
    OLD_COMMITMENT,
    TransitionCircuit,
    deferred,
    open_old_state,
)
from circuits.fill import apply_fill_gadget, fill_successor, open_fill_gadget
from circuits.inputs import escrow_key_from_json, field, fill_from_json, integer, state_from_json
from circuits.portfolio import (
    DEFAULT_SCENARIOS,
    MARK_BITS,
    PORTFOLIO_BITS,
    check_scenarios,
    risk_arrays_from_json,
)
from circuits.protocol.risk.book import scenario_labels
from circuits.protocol.risk.errors import RiskModelError
from circuits.protocol.risk.scenarios import (
    MAX_INITIAL_FACTOR,
    EpochRiskArrays,
    PortfolioRisk,
    check_initial_factor,
    equity_at_marks,
    portfolio_risk,
)
from circuits.risk_gadgets import BookValues, RiskVars, bind_published_risk, book_values
from circuits.transfer import SIGNED_AMOUNT, commit_collateral_move
from circuits.state import RATE_SCALE, TRANSFER_BITS, AccountState, BoundError, Fill
from zkmargin.constraints import LC, ConstraintSystem, lc_sum
from zkmargin.curves import Curve, get_curve
from zkmargin.edwards import Point
from zkmargin.errors import MalformedInputError
from zkmargin.escrow import Escrow
from zkmargin.gadgets.bits import range_check
from zkmargin.gadgets.boolean import assert_boolean
from zkmargin.gadgets.equality import is_equal
from zkmargin.gadgets.signed import decompose_signed

INITIAL_BITS = 122  # every honest initial-scale value lies in [0, 2^122): see the module docstring
UNMOVED = "unmoved book"

# the public inputs both statements add to their transition's own
MARKS = PublicInput("marks", "each instrument's mark value, from the epoch's risk arrays", high=1 << MARK_BITS,
                    per_market=True, label="mark")
RISK_DIGEST = PublicInput("risk_digest", "the Poseidon digest of the epoch's risk arrays (EpochRiskArrays.digest)",
                          noun="risk digest")
INITIAL_FACTOR = PublicInput("initial_factor", "the initial-margin factor alpha, millionths (10^6 = maintenance)",
                             low=RATE_SCALE, high=MAX_INITIAL_FACTOR + 1, noun="initial factor")
RISK_INPUTS = (MARKS, RISK_DIGEST, INITIAL_FACTOR)


def initial_label(t: int) -> str:
    """The range check of value t: 0 is the unmoved book, 1 + s is scenario s."""
    return f"{UNMOVED} holds at initial margin" if t == 0 else f"scenario {t - 1} holds at initial margin"


WITHDRAWAL_GATE = "withdrawal gates the initial-margin check"
ROUTE_LABEL = "fill route"
ROUTE_NEEDS_REDUCTION = "route 1 only for a risk-reducing fill"
FLOOR_LABEL = "floor is a value of the old book"
REDUCES_RISK = "fill only reduces risk"


def _check_bound_derivation() -> None:
    """Recompute the docstring's bounds from the constants, so changing one cannot go unnoticed."""
    value_max = 1 << PORTFOLIO_BITS  # |E + sum b RA - Q| and its parts, from circuits/portfolio.py
    equity_max = value_max  # E < 2^97 + 2^94 < 2^98
    loss_max = 1 << 97  # |sum b RA - Q| <= 2^96 + 2^96
    initial_max = equity_max * RATE_SCALE + MAX_INITIAL_FACTOR * loss_max
    route_max = RATE_SCALE * 2 * 2 * value_max  # 10^6 |new - F|, each below 2 x 2^98 in magnitude
    assert initial_max < 1 << (INITIAL_BITS - 1) and route_max < 1 << (INITIAL_BITS - 1)
    for r in (get_curve("bn128").r, get_curve("bls12381").r):
        assert r - max(initial_max, route_max) > 1 << INITIAL_BITS


_check_bound_derivation()


# --- in circuit ------------------------------------------------------------------------------

def initial_values(cs: ConstraintSystem, book: BookValues, factor: LC, label: str) -> list[LC]:
    """E 10^6 + alpha (pnl[s] - Q) for the unmoved book (pnl 0) and every scenario: one
    constraint each."""
    with cs.namespace(label):
        return [book.equity * RATE_SCALE + cs.mul(factor, loss - book.charge, f"alpha*(loss-Q) {t}")
                for t, loss in enumerate([LC.of(0), *book.pnl])]


def assert_values_hold(cs: ConstraintSystem, values: Sequence[LC]) -> None:
    """Each value in [0, 2^122), named by its scenario (``initial_label``)."""
    with cs.namespace("portfolio initial margin"):
        for t, value in enumerate(values):
            range_check(cs, value, INITIAL_BITS, initial_label(t))


def _risk(inputs: Inputs | None) -> EpochRiskArrays | None:
    if inputs is None:
        return None
    arrays: EpochRiskArrays = inputs["risk"]
    return arrays


class _PortfolioTransition(TransitionCircuit):
    """What both statements share: the risk inputs, the shape, the out-of-circuit public inputs."""

    def __init__(self, markets: int = 1, escrow: bool = False, scenarios: int = DEFAULT_SCENARIOS):
        super().__init__(markets, escrow)
        self.scenarios = check_scenarios(scenarios)

    def parameters(self) -> dict[str, Any]:
        return {"markets": self.markets, "scenarios": self.scenarios}

    def bind_risk(self, cs: ConstraintSystem, pub: PublicVars, inputs: Inputs | None) -> RiskVars:
        return bind_published_risk(cs, pub, _risk(inputs), self.markets, self.scenarios)

    def check_shape(self, risk: EpochRiskArrays) -> None:
        if len(risk.arrays) != self.markets or len(risk.scenarios) != self.scenarios:
            raise BoundError(f"the risk arrays are {len(risk.arrays)} instruments x {len(risk.scenarios)} "
                             f"scenarios, the circuit {self.markets} x {self.scenarios}")

    def risk_values(self, risk: EpochRiskArrays, initial_factor: int, curve: Curve) -> dict[str, Any]:
        """The public risk inputs from the epoch's published arrays: marks, digest and alpha."""
        self.check_shape(risk)
        return {"marks": [a.mark for a in risk.arrays], "risk_digest": risk.digest(curve.name),
                "initial_factor": check_initial_factor(initial_factor)}


class PortfolioTransfer(_PortfolioTransition):
    name = "portfolio-transfer"
    description = ("deposit or withdrawal in portfolio mode: a withdrawal leaves every scenario covered at the "
                   "initial-margin factor")
    public_layout = (
        ACCOUNT,
        OLD_COMMITMENT,
        NEW_COMMITMENT,
        SIGNED_AMOUNT,
        EPOCH,
        *RISK_INPUTS,
    )

    def define(self, cs: ConstraintSystem, inputs: Inputs | None) -> None:
        pub = self.allocate_public(cs, self.public_of(inputs))
        amount = decompose_signed(cs, pub["amount"], TRANSFER_BITS, "amount sign")
        old = open_old_state(cs, inputs, pub, self.markets)
        new_collateral = commit_collateral_move(self, cs, pub, inputs, old, amount.value)
        costs = [k.value for k in old.costs]
        risk = self.bind_risk(cs, pub, inputs)
        book = book_values(cs, new_collateral, old.sizes, costs, pub.per_market("marks"), risk, "new book")
        values = initial_values(cs, book, pub["initial_factor"], "initial")
        # only a withdrawal (sign 1) must leave every scenario covered at the initial scale
        assert_values_hold(cs, [cs.mul(amount.sign, v, f"{WITHDRAWAL_GATE} {t}") for t, v in enumerate(values)])

    def public_inputs(
        self, account_id: int, old_commitment: int, new_commitment: int, amount: int, risk: EpochRiskArrays,
        initial_factor: int, curve: Curve | str | None = None, *, escrow_key: Point | None = None,
        escrow: Escrow | None = None,
    ) -> list[int]:
        """The public-input vector, built by the verifier from its records: the epoch is the risk
        record's."""
        c = get_curve(curve)
        return self.public_vector({"account": account_id, "old_commitment": old_commitment,
                                   "new_commitment": new_commitment, "amount": amount, "epoch": risk.epoch,
                                   **self.risk_values(risk, initial_factor, c),
                                   **self.escrow_values(escrow_key, escrow)}, c)

    def transition(self, state: AccountState, amount: int, risk: EpochRiskArrays, initial_factor: int,
                   curve: Curve | str | None = None, *,
                   escrow_key: Point | None = None) -> tuple[AccountState, dict[str, Any]]:
        """The successor state and the proving inputs; refuses (naming the scenario and the
        shortfall) a withdrawal no proof could exist for."""
        c = get_curve(curve)
        state.validate(c)
        self.check_shape(risk)
        state.require_in_epoch(risk.epoch, "deposit" if amount > 0 else "withdrawal")
        new = state.next(c, collateral=state.collateral + amount, epoch=risk.epoch)
        if new.collateral < 0:
            raise BoundError(f"cannot withdraw {-amount}: collateral is only {state.collateral}")
        new.validate(c)
        if amount < 0:
            require_initial_portfolio_margin(new, risk, initial_factor,
                                             "the withdrawal would leave the account below initial portfolio margin")
        sealed = self.seal_successor(new, escrow_key, c)
        vector = self.public_inputs(state.account_id, state.commitment(c), new.commitment(c), amount, risk,
                                    initial_factor, c, escrow_key=escrow_key, escrow=sealed.get("escrow"))
        return new, {"public": self.name_public(vector), "state": state, "new_salt": new.salt, "risk": risk,
                     **sealed}

    def prepare(self, data: Any, curve: Curve, source: str = "input") -> Prepared:
        state = state_from_json(field(data, "state", source))
        amount = integer(field(data, "amount", source), "amount")
        risk = risk_arrays_from_json(field(data, "risk", source), f"{source}.risk")
        new, inputs = self.transition(state, amount, risk, _factor_from_json(data, source), curve,
                                      escrow_key=escrow_key_from_json(data, self.escrow, curve, source))
        return Prepared(inputs, new)


@dataclass(frozen=True)
class FillRoute:
    """How a fill passes: 0 the successor meets initial margin; 1 a risk-reducing fill that does
    not lower the surplus, with ``floor`` the old book's least value."""

    route: int
    floor: int


class PortfolioFill(_PortfolioTransition):
    name = "portfolio-fill"
    description = ("apply one committed venue fill in portfolio mode: the successor meets initial margin over every "
                   "scenario, or the fill reduces risk without lowering the surplus")
    public_layout = (
        ACCOUNT,
        OLD_COMMITMENT,
        NEW_COMMITMENT,
        PublicInput("fill_commitment", "the venue's commitment to the fill (binds the account)"),
        PublicInput("epoch", "the fill's epoch: the one open when the venue posted it", high=EPOCH.high),
        *RISK_INPUTS,
    )

    def define(self, cs: ConstraintSystem, inputs: Inputs | None) -> None:
        pub = self.allocate_public(cs, self.public_of(inputs))
        old = open_old_state(cs, inputs, pub, self.markets)
        fill = open_fill_gadget(cs, pub, inputs["fill"] if inputs else None, self.markets)
        new = apply_fill_gadget(cs, old, fill, deferred(inputs, "new_salt"))
        self.commit_new_state(cs, pub, inputs, new.nonce, pub["epoch"], new.salt, new.collateral,
                              [s.value for s in new.sizes], new.costs, "new commitment opens to the new state")
        reduces_risk = is_equal(cs, lc_sum(new.new_abs) + fill.delta.abs, lc_sum(new.old_abs), REDUCES_RISK)
        risk = self.bind_risk(cs, pub, inputs)
        marks = pub.per_market("marks")
        new_book = book_values(cs, new.collateral, new.sizes, new.costs, marks, risk, "new book")
        old_book = book_values(cs, old.collateral, old.sizes, [k.value for k in old.costs], marks, risk, "old book")
        initial = initial_values(cs, new_book, pub["initial_factor"], "initial")
        self._enforce_fill_rule(cs, inputs, initial, new_book, old_book, reduces_risk)

    @staticmethod
    def _enforce_fill_rule(cs: ConstraintSystem, inputs: Inputs | None, initial: list[LC], new_book: BookValues,
                           old_book: BookValues, reduces_risk: LC) -> None:
        """Per value t: initial_t, or on route 1 10^6 (new_t - F); one range check each. F is one of
        the old values (their differences from F multiply to 0); route 1 needs a risk-reducing fill."""
        with cs.namespace("route"):
            route = cs.private(ROUTE_LABEL, deferred(inputs, "route"), existential=True)
            assert_boolean(cs, route, ROUTE_LABEL)
            cs.enforce(route, 1 - reduces_risk, 0, ROUTE_NEEDS_REDUCTION)
            floor = cs.private("floor", deferred(inputs, "floor"), existential=True)
            product = LC.of(1)
            old_values = old_book.surplus_values()
            for t, value in enumerate(old_values[:-1]):
                product = cs.mul(product, value - floor, f"floor product {t}")
            cs.enforce(product, old_values[-1] - floor, 0, FLOOR_LABEL)
            selected = [v + cs.mul(route, (n - floor) * RATE_SCALE - v, f"route selects value {t}")
                        for t, (v, n) in enumerate(zip(initial, new_book.surplus_values()))]
        assert_values_hold(cs, selected)

    def public_inputs(
        self, account_id: int, old_commitment: int, new_commitment: int, fill_commitment: int,
        risk: EpochRiskArrays, initial_factor: int, curve: Curve | str | None = None, *,
        escrow_key: Point | None = None, escrow: Escrow | None = None,
    ) -> list[int]:
        """The public-input vector, built by the verifier from its records: the epoch is the fill's,
        whose risk record ``risk`` is."""
        c = get_curve(curve)
        return self.public_vector({"account": account_id, "old_commitment": old_commitment,
                                   "new_commitment": new_commitment, "fill_commitment": fill_commitment,
                                   "epoch": risk.epoch, **self.risk_values(risk, initial_factor, c),
                                   **self.escrow_values(escrow_key, escrow)}, c)

    def transition(self, state: AccountState, fill: Fill, risk: EpochRiskArrays, initial_factor: int,
                   curve: Curve | str | None = None, *,
                   escrow_key: Point | None = None) -> tuple[AccountState, dict[str, Any]]:
        """The successor state and the proving inputs (route and floor chosen here); refuses what
        the circuit would reject, naming the failing scenario and the shortfall."""
        c = get_curve(curve)
        fill.validate(self.markets, c)
        self.check_shape(risk)
        new = fill_successor(state, fill, risk.epoch, c)
        chosen = fill_route(state, new, fill, risk, initial_factor)
        sealed = self.seal_successor(new, escrow_key, c)
        vector = self.public_inputs(state.account_id, state.commitment(c), new.commitment(c), fill.commitment(c),
                                    risk, initial_factor, c, escrow_key=escrow_key, escrow=sealed.get("escrow"))
        return new, {"public": self.name_public(vector), "state": state, "fill": fill, "new_salt": new.salt,
                     "risk": risk, "route": chosen.route, "floor": chosen.floor % c.r, **sealed}

    def prepare(self, data: Any, curve: Curve, source: str = "input") -> Prepared:
        state = state_from_json(field(data, "state", source))
        fill = fill_from_json(field(data, "fill", source))
        risk = risk_arrays_from_json(field(data, "risk", source), f"{source}.risk")
        new, inputs = self.transition(state, fill, risk, _factor_from_json(data, source), curve,
                                      escrow_key=escrow_key_from_json(data, self.escrow, curve, source))
        return Prepared(inputs, new)


def _factor_from_json(data: Any, source: str) -> int:
    factor = integer(field(data, "initial_factor", source), "initial_factor")
    try:
        return check_initial_factor(factor)
    except RiskModelError as exc:
        raise MalformedInputError(f"{source}: {exc}") from None


# --- out of circuit: the same rule, refused before proving -----------------------------------

def _book(state: AccountState, risk: EpochRiskArrays) -> tuple[PortfolioRisk, int]:
    return portfolio_risk(risk.arrays, state.sizes), equity_at_marks(state.collateral, state.sizes, state.costs,
                                                                     risk.arrays)


def where_worst(book: PortfolioRisk, risk: EpochRiskArrays) -> str:
    """The worst scenario by index and name ("scenario 10 (price +1 x range, vol up)"), or the unmoved book."""
    s = book.worst_scenario
    if s is None:
        return "the unmoved book"
    labels = scenario_labels(risk.scenarios)
    return f"scenario {s} ({labels[s]})" if s < len(labels) else f"scenario {s}"


def initial_shortfall(state: AccountState, risk: EpochRiskArrays, initial_factor: int) -> tuple[str, int]:
    """Where ``state`` is shortest of initial portfolio margin and by how many collateral units
    (rounded up; 0 or less: it meets it)."""
    book, equity = _book(state, risk)
    return where_worst(book, risk), -(book.initial_surplus(equity, initial_factor) // RATE_SCALE)


def require_initial_portfolio_margin(state: AccountState, risk: EpochRiskArrays, initial_factor: int,
                                     what: str) -> None:
    """Refuse, before any proving work, a successor below initial portfolio margin: "``what``:
    scenario 10 (price +1 x range, vol up) short by N collateral units"."""
    where, short = initial_shortfall(state, risk, initial_factor)
    if short > 0:
        raise BoundError(f"{what}: {where} short by {short} collateral units at the initial factor "
                         f"{initial_factor} millionths")


def fill_route(old: AccountState, new: AccountState, fill: Fill, risk: EpochRiskArrays,
               initial_factor: int) -> FillRoute:
    """The circuit's fill rule out of circuit: route 0 when the successor meets initial margin,
    route 1 for a risk-reducing fill that keeps the surplus; else the refusal, with the shortfall."""
    old_book, old_equity = _book(old, risk)
    floor = old_book.surplus(old_equity)
    new_book, new_equity = _book(new, risk)
    if new_book.initial_surplus(new_equity, initial_factor) >= 0:
        return FillRoute(0, floor)
    m = fill.market
    reduces = abs(new.sizes[m]) + abs(fill.size_delta) == abs(old.sizes[m])
    fall = floor - new_book.surplus(new_equity)
    if reduces and fall <= 0:
        return FillRoute(1, floor)
    where, short = initial_shortfall(new, risk, initial_factor)
    why = (f"; as a risk-reducing fill it would lower the portfolio surplus by {fall} collateral units (its price "
           "and fee cost more than the risk it releases)" if reduces else "")
    raise BoundError(f"the fill would leave the account below initial portfolio margin: {where} short by {short} "
                     f"collateral units at the initial factor {initial_factor} millionths{why}")
