"""The out-of-circuit API: the textbook definition, curve names, errors, domain separation."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zkmargin.curves import BLS12_381, BN254, Curve
from zkmargin.errors import MalformedInputError, UnknownCurveError
from zkmargin.poseidon import poseidon_hash, poseidon_permutation, poseidon_sponge
from zkmargin.poseidon.params import PoseidonParams, load_params
from zkmargin.poseidon.sponge import initial_capacity


def textbook_permutation(params: PoseidonParams, state: list[int]) -> list[int]:
    """Round by round: add constants, S-boxes, MDS (what the fast layout must equal)."""
    r = params.r
    for k in range(params.rounds):
        state = [(x + c) % r for x, c in zip(state, params.round_constants[k])]
        full = params.is_full_round(k)
        state = [pow(x, 5, r) if full or i == 0 else x for i, x in enumerate(state)]
        state = [sum(m * x for m, x in zip(row, state)) % r for row in params.mds]
    return state


def textbook_sponge(values: list[int], domain: str, curve: Curve) -> int:
    """The module docstring's construction, spelled out."""
    r, rate = curve.r, 4
    state = [int.from_bytes(domain.encode(), "big") * 2**64 + len(values), 0, 0, 0, 0]
    block_count = max(1, -(-len(values) // rate))
    padded = values + [0] * (block_count * rate - len(values))
    for k in range(0, len(padded), rate):
        state = [state[0], *[(s + v) % r for s, v in zip(state[1:], padded[k : k + rate])]]
        state = poseidon_permutation(state, curve)
    return state[1]


@pytest.mark.parametrize("t", [2, 3, 4, 5, 8, 17])
def test_permutation_is_the_textbook_definition(curve, t):
    rng = random.Random(t)
    params = load_params(curve, t)
    for _ in range(3):
        state = [rng.randrange(curve.r) for _ in range(t)]
        assert poseidon_permutation(state, curve) == textbook_permutation(params, state)


def test_hash_is_element_zero_of_the_permuted_state(curve):
    values = [7, curve.r - 1, 0]
    assert poseidon_hash(values, curve) == poseidon_permutation([0, *values], curve)[0]


def test_curve_names_and_default():
    state = [0, 1, 2]
    assert poseidon_permutation(state) == poseidon_permutation(state, "bls12-381")
    assert poseidon_permutation(state, "bls12381") == poseidon_permutation(state, BLS12_381)
    assert poseidon_permutation(state, "bn254") == poseidon_permutation(state, "bn128")
    with pytest.raises(UnknownCurveError):
        poseidon_permutation(state, "secp256k1")


@pytest.mark.parametrize("width", [0, 1, 18])
def test_permutation_rejects_unsupported_widths(width):
    with pytest.raises(MalformedInputError):
        poseidon_permutation([0] * width)


@pytest.mark.parametrize("count", [0, 17])
def test_hash_rejects_unsupported_input_counts(count):
    with pytest.raises(MalformedInputError):
        poseidon_hash([1] * count)


@pytest.mark.parametrize("bad", ["r", "minus-one", "bool", "str"])
def test_values_must_be_canonical_field_elements(curve, bad):
    value = {"r": curve.r, "minus-one": -1, "bool": True, "str": "1"}[bad]
    with pytest.raises(MalformedInputError):
        poseidon_permutation([0, value, 2], curve)
    with pytest.raises(MalformedInputError):
        poseidon_hash([value], curve)
    with pytest.raises(MalformedInputError):
        poseidon_sponge([1, value], "test", curve)


@pytest.mark.parametrize("domain", ["", "x" * 24, "caf\u00e9", "tab\there", "nul\x00"])
def test_sponge_rejects_bad_domains(domain):
    with pytest.raises(MalformedInputError):
        poseidon_sponge([1], domain)


@pytest.mark.parametrize("length", [0, 1, 3, 4, 5, 8, 9])
def test_sponge_is_the_documented_construction(curve, length):
    values = [random.Random(length).randrange(curve.r) for _ in range(length)]
    assert poseidon_sponge(values, "zkmargin/test", curve) == textbook_sponge(values, "zkmargin/test", curve)


def test_initial_capacity_packs_domain_and_length():
    assert initial_capacity("ab", 3) == (0x6162 << 64) + 3
    assert initial_capacity("~" * 23, 2**64 - 1) < 2**248
    with pytest.raises(MalformedInputError):
        initial_capacity("ab", 2**64)


def test_sponge_separates_lengths_and_domains(curve):
    x = 12345
    digests = {
        poseidon_sponge([], "a", curve),
        poseidon_sponge([0], "a", curve),
        poseidon_sponge([x], "a", curve),
        poseidon_sponge([x, 0], "a", curve),
        poseidon_sponge([x, 0, 0, 0], "a", curve),
        poseidon_sponge([x, 0, 0, 0, 0], "a", curve),
        poseidon_sponge([x], "b", curve),
        poseidon_sponge([x], "a ", curve),
    }
    assert len(digests) == 8


@settings(max_examples=25, deadline=None)
@given(
    values=st.lists(st.integers(min_value=0, max_value=BN254.r - 1), max_size=9),
    domain_a=st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=23),
    domain_b=st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=23),
)
def test_distinct_domains_or_lengths_give_distinct_digests(values, domain_a, domain_b):
    longer = [*values, 0]
    assert poseidon_sponge(values, domain_a, BN254) != poseidon_sponge(longer, domain_a, BN254)
    if domain_a != domain_b:
        assert poseidon_sponge(values, domain_a, BN254) != poseidon_sponge(values, domain_b, BN254)
