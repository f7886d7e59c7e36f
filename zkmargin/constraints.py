"""Rank-1 constraint systems, written once for setup and proving.

A circuit is ordinary Python that calls ``cs.public``, ``cs.private``, ``cs.enforce`` and
``cs.mul``. The same code runs in two modes:

- *setup* (``cs.has_witness`` is False): values are never computed; only the shape counts;
- *prove*: every variable gets a value, supplied as an int or a zero-argument callable.

Callables make "written once" cheap: ``cs.private("bit", lambda: (cs.value(x) >> i) & 1)``
is never called during setup.

Variables are numbered like snarkjs/arkworks witnesses: index 0 is the constant one, then
the public inputs in allocation order, then the private variables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Union

from zkmargin.curves import Curve, get_curve
from zkmargin.errors import ConstraintSystemError, UnsatisfiedError
from zkmargin.field import ScalarField

ONE = 0
_PRIVATE_BASE = 1 << 40  # private ids live above this until the final numbering


class LC:
    """A linear combination sum(coeff * variable); coefficients are ints, reduced lazily."""

    __slots__ = ("terms",)

    def __init__(self, terms: dict[int, int] | None = None):
        self.terms: dict[int, int] = terms if terms is not None else {}

    @staticmethod
    def of(x: LCLike) -> LC:
        if isinstance(x, LC):
            return x
        if isinstance(x, int) and not isinstance(x, bool):
            return LC({ONE: x}) if x else LC()
        raise TypeError(f"expected a linear combination or an int, got {type(x).__name__}")

    def __add__(self, other: LCLike) -> LC:
        terms = dict(self.terms)
        for v, c in LC.of(other).terms.items():
            terms[v] = terms.get(v, 0) + c
        return LC(terms)

    __radd__ = __add__

    def __neg__(self) -> LC:
        return LC({v: -c for v, c in self.terms.items()})

    def __sub__(self, other: LCLike) -> LC:
        return self + (-LC.of(other))

    def __rsub__(self, other: LCLike) -> LC:
        return LC.of(other) + (-self)

    def __mul__(self, k: int) -> LC:
        if not isinstance(k, int) or isinstance(k, bool):
            raise TypeError("an LC multiplies only by a constant int; use cs.mul for a product")
        return LC({v: c * k for v, c in self.terms.items()}) if k else LC()

    __rmul__ = __mul__

    def variables(self) -> Iterator[int]:
        return (v for v in self.terms if v != ONE)

    def single_variable(self) -> int | None:
        """The variable id if this LC is exactly 1*v, else None."""
        if len(self.terms) == 1:
            ((v, c),) = self.terms.items()
            if c == 1 and v != ONE:
                return v
        return None

    def __repr__(self) -> str:
        return "LC(" + " + ".join(f"{c}*v{v}" for v, c in self.terms.items()) + ")"


LCLike = Union[LC, int]
Value = Union[int, Callable[[], int], None]


@dataclass(frozen=True)
class Constraint:
    a: dict[int, int]
    b: dict[int, int]
    c: dict[int, int]
    label: str


@dataclass(frozen=True)
class DeterminationRule:
    """A gadget's stated fact: once every ``sources`` variable is fixed, so is every ``targets``.

    Used only by :meth:`ConstraintSystem.audit` for non-linear patterns it cannot read from the
    constraints alone (is-zero, hash preimages). Each such gadget has cheating-witness tests.
    """

    targets: tuple[int, ...]
    sources: tuple[int, ...]
    reason: str


@dataclass
class AuditReport:
    unconstrained: list[str]  # private variables in no constraint at all
    undetermined: list[str]  # private variables the constraints do not pin down
    advice: list[str]  # declared free helper values (e.g. an inverse of zero)
    existential: list[str]  # secret inputs the statement claims to exist

    @property
    def ok(self) -> bool:
        return not self.unconstrained and not self.undetermined

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "unconstrained": self.unconstrained,
            "undetermined": self.undetermined,
            "advice": self.advice,
            "existential": self.existential,
        }


class ConstraintSystem:
    """Variables, constraints and (in proving mode) the witness of one circuit instance."""

    def __init__(self, curve: Curve | str | None = None, *, has_witness: bool):
        self.curve = get_curve(curve)
        self.field = ScalarField(self.curve)
        self.r = self.curve.r
        self.has_witness = has_witness
        self.public_names: list[str] = []
        self.private_names: list[str] = []
        self._public_values: list[int] = []
        self._private_values: list[int] = []
        self.constraints: list[Constraint] = []
        self.rules: list[DeterminationRule] = []
        self._advice: set[int] = set()
        self._existential: set[int] = set()
        self._scope: list[str] = []

    # --- naming -----------------------------------------------------------------------
    @contextmanager
    def namespace(self, name: str) -> Iterator[None]:
        """Prefix the labels of variables and constraints made inside (``poseidon/round 3``)."""
        self._scope.append(name)
        try:
            yield
        finally:
            self._scope.pop()

    def _qualified(self, name: str) -> str:
        return "/".join([*self._scope, name]) if self._scope else name

    # --- variables --------------------------------------------------------------------
    def _resolve(self, name: str, value: Value) -> int:
        if not self.has_witness:
            return 0
        if callable(value):
            try:
                value = value()
            except KeyError as missing:
                raise ConstraintSystemError(f"missing input {missing} while assigning {name!r}") from None
        if value is None:
            raise ConstraintSystemError(f"no value for {name!r} in proving mode")
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConstraintSystemError(f"value of {name!r} must be an integer, got {type(value).__name__}")
        return value % self.r

    def public(self, name: str, value: Value = None) -> LC:
        """A public input (part of the statement the verifier supplies)."""
        qualified = self._qualified(name)
        self._public_values.append(self._resolve(qualified, value))
        self.public_names.append(qualified)
        return LC({len(self.public_names): 1})

    def private(self, name: str, value: Value = None, *, advice: bool = False, existential: bool = False) -> LC:
        """A private witness variable.

        ``existential`` marks a secret input the statement only claims to exist (``a`` in
        "I know a with a*b = c"): the audit takes it as given. ``advice`` marks a helper value
        the constraints may leave free without affecting anything (an inverse of zero).
        """
        qualified = self._qualified(name)
        self._private_values.append(self._resolve(qualified, value))
        self.private_names.append(qualified)
        var = _PRIVATE_BASE + len(self.private_names) - 1
        if advice:
            self._advice.add(var)
        if existential:
            self._existential.add(var)
        return LC({var: 1})

    # --- constraints ------------------------------------------------------------------
    def enforce(self, a: LCLike, b: LCLike, c: LCLike, label: str) -> None:
        """Add the constraint a * b = c."""
        self.constraints.append(
            Constraint(LC.of(a).terms, LC.of(b).terms, LC.of(c).terms, self._qualified(label))
        )

    def enforce_equal(self, a: LCLike, b: LCLike, label: str) -> None:
        self.enforce(a, 1, b, label)

    def mul(self, a: LCLike, b: LCLike, label: str) -> LC:
        """A new private variable equal to a * b (one constraint)."""
        out = self.private(label, lambda: self.value(a) * self.value(b))
        self.enforce(a, b, out, label)
        return out

    def declare_determined(self, targets: Iterable[LC], sources: Iterable[LCLike], reason: str) -> None:
        """State that ``sources`` fix ``targets`` (see :class:`DeterminationRule`)."""
        target_ids = tuple(v for t in targets for v in t.variables())
        source_ids = tuple(v for s in sources for v in LC.of(s).variables())
        self.rules.append(DeterminationRule(target_ids, source_ids, self._qualified(reason)))

    # --- values -----------------------------------------------------------------------
    def _var_value(self, var: int) -> int:
        if var == ONE:
            return 1
        if var >= _PRIVATE_BASE:
            return self._private_values[var - _PRIVATE_BASE]
        return self._public_values[var - 1]

    def value(self, x: LCLike) -> int:
        """The value of a linear combination under the witness (proving mode only)."""
        if not self.has_witness:
            raise ConstraintSystemError("values are not available while synthesizing for setup")
        terms = LC.of(x).terms
        return sum(c * self._var_value(v) for v, c in terms.items()) % self.r

    def set_value(self, x: LC, value: int) -> None:
        """Overwrite a variable's value: for tests that build cheating witnesses."""
        var = x.single_variable()
        if var is None:
            raise ConstraintSystemError("set_value takes a single variable")
        value %= self.r
        if var >= _PRIVATE_BASE:
            self._private_values[var - _PRIVATE_BASE] = value
        elif var != ONE:
            self._public_values[var - 1] = value
        else:
            raise ConstraintSystemError("the constant one cannot be reassigned")

    def variable(self, name: str) -> LC:
        """Look a variable up by its qualified name (public or private)."""
        if name in self.public_names:
            return LC({self.public_names.index(name) + 1: 1})
        if name in self.private_names:
            return LC({_PRIVATE_BASE + self.private_names.index(name): 1})
        raise ConstraintSystemError(f"no variable named {name!r}")

    # --- sizes ------------------------------------------------------------------------
    @property
    def num_constraints(self) -> int:
        return len(self.constraints)

    @property
    def num_public(self) -> int:
        return len(self.public_names)

    @property
    def num_private(self) -> int:
        return len(self.private_names)

    @property
    def num_variables(self) -> int:
        """Including the constant one."""
        return 1 + self.num_public + self.num_private

    def index_of(self, var: int) -> int:
        """Final witness index of a variable id (0 = one, then publics, then privates)."""
        if var >= _PRIVATE_BASE:
            return 1 + self.num_public + (var - _PRIVATE_BASE)
        return var

    def name_of(self, var: int) -> str:
        if var == ONE:
            return "one"
        if var >= _PRIVATE_BASE:
            return self.private_names[var - _PRIVATE_BASE]
        return self.public_names[var - 1]

    # --- witness and checks -----------------------------------------------------------
    def public_values(self) -> list[int]:
        self._require_witness()
        return list(self._public_values)

    def witness(self) -> list[int]:
        """The full assignment in final order: [1, publics..., privates...]."""
        self._require_witness()
        return [1, *self._public_values, *self._private_values]

    def _require_witness(self) -> None:
        if not self.has_witness:
            raise ConstraintSystemError("this constraint system was synthesized without a witness")

    def _eval_terms(self, terms: Mapping[int, int]) -> int:
        return sum(c * self._var_value(v) for v, c in terms.items()) % self.r

    def first_unsatisfied(self) -> tuple[int, str] | None:
        """(index, label) of the first constraint the witness breaks, or None."""
        self._require_witness()
        for i, con in enumerate(self.constraints):
            if self._eval_terms(con.a) * self._eval_terms(con.b) % self.r != self._eval_terms(con.c):
                return i, con.label
        return None

    def is_satisfied(self) -> bool:
        return self.first_unsatisfied() is None

    def check(self) -> None:
        """Raise :class:`UnsatisfiedError` naming the first failing constraint."""
        failing = self.first_unsatisfied()
        if failing is not None:
            raise UnsatisfiedError(failing[1], failing[0])

    def matrices(self) -> tuple[list[list[tuple[int, int]]], ...]:
        """Sparse rows of A, B, C in final witness indices, coefficients reduced mod r."""
        r = self.r
        index_of = self.index_of

        def rows(which: str) -> list[list[tuple[int, int]]]:
            out = []
            for con in self.constraints:
                terms = getattr(con, which)
                out.append([(index_of(v), c % r) for v, c in terms.items() if c % r])
            return out

        return rows("a"), rows("b"), rows("c")

    # --- audit ------------------------------------------------------------------------
    def audit(self) -> AuditReport:
        """Find private variables that the constraints do not pin down.

        Starting from the constant, the public inputs and the existential secret inputs, a variable becomes *determined*
        when (1) a constraint whose A and B sides are determined has it as the only
        undetermined variable of C, or a constraint with a constant side is linear in it
        alone; (2) it is a bit of a boolean decomposition of a determined value (booleanity
        constraints plus one linear relation with power-of-two coefficients); or (3) a
        gadget's stated rule fires. What remains undetermined is reported, apart from
        variables marked as advice.
        """
        return _audit(self)

    def summary(self) -> dict[str, int]:
        return {
            "constraints": self.num_constraints,
            "variables": self.num_variables,
            "public_inputs": self.num_public,
            "private_variables": self.num_private,
        }


