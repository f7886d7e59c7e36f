"""The little linear algebra over F_r that evaluating Poseidon needs, on plain ints.

:mod:`zkmargin.poseidon.permutation` uses it once per instance to prepare the sparse
(appendix-B) form of the MDS layers. It stays hand-written rather than on galois because
Poseidon runs on the paths of the CLI and the service, which must not import galois (its
import and field set-up cost seconds to minutes). The MDS security checks of parameter
generation, which run only offline, use galois (:mod:`zkmargin.poseidon.mds`).

Matrices are lists of rows, vectors lists of ints; every result is reduced mod p. Sizes here
are at most 17, so plain Python loops are fast enough.
"""

from __future__ import annotations

from collections.abc import Sequence

Matrix = list[list[int]]
Vector = list[int]


# --- matrices -------------------------------------------------------------------------
def mat_mul(a: Matrix, b: Matrix, p: int) -> Matrix:
    columns = list(zip(*b))
    return [[sum(x * y for x, y in zip(row, col)) % p for col in columns] for row in a]


def mat_vec(a: Matrix, v: Sequence[int], p: int) -> Vector:
    return [sum(x * y for x, y in zip(row, v)) % p for row in a]


def echelon(vectors: Sequence[Sequence[int]], p: int) -> tuple[Matrix, list[int]]:
    """Reduced row echelon form of the nonzero span: (rows, pivot columns)."""
    rows = [[x % p for x in v] for v in vectors]
    pivots: list[int] = []
    ncols = len(rows[0]) if rows else 0
    rank = 0
    for col in range(ncols):
        found = next((i for i in range(rank, len(rows)) if rows[i][col]), None)
        if found is None:
            continue
        rows[rank], rows[found] = rows[found], rows[rank]
        inv = pow(rows[rank][col], -1, p)
        pivot_row = [x * inv % p for x in rows[rank]]
        rows[rank] = pivot_row
        for i, row in enumerate(rows):
            if i != rank and row[col]:
                factor = row[col]
                rows[i] = [(x - factor * y) % p for x, y in zip(row, pivot_row)]
        pivots.append(col)
        rank += 1
    return rows[:rank], pivots


def solve(a: Matrix, b: Sequence[int], p: int) -> Vector:
    """The x with a . x = b, for an invertible square ``a``."""
    n = len(a)
    reduced, pivots = echelon([[*row, y] for row, y in zip(a, b)], p)
    if pivots != list(range(n)):
        raise ArithmeticError("singular matrix")
    return [row[n] for row in reduced]
