"""Reference backend for both curves on py_ecc's optimized (projective) arithmetic.

Slow and simple on purpose: every fast backend is tested against this one.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

from py_ecc import optimized_bls12_381, optimized_bn128

from zkmargin.backends.base import Backend, G1Affine, G2Affine
from zkmargin.curves import BLS12_381, BN254, Curve

_MODULES: dict[str, ModuleType] = {BLS12_381.name: optimized_bls12_381, BN254.name: optimized_bn128}

# py_ecc projective (x, y, z), z == 0 the point at infinity; the curve's module is chosen at run
# time, so mypy sees its points as Any
Point = Any


class PyEccBackend(Backend):
    name = "py_ecc"

    def __init__(self, curve: Curve):
        self.curve = curve
        self._ec = _MODULES[curve.name]

    def g1_generator(self) -> Point:
        return self._ec.G1

    def g2_generator(self) -> Point:
        return self._ec.G2

    def g1_identity(self) -> Point:
        return self._ec.Z1

    def g2_identity(self) -> Point:
        return self._ec.Z2

    def g1_add(self, a: Point, b: Point) -> Point:
        return self._ec.add(a, b)

    def g2_add(self, a: Point, b: Point) -> Point:
        return self._ec.add(a, b)

    def g1_neg(self, a: Point) -> Point:
        return self._ec.neg(a)

    def g2_neg(self, a: Point) -> Point:
        return self._ec.neg(a)

    def g1_mul(self, a: Point, k: int) -> Point:
        return self._ec.multiply(a, k % self.curve.r)

    def g2_mul(self, a: Point, k: int) -> Point:
        return self._ec.multiply(a, k % self.curve.r)

    def g1_eq(self, a: Point, b: Point) -> bool:
        return self._eq(a, b)

    def g2_eq(self, a: Point, b: Point) -> bool:
        return self._eq(a, b)

    def _eq(self, a: Point, b: Point) -> bool:
        # Doubling py_ecc's infinity twice gives (0, 0, 0), which its cross-multiplying eq
        # calls equal to every point: decide infinity first.
        a_inf, b_inf = self._ec.is_inf(a), self._ec.is_inf(b)
        if a_inf or b_inf:
            return bool(a_inf and b_inf)
        return bool(self._ec.eq(a, b))

    def g1_msm(self, points: Sequence[Point], scalars: Sequence[int]) -> Point:
        return self._sum_of_products(points, scalars, self._ec.Z1)

    def g2_msm(self, points: Sequence[Point], scalars: Sequence[int]) -> Point:
        return self._sum_of_products(points, scalars, self._ec.Z2)

    def _sum_of_products(self, points: Sequence[Point], scalars: Sequence[int], total: Point) -> Point:
        for point, k in zip(points, scalars, strict=True):
            total = self._ec.add(total, self._ec.multiply(point, k % self.curve.r))
        return total

    def pairing_check(self, g1s: Sequence[Point], g2s: Sequence[Point]) -> bool:
        return bool(self.pairing_product(g1s, g2s) == self._ec.FQ12.one())

    def pairing_product(self, g1s: Sequence[Point], g2s: Sequence[Point]) -> Any:
        ec = self._ec
        product = ec.FQ12.one()
        for p, q in zip(g1s, g2s, strict=True):
            product = product * ec.pairing(q, p, final_exponentiate=False)
        return ec.final_exponentiate(product)

    def g1_to_affine(self, a: Point) -> G1Affine | None:
        if self._ec.is_inf(a):
            return None
        x, y = self._ec.normalize(a)
        return x.n, y.n

    def g2_to_affine(self, a: Point) -> G2Affine | None:
        if self._ec.is_inf(a):
            return None
        x, y = self._ec.normalize(a)
        return (x.coeffs[0], x.coeffs[1]), (y.coeffs[0], y.coeffs[1])

    def _g1_from_affine_unchecked(self, xy: G1Affine) -> Point:
        fq = self._ec.FQ
        return fq(xy[0]), fq(xy[1]), fq.one()

    def _g2_from_affine_unchecked(self, xy: G2Affine) -> Point:
        fq2 = self._ec.FQ2
        return fq2(list(xy[0])), fq2(list(xy[1])), fq2.one()

    def g1_in_subgroup(self, a: Point) -> bool:
        return bool(self._ec.is_on_curve(a, self._ec.b) and self._ec.is_inf(self._ec.multiply(a, self.curve.r)))

    def g2_in_subgroup(self, a: Point) -> bool:
        return bool(self._ec.is_on_curve(a, self._ec.b2) and self._ec.is_inf(self._ec.multiply(a, self.curve.r)))
