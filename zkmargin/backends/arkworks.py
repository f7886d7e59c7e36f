"""Native BLS12-381 backend on py-arkworks-bls12381 (arkworks compiled to a CPython extension)."""

from __future__ import annotations

from collections.abc import Sequence

from py_arkworks_bls12381 import GT, G1Point, G2Point, Scalar

from zkmargin.backends.base import Backend, G1Affine, G2Affine
from zkmargin.curves import BLS12_381

_N = 48  # bytes of a base-field element


def _scalar(k: int) -> Scalar:
    # from_le_bytes is about 5x faster than Scalar(int) for 255-bit values
    return Scalar.from_le_bytes(k.to_bytes(32, "little"))


class ArkworksBackend(Backend):
    name = "arkworks"
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

    def pairing_check(self, g1s: Sequence[G1Point], g2s: Sequence[G2Point]) -> bool:
        return GT.pairing_check(list(g1s), list(g2s))

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
