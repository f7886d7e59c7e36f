"""The cheating prover itself: a weak adversary would make every soundness test vacuous."""

from __future__ import annotations

import random

import pytest

from circuits.margin import Margin
from tests.circuits.adversary import Witness, drop, interpolate, poly_roots, sqrt_mod
from tests.circuits.helpers import CURVES, margin_inputs, state
from zkmargin.curves import get_curve

HEALTH = "maintenance margin holds"


@pytest.mark.parametrize("curve", CURVES)
def test_square_roots(curve):
    c = get_curve(curve)
    rng = random.Random(5)
    for _ in range(20):
        x = rng.randrange(c.r)
        root = sqrt_mod(x * x, c.r, c.multiplicative_generator)
        assert root in (x, c.r - x)
    assert sqrt_mod(c.multiplicative_generator, c.r, c.multiplicative_generator) is None


def test_polynomial_roots_and_interpolation():
    r = get_curve("bn128").r
    rng = random.Random(9)
    roots = sorted({rng.randrange(r) for _ in range(6)})
    f = [1]
    for a in roots:  # f *= (X - a)
        f = [((f[i - 1] if i else 0) - a * (f[i] if i < len(f) else 0)) % r for i in range(len(f) + 1)]
    with_irreducible = [0] * (len(f) + 2)  # times X^2 - g, g a non-residue: no extra roots
    for i, coeff in enumerate(f):
        with_irreducible[i] -= coeff * 5
        with_irreducible[i + 2] += coeff
    with_irreducible = [x % r for x in with_irreducible]
    assert poly_roots(with_irreducible, r) == roots
    xs = list(range(3, 3 + len(with_irreducible)))
    values = [sum(c * pow(x, i, r) for i, c in enumerate(with_irreducible)) % r for x in xs]
    assert interpolate(xs, values, r) == with_irreducible


@pytest.fixture(scope="module")
def honest_margin():
    s = state(collateral=10**6, sizes=(10, -3), costs=(900, -6300))
    return Margin(2).synthesize("bn128", margin_inputs(s, [100, 2000], [50_000, 100_000], "bn128"))


def test_propagate_reproduces_the_honest_witness(honest_margin):
    """Scramble every derived value; re-derivation from the inputs restores all of them."""
    w = Witness(honest_margin)
    inputs = {"state/nonce", "state/epoch", "state/salt", "state/collateral"}
    inputs |= {f"state/{x} {m}" for x in ("size", "cost") for m in (0, 1)}
    original = list(w.values)
    for i in range(w.num_public + 1, len(w.values)):
        if w.names[i] not in inputs:
            w.values[i] = (w.values[i] + 12345) % w.r
    assert w.violated()
    w.propagate()
    assert w.values == original and not w.violated()


def test_repair_solves_the_brief_example():
    """Drop bit 37's booleanity: the repair makes bit 37 non-boolean to encode a negative difference."""
    s = state(collateral=49, sizes=(10, 0), costs=(1000, 0))  # one unit below maintenance
    cs = Margin(2).synthesize("bn128", margin_inputs(s, [100, 2000], [50_000, 100_000], "bn128"))
    w = Witness(cs)
    assert w.violated_labels() == [f"{HEALTH}/bits recompose the value"]
    bit37 = w.labels.index(f"{HEALTH}/bit 37 is boolean")
    assert not w.clone().repair(None)  # the full circuit resists
    attempt = w.clone()
    assert attempt.repair(bit37)
    assert attempt[f"{HEALTH}/bit 37"] not in (0, 1)
    attempt.write_back(cs)
    assert drop(cs, bit37).first_unsatisfied() is None
    assert cs.first_unsatisfied() == (bit37, w.labels[bit37])
