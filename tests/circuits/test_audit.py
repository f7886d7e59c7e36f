"""The constraint audit: no private variable of any statement is left free."""

from __future__ import annotations

import pytest

from circuits import get_circuit
from tests.circuits.adversary import drop
from tests.circuits.helpers import CURVES

STATEMENTS = ("margin", "transfer", "fill", "settle")


@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize("markets", [1, 4, 16])
@pytest.mark.parametrize("name", STATEMENTS)
def test_audit_is_clean(name, markets, curve):
    cs = get_circuit(name, markets=markets).synthesize(curve)
    assert not cs.has_witness
    report = cs.audit()
    assert report.ok, report.as_dict()
    assert report.unconstrained == [] and report.undetermined == []
    assert report.existential == []  # every hidden value is pinned by a public commitment


@pytest.mark.parametrize("name,label", [
    ("margin", "maintenance margin holds/bits recompose the value"),
    ("margin", "state commitment opens to the state"),
    ("transfer", "new commitment opens to the new state"),
    ("fill", "fill/fill commitment opens to the fill"),
    ("settle", "collateral after settlement is not negative/bits recompose the value"),
])
def test_audit_notices_a_missing_constraint(name, label):
    """The audit has teeth on these circuits: drop a load-bearing constraint and it complains."""
    cs = get_circuit(name, markets=1).synthesize("bn128")
    index = next(i for i, c in enumerate(cs.constraints) if c.label == label)
    assert cs.audit().ok
    assert not drop(cs, index).audit().ok
