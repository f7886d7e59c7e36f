"""Booleans: field elements constrained to {0, 1}."""

from __future__ import annotations

from zkmargin.constraints import LC, ConstraintSystem, LCLike, Value


def assert_boolean(cs: ConstraintSystem, x: LC, label: str) -> None:
    """x * (x - 1) = 0, the shape the audit recognises as booleanity."""
    cs.enforce(x, x - 1, 0, f"{label} is boolean")


def boolean(cs: ConstraintSystem, name: str, value: Value = None) -> LC:
    """A new private variable constrained to 0 or 1."""
    bit = cs.private(name, value)
    assert_boolean(cs, bit, name)
    return bit


def not_(x: LCLike) -> LC:
    """1 - x (free: linear); x must already be boolean."""
    return 1 - LC.of(x)


def and_(cs: ConstraintSystem, a: LCLike, b: LCLike, label: str) -> LC:
    """a AND b for booleans a, b: one constraint."""
    return cs.mul(a, b, label)


def or_(cs: ConstraintSystem, a: LCLike, b: LCLike, label: str) -> LC:
    """a OR b = a + b - a*b for booleans a, b: one constraint."""
    return LC.of(a) + b - cs.mul(a, b, label)
