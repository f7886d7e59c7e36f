"""BN254: Jacobian G1/G2 arithmetic, Pippenger MSM and fixed-base tables on gmpy2; pairings
and the scalar multiplication of the G2 subgroup check in native code (garaga's Rust extension).

Field elements are ``gmpy2.mpz``: a multiply-and-reduce costs about half of what it costs
on Python ints, which makes every group operation about twice as fast. A multi-pairing
check is one call to garaga's ``multi_pairing`` (a shared Miller loop and one final
exponentiation): ~4.5 ms for the four pairs of a Groth16 check, against ~650 ms through
py_ecc, which stays the reference the tests compare with. garaga rejects points off the
curve by panicking, so this module hands it only points the contract has already validated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from garaga import garaga_rs
from gmpy2 import mpz

from zkmargin.backends.base import Backend, G1Affine, G2Affine
from zkmargin.backends.fixed_base import fixed_base_mul
from zkmargin.backends.jacobian import G1Group, G1Point, G2Group, G2Point
from zkmargin.backends.pippenger import msm
from zkmargin.curves import BN254
from zkmargin.errors import MalformedInputError

_GARAGA_BN254 = 0  # garaga's CurveID.BN254
_GT_ONE = [1] + [0] * 11  # the identity of G_T as garaga's 12 F_p coefficients
_BN_Z = 4965661367192848881  # the BN254 seed: p and r are polynomials in it
_SIX_Z_SQUARED = 6 * _BN_Z * _BN_Z  # = p mod r: psi's eigenvalue on G2


def _fp2_mul(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    p = BN254.p
    return (a[0] * b[0] - a[1] * b[1]) % p, (a[0] * b[1] + a[1] * b[0]) % p


def _fp2_pow(a: tuple[int, int], e: int) -> tuple[int, int]:
    result = (1, 0)
    for bit in bin(e)[2:]:
        result = _fp2_mul(result, result)
        if bit == "1":
            result = _fp2_mul(result, a)
    return result


_XI = (9, 1)  # the twist's non-residue 9 + u
_PSI_X = _fp2_pow(_XI, (BN254.p - 1) // 3)
_PSI_Y = _fp2_pow(_XI, (BN254.p - 1) // 2)


def _psi(xy: G2Affine) -> G2Affine:
    """psi(x, y) = (conj(x) xi^((p-1)/3), conj(y) xi^((p-1)/2)): Frobenius through the twist."""
    p = BN254.p
    (x0, x1), (y0, y1) = xy
    return _fp2_mul((x0, -x1 % p), _PSI_X), _fp2_mul((y0, -y1 % p), _PSI_Y)


class BN254Backend(Backend):
    name = "garaga"
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
        total: G1Point = msm(self._g1, points, scalars, BN254.r)
        return total

    def g2_msm(self, points: Sequence[G2Point], scalars: Sequence[int]) -> G2Point:
        total: G2Point = msm(self._g2, points, scalars, BN254.r)
        return total

    def g1_batch_mul(self, base: G1Point, scalars: Sequence[int]) -> list[G1Point]:
        return fixed_base_mul(self._g1, base, scalars, BN254.r)

    def g2_batch_mul(self, base: G2Point, scalars: Sequence[int]) -> list[G2Point]:
        return fixed_base_mul(self._g2, base, scalars, BN254.r)

    def pairing_check(self, g1s: Sequence[G1Point], g2s: Sequence[G2Point]) -> bool:
        return self.pairing_product(g1s, g2s) == _GT_ONE

    def pairing_product(self, g1s: Sequence[G1Point], g2s: Sequence[G2Point]) -> list[int]:
        """The product as garaga's 12 F_p coefficients of G_T."""
        coordinates: list[int] = []
        for p_xy, q_xy in zip(self._g1_affine_many(g1s), self._g2_affine_many(g2s), strict=True):
            if p_xy is None or q_xy is None:
                continue  # e(O, Q) == e(P, O) == 1
            (x0, x1), (y0, y1) = q_xy
            coordinates += (p_xy[0], p_xy[1], x0, x1, y0, y1)
        if not coordinates:
            return list(_GT_ONE)
        return list(_native(garaga_rs.multi_pairing, _GARAGA_BN254, coordinates))

    def _g1_affine_many(self, points: Sequence[G1Point]) -> list[tuple[int, int] | None]:
        return [None if xy is None else (int(xy[0]), int(xy[1])) for xy in self._g1.normalize_many(points)]

    def _g2_affine_many(self, points: Sequence[G2Point]) -> list[G2Affine | None]:
        out: list[G2Affine | None] = []
        for xy in self._g2.normalize_many(points):
            if xy is None:
                out.append(None)
            else:
                (x0, x1), (y0, y1) = xy
                out.append(((int(x0), int(x1)), (int(y0), int(y1))))
        return out

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
        # G2 lives on a twist of cofactor ~p, so curve points outside the subgroup are the rule.
        # El Housni, Guillevic and Piellard (ePrint 2022/352) show that on BN curves a twist
        # point Q is in G2 iff psi(Q) == [6 z^2] Q, psi the untwist-Frobenius-twist map and z
        # the curve seed: a 127-bit multiplication (natively ~0.37 ms) instead of one by r.
        if not self._g2.on_curve(a):
            return False
        xy = self.g2_to_affine(a)
        if xy is None:
            return True
        (x0, x1), (y0, y1) = xy
        image = _native(garaga_rs.g2_scalar_mul, _GARAGA_BN254, (x0, x1, y0, y1), _SIX_Z_SQUARED)
        (px0, px1), (py0, py1) = _psi(xy)
        return bool(image == (px0, px1, py0, py1))


def _native(function: Callable[..., Any], *args: object) -> Any:
    """Call garaga; its Rust panics (raised as pyo3's PanicException, a BaseException) on an
    input it rejects become the project's error instead of escaping ``except Exception``."""
    try:
        return function(*args)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as err:  # noqa: BLE001 - PanicException derives from BaseException
        raise MalformedInputError(f"the native BN254 code rejected its input: {err}") from None


