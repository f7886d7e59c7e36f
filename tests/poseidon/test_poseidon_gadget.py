"""The Poseidon gadgets: same values as out of circuit, lean, written once, sound, audited."""

from __future__ import annotations

import random

import pytest

from zkmargin.constraints import ConstraintSystem
from zkmargin.errors import MalformedInputError
from zkmargin.gadgets.poseidon import (
    poseidon_hash_gadget,
    poseidon_permutation_gadget,
    poseidon_sponge_gadget,
)
from zkmargin.poseidon import poseidon_hash, poseidon_permutation, poseidon_sponge
from zkmargin.poseidon.params import load_params

DOMAIN = "zkmargin/test"
PERMUTATION_CONSTRAINTS = {2: 216, 3: 243, 5: 300}  # 3 * (t * R_F + R_P)


def private_circuit(curve, values, body, *, has_witness=True):
    """A circuit whose inputs are private variables; returns (cs, inputs, body's result)."""
    cs = ConstraintSystem(curve, has_witness=has_witness)
    inputs = [cs.private(f"x{i}", v if has_witness else None) for i, v in enumerate(values)]
    return cs, inputs, body(cs, inputs)


def random_elements(curve, count, seed):
    rng = random.Random(seed)
    return [rng.randrange(curve.r) for _ in range(count)]


def hash_body(cs, xs):
    return poseidon_hash_gadget(cs, xs)


def sponge_body(cs, xs):
    return poseidon_sponge_gadget(cs, xs, DOMAIN)


@pytest.mark.parametrize("t", [2, 3, 5])
def test_permutation_gadget_computes_the_permutation(curve, t):
    state = random_elements(curve, t, seed=t)
    cs, _, out = private_circuit(curve, state, poseidon_permutation_gadget)
    assert [cs.value(x) for x in out] == poseidon_permutation(state, curve)
    assert cs.is_satisfied()


@pytest.mark.parametrize("t", sorted(PERMUTATION_CONSTRAINTS))
def test_permutation_costs_three_constraints_per_sbox(curve, t):
    params = load_params(curve, t)
    cs, _, _ = private_circuit(curve, [0] * t, poseidon_permutation_gadget, has_witness=False)
    assert (
        cs.num_constraints
        == PERMUTATION_CONSTRAINTS[t]
        == 3 * (t * params.full_rounds + params.partial_rounds)
    )


@pytest.mark.parametrize("count", [1, 2, 4, 16])
def test_hash_gadget_computes_poseidon_hash(curve, count):
    values = random_elements(curve, count, seed=count)
    cs, _, digest = private_circuit(curve, values, hash_body)
    assert cs.value(digest) == poseidon_hash(values, curve)
    assert cs.is_satisfied()


