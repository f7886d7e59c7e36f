"""Portfolio (scenario) margin: the committed state covers every scenario of the epoch's risk arrays.

The statement of docs/protocol.md §10.5, over the integers ``circuits.protocol.risk`` publishes.
Instrument i of the deployment's order is position i of the state: the state is committed
exactly as for ``margin`` (same bounds, same commitment), so the same state proves either.

Public inputs, in order (``PortfolioMargin.public_layout``): account id, state commitment,
epoch, mark_0..mark_{M-1} (the risk model's mark value of one unit of each instrument), and
the **risk digest**: the Poseidon sponge of the epoch's canonical encoding
(``EpochRiskArrays.field_elements``: epoch, S, M, then per instrument its mark, its short
charge and its S P&Ls offset by 2^50). The circuit recomputes that digest from the public
epoch and marks and from the short charges and risk arrays, which are private witness values
pinned by the digest; M x S public inputs become one.

What it proves, for the hidden collateral c, sizes b_i and cost bases k_i (all range-checked
as in ``circuits.state``), equity at the marks ``E = c + sum_i (b_i mark_i - k_i)`` and the
short-option charge ``Q = sum_i neg(b_i) charge_i`` (``neg(b) = |b|`` for b < 0, else 0;
futures carry charge 0): ``E + sum_i b_i RA_i[s] - Q >= 0`` for every scenario s, and
``E - Q >= 0`` for the unmoved book. That is ``portfolio_risk(...).surplus(E) >= 0``: S + 1
range checks and no minimum.

Bounds and no-wrap (``_check_bound_derivation`` recomputes them at import). Published marks,
charges and |RA| are below 2^50 (``RISK_ARRAY_BITS``, enforced by ``RiskArray``); the verifier
builds the marks and the digest from its own record, and the digest's preimage fixes the
private charges and arrays to the published integers (collision resistance), so they need no
range check of their own. With |b| <= 2^40, |k| <= 2^88, c < 2^96 and M <= 64:
|b mark - k| < 2^90 + 2^88, so E lies in (-(2^96 + 2^94), 2^97 + 2^94);
|sum_i b_i RA_i[s]| <= 2^96 and 0 <= Q <= 2^96. Every surplus therefore lies in
(-(3 * 2^96 + 2^94), 2^98); it is proven to lie in [0, 2^98) (``PORTFOLIO_BITS``). A negative
surplus would appear as r + d > r - 2^98, far above 2^98 on both fields (r > 2^253), so no
intermediate value can wrap around the modulus. The digest absorbs elements below 2^64.

JSON for ``prepare`` (integers as numbers or decimal strings)::

    {"state": STATE,
     "risk": {"epoch": e, "parameters": {...RiskParameters fields, optional...},
              "arrays": [{"instrument": INSTRUMENT, "mark": m, "short_charge": q, "pnl": [...]}, ...]}}

STATE as in ``circuits.inputs``, INSTRUMENT as ``instrument_to_json`` writes it; the scenario set
is the parameters' (SPAN's 16 by default).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from circuits.base import Inputs, Prepared, PublicInput
from circuits.common import (
    ACCOUNT,
    EPOCH,
    MarketCircuit,
    allocate_state,
    open_state,
)
from circuits.inputs import field, integer, integers, state_from_json
from circuits.protocol.risk.book import scenario_labels
from circuits.protocol.risk.errors import RiskModelError
from circuits.protocol.risk.instruments import instrument_from_dict
from circuits.protocol.risk.scenarios import (
    ENCODING_OFFSET,
    RISK_ARRAY_BITS,
    EpochRiskArrays,
    RiskArray,
    RiskParameters,
    Scenario,
    equity_at_marks,
    portfolio_risk,
)
from circuits.state import (
    COLLATERAL_BITS,
    COST_BITS,
    MAX_MARKETS,
    SIZE_BITS,
    AccountState,
    BoundError,
)
from circuits.risk_gadgets import DIGEST_LABEL as DIGEST_LABEL  # re-exported: the statement's constraint names
from circuits.risk_gadgets import (
    bind_published_risk,
    equity_gadget,
    scenario_pnl_gadget,
    short_option_charge_gadget,
)
from circuits.risk_gadgets import risk_domain as risk_domain  # re-exported
from zkmargin.constraints import LC, ConstraintSystem
from zkmargin.curves import Curve, get_curve
from zkmargin.errors import MalformedInputError
from zkmargin.gadgets.bits import range_check

MARK_BITS = RISK_ARRAY_BITS  # a published mark value is in [0, 2^50)
PORTFOLIO_BITS = 98  # every honest surplus lies in [0, 2^98): see the module docstring
MAX_SCENARIOS = 64
DEFAULT_SCENARIOS = len(RiskParameters().scenarios())  # SPAN's 16

UNMOVED_LABEL = "unmoved book holds"


def scenario_label(s: int) -> str:
    return f"scenario {s} holds"


def _check_bound_derivation() -> None:
    """Recompute the docstring's bounds from the constants, so changing one cannot go unnoticed."""
    size_max = 1 << SIZE_BITS  # |b| <= 2^40 (the signed range is [-2^40, 2^40))
    per_unit = 1 << RISK_ARRAY_BITS  # marks, charges, |RA| below 2^50
    marked = size_max * per_unit + (1 << COST_BITS)  # |b mark - k|
    equity_max = (1 << COLLATERAL_BITS) + MAX_MARKETS * marked
    equity_min = -MAX_MARKETS * marked
    scenario_max = MAX_MARKETS * size_max * per_unit  # |sum_i b_i RA_i[s]|
    charge_max = MAX_MARKETS * size_max * per_unit  # Q
    surplus_max = equity_max + scenario_max
    most_negative = -(equity_min - scenario_max - charge_max)
    assert surplus_max <= 1 << PORTFOLIO_BITS
    for r in (get_curve("bn128").r, get_curve("bls12381").r):
        assert r - most_negative > 1 << PORTFOLIO_BITS
    # the digest's elements (epoch, S, M, marks, charges, RA + 2^50) stay below 2^64 < r
    assert MAX_SCENARIOS < 1 << 64 and 2 * ENCODING_OFFSET < 1 << 64


