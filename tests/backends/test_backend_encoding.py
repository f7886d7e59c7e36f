"""Affine and byte encodings, and validation of untrusted coordinates."""

from __future__ import annotations

import random

import pytest

from tests.backends.curve_points import g1_point_on_curve, g1_point_outside_subgroup, g2_point_outside_subgroup
from tests.backends.group_view import GroupView
from zkmargin.backends import Backend
from zkmargin.curves import BN254
from zkmargin.errors import MalformedInputError


def test_affine_round_trip(group: GroupView, rng: random.Random) -> None:
    p = group.random_point(rng)
    assert group.eq(group.from_affine(group.to_affine(p)), p)
    assert group.is_identity(group.from_affine(None))


def test_bytes_round_trip(group: GroupView, rng: random.Random) -> None:
    points = [group.random_point(rng), group.identity(), group.generator()]
    encoded = [group.to_bytes(p) for p in points]
    width = (2 if group.prefix == "g1" else 4) * group.backend.curve.base_bytes
    assert all(len(e) == width for e in encoded)
    assert encoded[1] == bytes(width)  # infinity is all zeros
    for point, data in zip(points, encoded):
        assert group.eq(group.from_bytes_unchecked(data), point)
    decoded = group.bytes_many_unchecked(b"".join(encoded), len(points))
    assert all(group.eq(a, b) for a, b in zip(decoded, points))


def test_bytes_are_the_same_on_every_backend(
    group: GroupView, reference_group: GroupView, rng: random.Random
) -> None:
    # key files written by one backend must load in another
    p = group.random_point(rng)
    assert group.to_bytes(p) == reference_group.to_bytes(group.port(p, reference_group))


def _g2_with_coordinate(xy: tuple, index: int, value: int) -> tuple:
    coords = [*xy[0], *xy[1]]
    coords[index] = value
    return (coords[0], coords[1]), (coords[2], coords[3])


def test_coordinates_must_be_below_p(backend: Backend) -> None:
    p = backend.curve.p
    x, y = backend.curve.g1_generator
    for bad in [(x + p, y), (x, y + p), (p, y), (x, -y)]:
        with pytest.raises(MalformedInputError, match="below the base field modulus"):
            backend.g1_from_affine(bad)
    g2 = backend.curve.g2_generator
    for index in range(4):
        bad = _g2_with_coordinate(g2, index, [*g2[0], *g2[1]][index] + p)
        with pytest.raises(MalformedInputError, match="below the base field modulus"):
            backend.g2_from_affine(bad)


def test_coordinates_must_be_integers(backend: Backend) -> None:
    x, y = backend.curve.g1_generator
    for bad in [(float(x), y), (x, str(y)), (True, y)]:
        with pytest.raises(MalformedInputError, match="integers"):
            backend.g1_from_affine(bad)


def test_points_off_the_curve_are_rejected(backend: Backend) -> None:
    x, y = backend.curve.g1_generator
    for bad in [(x, (y + 1) % backend.curve.p), (0, 0)]:
        with pytest.raises(MalformedInputError, match="not on the"):
            backend.g1_from_affine(bad)
    (x0, x1), (y0, y1) = backend.curve.g2_generator
    with pytest.raises(MalformedInputError, match="not on the"):
        backend.g2_from_affine(((x0, x1), (y0, (y1 + 1) % backend.curve.p)))


def test_g1_points_outside_the_subgroup_are_rejected(backend: Backend) -> None:
    xy = g1_point_outside_subgroup(backend.curve)
    if xy is None:
        pytest.skip(f"{backend.curve.name} G1 has cofactor 1: every curve point is in the subgroup")
    with pytest.raises(MalformedInputError, match="subgroup"):
        backend.g1_from_affine(xy)
    assert not backend.g1_in_subgroup(backend._g1_from_affine_unchecked(xy))


def test_g2_points_outside_the_subgroup_are_rejected(backend: Backend) -> None:
    xy = g2_point_outside_subgroup(backend.curve)
    with pytest.raises(MalformedInputError, match="subgroup"):
        backend.g2_from_affine(xy)
    assert not backend.g2_in_subgroup(backend._g2_from_affine_unchecked(xy))


def test_every_bn254_g1_curve_point_is_accepted(backend: Backend) -> None:
    if backend.curve is not BN254:
        pytest.skip("only BN254 has a G1 of cofactor 1")
    for start in (2, 1000, 123456789):
        xy = g1_point_on_curve(backend.curve, start)
        assert backend.g1_to_affine(backend.g1_from_affine(xy)) == xy


def test_subgroup_points_are_accepted(group: GroupView, rng: random.Random) -> None:
    xy = group.to_affine(group.random_point(rng))
    assert group.to_affine(group.from_affine(xy)) == xy
