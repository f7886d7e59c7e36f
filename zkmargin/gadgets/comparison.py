"""Comparisons of bounded integers.

Field elements have no order; these gadgets compare integers that the caller has already
bounded to [0, 2^n). With n <= max_bits - 1, the shifted difference ``a - b + 2^n`` lies in
[1, 2^(n+1)) and never wraps around r, so its top bit is the comparison result.
"""

from __future__ import annotations

from zkmargin.constraints import LC, ConstraintSystem, LCLike
from zkmargin.gadgets.bits import max_bits, range_check, to_bits


def _check_bound(cs: ConstraintSystem, n: int) -> None:
    if not 1 <= n <= max_bits(cs) - 1:
        raise ValueError(f"comparison width must be 1..{max_bits(cs) - 1} bits, got {n}")


def less_than(cs: ConstraintSystem, a: LCLike, b: LCLike, n: int, label: str) -> LC:
    """1 if a < b else 0, for a, b already proven to lie in [0, 2^n). n + 2 constraints."""
    _check_bound(cs, n)
    shifted = LC.of(a) - b + (1 << n)
    bits = to_bits(cs, shifted, n + 1, label)
    return 1 - bits[n]


def less_or_equal(cs: ConstraintSystem, a: LCLike, b: LCLike, n: int, label: str) -> LC:
    """1 if a <= b else 0, for a, b in [0, 2^n): the negation of b < a."""
    return 1 - less_than(cs, b, a, n, label)


def assert_less_than(cs: ConstraintSystem, a: LCLike, b: LCLike, n: int, label: str) -> None:
    """a < b for a, b in [0, 2^n): b - a - 1 is in [0, 2^n). n + 1 constraints."""
    _check_bound(cs, n)
    range_check(cs, LC.of(b) - a - 1, n, label)


def assert_less_or_equal(cs: ConstraintSystem, a: LCLike, b: LCLike, n: int, label: str) -> None:
    """a <= b for a, b in [0, 2^n): b - a is in [0, 2^n). n + 1 constraints."""
    _check_bound(cs, n)
    range_check(cs, LC.of(b) - a, n, label)


def assert_nonnegative(cs: ConstraintSystem, x: LCLike, n: int, label: str) -> None:
    """x, read as a signed integer, is in [0, 2^n): the wrapped image of a negative fails."""
    range_check(cs, x, n, label)
