"""What every statement provides to the proving system and the CLI.

A statement declares its public inputs once, as ``public_layout``: a tuple of
:class:`PublicInput` in the order the verifier supplies them. The constraint-system variables
(``allocate_public``), the checked and encoded vector the verifier builds (``public_vector``)
and the named view the witness builders hand to ``define`` (``name_public``) all come from it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from circuits.inputs import signal_values
from circuits.state import AccountState, BoundError, check_range
from zkmargin.constraints import LC, ConstraintSystem
from zkmargin.curves import Curve, get_curve
from zkmargin.errors import ConstraintSystemError
from zkmargin.groth16.qap import QAPShape, qap_shape

Inputs = Mapping[str, Any]
PublicValue = int | bool | Sequence[int]


@dataclass(frozen=True)
class PublicInput:
    """One entry of a statement's public-input layout.

    ``key`` names the value in the proving inputs' ``"public"`` dict; ``label`` is the
    constraint-system variable (``"{label} {m}"`` per market). A value lies in ``[low, high)``
    (``high`` None: any field element, below r); a negative bound means a signed value, encoded
    as ``value mod r``. A ``flag`` is a bool, encoded 0 or 1.
    """

    key: str
    doc: str
    low: int = 0
    high: int | None = None
    per_market: bool = False
    flag: bool = False
    label: str = ""
    noun: str = ""  # what error messages call it; the label by default

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", self.key.replace("_", " "))
        if not self.noun:
            object.__setattr__(self, "noun", self.label)

    def encode(self, value: Any, r: int, what: str) -> int:
        """The field element for ``value``, refused (BoundError) outside the declared bound."""
        if self.flag:
            if not isinstance(value, bool):
                raise BoundError(f"{self.key} must be a bool, got {value!r}")
            return int(value)
        return check_range(what, value, self.low, r if self.high is None else self.high) % r


@dataclass
class PublicVars:
    """A statement's public inputs inside its constraint system, by layout key."""

    scalars: dict[str, LC] = field(default_factory=dict)
    vectors: dict[str, list[LC]] = field(default_factory=dict)

    def __getitem__(self, key: str) -> LC:
        return self.scalars[key]

    def per_market(self, key: str) -> list[LC]:
        return self.vectors[key]


class Prepared(NamedTuple):
    """What ``prepare`` reads from ``input.json``: the proving inputs, and the successor state a
    transition leaves (None for a statement that moves no state)."""

    inputs: Inputs
    successor: AccountState | None


class Circuit(ABC):
    """A statement written once: ``define`` yields the constraints and, given inputs, the witness."""

    name: str
    description: str
    # a class attribute; a variant (e.g. a transition with escrow) may extend it per instance
    public_layout: tuple[PublicInput, ...] = ()

    @abstractmethod
    def define(self, cs: ConstraintSystem, inputs: Inputs | None) -> None:
        """Build the circuit on ``cs``; ``inputs`` is None during setup."""

    def prepare(self, data: Any, curve: Curve, source: str = "input") -> Prepared:
        """Proving inputs from a parsed ``input.json``. By default the snarkjs form: an object
        mapping each signal name to an integer or a decimal string; no successor state."""
        return Prepared(signal_values(data, source), None)

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

    # --- the public-input layout ---------------------------------------------------------
    def copies(self, entry: PublicInput) -> int:
        """How many inputs ``entry`` stands for: one, or one per market."""
        if entry.per_market:
            raise ConstraintSystemError(f"{self.name} has no markets, but its input {entry.key!r} is per market")
        return 1

    def public_count(self) -> int:
        return sum(self.copies(entry) for entry in self.public_layout)

    def allocate_public(self, cs: ConstraintSystem, public: Inputs | None) -> PublicVars:
        """The public inputs as variables, in layout order; values are read from ``public``
        (the proving inputs' ``"public"`` dict) only when the witness is assigned."""
        allocated = PublicVars()
        for entry in self.public_layout:
            if entry.per_market:
                allocated.vectors[entry.key] = [
                    cs.public(f"{entry.label} {m}", _deferred(public, entry.key, m)) for m in range(self.copies(entry))
                ]
            else:
                allocated.scalars[entry.key] = cs.public(entry.label, _deferred(public, entry.key))
        return allocated

    def public_vector(self, values: Mapping[str, PublicValue], curve: Curve | str | None = None) -> list[int]:
        """The public-input vector in layout order, each value checked against its bound
        (BoundError naming it) and encoded as a field element."""
        if set(values) != {entry.key for entry in self.public_layout}:
            raise BoundError(f"{self.name} takes the public inputs {[e.key for e in self.public_layout]}, "
                             f"got {sorted(values)}")
        return [x for entry in self.public_layout for x in self.check_public(entry.key, values[entry.key], curve)]

    def check_public(self, key: str, value: PublicValue, curve: Curve | str | None = None) -> list[int]:
        """One layout entry's value checked and encoded: one element, or one per market."""
        entry = next((e for e in self.public_layout if e.key == key), None)
        if entry is None:
            raise BoundError(f"{self.name} has no public input {key!r}")
        r = get_curve(curve).r
        if not entry.per_market:
            return [entry.encode(value, r, entry.noun)]
        count = self.copies(entry)
        if not isinstance(value, Sequence) or len(value) != count:
            got = len(value) if isinstance(value, Sequence) else type(value).__name__
            raise BoundError(f"expected {count} {entry.noun}s, got {got}")
        return [entry.encode(x, r, f"{entry.noun} of market {m}") for m, x in enumerate(value)]

    def name_public(self, vector: Sequence[int]) -> dict[str, Any]:
        """The ``"public"`` dict ``define`` reads: the vector split by layout key."""
        if len(vector) != self.public_count():
            raise BoundError(f"{self.name} has {self.public_count()} public inputs, got {len(vector)}")
        named: dict[str, Any] = {}
        at = 0
        for entry in self.public_layout:
            count = self.copies(entry)
            named[entry.key] = list(vector[at : at + count]) if entry.per_market else vector[at]
            at += count
        return named


def _deferred(public: Inputs | None, key: str, index: int | None = None) -> Callable[[], int]:
    """A read of a public value, made only when the witness is assigned (never during setup);
    the constraint system reports a missing one by name and checks its type. A value may itself
    be deferred (a callable), when it is computed from private inputs."""

    def read() -> int:
        if public is None:
            raise KeyError("public")
        value = public[key] if index is None else public[key][index]
        number: int = value() if callable(value) else value
        return number

    return read
