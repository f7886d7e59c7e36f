"""Multi-scalar multiplication and fixed-base batches on every backend."""

from __future__ import annotations

import random

import pytest

from tests.backends.group_view import GroupView


def _edge_scalars(r: int) -> list[int]:
    return [0, 1, r - 1, 2, r - 2, (r - 1) // 2, (r + 1) // 2]


def _sum_of_products(group: GroupView, points: list, scalars: list[int]):
    total = group.identity()
    for point, k in zip(points, scalars):
        total = group.add(total, group.mul(point, k))
    return total


def test_msm_agrees_with_the_reference(group: GroupView, reference_group: GroupView, rng: random.Random) -> None:
    points = [group.random_point(rng) for _ in range(4)]
    points += [points[0], group.neg(points[1]), group.identity(), group.generator()]  # repeats, opposites
    scalars = _edge_scalars(group.r)[:3] + [rng.randrange(group.r) for _ in range(5)]
    expected = reference_group.msm([group.port(p, reference_group) for p in points], scalars)
    assert group.to_affine(group.msm(points, scalars)) == reference_group.to_affine(expected)


def test_msm_of_nothing_is_the_identity(group: GroupView) -> None:
    assert group.is_identity(group.msm([], []))


def test_msm_with_only_zero_scalars_or_identities_is_the_identity(group: GroupView, rng: random.Random) -> None:
    p = group.random_point(rng)
    assert group.is_identity(group.msm([p, p], [0, 0]))
    assert group.is_identity(group.msm([group.identity()] * 3, [5, 1, group.r - 1]))


def test_msm_cancels_opposite_contributions(group: GroupView, rng: random.Random) -> None:
    p, k = group.random_point(rng), rng.randrange(group.r)
    assert group.is_identity(group.msm([p, group.neg(p)], [k, k]))
    assert group.is_identity(group.msm([p, p], [k, group.r - k]))


def test_msm_of_one_point_is_a_multiplication(group: GroupView, rng: random.Random) -> None:
    p = group.random_point(rng)
    for k in _edge_scalars(group.r) + [rng.randrange(group.r)]:
        assert group.eq(group.msm([p], [k]), group.mul(p, k))


@pytest.mark.parametrize("size", [33, 300])
def test_larger_msm_equals_the_sum_of_products(
    group: GroupView, is_reference: bool, rng: random.Random, size: int
) -> None:
    if is_reference:
        pytest.skip("py_ecc's msm is the sum of products itself")
    base = [group.random_point(rng) for _ in range(8)]
    points = [rng.choice(base) for _ in range(size)]  # many repeats land in the same buckets
    scalars = [rng.choice([0, 1, group.r - 1, rng.randrange(group.r)]) for _ in range(size)]
    assert group.eq(group.msm(points, scalars), _sum_of_products(group, points, scalars))


def test_batch_mul_equals_one_multiplication_per_scalar(
    group: GroupView, is_reference: bool, rng: random.Random
) -> None:
    count = 3 if is_reference else 40  # 40 is enough for the table-based paths
    scalars = _edge_scalars(group.r) + [rng.randrange(group.r) for _ in range(count)]
    base = group.random_point(rng)
    results = group.batch_mul(base, scalars)
    assert len(results) == len(scalars)
    for point, k in zip(results, scalars):
        assert group.eq(point, group.mul(base, k))


def test_batch_mul_edge_cases(group: GroupView, rng: random.Random) -> None:
    assert group.batch_mul(group.generator(), []) == []
    assert all(group.is_identity(q) for q in group.batch_mul(group.identity(), [1, 2, 3]))