_check_bound_derivation()


def assert_covers_every_scenario(cs: ConstraintSystem, equity: LC, charge: LC, pnl: Sequence[LC]) -> None:
    """E - Q >= 0 and E + pnl[s] - Q >= 0 for every s, each in [0, 2^98): S + 1 range checks."""
    with cs.namespace("portfolio margin"):
        range_check(cs, equity - charge, PORTFOLIO_BITS, UNMOVED_LABEL)
        for s, loss in enumerate(pnl):
            range_check(cs, equity + loss - charge, PORTFOLIO_BITS, scenario_label(s))


def check_scenarios(scenarios: int) -> int:
    if isinstance(scenarios, bool) or not isinstance(scenarios, int) or not 1 <= scenarios <= MAX_SCENARIOS:
        raise BoundError(f"the number of scenarios must be 1..{MAX_SCENARIOS}, got {scenarios!r}")
    return scenarios


class PortfolioMargin(MarketCircuit):
    name = "portfolio"
    description = "portfolio (scenario) margin attestation for (account, commitment, epoch, marks, risk digest)"
    public_layout = (
        ACCOUNT,
        PublicInput("commitment", "the ledger's commitment to the account's current state"),
        EPOCH,
        PublicInput("marks", "each instrument's mark value, from the epoch's risk arrays", high=1 << MARK_BITS,
                    per_market=True, label="mark"),
        PublicInput("risk_digest", "the Poseidon digest of the epoch's risk arrays (EpochRiskArrays.digest)",
                    noun="risk digest"),
    )

    def __init__(self, markets: int = 1, scenarios: int = DEFAULT_SCENARIOS):
        super().__init__(markets)
        self.scenarios = check_scenarios(scenarios)

    def parameters(self) -> dict[str, Any]:
        return {"markets": self.markets, "scenarios": self.scenarios}

    def define(self, cs: ConstraintSystem, inputs: Inputs | None) -> None:
        pub = self.allocate_public(cs, self.public_of(inputs))
        state = allocate_state(cs, "state", self.state_of(inputs), self.markets)
        open_state(cs, pub["account"], pub["commitment"], state, "state")
        marks = pub.per_market("marks")
        risk = bind_published_risk(cs, pub, self.risk_of(inputs), self.markets, self.scenarios)
        equity = equity_gadget(cs, state.collateral, state.sizes, [k.value for k in state.costs], marks)
        charge = short_option_charge_gadget(cs, state.sizes, risk.charges)
        assert_covers_every_scenario(cs, equity, charge, scenario_pnl_gadget(cs, state.sizes, risk))

    @staticmethod
    def risk_of(inputs: Inputs | None) -> EpochRiskArrays | None:
        if inputs is None:
            return None
        arrays: EpochRiskArrays = inputs["risk"]
        return arrays

    def public_inputs(
        self, account_id: int, commitment: int, epoch: int, marks: Sequence[int], risk_digest: int,
        curve: Curve | str | None = None,
    ) -> list[int]:
        """The public-input vector, built by the verifier from its own records."""
        return self.public_vector({"account": account_id, "commitment": commitment, "epoch": epoch,
                                   "marks": marks, "risk_digest": risk_digest}, curve)

    def public_inputs_for(self, account_id: int, commitment: int, risk: EpochRiskArrays,
                          curve: Curve | str | None = None) -> list[int]:
        """The public inputs from the epoch's published arrays: its epoch, marks and digest."""
        c = get_curve(curve)
        self.check_shape(risk)
        return self.public_inputs(account_id, commitment, risk.epoch, [a.mark for a in risk.arrays],
                                  risk.digest(c.name), c)

    def check_shape(self, risk: EpochRiskArrays) -> None:
        if len(risk.arrays) != self.markets or len(risk.scenarios) != self.scenarios:
            raise BoundError(f"the risk arrays are {len(risk.arrays)} instruments x {len(risk.scenarios)} "
                             f"scenarios, the circuit {self.markets} x {self.scenarios}")

    def assignment(self, state: AccountState, risk: EpochRiskArrays,
                   curve: Curve | str | None = None) -> dict[str, Any]:
        """Inputs for proving; refuses (naming the scenario and the shortfall) a state that does
        not cover every scenario."""
        c = get_curve(curve)
        state.validate(c)
        if state.markets != self.markets:
            raise BoundError(f"the state has {state.markets} markets, the circuit {self.markets}")
        public = self.public_inputs_for(state.account_id, state.commitment(c), risk, c)
        require_portfolio_margin(state, risk.arrays, risk.scenarios)
        return {"public": self.name_public(public), "state": state, "risk": risk}

    def prepare(self, data: Any, curve: Curve, source: str = "input") -> Prepared:
        """Proving inputs from ``input.json`` (see the module docstring); no successor state."""
        state = state_from_json(field(data, "state", source))
        risk = risk_arrays_from_json(field(data, "risk", source), f"{source}.risk")
        return Prepared(self.assignment(state, risk, curve), None)


