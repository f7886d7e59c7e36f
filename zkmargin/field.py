"""Scalar-field arithmetic over Python integers.

Field elements are plain ``int`` in ``[0, r)``. Integers are exact and, for 255-bit
moduli, CPython's arithmetic is as fast as any pure-Python representation.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

from zkmargin.curves import Curve, get_curve
from zkmargin.errors import MalformedInputError


def require_field_element(value: object, r: int | None, what: str) -> int:
    """``value`` as a canonical element of F_r: an int (never a bool) in [0, r), never reduced,
    since ``x`` and ``x + r`` are different statements. MalformedInputError otherwise. With ``r``
    None (the field is not known yet) only the type and the sign are checked."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise MalformedInputError(f"{what} must be an integer, not {type(value).__name__}")
    if value < 0:
        raise MalformedInputError(f"{what} is not in [0, r): it is negative")
    if r is not None and value >= r:
        raise MalformedInputError(f"{what} is not in [0, r): not below the scalar field modulus r")
    return value


def require_field_elements(values: Sequence[object], r: int | None, what: str) -> list[int]:
    """Every value canonical (see ``require_field_element``); errors name ``what[i]``."""
    return [require_field_element(v, r, f"{what}[{i}]") for i, v in enumerate(values)]


class ScalarField:
    """F_r of a pairing curve: reduction, inversion and roots of unity."""

    def __init__(self, curve: Curve | str | None = None):
        self.curve = get_curve(curve)
        self.r = self.curve.r

    def __repr__(self) -> str:
        return f"ScalarField({self.curve.name})"

    def reduce(self, value: int) -> int:
        """Map any integer (including negatives) to its residue; for the prover's own values."""
        return value % self.r

    def signed(self, value: int) -> int:
        """The representative of ``value`` in (-r/2, r/2]: how a small signed integer reads back."""
        value %= self.r
        return value - self.r if value > self.r // 2 else value

    def inv(self, value: int) -> int:
        if value % self.r == 0:
            raise ZeroDivisionError("inverse of zero in the scalar field")
        return pow(value, -1, self.r)

    def batch_inv(self, values: Sequence[int]) -> list[int]:
        """Montgomery's trick: n inversions for one inversion and 3(n-1) multiplications."""
        r = self.r
        prefix = [1] * (len(values) + 1)
        acc = 1
        for i, v in enumerate(values):
            if v % r == 0:
                raise ZeroDivisionError("inverse of zero in the scalar field")
            acc = acc * v % r
            prefix[i + 1] = acc
        inv_acc = pow(acc, -1, r)
        out = [0] * len(values)
        for i in range(len(values) - 1, -1, -1):
            out[i] = prefix[i] * inv_acc % r
            inv_acc = inv_acc * values[i] % r
        return out

    @cached_property
    def two_adic_root(self) -> int:
        """A primitive 2^s-th root of unity, s = two-adicity of r - 1."""
        s = self.curve.two_adicity
        return pow(self.curve.multiplicative_generator, (self.r - 1) >> s, self.r)

    def root_of_unity(self, size: int) -> int:
        """A primitive ``size``-th root of unity (``size`` a power of two)."""
        if size <= 0 or size & (size - 1):
            raise ValueError(f"domain size must be a power of two, got {size}")
        log_size = size.bit_length() - 1
        if log_size > self.curve.two_adicity:
            raise ValueError(
                f"a domain of 2^{log_size} exceeds the 2-adicity 2^{self.curve.two_adicity} of {self.curve.name}"
            )
        return pow(self.two_adic_root, 1 << (self.curve.two_adicity - log_size), self.r)
