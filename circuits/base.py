"""What every statement provides to the proving system and the CLI."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from zkmargin.constraints import ConstraintSystem
from zkmargin.curves import Curve, get_curve
from zkmargin.groth16.qap import QAPShape, qap_shape

Inputs = Mapping[str, Any]


class Circuit(ABC):
    """A statement written once: ``define`` yields the constraints and, given inputs, the witness."""

    name: str
    description: str

    @abstractmethod
    def define(self, cs: ConstraintSystem, inputs: Inputs | None) -> None:
        """Build the circuit on ``cs``; ``inputs`` is None during setup."""

    def parameters(self) -> dict[str, Any]:
        """Size parameters that change the circuit (part of its key directory name)."""
        return {}

    def key_name(self) -> str:
        params = "".join(f"-{k}{v}" for k, v in sorted(self.parameters().items()))
        return f"{self.name}{params}"

    def synthesize(self, curve: Curve | str | None = None, inputs: Inputs | None = None) -> ConstraintSystem:
        cs = ConstraintSystem(get_curve(curve), has_witness=inputs is not None)
        self.define(cs, inputs)
        return cs

    def shape(self, curve: Curve | str | None = None) -> QAPShape:
        return qap_shape(self.synthesize(curve))
