"""The contract every curve backend fulfils.

A backend owns the representation of G1 and G2 points (opaque objects to everyone else)
and does all group work: arithmetic, multi-scalar multiplication, multi-pairing checks,
encodings and validation. Scalars cross this boundary as Python ints in ``[0, r)``.

Affine coordinates are plain ints: G1 ``(x, y)``, G2 ``((x0, x1), (y0, y1))`` meaning
``x0 + x1*u``; ``None`` is the point at infinity.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from zkmargin.curves import Curve
from zkmargin.errors import MalformedInputError

G1Affine = tuple[int, int]
Fp2 = tuple[int, int]
G2Affine = tuple[Fp2, Fp2]
G1 = Any  # a backend's own point objects
G2 = Any
GT = Any  # a backend's own target-group elements


def fp2_mul(a: Fp2, b: Fp2, p: int) -> Fp2:
    # F_p2 = F_p[u] / (u^2 + 1) on both supported curves
    return ((a[0] * b[0] - a[1] * b[1]) % p, (a[0] * b[1] + a[1] * b[0]) % p)


def g1_on_curve(curve: Curve, xy: G1Affine) -> bool:
    x, y = xy
    p = curve.p
    return (y * y - x * x * x - curve.g1_b) % p == 0


def g2_on_curve(curve: Curve, xy: G2Affine) -> bool:
    x, y = xy
    p = curve.p
    y2 = fp2_mul(y, y, p)
    x3 = fp2_mul(fp2_mul(x, x, p), x, p)
    return (y2[0] - x3[0] - curve.g2_b[0]) % p == 0 and (y2[1] - x3[1] - curve.g2_b[1]) % p == 0


class Backend(ABC):
    """Group operations of one curve. Subclasses implement the ``_``-free abstract methods."""

    name: str
    curve: Curve
    releases_gil: bool = False  # may the prover run this backend's MSMs on several threads?

    # --- constants -------------------------------------------------------------------
    @abstractmethod
    def g1_generator(self) -> G1: ...

    @abstractmethod
    def g2_generator(self) -> G2: ...

    @abstractmethod
    def g1_identity(self) -> G1: ...

    @abstractmethod
    def g2_identity(self) -> G2: ...

    # --- arithmetic ------------------------------------------------------------------
    @abstractmethod
    def g1_add(self, a: G1, b: G1) -> G1: ...

    @abstractmethod
    def g2_add(self, a: G2, b: G2) -> G2: ...

    @abstractmethod
    def g1_neg(self, a: G1) -> G1: ...

    @abstractmethod
    def g2_neg(self, a: G2) -> G2: ...

    @abstractmethod
    def g1_mul(self, a: G1, k: int) -> G1: ...

    @abstractmethod
    def g2_mul(self, a: G2, k: int) -> G2: ...

    @abstractmethod
    def g1_eq(self, a: G1, b: G1) -> bool: ...

    @abstractmethod
    def g2_eq(self, a: G2, b: G2) -> bool: ...

    @abstractmethod
    def g1_msm(self, points: Sequence[G1], scalars: Sequence[int]) -> G1:
        """sum_i scalars[i] * points[i]; scalars are ints in [0, r)."""

    @abstractmethod
    def g2_msm(self, points: Sequence[G2], scalars: Sequence[int]) -> G2: ...

    def g1_batch_mul(self, base: G1, scalars: Sequence[int]) -> list[G1]:
        """[k * base for k in scalars]: the fixed-base work of a trusted setup."""
        return [self.g1_mul(base, k) for k in scalars]

    def g2_batch_mul(self, base: G2, scalars: Sequence[int]) -> list[G2]:
        return [self.g2_mul(base, k) for k in scalars]

    @abstractmethod
    def pairing_check(self, g1s: Sequence[G1], g2s: Sequence[G2]) -> bool:
        """True iff prod_i e(g1s[i], g2s[i]) == 1 in G_T (one final exponentiation)."""

    @abstractmethod
    def pairing_product(self, g1s: Sequence[G1], g2s: Sequence[G2]) -> GT:
        """prod_i e(g1s[i], g2s[i]) in G_T: one Miller loop per pair, one final exponentiation."""

    def gt_eq(self, a: GT, b: GT) -> bool:
        return bool(a == b)

    # --- affine coordinates ----------------------------------------------------------
    @abstractmethod
    def g1_to_affine(self, a: G1) -> G1Affine | None: ...

    @abstractmethod
    def g2_to_affine(self, a: G2) -> G2Affine | None: ...

    @abstractmethod
    def _g1_from_affine_unchecked(self, xy: G1Affine) -> G1:
        """Build a point from coordinates already known to be on the curve."""

    @abstractmethod
    def _g2_from_affine_unchecked(self, xy: G2Affine) -> G2: ...

    @abstractmethod
    def g1_in_subgroup(self, a: G1) -> bool: ...

    @abstractmethod
    def g2_in_subgroup(self, a: G2) -> bool: ...

    def g1_from_affine(self, xy: G1Affine | None, *, what: str = "G1 point") -> G1:
        """A validated G1 point: coordinates below p, on the curve, in the prime-order subgroup."""
        if xy is None:
            return self.g1_identity()
        x, y = xy
        self._check_coordinates((x, y), what)
        if not g1_on_curve(self.curve, (x, y)):
            raise MalformedInputError(f"{what} is not on the {self.curve.name} G1 curve")
        point = self._g1_from_affine_unchecked((x, y))
        if not self.g1_in_subgroup(point):
            raise MalformedInputError(f"{what} is not in the prime-order subgroup of G1")
        return point

    def g2_from_affine(self, xy: G2Affine | None, *, what: str = "G2 point") -> G2:
        if xy is None:
            return self.g2_identity()
        (x0, x1), (y0, y1) = xy
        self._check_coordinates((x0, x1, y0, y1), what)
        if not g2_on_curve(self.curve, ((x0, x1), (y0, y1))):
            raise MalformedInputError(f"{what} is not on the {self.curve.name} G2 curve")
        point = self._g2_from_affine_unchecked(((x0, x1), (y0, y1)))
        if not self.g2_in_subgroup(point):
            raise MalformedInputError(f"{what} is not in the prime-order subgroup of G2")
        return point

    def _check_coordinates(self, coords: Sequence[int], what: str) -> None:
        for c in coords:
            if not isinstance(c, int) or isinstance(c, bool):
                raise MalformedInputError(f"{what}: coordinates must be integers")
            if not 0 <= c < self.curve.p:
                raise MalformedInputError(f"{what}: coordinate is not below the base field modulus p")

    def g1_is_identity(self, a: G1) -> bool:
        return self.g1_to_affine(a) is None

    def g2_is_identity(self, a: G2) -> bool:
        return self.g2_to_affine(a) is None

    # --- raw encodings (proving-key files) ---------------------------------------------
    # One layout for every backend so key files move between them: little-endian coordinates,
    # G1 x || y, G2 x0 || x1 || y0 || y1 (arkworks' own xy layout); all zeros is infinity.
    def g1_to_bytes(self, a: G1) -> bytes:
        n = self.curve.base_bytes
        xy = self.g1_to_affine(a)
        if xy is None:
            return bytes(2 * n)
        return xy[0].to_bytes(n, "little") + xy[1].to_bytes(n, "little")

    def g2_to_bytes(self, a: G2) -> bytes:
        n = self.curve.base_bytes
        xy = self.g2_to_affine(a)
        if xy is None:
            return bytes(4 * n)
        (x0, x1), (y0, y1) = xy
        return b"".join(c.to_bytes(n, "little") for c in (x0, x1, y0, y1))

    def g1_from_bytes_unchecked(self, data: bytes) -> G1:
        """Inverse of g1_to_bytes for trusted data (integrity-checked key files)."""
        n = self.curve.base_bytes
        if not any(data):
            return self.g1_identity()
        return self._g1_from_affine_unchecked((int.from_bytes(data[:n], "little"), int.from_bytes(data[n:], "little")))

    def g2_from_bytes_unchecked(self, data: bytes) -> G2:
        n = self.curve.base_bytes
        if not any(data):
            return self.g2_identity()
        x0, x1, y0, y1 = (int.from_bytes(data[i * n : (i + 1) * n], "little") for i in range(4))
        return self._g2_from_affine_unchecked(((x0, x1), (y0, y1)))

    def g1_from_bytes(self, data: bytes, *, what: str = "G1 point") -> G1:
        """Inverse of g1_to_bytes for untrusted data: on the curve and in the subgroup, or an error."""
        n = self.curve.base_bytes
        if len(data) != 2 * n:
            raise MalformedInputError(f"{what}: expected {2 * n} bytes, got {len(data)}")
        if not any(data):
            return self.g1_identity()
        return self.g1_from_affine((int.from_bytes(data[:n], "little"), int.from_bytes(data[n:], "little")), what=what)

    def g2_from_bytes(self, data: bytes, *, what: str = "G2 point") -> G2:
        n = self.curve.base_bytes
        if len(data) != 4 * n:
            raise MalformedInputError(f"{what}: expected {4 * n} bytes, got {len(data)}")
        if not any(data):
            return self.g2_identity()
        x0, x1, y0, y1 = (int.from_bytes(data[i * n : (i + 1) * n], "little") for i in range(4))
        return self.g2_from_affine(((x0, x1), (y0, y1)), what=what)

    def g1_bytes_many_unchecked(self, data: bytes, count: int) -> list[G1]:
        step = 2 * self.curve.base_bytes
        return [self.g1_from_bytes_unchecked(data[i * step : (i + 1) * step]) for i in range(count)]

    def g2_bytes_many_unchecked(self, data: bytes, count: int) -> list[G2]:
        step = 4 * self.curve.base_bytes
        return [self.g2_from_bytes_unchecked(data[i * step : (i + 1) * step]) for i in range(count)]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} on {self.curve.name}>"
