"""Zero tests and equality."""

from __future__ import annotations

from zkmargin.constraints import LC, ConstraintSystem, LCLike


def is_zero(cs: ConstraintSystem, x: LCLike, label: str) -> LC:
    """1 if x == 0 else 0. Two constraints: x * inv = 1 - out and x * out = 0.

    If x != 0 the second forces out = 0 and the first then needs inv = 1/x; if x == 0 the first
    forces out = 1. ``inv`` is advice: any value works when x == 0, and nothing else reads it.
    """
    x = LC.of(x)
    with cs.namespace(label):
        inv = cs.private("inverse", lambda: pow(cs.value(x), -1, cs.r) if cs.value(x) else 0, advice=True)
        out = cs.private("is zero", lambda: 0 if cs.value(x) else 1)
        cs.enforce(x, inv, 1 - out, "x * inverse = 1 - out")
        cs.enforce(x, out, 0, "x * out = 0")
        cs.declare_determined([out], [x], "is-zero output is a function of x")
    return out


def is_equal(cs: ConstraintSystem, a: LCLike, b: LCLike, label: str) -> LC:
    """1 if a == b else 0."""
    return is_zero(cs, LC.of(a) - b, label)


def assert_equal(cs: ConstraintSystem, a: LCLike, b: LCLike, label: str) -> None:
    cs.enforce_equal(a, b, label)


def assert_nonzero(cs: ConstraintSystem, x: LCLike, label: str) -> None:
    """x != 0, by exhibiting its inverse (one constraint)."""
    x = LC.of(x)
    inv = cs.private(f"{label}/inverse", lambda: pow(cs.value(x), -1, cs.r) if cs.value(x) else 0)
    cs.enforce(x, inv, 1, f"{label} is nonzero")
    cs.declare_determined([inv], [x], "a field element has one inverse")