@pytest.mark.parametrize("length", [0, 1, 4, 5, 9])
def test_sponge_gadget_computes_poseidon_sponge(curve, length):
    values = random_elements(curve, length, seed=100 + length)
    cs, _, digest = private_circuit(curve, values, sponge_body)
    assert cs.value(digest) == poseidon_sponge(values, DOMAIN, curve)
    assert cs.is_satisfied()
    blocks = max(1, -(-length // 4))
    assert cs.num_constraints == blocks * PERMUTATION_CONSTRAINTS[5] + 1  # + the digest


def test_gadgets_accept_constants_and_public_inputs(curve):
    cs = ConstraintSystem(curve, has_witness=True)
    public = cs.public("p", 5)
    digest = poseidon_hash_gadget(cs, [public, 7])
    assert cs.value(digest) == poseidon_hash([5, 7], curve)
    assert cs.is_satisfied()
    assert cs.rules[-1].targets == ()  # nothing private to pin


@pytest.mark.parametrize("body", [hash_body, sponge_body], ids=["hash", "sponge"])
def test_setup_mode_builds_the_same_circuit(curve, body):
    values = random_elements(curve, 5, seed=5)
    proving, _, _ = private_circuit(curve, values, body)
    setup, _, _ = private_circuit(curve, values, body, has_witness=False)
    assert setup.matrices() == proving.matrices()
    assert setup.private_names == proving.private_names
    assert [c.label for c in setup.constraints] == [c.label for c in proving.constraints]


def test_labels_name_the_round_and_the_sbox(curve):
    cs, _, _ = private_circuit(curve, [1, 2], hash_body)
    labels = [c.label for c in cs.constraints]
    assert labels[0] == "poseidon hash/poseidon t=3/full round 0/x^2 [0]"
    assert "poseidon hash/poseidon t=3/partial round 4/x^5 [0]" in labels
    assert labels[-1] == "poseidon hash/digest"


@pytest.mark.parametrize(
    "name",
    [
        "poseidon sponge zkmargin/test/block 0/poseidon t=5/full round 0/x^4 [2]",
        "poseidon sponge zkmargin/test/block 1/poseidon t=5/partial round 30/x^5 [0]",
        "poseidon sponge zkmargin/test/block 1/poseidon t=5/full round 67/x^2 [4]",
        "poseidon sponge zkmargin/test/digest",
        "x3",
    ],
)
def test_a_tampered_value_breaks_a_constraint(curve, name):
    cs, _, _ = private_circuit(curve, random_elements(curve, 6, seed=6), sponge_body)
    variable = cs.variable(name)
    cs.set_value(variable, cs.value(variable) + 1)
    assert cs.first_unsatisfied() is not None


def test_a_wrong_public_digest_is_not_satisfiable(curve):
    values = random_elements(curve, 3, seed=3)
    cs = ConstraintSystem(curve, has_witness=True)
    claimed = cs.public("commitment", poseidon_sponge(values, DOMAIN, curve) + 1)
    digest = poseidon_sponge_gadget(cs, [cs.private(f"x{i}", v) for i, v in enumerate(values)], DOMAIN)
    cs.enforce_equal(digest, claimed, "commitment matches")
    assert cs.first_unsatisfied() == (cs.num_constraints - 1, "commitment matches")


def build_commitment_circuit(curve, values, *, publish: bool) -> ConstraintSystem:
    """A public digest (if ``publish``) of a private preimage: the shape of a state commitment."""
    cs = ConstraintSystem(curve, has_witness=True)
    commitment = cs.public("commitment", poseidon_sponge(values, DOMAIN, curve))
    digest = poseidon_sponge_gadget(cs, [cs.private(f"x{i}", v) for i, v in enumerate(values)], DOMAIN)
    if publish:
        cs.enforce_equal(digest, commitment, "commitment matches")
    return cs


def test_a_public_digest_determines_its_private_preimage(curve):
    cs = build_commitment_circuit(curve, random_elements(curve, 5, seed=7), publish=True)
    assert cs.is_satisfied()
    report = cs.audit()
    assert report.ok, report.as_dict()


def test_an_unpublished_digest_leaves_the_preimage_free(curve):
    report = build_commitment_circuit(curve, random_elements(curve, 5, seed=8), publish=False).audit()
    assert not report.ok
    assert {f"x{i}" for i in range(5)} <= set(report.undetermined)


@pytest.mark.parametrize("width", [1, 18])
def test_permutation_gadget_rejects_unsupported_widths(curve, width):
    with pytest.raises(MalformedInputError):
        private_circuit(curve, [0] * width, poseidon_permutation_gadget)


@pytest.mark.parametrize("count", [0, 17])
def test_hash_gadget_rejects_unsupported_input_counts(curve, count):
    with pytest.raises(MalformedInputError):
        private_circuit(curve, [1] * count, hash_body)


def test_sponge_gadget_rejects_bad_domains(curve):
    with pytest.raises(MalformedInputError):
        private_circuit(curve, [1], lambda cs, xs: poseidon_sponge_gadget(cs, xs, ""))