def _audit(cs: ConstraintSystem) -> AuditReport:
    r = cs.r
    private_ids = [_PRIVATE_BASE + i for i in range(cs.num_private)]
    appears: set[int] = set()
    for con in cs.constraints:
        appears.update(con.a)
        appears.update(con.b)
        appears.update(con.c)

    known: set[int] = {ONE, *range(1, cs.num_public + 1), *cs._existential}
    booleans = _boolean_variables(cs)

    def unknown_in(terms: Mapping[int, int]) -> list[int]:
        return [v for v, c in terms.items() if c % r and v not in known]

    def is_constant(terms: Mapping[int, int]) -> bool:
        return all(v == ONE for v, c in terms.items() if c % r) and any(c % r for c in terms.values())

    changed = True
    while changed:
        changed = False
        for con in cs.constraints:
            ua, ub, uc = unknown_in(con.a), unknown_in(con.b), unknown_in(con.c)
            pending = set(ua) | set(ub) | set(uc)
            if not pending:
                continue
            if not ua and not ub and len(uc) == 1:
                known.add(uc[0])
                changed = True
                continue
            # a constant side makes the constraint linear: k * B = C or A * k = C
            linear = (is_constant(con.a) and not ua) or (is_constant(con.b) and not ub)
            if linear and len(pending) == 1:
                known.add(pending.pop())
                changed = True
                continue
            if linear and _bits_of_known(con, pending, booleans, r):
                known.update(pending)
                changed = True
        for rule in cs.rules:
            if all(s in known for s in rule.sources) and not all(t in known for t in rule.targets):
                known.update(rule.targets)
                changed = True

    advice = [cs.name_of(v) for v in private_ids if v in cs._advice]
    unconstrained = [cs.name_of(v) for v in private_ids if v not in appears and v not in cs._advice]
    undetermined = [
        cs.name_of(v) for v in private_ids if v in appears and v not in known and v not in cs._advice
    ]
    existential = [cs.name_of(v) for v in private_ids if v in cs._existential]
    return AuditReport(unconstrained, undetermined, advice, existential)


