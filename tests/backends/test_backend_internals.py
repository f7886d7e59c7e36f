"""The building blocks of the pure-Python backend, checked on their own."""

from __future__ import annotations

import random

import pytest
from gmpy2 import mpz
from hypothesis import given, settings
from hypothesis import strategies as st

from zkmargin.backends.fixed_base import fixed_base_mul
from zkmargin.backends.jacobian import G1Group, G2Group, JacobianGroup, wnaf
from zkmargin.backends.pippenger import msm
from zkmargin.backends.scalar_windows import signed_digits
from zkmargin.curves import BN254

R = BN254.r


@settings(max_examples=200)
@given(st.lists(st.integers(0, 2**254 - 1), min_size=1, max_size=8), st.integers(2, 19))
def test_signed_digits_recompose_every_scalar(scalars: list[int], c: int) -> None:
    digits = signed_digits(scalars, c, 254)
    half = 1 << (c - 1)
    assert ((-half <= digits) & (digits <= half)).all()
    for i, k in enumerate(scalars):
        assert sum(int(d) << (c * j) for j, d in enumerate(digits[:, i])) == k


@given(st.integers(0, 2**300), st.integers(2, 8))
def test_wnaf_digits_are_odd_small_and_recompose(k: int, width: int) -> None:
    digits = wnaf(k, width)
    assert sum(d << i for i, d in enumerate(digits)) == k
    assert all(d % 2 == 1 and abs(d) < 1 << (width - 1) for d in digits if d)


def _groups(num: type) -> list[JacobianGroup]:
    return [G1Group(BN254.p, BN254.g1_b, num), G2Group(BN254.p, BN254.g2_b, num)]


def _generator(group: JacobianGroup, num: type):
    if isinstance(group, G1Group):
        x, y = BN254.g1_generator
        return group.from_affine((num(x), num(y)))
    (x0, x1), (y0, y1) = BN254.g2_generator
    return group.from_affine(((num(x0), num(x1)), (num(y0), num(y1))))


@pytest.mark.parametrize("index", [0, 1], ids=["g1", "g2"])
def test_python_ints_and_gmpy2_give_the_same_points(index: int) -> None:
    k = 0x1234567890ABCDEF1234567890ABCDEF
    points = []
    for num in (int, mpz):
        group = _groups(num)[index]
        points.append(group.to_affine(group.mul(_generator(group, num), k)))
    assert points[0] == points[1]


@pytest.fixture(params=[0, 1], ids=["g1", "g2"])
def group(request: pytest.FixtureRequest) -> JacobianGroup:
    return _groups(mpz)[request.param]


def test_batched_affine_addition_handles_doubling_and_cancellation(group: JacobianGroup) -> None:
    g = _generator(group, mpz)
    a, b = group.to_affine(g), group.to_affine(group.mul(g, 5))
    sums = group.add_affine_batch([a, a, a, b], [b, a, group.neg_affine(a), a])
    expected = [group.mul(g, 6), group.mul(g, 2), None, group.mul(g, 6)]
    assert sums[2] is None
    assert [sums[i] for i in (0, 1, 3)] == [group.to_affine(expected[i]) for i in (0, 1, 3)]


def test_normalize_many_keeps_identities_in_place(group: JacobianGroup) -> None:
    g = _generator(group, mpz)
    two = group.double(g)  # Z != 1
    assert group.normalize_many([group.identity, two, group.identity, g]) == [
        None,
        group.to_affine(two),
        None,
        group.to_affine(g),
    ]


@pytest.mark.parametrize("count", [1, 2, 7, 90])
def test_fixed_base_mul_for_every_window_width(group: JacobianGroup, count: int) -> None:
    rng = random.Random(count)
    g = _generator(group, mpz)
    scalars = [0, 1, R - 1][:count] + [rng.randrange(R) for _ in range(count - 3)]
    for point, k in zip(fixed_base_mul(group, g, scalars, R), scalars):
        assert group.eq(point, group.mul(g, k))


@pytest.mark.parametrize("count", [1, 2, 5, 60])
def test_pippenger_for_every_window_width(group: JacobianGroup, count: int) -> None:
    rng = random.Random(count)
    g = _generator(group, mpz)
    points = [group.mul(g, rng.randrange(1, R)) for _ in range(count)]
    scalars = [rng.randrange(2, R) for _ in range(count)]
    expected = group.identity
    for point, k in zip(points, scalars):
        expected = group.add(expected, group.mul(point, k))
    assert group.eq(msm(group, points, scalars, R), expected)

