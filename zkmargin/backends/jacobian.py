"""Jacobian-coordinate arithmetic on short Weierstrass curves y^2 = x^3 + b (a = 0).

A point (X, Y, Z) stands for the affine point (X/Z^2, Y/Z^3); Z == 0 is the point at
infinity. ``G1Group`` works over F_p, ``G2Group`` over F_p2 = F_p[u]/(u^2 + 1) with pairs
(c0, c1) = c0 + c1*u. Affine points are (x, y) tuples and are always finite. Field
elements are of the number type ``num`` given to the constructor (``int``, or a faster
drop-in such as ``gmpy2.mpz``) and are kept reduced below p.

The formulas are the standard ones for a = 0 from the Explicit-Formulas Database
(add-2007-bl, madd-2007-bl, dbl-2009-l), without the factors of 2 that only help
fixed-width implementations.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

Num = Any  # int or a drop-in replacement
Fp2 = tuple[Num, Num]
Pt = TypeVar("Pt")  # a Jacobian point of one group
Aff = TypeVar("Aff")  # a finite affine point of that group


class JacobianGroup(ABC, Generic[Pt, Aff]):
    """Operations shared by both groups; subclasses supply the field-specific formulas."""

    identity: Pt

    @abstractmethod
    def add(self, a: Pt, b: Pt) -> Pt: ...

    @abstractmethod
    def add_affine(self, a: Pt, b: Aff) -> Pt:
        """a + b for a finite affine b: cheaper than a full addition."""

    @abstractmethod
    def add_affine_batch(self, lefts: Sequence[Aff], rights: Sequence[Aff]) -> list[Aff | None]:
        """lefts[i] + rights[i] for finite affine points, in affine form (None for infinity),
        with one field inversion for the whole batch: the cheapest way to add many
        independent pairs."""

    @abstractmethod
    def double(self, a: Pt) -> Pt: ...

    @abstractmethod
    def neg(self, a: Pt) -> Pt: ...

    @abstractmethod
    def neg_affine(self, a: Aff) -> Aff: ...

    @abstractmethod
    def is_identity(self, a: Pt) -> bool: ...

    @abstractmethod
    def eq(self, a: Pt, b: Pt) -> bool: ...

    @abstractmethod
    def on_curve(self, a: Pt) -> bool:
        """Y^2 == X^3 + b Z^6: the curve equation in Jacobian form."""

    @abstractmethod
    def from_affine(self, a: Aff) -> Pt: ...

    @abstractmethod
    def normalize_many(self, points: Sequence[Pt]) -> list[Aff | None]:
        """Affine forms of many points with a single field inversion (None for infinity)."""

    def to_affine(self, a: Pt) -> Aff | None:
        return self.normalize_many([a])[0]

    def mul(self, a: Pt, k: int) -> Pt:
        """k * a for any integer k >= 0, by a width-5 signed window (wNAF)."""
        odd = self._odd_multiples(a, 8)  # a, 3a, ..., 15a
        result = self.identity
        for digit in reversed(wnaf(k, 5)):
            result = self.double(result)
            if digit > 0:
                result = self.add(result, odd[digit >> 1])
            elif digit < 0:
                result = self.add(result, self.neg(odd[-digit >> 1]))
        return result

    def _odd_multiples(self, a: Pt, count: int) -> list[Pt]:
        twice = self.double(a)
        odd = [a]
        for _ in range(count - 1):
            odd.append(self.add(odd[-1], twice))
        return odd


def wnaf(k: int, width: int) -> list[int]:
    """Signed digits of k >= 0, least significant first: every nonzero digit is odd and
    below 2^(width-1) in magnitude, so a table of odd multiples covers them."""
    full = 1 << width
    digits = []
    while k:
        d = 0
        if k & 1:
            d = k & (full - 1)
            if d >= full >> 1:
                d -= full
            k -= d
        digits.append(d)
        k >>= 1
    return digits


def fp_batch_inverse(values: Sequence[Num], p: Num) -> list[Num]:
    """Inverses of nonzero elements of F_p with one inversion (Montgomery's trick)."""
    if not values:
        return []
    prefix = [values[0]]
    for v in values[1:]:
        prefix.append(prefix[-1] * v % p)
    inv = pow(prefix[-1], -1, p)
    out = [inv] * len(values)
    for i in range(len(values) - 1, 0, -1):
        out[i] = inv * prefix[i - 1] % p
        inv = inv * values[i] % p
    out[0] = inv
    return out


G1Point = tuple[Num, Num, Num]
G1Aff = tuple[Num, Num]


class G1Group(JacobianGroup[G1Point, G1Aff]):
    def __init__(self, p: int, b: int, num: Callable[[int], Num] = int):
        self.p = num(p)
        self.b = num(b)
        self.one = num(1)
        self.identity = (self.one, self.one, num(0))

    def from_affine(self, a: G1Aff) -> G1Point:
        return a[0], a[1], self.one

    def is_identity(self, a: G1Point) -> bool:
        return not a[2]

    def neg(self, a: G1Point) -> G1Point:
        return a[0], -a[1] % self.p, a[2]

    def neg_affine(self, a: G1Aff) -> G1Aff:
        return a[0], -a[1] % self.p

    def double(self, a: G1Point) -> G1Point:
        p = self.p
        x, y, z = a
        xx = x * x % p
        yy = y * y % p
        yyyy = yy * yy % p
        d = 2 * ((x + yy) ** 2 - xx - yyyy) % p
        e = 3 * xx
        x3 = (e * e - 2 * d) % p
        return x3, (e * (d - x3) - 8 * yyyy) % p, 2 * y * z % p

    def add_affine(self, a: G1Point, b: G1Aff) -> G1Point:
        p = self.p
        x1, y1, z1 = a
        if not z1:
            return b[0], b[1], self.one
        x2, y2 = b
        z1z1 = z1 * z1 % p
        h = (x2 * z1z1 - x1) % p
        r = (y2 * z1 * z1z1 - y1) % p
        if not h:
            return self.double(a) if not r else self.identity
        hh = h * h % p
        hhh = h * hh  # H^3 and V stay unreduced: they only feed sums reduced just below (~6% faster)
        v = x1 * hh
        x3 = (r * r - hhh - 2 * v) % p
        return x3, (r * (v - x3) - y1 * hhh) % p, z1 * h % p

    def add_affine_batch(self, lefts: Sequence[G1Aff], rights: Sequence[G1Aff]) -> list[G1Aff | None]:
        # Montgomery's trick fused with the additions: a forward pass multiplies up the
        # x-differences, a backward pass peels one inverse off per pair and uses it at once.
        p = self.p
        dxs, prefix = [], []
        acc = self.one
        for a, b in zip(lefts, rights):
            d = (b[0] - a[0]) % p
            dxs.append(d)
            prefix.append(acc)
            if d:
                acc = acc * d % p
        inv = pow(acc, -1, p)  # 1 / (product of all nonzero differences)
        out: list[G1Aff | None] = [None] * len(dxs)
        for i in range(len(dxs) - 1, -1, -1):
            d, a, b = dxs[i], lefts[i], rights[i]
            if not d:  # doubling or cancellation: rare, so the Jacobian path will do
                out[i] = self.to_affine(self.add_affine(self.from_affine(a), b))
                continue
            d_inv = inv * prefix[i] % p
            inv = inv * d % p
            x1, y1 = a
            lam = (b[1] - y1) * d_inv % p
            x3 = (lam * lam - x1 - b[0]) % p
            out[i] = (x3, (lam * (x1 - x3) - y1) % p)
        return out

    def add(self, a: G1Point, b: G1Point) -> G1Point:
        p = self.p
        x1, y1, z1 = a
        x2, y2, z2 = b
        if not z1:
            return b
        if not z2:
            return a
        z1z1 = z1 * z1 % p
        z2z2 = z2 * z2 % p
        u1 = x1 * z2z2 % p
        s1 = y1 * z2 * z2z2 % p
        h = (x2 * z1z1 - u1) % p
        r = (y2 * z1 * z1z1 - s1) % p
        if not h:
            return self.double(a) if not r else self.identity
        hh = h * h % p
        hhh = h * hh % p
        v = u1 * hh % p
        x3 = (r * r - hhh - 2 * v) % p
        return x3, (r * (v - x3) - s1 * hhh) % p, z1 * z2 % p * h % p

    def eq(self, a: G1Point, b: G1Point) -> bool:
        p = self.p
        x1, y1, z1 = a
        x2, y2, z2 = b
        if not z1 or not z2:
            return not z1 and not z2
        z1z1 = z1 * z1
        z2z2 = z2 * z2
        return bool((x1 * z2z2 - x2 * z1z1) % p == 0 and (y1 * z2z2 * z2 - y2 * z1z1 * z1) % p == 0)

    def on_curve(self, a: G1Point) -> bool:
        p = self.p
        x, y, z = a
        z2 = z * z % p
        return bool((y * y - x * x * x - self.b * z2 * z2 * z2) % p == 0)

    def normalize_many(self, points: Sequence[G1Point]) -> list[G1Aff | None]:
        p = self.p
        one = self.one
        zs = [pt[2] or one for pt in points]  # identities get a dummy 1: one inversion for the rest
        out: list[G1Aff | None] = []
        for (x, y, z), zi in zip(points, fp_batch_inverse(zs, p)):
            if not z:
                out.append(None)
            elif z == 1:
                out.append((x, y))
            else:
                zi2 = zi * zi % p
                out.append((x * zi2 % p, y * zi2 * zi % p))
        return out


G2Point = tuple[Fp2, Fp2, Fp2]
G2Aff = tuple[Fp2, Fp2]


def f2_mul(a: Fp2, b: Fp2, p: Num) -> Fp2:
    a0, a1 = a
    b0, b1 = b
    t0 = a0 * b0
    t1 = a1 * b1
    return (t0 - t1) % p, ((a0 + a1) * (b0 + b1) - t0 - t1) % p  # Karatsuba: 3 products


def f2_sqr(a: Fp2, p: Num) -> Fp2:
    a0, a1 = a
    return (a0 + a1) * (a0 - a1) % p, 2 * a0 * a1 % p


def f2_sub(a: Fp2, b: Fp2, p: Num) -> Fp2:
    return (a[0] - b[0]) % p, (a[1] - b[1]) % p


def f2_batch_inverse(values: Sequence[Fp2], p: Num) -> list[Fp2]:
    """Inverses of nonzero elements of F_p2: 1/(a0 + a1 u) = (a0 - a1 u) / (a0^2 + a1^2)
    since u^2 = -1, so one F_p batch inversion of the norms serves them all."""
    norms = fp_batch_inverse([(a0 * a0 + a1 * a1) % p for a0, a1 in values], p)
    return [(a0 * n % p, -a1 * n % p) for (a0, a1), n in zip(values, norms)]


class G2Group(JacobianGroup[G2Point, G2Aff]):
    def __init__(self, p: int, b: tuple[int, int], num: Callable[[int], Num] = int):
        self.p = num(p)
        self.b = (num(b[0]), num(b[1]))
        self.zero = (num(0), num(0))
        self.one = (num(1), num(0))
        self.identity = (self.one, self.one, self.zero)

    def from_affine(self, a: G2Aff) -> G2Point:
        return a[0], a[1], self.one

    def is_identity(self, a: G2Point) -> bool:
        z = a[2]
        return not z[0] and not z[1]

    def neg(self, a: G2Point) -> G2Point:
        y = a[1]
        return a[0], (-y[0] % self.p, -y[1] % self.p), a[2]

    def neg_affine(self, a: G2Aff) -> G2Aff:
        y = a[1]
        return a[0], (-y[0] % self.p, -y[1] % self.p)

    def double(self, a: G2Point) -> G2Point:
        p = self.p
        x, y, z = a
        xx = f2_sqr(x, p)
        yy = f2_sqr(y, p)
        yyyy = f2_sqr(yy, p)
        s = f2_sqr(((x[0] + yy[0]) % p, (x[1] + yy[1]) % p), p)
        d = (2 * (s[0] - xx[0] - yyyy[0]) % p, 2 * (s[1] - xx[1] - yyyy[1]) % p)
        e = (3 * xx[0] % p, 3 * xx[1] % p)
        ee = f2_sqr(e, p)
        x3 = ((ee[0] - 2 * d[0]) % p, (ee[1] - 2 * d[1]) % p)
        t = f2_mul(e, f2_sub(d, x3, p), p)
        y3 = ((t[0] - 8 * yyyy[0]) % p, (t[1] - 8 * yyyy[1]) % p)
        yz = f2_mul(y, z, p)
        return x3, y3, (2 * yz[0] % p, 2 * yz[1] % p)

    def add_affine(self, a: G2Point, b: G2Aff) -> G2Point:
        # The bulk of a G2 MSM, so the F_p2 arithmetic is written out: schoolbook products
        # (4 multiplications, fewer Python operations than Karatsuba's 3) and no helper calls,
        # about 1.6x faster than composing f2_mul/f2_sqr/f2_sub.
        p = self.p
        (x10, x11), (y10, y11), (z0, z1) = a
        if not z0 and not z1:
            return b[0], b[1], self.one
        (x20, x21), (y20, y21) = b
        zz0 = (z0 + z1) * (z0 - z1) % p  # Z1^2
        zz1 = 2 * z0 * z1 % p
        h0 = (x20 * zz0 - x21 * zz1 - x10) % p  # H = X2 Z1^2 - X1
        h1 = (x20 * zz1 + x21 * zz0 - x11) % p
        zzz0 = (z0 * zz0 - z1 * zz1) % p  # Z1^3
        zzz1 = (z0 * zz1 + z1 * zz0) % p
        r0 = (y20 * zzz0 - y21 * zzz1 - y10) % p  # r = Y2 Z1^3 - Y1
        r1 = (y20 * zzz1 + y21 * zzz0 - y11) % p
        if not h0 and not h1:
            return self.double(a) if not r0 and not r1 else self.identity
        hh0 = (h0 + h1) * (h0 - h1) % p  # H^2
        hh1 = 2 * h0 * h1 % p
        hhh0 = h0 * hh0 - h1 * hh1  # H^3 and V unreduced: they only feed reduced sums
        hhh1 = h0 * hh1 + h1 * hh0
        v0 = x10 * hh0 - x11 * hh1  # V = X1 H^2
        v1 = x10 * hh1 + x11 * hh0
        x30 = ((r0 + r1) * (r0 - r1) - hhh0 - 2 * v0) % p  # X3 = r^2 - H^3 - 2V
        x31 = (2 * r0 * r1 - hhh1 - 2 * v1) % p
        t0, t1 = v0 - x30, v1 - x31
        y30 = (r0 * t0 - r1 * t1 - y10 * hhh0 + y11 * hhh1) % p  # Y3 = r (V - X3) - Y1 H^3
        y31 = (r0 * t1 + r1 * t0 - y10 * hhh1 - y11 * hhh0) % p
        return (x30, x31), (y30, y31), ((z0 * h0 - z1 * h1) % p, (z0 * h1 + z1 * h0) % p)

    def add_affine_batch(self, lefts: Sequence[G2Aff], rights: Sequence[G2Aff]) -> list[G2Aff | None]:
        # As in G1, over the F_p norms of the x-differences: 1/d = conj(d) / norm(d).
        p = self.p
        dxs, prefix = [], []
        acc = self.one[0]
        for a, b in zip(lefts, rights):
            d = f2_sub(b[0], a[0], p)
            norm = (d[0] * d[0] + d[1] * d[1]) % p
            dxs.append((d, norm))
            prefix.append(acc)
            if norm:
                acc = acc * norm % p
        inv = pow(acc, -1, p)
        out: list[G2Aff | None] = [None] * len(dxs)
        for i in range(len(dxs) - 1, -1, -1):
            (d0, d1), norm = dxs[i]
            a, b = lefts[i], rights[i]
            if not norm:  # doubling or cancellation: rare, so the Jacobian path will do
                out[i] = self.to_affine(self.add_affine(self.from_affine(a), b))
                continue
            n_inv = inv * prefix[i] % p
            inv = inv * norm % p
            x1, y1 = a
            x2 = b[0]
            lam = f2_mul(f2_sub(b[1], y1, p), (d0 * n_inv % p, -d1 * n_inv % p), p)
            ll = f2_sqr(lam, p)
            x3 = ((ll[0] - x1[0] - x2[0]) % p, (ll[1] - x1[1] - x2[1]) % p)
            out[i] = (x3, f2_sub(f2_mul(lam, f2_sub(x1, x3, p), p), y1, p))
        return out

    def add(self, a: G2Point, b: G2Point) -> G2Point:
        # written out like add_affine (the bucket sums of an MSM use it)
        p = self.p
        (x10, x11), (y10, y11), (z10, z11) = a
        (x20, x21), (y20, y21), (z20, z21) = b
        if not z10 and not z11:
            return b
        if not z20 and not z21:
            return a
        a0 = (z10 + z11) * (z10 - z11) % p  # Z1^2
        a1 = 2 * z10 * z11 % p
        b0 = (z20 + z21) * (z20 - z21) % p  # Z2^2
        b1 = 2 * z20 * z21 % p
        u0 = (x10 * b0 - x11 * b1) % p  # U1 = X1 Z2^2
        u1 = (x10 * b1 + x11 * b0) % p
        c0 = (z20 * b0 - z21 * b1) % p  # Z2^3
        c1 = (z20 * b1 + z21 * b0) % p
        s0 = (y10 * c0 - y11 * c1) % p  # S1 = Y1 Z2^3
        s1 = (y10 * c1 + y11 * c0) % p
        h0 = (x20 * a0 - x21 * a1 - u0) % p  # H = X2 Z1^2 - U1
        h1 = (x20 * a1 + x21 * a0 - u1) % p
        c0 = (z10 * a0 - z11 * a1) % p  # Z1^3
        c1 = (z10 * a1 + z11 * a0) % p
        r0 = (y20 * c0 - y21 * c1 - s0) % p  # r = Y2 Z1^3 - S1
        r1 = (y20 * c1 + y21 * c0 - s1) % p
        if not h0 and not h1:
            return self.double(a) if not r0 and not r1 else self.identity
        hh0 = (h0 + h1) * (h0 - h1) % p
        hh1 = 2 * h0 * h1 % p
        hhh0 = (h0 * hh0 - h1 * hh1) % p
        hhh1 = (h0 * hh1 + h1 * hh0) % p
        v0 = (u0 * hh0 - u1 * hh1) % p  # V = U1 H^2
        v1 = (u0 * hh1 + u1 * hh0) % p
        x30 = ((r0 + r1) * (r0 - r1) - hhh0 - 2 * v0) % p
        x31 = (2 * r0 * r1 - hhh1 - 2 * v1) % p
        t0, t1 = v0 - x30, v1 - x31
        y30 = (r0 * t0 - r1 * t1 - s0 * hhh0 + s1 * hhh1) % p  # Y3 = r (V - X3) - S1 H^3
        y31 = (r0 * t1 + r1 * t0 - s0 * hhh1 - s1 * hhh0) % p
        zz0 = (z10 * z20 - z11 * z21) % p
        zz1 = (z10 * z21 + z11 * z20) % p
        return (x30, x31), (y30, y31), ((zz0 * h0 - zz1 * h1) % p, (zz0 * h1 + zz1 * h0) % p)

    def eq(self, a: G2Point, b: G2Point) -> bool:
        p = self.p
        a_inf, b_inf = self.is_identity(a), self.is_identity(b)
        if a_inf or b_inf:
            return a_inf and b_inf
        x1, y1, z1 = a
        x2, y2, z2 = b
        z1z1 = f2_sqr(z1, p)
        z2z2 = f2_sqr(z2, p)
        return f2_mul(x1, z2z2, p) == f2_mul(x2, z1z1, p) and f2_mul(y1, f2_mul(z2, z2z2, p), p) == f2_mul(
            y2, f2_mul(z1, z1z1, p), p
        )

    def on_curve(self, a: G2Point) -> bool:
        p = self.p
        x, y, z = a
        z2 = f2_sqr(z, p)
        z6 = f2_mul(f2_sqr(z2, p), z2, p)
        rhs = f2_mul(f2_sqr(x, p), x, p)
        bz6 = f2_mul(self.b, z6, p)
        return f2_sqr(y, p) == ((rhs[0] + bz6[0]) % p, (rhs[1] + bz6[1]) % p)

    def normalize_many(self, points: Sequence[G2Point]) -> list[G2Aff | None]:
        p = self.p
        one = self.one
        zs = [one if self.is_identity(pt) else pt[2] for pt in points]
        out: list[G2Aff | None] = []
        for pt, zi in zip(points, f2_batch_inverse(zs, p)):
            x, y, z = pt
            if self.is_identity(pt):
                out.append(None)
            elif z == one:
                out.append((x, y))
            else:
                zi2 = f2_sqr(zi, p)
                out.append((f2_mul(x, zi2, p), f2_mul(y, f2_mul(zi2, zi, p), p)))
        return out
