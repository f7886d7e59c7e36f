"""Two small statements for interoperability checks and benchmarks."""

from __future__ import annotations

from typing import Any

from circuits.base import Circuit, Inputs
from zkmargin.constraints import ConstraintSystem


class Mult(Circuit):
    """I know a with a * b = c. Public inputs in snarkjs order: the output c, then b."""

    name = "mult"
    description = "private a, public b, public output c = a*b (the snarkjs/circom example)"

    def define(self, cs: ConstraintSystem, inputs: Inputs | None) -> None:
        c = cs.public("c", lambda: inputs["a"] * inputs["b"])
        b = cs.public("b", lambda: inputs["b"])
        a = cs.private("a", lambda: inputs["a"], existential=True)
        cs.enforce(a, b, c, "c = a * b")


class Chain(Circuit):
    """I know x with x^(2^m) = y: m squarings, sized so the QAP domain is exactly 2^log2."""

    name = "chain"
    description = "a chain of squarings filling a 2^K domain (benchmarks)"

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
        y = cs.public("y", y_value)
        x = cs.private("x", lambda: inputs["x"], existential=True)
        current = x
        for i in range(m - 1):
            current = cs.mul(current, current, f"x^(2^{i + 1})")
        cs.enforce(current, current, y, f"y = x^(2^{m})")
