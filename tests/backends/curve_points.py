"""Points built from the curve equations alone, independently of any backend: square roots
in F_p and F_p2, and points on a curve but outside its prime-order subgroup (checked with
py_ecc's own multiplication by r)."""

from __future__ import annotations

from py_ecc import optimized_bls12_381, optimized_bn128

from zkmargin.backends.base import fp2_mul
from zkmargin.curves import BLS12_381, BN254, Curve

_PY_ECC = {BLS12_381.name: optimized_bls12_381, BN254.name: optimized_bn128}


def sqrt_fp(a: int, p: int) -> int | None:
    """A square root in F_p for p = 3 mod 4 (both curves), or None."""
    s = pow(a, (p + 1) // 4, p)
    return s if s * s % p == a % p else None


def sqrt_fp2(a: tuple[int, int], p: int) -> tuple[int, int] | None:
    """A square root in F_p2 = F_p[u]/(u^2 + 1), or None. If x^2 == a then
    x0^2 == (a0 + norm(x)) / 2 with norm(x) = sqrt(a0^2 + a1^2), and x1 = a1 / (2 x0)."""
    a0, a1 = a[0] % p, a[1] % p
    norm_root = sqrt_fp(a0 * a0 + a1 * a1, p)
    if norm_root is None:
        return None
    for n in (norm_root, p - norm_root):
        x0 = sqrt_fp((a0 + n) * pow(2, -1, p), p)
        if not x0:
            continue
        x = (x0, a1 * pow(2 * x0, -1, p) % p)
        if fp2_mul(x, x, p) == (a0, a1):
            return x
    return None


def g1_point_outside_subgroup(curve: Curve) -> tuple[int, int] | None:
    """The first point (x, y) with small x on y^2 = x^3 + b that r does not kill; None for
    BN254, whose G1 has cofactor 1."""
    if curve is BN254:
        return None
    ec = _PY_ECC[curve.name]
    for x in range(1, 1000):
        y = sqrt_fp(x**3 + curve.g1_b, curve.p)
        if y is None:
            continue
        point = (ec.FQ(x), ec.FQ(y), ec.FQ.one())
        if not ec.is_inf(ec.multiply(point, curve.r)):
            return x, y
    raise AssertionError("no point outside the subgroup found")


def g2_point_outside_subgroup(curve: Curve) -> tuple[tuple[int, int], tuple[int, int]]:
    """The first point with x = (k, 1) on the twist that r does not kill."""
    ec = _PY_ECC[curve.name]
    p = curve.p
    for k in range(1000):
        x = (k, 1)
        x3 = fp2_mul(fp2_mul(x, x, p), x, p)
        y = sqrt_fp2(((x3[0] + curve.g2_b[0]) % p, (x3[1] + curve.g2_b[1]) % p), p)
        if y is None:
            continue
        point = (ec.FQ2(list(x)), ec.FQ2(list(y)), ec.FQ2.one())
        if not ec.is_inf(ec.multiply(point, curve.r)):
            return x, y
    raise AssertionError("no point outside the subgroup found")


def g1_point_on_curve(curve: Curve, start: int) -> tuple[int, int]:
    """Some point on the G1 curve with x >= start (for BN254: always in the subgroup)."""
    for x in range(start, start + 1000):
        y = sqrt_fp(x**3 + curve.g1_b, curve.p)
        if y is not None:
            return x, y
    raise AssertionError("no point found")
