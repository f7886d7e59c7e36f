"""Many multiples of one point (the fixed-base work of a trusted setup) for the groups of
``jacobian``: a table of d * 2^(c*j) * base turns each multiple into one addition per
window and no doublings, and the additions of one window are batched in affine form so
that they share a single field inversion."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from zkmargin.backends.jacobian import JacobianGroup
from zkmargin.backends.scalar_windows import cheapest_window, signed_digits, window_count

# A table entry costs about 1.4 additions: a full Jacobian addition plus its share of the
# normalisation to affine form.
_TABLE_ENTRY_COST = 1.4


def fixed_base_mul(group: JacobianGroup[Any, Any], base: Any, scalars: Sequence[int], r: int) -> list[Any]:
    """[k * base for k in scalars], each returned with Z == 1 (or as the identity)."""
    if group.is_identity(base):
        return [group.identity] * len(scalars)
    bits = r.bit_length()
    c = cheapest_window(len(scalars), bits, lambda c: _TABLE_ENTRY_COST * (1 << (c - 1)))
    table = window_table(group, base, c, window_count(bits, c))
    digits = signed_digits([k % r for k in scalars], c, bits).tolist()
    accs: list[Any] = [None] * len(scalars)  # affine partial sums; None is the identity
    for row, column in zip(table, digits):
        owners, lefts, rights = [], [], []
        for i, d in enumerate(column):
            if not d:
                continue
            if accs[i] is None:
                accs[i] = row[d]
            else:
                owners.append(i)
                lefts.append(accs[i])
                rights.append(row[d])
        for i, s in zip(owners, group.add_affine_batch(lefts, rights)):
            accs[i] = s
    return [group.identity if a is None else group.from_affine(a) for a in accs]


def window_table(group: JacobianGroup[Any, Any], base: Any, c: int, windows: int) -> list[list[Any]]:
    """rows[j][d] == d * 2^(c*j) * base in affine form (None for d == 0) for |d| <= 2^(c-1);
    negative d index from the end of the row, as Python lists do."""
    half = 1 << (c - 1)
    multiples = []
    step = base
    for _ in range(windows):
        acc = step
        multiples.append(acc)
        for _ in range(half - 1):
            acc = group.add(acc, step)
            multiples.append(acc)
        step = group.double(acc)  # 2 * 2^(c-1) * step: the next window's step
    affine = group.normalize_many(multiples)
    rows = []
    for j in range(windows):
        positive = affine[j * half : (j + 1) * half]
        rows.append([None, *positive, *(group.neg_affine(a) for a in reversed(positive))])
    return rows
