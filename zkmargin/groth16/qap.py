"""From R1CS to a quadratic arithmetic program.

Rows 0..m-1 of the QAP are the circuit's constraints. Rows m..m+num_public hold one extra
constraint ``x_i * 0 = 0`` per public variable (the constant included), which makes the
public-input polynomials linearly independent, as in libsnark, arkworks and snarkjs. The
domain is the smallest power of two with room for all of them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from zkmargin.constraints import ConstraintSystem

Row = list[tuple[int, int]]


@dataclass(frozen=True)
class QAPShape:
    """The constraint matrices of a circuit, in final witness indices."""

    curve_name: str
    num_public: int  # public inputs, not counting the constant one
    num_variables: int  # including the constant one
    a: list[Row]
    b: list[Row]
    c: list[Row]

    @property
    def num_constraints(self) -> int:
        return len(self.a)

    @property
    def domain_size(self) -> int:
        return domain_size_for(self.num_constraints, self.num_public)

    def digest(self) -> str:
        """A fingerprint of the circuit: keys made for another circuit are refused."""
        h = hashlib.sha256()
        h.update(f"zkmargin-qap-v1|{self.curve_name}|{self.num_public}|{self.num_variables}|".encode())
        for matrix in (self.a, self.b, self.c):
            for row in matrix:
                h.update(b";")
                for index, coeff in row:
                    h.update(f"{index}:{coeff},".encode())
            h.update(b"|")
        return h.hexdigest()


def domain_size_for(num_constraints: int, num_public: int) -> int:
    needed = num_constraints + num_public + 1
    return 1 << max(1, (needed - 1).bit_length())


def qap_shape(cs: ConstraintSystem) -> QAPShape:
    a, b, c = cs.matrices()
    return QAPShape(cs.curve.name, cs.num_public, cs.num_variables, a, b, c)


def evaluate_rows(rows: list[Row], witness: list[int], r: int) -> list[int]:
    """<row_j, w> for every row j."""
    return [sum(coeff * witness[i] for i, coeff in row) % r for row in rows]


def witness_evaluations(shape: QAPShape, witness: list[int], r: int) -> tuple[list[int], list[int], list[int]]:
    """Evaluations of a(X), b(X), c(X) on the domain, padded with the public-input rows."""
    n = shape.domain_size
    m = shape.num_constraints
    a = evaluate_rows(shape.a, witness, r)
    b = evaluate_rows(shape.b, witness, r)
    c = evaluate_rows(shape.c, witness, r)
    a.extend(witness[: shape.num_public + 1])
    padding = n - len(a)
    a.extend([0] * padding)
    b.extend([0] * (n - m))
    c.extend([0] * (n - m))
    return a, b, c


def variable_polynomials_at(shape: QAPShape, lagrange: list[int], r: int) -> tuple[list[int], list[int], list[int]]:
    """A_i(tau), B_i(tau), C_i(tau) for every variable i, from the Lagrange basis at tau."""
    size = shape.num_variables
    at = ([0] * size, [0] * size, [0] * size)
    for matrix, out in zip((shape.a, shape.b, shape.c), at):
        for j, row in enumerate(matrix):
            lj = lagrange[j]
            for i, coeff in row:
                out[i] += coeff * lj
    m = shape.num_constraints
    for i in range(shape.num_public + 1):
        at[0][i] += lagrange[m + i]
    return tuple([v % r for v in out] for out in at)  # type: ignore[return-value]
