"""BN254 in pure Python: Jacobian G1/G2 arithmetic, Pippenger MSM, fixed-base tables.

Field elements are ``gmpy2.mpz``: a multiply-and-reduce costs about half of what it costs
on Python ints, which makes every group operation about twice as fast. Pairings go through
py_ecc's Miller loop, with a final exponentiation that does the easy part by Frobenius maps.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from gmpy2 import mpz
from py_ecc import optimized_bn128 as ref

from zkmargin.backends.base import Backend, G1Affine, G2Affine
from zkmargin.backends.fixed_base import fixed_base_mul
from zkmargin.backends.jacobian import G1Group, G1Point, G2Group, G2Point
from zkmargin.backends.pippenger import msm
from zkmargin.curves import BN254


class BN254Backend(Backend):
    name = "python"
    curve = BN254

    def __init__(self) -> None:
        self._g1 = G1Group(BN254.p, BN254.g1_b, mpz)
        self._g2 = G2Group(BN254.p, BN254.g2_b, mpz)

    def g1_generator(self) -> G1Point:
        return self._g1_from_affine_unchecked(BN254.g1_generator)

    def g2_generator(self) -> G2Point:
        return self._g2_from_affine_unchecked(BN254.g2_generator)

    def g1_identity(self) -> G1Point:
        return self._g1.identity

    def g2_identity(self) -> G2Point:
        return self._g2.identity

    def g1_add(self, a: G1Point, b: G1Point) -> G1Point:
        return self._g1.add(a, b)

    def g2_add(self, a: G2Point, b: G2Point) -> G2Point:
        return self._g2.add(a, b)

    def g1_neg(self, a: G1Point) -> G1Point:
        return self._g1.neg(a)

    def g2_neg(self, a: G2Point) -> G2Point:
        return self._g2.neg(a)

    def g1_mul(self, a: G1Point, k: int) -> G1Point:
        return self._g1.mul(a, k % BN254.r)

    def g2_mul(self, a: G2Point, k: int) -> G2Point:
        return self._g2.mul(a, k % BN254.r)

    def g1_eq(self, a: G1Point, b: G1Point) -> bool:
        return self._g1.eq(a, b)

    def g2_eq(self, a: G2Point, b: G2Point) -> bool:
        return self._g2.eq(a, b)

    def g1_msm(self, points: Sequence[G1Point], scalars: Sequence[int]) -> G1Point:
        return msm(self._g1, points, scalars, BN254.r)

    def g2_msm(self, points: Sequence[G2Point], scalars: Sequence[int]) -> G2Point:
        return msm(self._g2, points, scalars, BN254.r)

    def g1_batch_mul(self, base: G1Point, scalars: Sequence[int]) -> list[G1Point]:
        return fixed_base_mul(self._g1, base, scalars, BN254.r)

    def g2_batch_mul(self, base: G2Point, scalars: Sequence[int]) -> list[G2Point]:
        return fixed_base_mul(self._g2, base, scalars, BN254.r)

    def pairing_check(self, g1s: Sequence[G1Point], g2s: Sequence[G2Point]) -> bool:
        f = ref.FQ12.one()
        for p, q in zip(g1s, g2s, strict=True):
            p_xy, q_xy = self.g1_to_affine(p), self.g2_to_affine(q)
            if p_xy is None or q_xy is None:
                continue  # e(O, Q) == e(P, O) == 1
            f = f * ref.pairing(_ref_g2(q_xy), _ref_g1(p_xy), final_exponentiate=False)
        return final_exponentiation(f) == ref.FQ12.one()

    def g1_to_affine(self, a: G1Point) -> G1Affine | None:
        xy = self._g1.to_affine(a)
        return None if xy is None else (int(xy[0]), int(xy[1]))

    def g2_to_affine(self, a: G2Point) -> G2Affine | None:
        xy = self._g2.to_affine(a)
        if xy is None:
            return None
        (x0, x1), (y0, y1) = xy
        return (int(x0), int(x1)), (int(y0), int(y1))

    def _g1_from_affine_unchecked(self, xy: G1Affine) -> G1Point:
        return self._g1.from_affine((mpz(xy[0]), mpz(xy[1])))

    def _g2_from_affine_unchecked(self, xy: G2Affine) -> G2Point:
        (x0, x1), (y0, y1) = xy
        return self._g2.from_affine(((mpz(x0), mpz(x1)), (mpz(y0), mpz(y1))))

    def g1_in_subgroup(self, a: G1Point) -> bool:
        return self._g1.on_curve(a)  # G1 has cofactor 1: the whole curve is the subgroup

    def g2_in_subgroup(self, a: G2Point) -> bool:
        return self._g2.on_curve(a) and self._g2.is_identity(self._g2.mul(a, BN254.r))


def _ref_g1(xy: G1Affine) -> tuple[ref.FQ, ref.FQ, ref.FQ]:
    return ref.FQ(xy[0]), ref.FQ(xy[1]), ref.FQ.one()


def _ref_g2(xy: G2Affine) -> tuple[ref.FQ2, ref.FQ2, ref.FQ2]:
    return ref.FQ2(list(xy[0])), ref.FQ2(list(xy[1])), ref.FQ2.one()


def final_exponentiation(f: ref.FQ12) -> ref.FQ12:
    """f^((p^12 - 1)/r), split as (p^6 - 1)(p^2 + 1) * (p^4 - p^2 + 1)/r: the first two
    factors are Frobenius maps (nearly free), leaving a quarter of the exponent bits."""
    f = _frobenius(f, 6) / f
    f = _frobenius(f, 2) * f
    return f ** ((BN254.p**4 - BN254.p**2 + 1) // BN254.r)


def _frobenius(f: ref.FQ12, power: int) -> ref.FQ12:
    """f^(p^power): the p-power map is F_p-linear, so apply it to the basis w^i once."""
    for _ in range(power):
        images = _basis_to_the_p()
        f = sum((image * c for image, c in zip(images, f.coeffs)), ref.FQ12.zero())
    return f


@cache
def _basis_to_the_p() -> tuple[ref.FQ12, ...]:
    return tuple(ref.FQ12([0] * i + [1] + [0] * (11 - i)) ** BN254.p for i in range(12))
