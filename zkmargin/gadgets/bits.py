"""Bit decomposition and n-bit range checks.

A decomposition into n bits is unique only if 2^n < r; ``max_bits`` guards that, so a value
can never be decomposed into the bits of ``value + r``.
"""

from __future__ import annotations

from collections.abc import Callable

from zkmargin.constraints import LC, ConstraintSystem, LCLike, lc_sum
from zkmargin.gadgets.boolean import boolean


def max_bits(cs: ConstraintSystem) -> int:
    """The largest n with 2^n < r (254 on BLS12-381, 253 on BN254)."""
    return cs.r.bit_length() - 1


def _check_width(cs: ConstraintSystem, n: int) -> None:
    if not 1 <= n <= max_bits(cs):
        raise ValueError(f"bit width must be 1..{max_bits(cs)} on {cs.curve.name}, got {n}")


def to_bits(cs: ConstraintSystem, x: LCLike, n: int, label: str) -> list[LC]:
    """Little-endian bits b_0..b_{n-1} with sum b_i 2^i = x; proves 0 <= x < 2^n.

    n booleanity constraints plus one linear constraint.
    """
    _check_width(cs, n)
    x = LC.of(x)
    with cs.namespace(label):
        bits = [boolean(cs, f"bit {i}", _bit_of(cs, x, i)) for i in range(n)]
        cs.enforce_equal(lc_sum([b * (1 << i) for i, b in enumerate(bits)]), x, "bits recompose the value")
    return bits


def range_check(cs: ConstraintSystem, x: LCLike, n: int, label: str) -> None:
    """Prove 0 <= x < 2^n (as integers in [0, r)). Costs n + 1 constraints."""
    to_bits(cs, x, n, label)


def from_bits(bits: list[LC]) -> LC:
    """sum b_i 2^i (free: linear)."""
    return lc_sum([b * (1 << i) for i, b in enumerate(bits)])


def _bit_of(cs: ConstraintSystem, x: LC, i: int) -> Callable[[], int]:
    """Bit i of x's value, read only when the witness is assigned."""
    return lambda: (cs.value(x) >> i) & 1
