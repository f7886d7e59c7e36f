"""Native BLS12-381 backend on py-arkworks-bls12381 (arkworks compiled to a CPython extension)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from py_arkworks_bls12381 import GT, G1Point, G2Point, Scalar

from zkmargin.backends.base import Backend, G1Affine, G2Affine
from zkmargin.backends.scalar_windows import cheapest_window, signed_digits, window_count
from zkmargin.curves import BLS12_381

_N = 48  # bytes of a base-field element
_R = BLS12_381.r
# Below this many scalars a fixed-base table costs more than it saves.
_MIN_TABLE_SCALARS = 8

Point = TypeVar("Point", G1Point, G2Point)


def _scalar(k: int) -> Scalar:
    # from_le_bytes is about 5x faster than Scalar(int) for 255-bit values
    return Scalar.from_le_bytes(k.to_bytes(32, "little"))


class ArkworksBackend(Backend):
    name = "arkworks"
    releases_gil = True  # the binding drops the GIL inside MSMs and pairings
    curve = BLS12_381

    def g1_generator(self) -> G1Point:
        return G1Point()

    def g2_generator(self) -> G2Point:
        return G2Point()

    def g1_identity(self) -> G1Point:
        return G1Point.identity()

    def g2_identity(self) -> G2Point:
        return G2Point.identity()

    def g1_add(self, a: G1Point, b: G1Point) -> G1Point:
        return a + b

    def g2_add(self, a: G2Point, b: G2Point) -> G2Point:
        return a + b

    def g1_neg(self, a: G1Point) -> G1Point:
        return -a

    def g2_neg(self, a: G2Point) -> G2Point:
        return -a

    def g1_mul(self, a: G1Point, k: int) -> G1Point:
        return a * _scalar(k % self.curve.r)

    def g2_mul(self, a: G2Point, k: int) -> G2Point:
        return a * _scalar(k % self.curve.r)

    def g1_eq(self, a: G1Point, b: G1Point) -> bool:
        return a == b

    def g2_eq(self, a: G2Point, b: G2Point) -> bool:
        return a == b

    def g1_msm(self, points: Sequence[G1Point], scalars: Sequence[int]) -> G1Point:
        if not points:
            return G1Point.identity()
        return G1Point.multiexp_unchecked(list(points), [_scalar(k) for k in scalars])

    def g2_msm(self, points: Sequence[G2Point], scalars: Sequence[int]) -> G2Point:
        if not points:
            return G2Point.identity()
        return G2Point.multiexp_unchecked(list(points), [_scalar(k) for k in scalars])

    def g1_batch_mul(self, base: G1Point, scalars: Sequence[int]) -> list[G1Point]:
        return _fixed_base_mul(base, scalars)

    def g2_batch_mul(self, base: G2Point, scalars: Sequence[int]) -> list[G2Point]:
        return _fixed_base_mul(base, scalars)

    def pairing_check(self, g1s: Sequence[G1Point], g2s: Sequence[G2Point]) -> bool:
        return GT.pairing_check(list(g1s), list(g2s))

    def pairing_product(self, g1s: Sequence[G1Point], g2s: Sequence[G2Point]) -> GT:
        if len(g1s) != len(g2s):
            raise ValueError(f"{len(g1s)} G1 points but {len(g2s)} G2 points")
        if not g1s:
            return GT.one()
        return GT.multi_pairing(list(g1s), list(g2s))

    def g1_to_affine(self, a: G1Point) -> G1Affine | None:
        data = a.to_xy_bytes_le()
        if not any(data):
            return None
        return int.from_bytes(data[:_N], "little"), int.from_bytes(data[_N:], "little")

    def g2_to_affine(self, a: G2Point) -> G2Affine | None:
        data = a.to_xy_bytes_le()
        if not any(data):
            return None
        x0, x1, y0, y1 = (int.from_bytes(data[i * _N : (i + 1) * _N], "little") for i in range(4))
        return (x0, x1), (y0, y1)

    def _g1_from_affine_unchecked(self, xy: G1Affine) -> G1Point:
        return G1Point.from_xy_bytes_unchecked_le(xy[0].to_bytes(_N, "little") + xy[1].to_bytes(_N, "little"))

    def _g2_from_affine_unchecked(self, xy: G2Affine) -> G2Point:
        (x0, x1), (y0, y1) = xy
        return G2Point.from_xy_bytes_unchecked_le(b"".join(c.to_bytes(_N, "little") for c in (x0, x1, y0, y1)))

    def g1_in_subgroup(self, a: G1Point) -> bool:
        return a.is_in_subgroup()

    def g2_in_subgroup(self, a: G2Point) -> bool:
        return a.is_in_subgroup()

    # Raw encodings: arkworks' own little-endian xy layout loads ~100x faster than via ints.
    def g1_to_bytes(self, a: G1Point) -> bytes:
        return a.to_xy_bytes_le()

    def g2_to_bytes(self, a: G2Point) -> bytes:
        return a.to_xy_bytes_le()

    def g1_from_bytes_unchecked(self, data: bytes) -> G1Point:
        return G1Point.from_xy_bytes_unchecked_le(data)

    def g2_from_bytes_unchecked(self, data: bytes) -> G2Point:
        return G2Point.from_xy_bytes_unchecked_le(data)


def _fixed_base_mul(base: Point, scalars: Sequence[int]) -> list[Point]:
    """[k * base for k in scalars] from a table of d * 2^(c*j) * base: one addition per
    window (~1 us through the binding for G1, ~3 us for G2) instead of a full scalar
    multiplication (~250 us for G1, ~700 us for G2) per scalar."""
    if len(scalars) < _MIN_TABLE_SCALARS:
        return [base * _scalar(k % _R) for k in scalars]
    bits = _R.bit_length()
    c = cheapest_window(len(scalars), bits, lambda c: 1 << (c - 1))
    rows = _window_table(base, c, window_count(bits, c))
    identity = type(base).identity()
    out = []
    for digits in signed_digits([k % _R for k in scalars], c, bits).T.tolist():
        acc = identity
        for row, d in zip(rows, digits):
            if d:
                acc = acc + row[d]
        out.append(acc)
    return out


def _window_table(base: Point, c: int, windows: int) -> list[list[Point]]:
    """rows[j][d] == d * 2^(c*j) * base for |d| <= 2^(c-1); negative d index from the end
    of the row, as Python lists do."""
    identity = type(base).identity()
    rows: list[list[Point]] = []
    step = base
    for _ in range(windows):
        positive: list[Point] = [step]
        for _ in range((1 << (c - 1)) - 1):
            positive.append(positive[-1] + step)
        row = [identity]
        row.extend(positive)
        row.extend(-q for q in reversed(positive))
        rows.append(row)
        step = positive[-1] + positive[-1]  # 2 * 2^(c-1) * step: the next window's step
    return rows
