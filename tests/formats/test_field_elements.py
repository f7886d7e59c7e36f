"""The one "canonical field element" check every format and the verifier call: an int in [0, r),
never reduced; each caller names what it checked."""

from __future__ import annotations

import pytest

from zkmargin.curves import get_curve
from zkmargin.errors import MalformedInputError
from zkmargin.field import require_field_element, require_field_elements
from zkmargin.formats.solidity import solidity_calldata
from zkmargin.groth16 import Proof
from zkmargin.backends import get_backend
from zkmargin.poseidon import poseidon_permutation

R = get_curve("bn128").r


@pytest.mark.parametrize("value", [0, 1, R - 1])
def test_canonical_values_pass_unchanged(value):
    assert require_field_element(value, R, "x") == value


@pytest.mark.parametrize("value, reason", [
    (R, "not below the scalar field modulus r"), (R + 5, "not below"), (-1, "negative"),
    (True, "must be an integer, not bool"), (1.0, "must be an integer, not float"), ("7", "not str"),
])
def test_everything_else_is_refused_by_name(value, reason):
    with pytest.raises(MalformedInputError, match=reason):
        require_field_element(value, R, "the thing")
    with pytest.raises(MalformedInputError, match=r"the things\[1\]"):
        require_field_elements([0, value], R, "the things")


def test_without_a_modulus_only_type_and_sign_are_checked():
    assert require_field_element(R + 5, None, "x") == R + 5
    with pytest.raises(MalformedInputError, match="negative"):
        require_field_element(-1, None, "x")


def test_the_callers_share_it():
    backend = get_backend("bn128")
    g1, g2 = backend.g1_generator(), backend.g2_generator()
    with pytest.raises(MalformedInputError, match=r"public input \[0\] is not in \[0, r\)"):
        solidity_calldata(Proof(get_curve("bn128"), g1, g2, g1), [R])
    with pytest.raises(MalformedInputError, match=r"state\[1\] is not in \[0, r\)"):
        poseidon_permutation([0, R, 0], "bn128")
