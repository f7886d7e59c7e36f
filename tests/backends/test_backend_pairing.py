"""Multi-pairing checks: bilinearity, non-degeneracy and the point at infinity."""

from __future__ import annotations

import random

from zkmargin.backends import Backend


def test_bilinear_product_is_one(backend: Backend, rng: random.Random) -> None:
    # e(aP, bQ) * e(-abP, Q) == 1
    r, p, q = backend.curve.r, backend.g1_generator(), backend.g2_generator()
    a, b = rng.randrange(1, r), rng.randrange(1, r)
    g1s = [backend.g1_mul(p, a), backend.g1_mul(p, (-a * b) % r)]
    assert backend.pairing_check(g1s, [backend.g2_mul(q, b), q])


def test_perturbed_product_is_not_one(backend: Backend, rng: random.Random) -> None:
    r, p, q = backend.curve.r, backend.g1_generator(), backend.g2_generator()
    a, b = rng.randrange(1, r), rng.randrange(1, r)
    g1s = [backend.g1_mul(p, a), backend.g1_mul(p, (-a * b + 1) % r)]
    assert not backend.pairing_check(g1s, [backend.g2_mul(q, b), q])


def test_pairing_of_the_generators_is_not_one(backend: Backend) -> None:
    assert not backend.pairing_check([backend.g1_generator()], [backend.g2_generator()])


def test_pairs_with_the_identity_contribute_nothing(backend: Backend) -> None:
    p, q = backend.g1_generator(), backend.g2_generator()
    assert backend.pairing_check([backend.g1_identity()], [q])
    assert backend.pairing_check([p], [backend.g2_identity()])
    g1s = [backend.g1_identity(), p, backend.g1_neg(p)]
    assert backend.pairing_check(g1s, [q, q, q])


def test_the_empty_product_is_one(backend: Backend) -> None:
    assert backend.pairing_check([], [])


def test_pairing_product_is_bilinear_and_matches_the_check(backend: Backend, rng: random.Random) -> None:
    # e(aP, Q) == e(P, aQ), e(P, Q) is not one, and e(aP, Q) * e(-aP, Q) is one
    r, p, q = backend.curve.r, backend.g1_generator(), backend.g2_generator()
    a = rng.randrange(2, r)
    left = backend.pairing_product([backend.g1_mul(p, a)], [q])
    assert backend.gt_eq(left, backend.pairing_product([p], [backend.g2_mul(q, a)]))
    assert not backend.gt_eq(left, backend.pairing_product([p], [q]))
    one = backend.pairing_product([], [])
    assert not backend.gt_eq(backend.pairing_product([p], [q]), one)
    assert backend.gt_eq(backend.pairing_product([backend.g1_mul(p, a), backend.g1_mul(p, r - a)], [q, q]), one)
    assert backend.gt_eq(backend.pairing_product([backend.g1_identity(), p], [q, backend.g2_identity()]), one)


def test_pairing_product_multiplies_in_gt(backend: Backend, rng: random.Random) -> None:
    # e(aP, Q) * e(bP, Q) == e((a + b)P, Q): what a prepared key's comparison relies on
    r, p, q = backend.curve.r, backend.g1_generator(), backend.g2_generator()
    a, b = rng.randrange(1, r), rng.randrange(1, r)
    both = backend.pairing_product([backend.g1_mul(p, a), backend.g1_mul(p, b)], [q, q])
    assert backend.gt_eq(both, backend.pairing_product([backend.g1_mul(p, (a + b) % r)], [q]))
