"""BN254's native multi-pairing check (garaga) against py_ecc's, on random and adversarial
inputs: the two must give the same verdict on every product, true or false."""

from __future__ import annotations

import random

import pytest

from tests.backends.curve_points import g2_point_outside_subgroup, sqrt_fp2
from zkmargin.backends.base import fp2_mul
from zkmargin.backends import Backend, get_backend
from zkmargin.curves import BN254
from zkmargin.errors import MalformedInputError

R = BN254.r


@pytest.fixture(scope="module")
def native() -> Backend:
    return get_backend(BN254, "garaga")


@pytest.fixture(scope="module")
def reference() -> Backend:
    return get_backend(BN254, "py_ecc")


def _both(native: Backend, reference: Backend, pairs: list[tuple[int | None, int | None]]) -> tuple[bool, bool]:
    """The verdicts of both backends on prod e(a*G1, b*G2), None standing for the identity."""
    verdicts = []
    for backend in (native, reference):
        g1s = [backend.g1_identity() if a is None else backend.g1_mul(backend.g1_generator(), a) for a, _ in pairs]
        g2s = [backend.g2_identity() if b is None else backend.g2_mul(backend.g2_generator(), b) for _, b in pairs]
        verdicts.append(backend.pairing_check(g1s, g2s))
    return verdicts[0], verdicts[1]


def _cases(rng: random.Random) -> list[tuple[str, list[tuple[int | None, int | None]], bool]]:
    a, b, c, d = (rng.randrange(2, R) for _ in range(4))
    return [
        ("balanced product", [(a, b), ((-a * b) % R, 1)], True),
        ("off by one", [(a, b), ((-a * b + 1) % R, 1)], False),
        ("four pairs like Groth16", [(a, b), (c, d), ((-a * b - c * d) % R, 1), (None, d)], True),
        ("negated point on the other side", [(a, b), (a, (-b) % R)], True),
        ("negated point on the same side twice", [(a, b), ((-a) % R, (-b) % R)], False),
        ("mismatched pairs", [(a, b), ((-a) % R, c)], False),
        ("scalars moved between the groups", [(a, b), ((-b) % R, a)], True),
        ("a scalar moved and perturbed", [(a, b), ((-b) % R, a + 1)], False),
        ("identity in G1", [(None, b)], True),
        ("identity in G2", [(a, None)], True),
        ("identities beside a non-trivial pair", [(None, b), (a, None), (1, 1)], False),
        ("the generators", [(1, 1)], False),
        ("a pair and its inverse", [(1, 1), (R - 1, 1)], True),
    ]


@pytest.mark.parametrize("seed", [1, 2])
def test_native_and_reference_agree(native: Backend, reference: Backend, seed: int) -> None:
    for name, pairs, expected in _cases(random.Random(seed)):
        got_native, got_reference = _both(native, reference, pairs)
        assert got_reference == expected, name
        assert got_native == expected, name


def test_many_pairs_in_one_check(native: Backend) -> None:
    rng = random.Random(7)
    scalars = [(rng.randrange(1, R), rng.randrange(1, R)) for _ in range(9)]
    total = sum(a * b for a, b in scalars) % R
    g, h = native.g1_generator(), native.g2_generator()
    g1s = [native.g1_mul(g, a) for a, _ in scalars] + [native.g1_mul(g, -total % R)]
    g2s = [native.g2_mul(h, b) for _, b in scalars] + [h]
    assert native.pairing_check(g1s, g2s)
    g1s[3] = native.g1_add(g1s[3], g)
    assert not native.pairing_check(g1s, g2s)


def test_g2_subgroup_check_agrees_with_the_reference(native: Backend, reference: Backend) -> None:
    inside = native.g2_mul(native.g2_generator(), random.Random(3).randrange(1, R))
    assert native.g2_in_subgroup(inside)
    outside = native._g2_from_affine_unchecked(g2_point_outside_subgroup(BN254))
    assert not native.g2_in_subgroup(outside)
    assert not reference.g2_in_subgroup(reference._g2_from_affine_unchecked(g2_point_outside_subgroup(BN254)))


def test_a_point_off_the_curve_is_an_error_not_a_crash(native: Backend) -> None:
    # the contract never builds such a point; if one reaches the native code anyway, garaga's
    # panic surfaces as the project's error
    off_curve = native._g1_from_affine_unchecked((1, 3))
    with pytest.raises(MalformedInputError):
        native.pairing_check([off_curve], [native.g2_generator()])


def _random_twist_points(rng: random.Random, count: int, native: Backend) -> list:
    p, b = BN254.p, BN254.g2_b
    points = []
    while len(points) < count:
        x = (rng.randrange(p), rng.randrange(p))
        x3 = fp2_mul(fp2_mul(x, x, p), x, p)
        y = sqrt_fp2(((x3[0] + b[0]) % p, (x3[1] + b[1]) % p), p)
        if y is not None:
            points.append(native._g2_from_affine_unchecked((x, y)))
    return points


def test_g2_subgroup_check_agrees_with_multiplication_by_r(native: Backend) -> None:
    """The endomorphism test psi(Q) == [6z^2]Q against the definition r*Q == O, on random
    twist points, on their parts outside G2 alone (r*T has only the cofactor's component) and
    on those parts added to a G2 point."""
    rng = random.Random(13)
    group = native._g2
    cases = []
    for twist in _random_twist_points(rng, 12, native):
        cofactor_part = group.mul(twist, R)
        in_subgroup = native.g2_mul(native.g2_generator(), rng.randrange(R))
        cases += [twist, cofactor_part, group.add(cofactor_part, in_subgroup)]
    cases += [native.g2_mul(native.g2_generator(), rng.randrange(1, R)) for _ in range(8)]
    verdicts = [native.g2_in_subgroup(q) for q in cases]
    assert verdicts == [group.is_identity(group.mul(q, R)) for q in cases]
    assert verdicts.count(True) == 8