def require_portfolio_margin(state: AccountState, arrays: Sequence[RiskArray],
                             scenarios: Sequence[Scenario] = ()) -> None:
    """Refuse, before any proving work, a state no proof could exist for; say where (the
    scenario's index and, given the set, its name) and by how much."""
    risk = portfolio_risk(arrays, state.sizes)
    surplus = risk.surplus(equity_at_marks(state.collateral, state.sizes, state.costs, arrays))
    if surplus < 0:
        s = risk.worst_scenario
        named = f" ({scenario_labels(scenarios)[s]})" if s is not None and len(scenarios) > s else ""
        where = "the unmoved book" if s is None else f"scenario {s}{named}"
        raise BoundError(f"the account is below portfolio margin in {where} by {-surplus} collateral units")


def risk_arrays_from_json(data: Any, where: str = "risk") -> EpochRiskArrays:
    """An epoch's published arrays from JSON (see the module docstring); strict about types."""
    epoch = integer(field(data, "epoch", where), f"{where}.epoch")
    parameters = data.get("parameters", {}) if isinstance(data, dict) else {}
    if not isinstance(parameters, dict):
        raise MalformedInputError(f"{where}.parameters: expected a JSON object")
    entries = field(data, "arrays", where)
    if not isinstance(entries, list):
        raise MalformedInputError(f"{where}.arrays: expected a list")
    try:
        params = RiskParameters(**{k: integer(v, f"{where}.parameters.{k}") for k, v in parameters.items()})
        arrays = tuple(_risk_array_from_json(entry, f"{where}.arrays[{i}]") for i, entry in enumerate(entries))
        return EpochRiskArrays(epoch, arrays, params.scenarios())
    except (RiskModelError, TypeError) as exc:
        raise MalformedInputError(f"{where}: {exc}") from None


def _risk_array_from_json(data: Any, where: str) -> RiskArray:
    return RiskArray(
        instrument_from_dict(field(data, "instrument", where)),
        integer(field(data, "mark", where), f"{where}.mark"),
        integer(field(data, "short_charge", where), f"{where}.short_charge"),
        tuple(integers(field(data, "pnl", where), f"{where}.pnl")),
        _flag(data.get("expired", False), f"{where}.expired"),
    )


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise MalformedInputError(f"{where}: expected true or false")
    return value
