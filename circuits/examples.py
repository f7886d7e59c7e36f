"""Two small statements for interoperability checks and benchmarks."""

from __future__ import annotations

from typing import Any

from circuits.base import Circuit, Inputs, PublicInput
from circuits.common import deferred
from zkmargin.constraints import ConstraintSystem


class Mult(Circuit):
    """I know a with a * b = c. Public inputs in snarkjs order: the output c, then b."""

    name = "mult"
    description = "private a, public b, public output c = a*b (the snarkjs/circom example)"
    public_layout = (
        PublicInput("c", "the product a * b (circom's output signal comes first)"),
        PublicInput("b", "the public factor"),
    )

    def define(self, cs: ConstraintSystem, inputs: Inputs | None) -> None:
        a_value, b_value = deferred(inputs, "a"), deferred(inputs, "b")
        public = None if inputs is None else {"c": lambda: a_value() * b_value(), "b": b_value}
        pub = self.allocate_public(cs, public)
        a = cs.private("a", a_value, existential=True)
        cs.enforce(a, pub["b"], pub["c"], "c = a * b")


class Chain(Circuit):
    """I know x with x^(2^m) = y: m squarings, sized so the QAP domain is exactly 2^log2."""

    name = "chain"
    description = "a chain of squarings filling a 2^K domain (benchmarks)"
    public_layout = (PublicInput("y", "x^(2^m), m the number of squarings"),)

    def __init__(self, log2: int = 10):
        if not 2 <= log2 <= 24:
            raise ValueError(f"chain --log2 must be between 2 and 24, got {log2}")
        self.log2 = log2

    def parameters(self) -> dict[str, Any]:
        return {"log2": self.log2}

    @property
    def squarings(self) -> int:
        # m constraints + 1 public input + the constant fill the domain exactly
        return (1 << self.log2) - 2

    def define(self, cs: ConstraintSystem, inputs: Inputs | None) -> None:
        m = self.squarings
        y_value = None
        if inputs is not None:
            y_value = inputs["x"] % cs.r
            for _ in range(m):
                y_value = y_value * y_value % cs.r
        y = self.allocate_public(cs, None if inputs is None else {"y": y_value})["y"]
        x = cs.private("x", deferred(inputs, "x"), existential=True)
        current = x
        for i in range(m - 1):
            current = cs.mul(current, current, f"x^(2^{i + 1})")
        cs.enforce(current, current, y, f"y = x^(2^{m})")