def _boolean_variables(cs: ConstraintSystem) -> set[int]:
    """Variables with a booleanity constraint v * (v - 1) = 0 (in any scaling or order)."""
    r = cs.r
    found = set()
    for con in cs.constraints:
        if any(c % r for c in con.c.values()):
            continue
        a = {v: c % r for v, c in con.a.items() if c % r}
        b = {v: c % r for v, c in con.b.items() if c % r}
        for x, y in ((a, b), (b, a)):
            var = next((v for v in x if v != ONE), None)
            if var is None or set(x) != {var} or set(y) != {var, ONE}:
                continue
            if (y[ONE] + y[var]) % r == 0:  # y is a multiple of (v - 1)
                found.add(var)
    return found


def _bits_of_known(con: Constraint, pending: set[int], booleans: set[int], r: int) -> bool:
    """Is ``con`` a linear relation fixing the boolean ``pending`` vars as bits of a known value?

    Requires distinct power-of-two coefficients (up to one common factor) and fewer bits than
    the field size, so the binary representation is unique.
    """
    if not pending <= booleans or len(pending) >= r.bit_length() - 1:
        return False
    # the linear relation is A*B - C = 0 with one side constant; collect the pending coefficients
    coeffs: dict[int, int] = {}
    side_k = None
    if all(v == ONE for v in con.a):
        side_k = con.a.get(ONE, 0)
        other = con.b
    else:
        side_k = con.b.get(ONE, 0)
        other = con.a
    for v in pending:
        coeffs[v] = (side_k * other.get(v, 0) - con.c.get(v, 0)) % r
    if any(c == 0 for c in coeffs.values()):
        return False
    # divide by the coefficient of smallest magnitude: the quotients must be distinct powers of two
    smallest = min(coeffs.values(), key=lambda c: min(c, r - c))
    inv_smallest = pow(smallest, -1, r)
    exponents = set()
    for c in coeffs.values():
        quotient = c * inv_smallest % r
        if quotient & (quotient - 1):
            return False
        exponents.add(quotient.bit_length())
    return len(exponents) == len(coeffs)


def lc_sum(items: Sequence[LCLike]) -> LC:
    """Sum of linear combinations without quadratic copying."""
    terms: dict[int, int] = {}
    for item in items:
        for v, c in LC.of(item).terms.items():
            terms[v] = terms.get(v, 0) + c
    return LC(terms)
