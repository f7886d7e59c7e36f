"""Group laws on every backend, and agreement with the py_ecc reference."""

from __future__ import annotations

import random

from tests.backends.group_view import GroupView


def test_generator_has_the_published_coordinates(group: GroupView) -> None:
    assert group.to_affine(group.generator()) == group.generator_affine


def test_identity_is_neutral_and_has_no_affine_form(group: GroupView) -> None:
    g, o = group.generator(), group.identity()
    assert group.to_affine(o) is None
    assert group.is_identity(o) and not group.is_identity(g)
    assert group.eq(group.add(g, o), g)
    assert group.eq(group.add(o, g), g)
    assert group.eq(group.add(o, o), o)
    assert group.eq(group.neg(o), o)


def test_a_point_plus_its_negation_is_the_identity(group: GroupView, rng: random.Random) -> None:
    p = group.random_point(rng)
    assert group.is_identity(group.add(p, group.neg(p)))
    assert group.is_identity(group.add(group.neg(p), p))


def test_adding_a_point_to_itself_doubles_it(group: GroupView, rng: random.Random) -> None:
    p = group.random_point(rng)
    assert group.eq(group.add(p, p), group.mul(p, 2))


def test_addition_is_commutative_and_associative(group: GroupView, rng: random.Random) -> None:
    a, b, c = (group.random_point(rng) for _ in range(3))
    assert group.eq(group.add(a, b), group.add(b, a))
    assert group.eq(group.add(group.add(a, b), c), group.add(a, group.add(b, c)))


def test_scalars_act_modulo_the_group_order(group: GroupView, rng: random.Random) -> None:
    p, r = group.random_point(rng), group.r
    assert group.is_identity(group.mul(p, 0))
    assert group.is_identity(group.mul(p, r))
    assert group.eq(group.mul(p, 1), p)
    assert group.eq(group.mul(p, r - 1), group.neg(p))
    assert group.eq(group.mul(p, r + 5), group.mul(p, 5))
    assert group.is_identity(group.mul(group.identity(), 12345))


def test_multiplication_is_linear_in_the_scalar(group: GroupView, rng: random.Random) -> None:
    p, r = group.generator(), group.r
    a, b = rng.randrange(r), rng.randrange(r)
    assert group.eq(group.mul(p, (a + b) % r), group.add(group.mul(p, a), group.mul(p, b)))
    assert group.eq(group.mul(group.mul(p, a), b), group.mul(p, a * b % r))


def test_equality_compares_points_not_representations(group: GroupView) -> None:
    g = group.generator()
    three_by_adding = group.add(group.add(g, g), g)
    assert group.eq(three_by_adding, group.mul(g, 3))
    assert not group.eq(g, group.mul(g, 2))
    assert not group.eq(g, group.identity())
    assert not group.eq(group.identity(), g)
    assert not group.eq(group.mul(group.identity(), 12345), g)  # however the identity was reached


def test_arithmetic_agrees_with_the_reference(
    group: GroupView, reference_group: GroupView, rng: random.Random
) -> None:
    r = group.r
    a, b = rng.randrange(r), rng.randrange(r)
    ours = group.add(group.mul(group.generator(), a), group.neg(group.mul(group.generator(), b)))
    theirs = reference_group.mul(reference_group.generator(), (a - b) % r)
    assert group.to_affine(ours) == reference_group.to_affine(theirs)
