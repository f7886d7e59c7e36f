"""Signed integers as sign + magnitude.

A signed integer v with -2^n <= v < 2^n is written ``v = m - s*(2m + 1)`` with a sign bit s and
m in [0, 2^n): s = 0, m = v for v >= 0; s = 1, m = -v - 1 for v < 0. Every v has exactly one
such (s, m) as long as 2^(n+1) < r, so even zero has a single sign, and ``|v| = m + s``.
A field element that is not the image of such a v (say r - 2^200 with n = 64) has none, so
the constraints cannot be met.
"""

from __future__ import annotations

from dataclasses import dataclass

from zkmargin.constraints import LC, ConstraintSystem, LCLike, Value
from zkmargin.gadgets.bits import max_bits, range_check
from zkmargin.gadgets.boolean import boolean


@dataclass(frozen=True)
class SignedInt:
    value: LC  # v as a field element (negative values wrap to r - |v|)
    sign: LC  # 1 if v < 0
    offset_magnitude: LC  # m; |v| = m + sign
    bits: int  # v in [-2^bits, 2^bits)

    @property
    def abs(self) -> LC:
        return self.offset_magnitude + self.sign


def _check_width(cs: ConstraintSystem, n: int) -> None:
    if not 1 <= n <= max_bits(cs) - 2:
        raise ValueError(f"signed width must be 1..{max_bits(cs) - 2} bits, got {n}")


def decompose_signed(cs: ConstraintSystem, x: LCLike, n: int, label: str) -> SignedInt:
    """Prove that x encodes a signed integer in [-2^n, 2^n) and expose its sign and |x|.

    n + 3 constraints (sign booleanity, the relation, and the n-bit range check of m).
    """
    _check_width(cs, n)
    x = LC.of(x)
    with cs.namespace(label):
        sign = boolean(cs, "sign", lambda: int(cs.field.signed(cs.value(x)) < 0))
        magnitude = cs.private("offset magnitude", lambda: _offset_magnitude(cs.field.signed(cs.value(x))))
        # v = m - s*(2m + 1)  <=>  s * (2m + 1) = m - v
        cs.enforce(sign, magnitude * 2 + 1, magnitude - x, "value = m - sign*(2m+1)")
        range_check(cs, magnitude, n, "magnitude range")
        cs.declare_determined([sign, magnitude], [x], "sign and magnitude are unique for |v| < r/2")
    return SignedInt(x, sign, magnitude, n)


def signed_input(cs: ConstraintSystem, name: str, value: Value, n: int) -> SignedInt:
    """A private signed integer in [-2^n, 2^n), allocated from a Python int (negatives welcome)."""
    var = cs.private(name, value)
    return decompose_signed(cs, var, n, f"{name} sign")


def abs_value(cs: ConstraintSystem, x: LCLike, n: int, label: str) -> LC:
    """|x| for x encoding a signed integer in [-2^n, 2^n)."""
    return decompose_signed(cs, x, n, label).abs


def _offset_magnitude(v: int) -> int:
    return v if v >= 0 else -v - 1
