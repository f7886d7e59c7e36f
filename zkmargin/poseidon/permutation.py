"""The Poseidon permutation and circomlib's Poseidon hash, on plain ints.

Each round adds the round's constants, applies x -> x^5 (to every element in a full round,
to element 0 in a partial round) and multiplies by the MDS matrix M. :class:`Permutation`
computes exactly that function in the cheaper equivalent form of the Poseidon paper's
appendix B, prepared once per instance:

- in a partial round only element 0 meets the S-box, so the constants of elements 1..t-1
  pass linearly through it and are moved forward (times M) into the next round's constants;
- M = P * S with P = diag(1, M[1:,1:]) and S sparse (first row, first column and the
  identity). P fixes element 0 and mixes only the others, so it commutes with a partial
  round's S-box and moves into the next round's matrix, which is factored the same way.
  Partial rounds then cost 2t - 1 multiplications instead of t^2, and the last P is
  applied once before the second half of full rounds.

Sums of products are reduced once, after the next constant is added.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from operator import mul

from zkmargin.curves import Curve, get_curve
from zkmargin.errors import MalformedInputError
from zkmargin.field import require_field_elements
from zkmargin.poseidon import linalg
from zkmargin.poseidon.params import PoseidonParams, load_params

MAX_HASH_INPUTS = 16


@dataclass(frozen=True)
class SparseSchedule:
    """Poseidon in the appendix-B form: what :class:`Permutation` computes, as data."""

    initial: list[int]  # constants added before the first round
    head: list[list[int]]  # constants after each first-half full round's MDS
    partial: list[tuple[list[int], list[int], int]]  # (S's first row, S's first column, next constant of element 0)
    bridge: list[list[int]]  # the last P's block, applied to elements 1..t-1 after the partial rounds
    bridge_constants: list[int]
    tail: list[list[int]]  # constants after each second-half full round's MDS
    mds: list[list[int]]


class Permutation:
    """Poseidon^pi of one instance, as a callable on lists of canonical ints."""

    def __init__(self, params: PoseidonParams):
        self.r = params.r
        half, partial = params.full_rounds // 2, params.partial_rounds
        rows = _moved_constants(params)
        rows.append([0] * params.t)  # nothing follows the last round
        layers, self._bridge = _sparse_layers(params)
        self._mds = params.mds
        self._initial = rows[0]
        self._head = rows[1 : half + 1]
        # element 0's constant of the next partial round; after the last one the bridge adds all
        following = [rows[half + k][0] for k in range(1, partial)] + [0]
        self._partial = [(first_row, column, c) for (first_row, column), c in zip(layers, following)]
        self._bridge_constants = rows[half + partial]
        self._tail = rows[half + partial + 1 :]

    def __call__(self, state: Sequence[int]) -> list[int]:
        r = self.r
        s = self._full_rounds([x + c for x, c in zip(state, self._initial)], self._head)
        for first_row, column, constant in self._partial:
            x0 = _fifth_power(s[0], r)
            s[0] = x0
            s = [
                (sum(map(mul, first_row, s)) + constant) % r,
                *[(x + u * x0) % r for x, u in zip(s[1:], column)],
            ]
        head, rest = s[0], s[1:]
        constants = self._bridge_constants
        s = [
            (head + constants[0]) % r,
            *[(sum(map(mul, row, rest)) + c) % r for row, c in zip(self._bridge, constants[1:])],
        ]
        return self._full_rounds(s, self._tail)

    def schedule(self) -> SparseSchedule:
        """The prepared rounds, for the circuit gadget to follow step by step."""
        return SparseSchedule(
            self._initial, self._head, self._partial, self._bridge, self._bridge_constants, self._tail,
            [list(row) for row in self._mds]
        )

    def _full_rounds(self, s: list[int], constant_rows: Sequence[Sequence[int]]) -> list[int]:
        r, mds = self.r, self._mds
        for constants in constant_rows:
            s = [_fifth_power(x, r) for x in s]
            s = [(sum(map(mul, row, s)) + c) % r for row, c in zip(mds, constants)]
        return s


def _moved_constants(params: PoseidonParams) -> list[list[int]]:
    """Round constants with each partial round's elements 1..t-1 moved into the next round."""
    r, t = params.r, params.t
    rows = [list(c) for c in params.round_constants]
    mds = [list(m) for m in params.mds]
    half = params.full_rounds // 2
    for k in range(half, half + params.partial_rounds):
        moved = linalg.mat_vec(mds, [0, *rows[k][1:]], r)
        rows[k + 1] = [(a + b) % r for a, b in zip(rows[k + 1], moved)]
        rows[k][1:] = [0] * (t - 1)
    return rows


def _sparse_layers(params: PoseidonParams) -> tuple[list[tuple[list[int], list[int]]], list[list[int]]]:
    """For each partial round, S's first row and its first column below the diagonal; the last P's block."""
    r = params.r
    mds = [list(m) for m in params.mds]
    a, layers, block = mds, [], []
    for _ in range(params.partial_rounds):
        block = [row[1:] for row in a[1:]]
        column = linalg.solve(block, [row[0] for row in a[1:]], r)
        layers.append((a[0], column))
        a = linalg.mat_mul(mds, [[1] + [0] * len(block), *[[0, *row] for row in block]], r)
    return layers, block


def _fifth_power(x: int, r: int) -> int:
    x2 = x * x % r
    return x2 * x2 % r * x % r


@cache
def _permutation(curve_name: str, t: int) -> Permutation:
    return Permutation(load_params(curve_name, t))


def get_permutation(curve: Curve | str | None, t: int) -> Permutation:
    """The cached permutation of width ``t`` over the curve's scalar field."""
    return _permutation(get_curve(curve).name, t)


def check_elements(values: Sequence[int], r: int, what: str) -> None:
    """Every value must be a canonical field element: an int in [0, r)."""
    require_field_elements(values, r, what)


def poseidon_permutation(state: Sequence[int], curve: Curve | str | None = None) -> list[int]:
    """Permute ``state`` (its length is the width t, 2..17) with the curve's instance."""
    perm = get_permutation(curve, len(state))
    check_elements(state, perm.r, "state")
    return perm(state)


def poseidon_hash(values: Sequence[int], curve: Curve | str | None = None) -> int:
    """circomlib's Poseidon(n): first element of the permuted state [0, *values], 1 <= n <= 16."""
    if not 1 <= len(values) <= MAX_HASH_INPUTS:
        raise MalformedInputError(f"Poseidon hashes 1..{MAX_HASH_INPUTS} inputs, got {len(values)}")
    perm = get_permutation(curve, len(values) + 1)
    check_elements(values, perm.r, "input")
    return perm([0, *values])[0]
