"""Conditional selection."""

from __future__ import annotations

from zkmargin.constraints import LC, ConstraintSystem, LCLike


def select(cs: ConstraintSystem, condition: LCLike, if_true: LCLike, if_false: LCLike, label: str) -> LC:
    """condition ? if_true : if_false, for a boolean ``condition`` (the caller constrains it).

    One constraint: condition * (if_true - if_false) = out - if_false.
    """
    t, f = LC.of(if_true), LC.of(if_false)
    out = cs.private(label, lambda: cs.value(t) if cs.value(condition) else cs.value(f))
    cs.enforce(condition, t - f, out - f, label)
    return out
