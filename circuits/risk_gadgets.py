"""Gadgets the portfolio statements share (``portfolio``, ``portfolio-transfer``, ``portfolio-fill``).

The epoch's risk arrays enter a circuit as private values bound by their public Poseidon digest
(``bind_published_risk``); a book's scenario values ``E + sum_i b_i RA_i[s] - Q`` (and the
unmoved book's ``E - Q``) come from ``equity_gadget``, ``short_option_charge_gadget`` and
``scenario_pnl_gadget``. Bounds and the no-wrap argument are in circuits/portfolio.py (scale
10^0) and circuits/portfolio_transitions.py (initial-margin scale).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from circuits.base import PublicVars
from circuits.protocol.risk.scenarios import ENCODING_OFFSET, RISK_DOMAIN, EpochRiskArrays, RiskArray
from zkmargin.constraints import LC, ConstraintSystem, lc_sum
from zkmargin.curves import Curve
from zkmargin.gadgets.poseidon import poseidon_sponge_gadget
from zkmargin.gadgets.signed import SignedInt

DIGEST_LABEL = "risk digest is the published one"


def risk_domain(curve: Curve) -> str:
    """The sponge domain of ``EpochRiskArrays.digest`` on ``curve``."""
    return f"{RISK_DOMAIN}/{curve.name}"


@dataclass
class RiskVars:
    """The epoch's short charges and risk arrays inside the circuit (private, digest-bound)."""

    charges: list[LC]
    pnl: list[list[LC]]  # pnl[i][s]: one long unit of instrument i in scenario s


def _array_value(arrays: EpochRiskArrays | None, read: Callable[[RiskArray], int], i: int) -> Callable[[], int]:
    """A published integer of instrument i, read only when the witness is assigned."""

    def value() -> int:
        if arrays is None:
            raise KeyError("risk")
        return read(arrays.arrays[i])

    return value


def allocate_risk_arrays(cs: ConstraintSystem, arrays: EpochRiskArrays | None, markets: int,
                         scenarios: int) -> RiskVars:
    with cs.namespace("risk arrays"):
        charges = [cs.private(f"short charge {i}", _array_value(arrays, lambda a: a.short_charge, i))
                   for i in range(markets)]
        pnl = [[cs.private(f"pnl {i} {s}", _array_value(arrays, lambda a, s=s: a.pnl[s], i))  # type: ignore[misc]
                for s in range(scenarios)] for i in range(markets)]
    return RiskVars(charges, pnl)


def risk_digest(cs: ConstraintSystem, epoch: LC, marks: Sequence[LC], risk: RiskVars) -> LC:
    """``EpochRiskArrays.digest`` in circuit, over the canonical encoding (linear in the values)."""
    scenarios = len(risk.pnl[0])
    elements: list[LC] = [epoch, LC.of(scenarios), LC.of(len(marks))]
    for mark, charge, pnl in zip(marks, risk.charges, risk.pnl):
        elements += [mark, charge, *(p + ENCODING_OFFSET for p in pnl)]
    with cs.namespace("risk digest"):
        digest = poseidon_sponge_gadget(cs, elements, risk_domain(cs.curve))
        cs.declare_determined([*risk.charges, *(p for row in risk.pnl for p in row)], [digest],
                              "published arrays are bound by their digest (collision resistance)")
    return digest


def bind_published_risk(cs: ConstraintSystem, pub: PublicVars, arrays: EpochRiskArrays | None, markets: int,
                        scenarios: int) -> RiskVars:
    """The private charges and arrays, constrained (``DIGEST_LABEL``) to the public risk digest of
    the public epoch and marks (``pub["epoch"]``, ``pub.per_market("marks")``, ``pub["risk_digest"]``)."""
    risk = allocate_risk_arrays(cs, arrays, markets, scenarios)
    digest = risk_digest(cs, pub["epoch"], pub.per_market("marks"), risk)
    cs.enforce_equal(digest, pub["risk_digest"], DIGEST_LABEL)
    return risk


def equity_gadget(cs: ConstraintSystem, collateral: LC, sizes: Sequence[SignedInt], costs: Sequence[LC],
                  marks: Sequence[LC], label: str = "equity") -> LC:
    """E = c + sum_i (b_i mark_i - k_i): one constraint an instrument."""
    with cs.namespace(label):
        terms = [cs.mul(b.value, mark, f"b*mark {i}") - k for i, (b, k, mark) in enumerate(zip(sizes, costs, marks))]
    return collateral + lc_sum(terms)


def short_option_charge_gadget(cs: ConstraintSystem, sizes: Sequence[SignedInt], charges: Sequence[LC],
                               label: str = "short option charge") -> LC:
    """Q = sum_i neg(b_i) charge_i: one constraint an instrument. For a sign-decomposed b,
    |b| - b is 2|b| when b < 0 and 0 otherwise, so neg(b) = (|b| - b) / 2 is linear (times the
    field's inverse of 2, exact on an even integer)."""
    half = pow(2, -1, cs.r)
    with cs.namespace(label):
        terms = [cs.mul((b.abs - b.value) * half, q, f"short size*charge {i}")
                 for i, (b, q) in enumerate(zip(sizes, charges))]
    return lc_sum(terms)


def scenario_pnl_gadget(cs: ConstraintSystem, sizes: Sequence[SignedInt], risk: RiskVars,
                        label: str = "scenario pnl") -> list[LC]:
    """sum_i b_i RA_i[s] for every s: one constraint an instrument and scenario."""
    scenarios = len(risk.pnl[0]) if risk.pnl else 0
    with cs.namespace(label):
        return [lc_sum([cs.mul(b.value, row[s], f"b*RA {i} {s}") for i, (b, row) in enumerate(zip(sizes, risk.pnl))])
                for s in range(scenarios)]


@dataclass
class BookValues:
    """A book against the arrays: equity at the marks, short charge, and each scenario's P&L."""

    equity: LC
    charge: LC
    pnl: list[LC]

    def surplus_values(self) -> list[LC]:
        """E - Q (the unmoved book) then E + pnl[s] - Q per scenario: the portfolio check's values."""
        return [self.equity - self.charge, *(self.equity + loss - self.charge for loss in self.pnl)]


def book_values(cs: ConstraintSystem, collateral: LC, sizes: Sequence[SignedInt], costs: Sequence[LC],
                marks: Sequence[LC], risk: RiskVars, label: str) -> BookValues:
    """``BookValues`` of one state: 2 M + M S constraints."""
    with cs.namespace(label):
        equity = equity_gadget(cs, collateral, sizes, costs, marks)
        charge = short_option_charge_gadget(cs, sizes, risk.charges)
        pnl = scenario_pnl_gadget(cs, sizes, risk)
    return BookValues(equity, charge, pnl)
