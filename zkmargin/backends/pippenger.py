"""Multi-scalar multiplication for the pure-Python groups of ``jacobian``.

- ``msm``: Pippenger's bucket method with signed digits. Each c-bit window sorts the points
  into 2^(c-1) buckets by digit magnitude (a negative digit adds the negated point), then
  sums the buckets with a running sum: about (n + 2^c) additions per window instead of the
  n full scalar multiplications of the naive sum.
- ``fixed_base_mul``: many multiples of one point from a table of d * 2^(c*j) * base, so
  each multiple costs one addition per window and no doublings.

Scalars are Python ints in [0, r).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from zkmargin.backends.jacobian import JacobianGroup

# A full (Jacobian + Jacobian) addition costs about 1.4 mixed (Jacobian + affine) ones.
_FULL_ADD_COST = 1.4


def msm(group: JacobianGroup[Any, Any], points: Sequence[Any], scalars: Sequence[int], r: int) -> Any:
    """sum_i scalars[i] * points[i] in the group of prime order r."""
    if len(points) != len(scalars):
        raise ValueError("msm needs as many scalars as points")
    direct = group.identity  # points whose scalar is +-1 need no windows
    kept_points = []
    kept_scalars = []
    half_r = r >> 1
    for point, k in zip(points, scalars):
        k %= r
        negate = k > half_r  # k*P == (r-k)*(-P): keeps every scalar below r/2
        if negate:
            k = r - k
        if not k or group.is_identity(point):
            continue
        if negate:
            point = group.neg(point)
        if k == 1:
            direct = group.add(direct, point)
        else:
            kept_points.append(point)
            kept_scalars.append(k)
    if not kept_scalars:
        return direct
    return group.add(direct, _pippenger(group, kept_points, kept_scalars, half_r.bit_length()))


def _pippenger(group: JacobianGroup[Any, Any], points: Sequence[Any], scalars: Sequence[int], bits: int) -> Any:
    affine = group.normalize_many(points)
    negated = [group.neg_affine(a) for a in affine]
    c = _msm_window(len(points), bits)
    columns = signed_digits(scalars, c, bits)
    result = group.identity
    for column in reversed(columns):
        for _ in range(c):
            result = group.double(result)
        result = group.add(result, _window_sum(group, column, affine, negated, 1 << (c - 1)))
    return result


def _window_sum(group: JacobianGroup[Any, Any], digits: list[int], affine: list[Any], negated: list[Any], half: int) -> Any:
    """sum_i digits[i] * affine[i] for digits in [-half, half]."""
    buckets = [group.identity] * (half + 1)
    add_affine = group.add_affine
    for d, pos, neg in zip(digits, affine, negated):
        if d > 0:
            buckets[d] = add_affine(buckets[d], pos)
        elif d < 0:
            buckets[-d] = add_affine(buckets[-d], neg)
    # sum_d d * bucket[d] as a running sum from the top bucket down
    running = total = group.identity
    for bucket in reversed(buckets[1:]):
        running = group.add(running, bucket)
        total = group.add(total, running)
    return total


def _msm_window(n: int, bits: int) -> int:
    """Window width c minimising windows * (point additions + bucket-sum additions)."""
    return min(range(2, 20), key=lambda c: _windows(bits, c) * (n + _FULL_ADD_COST * (1 << c)))


def _windows(bits: int, c: int) -> int:
    # one spare top bit so a carry out of the highest window is never needed
    return -(-(bits + 1) // c)


def signed_digits(scalars: Sequence[int], c: int, bits: int) -> list[list[int]]:
    """Columns of signed base-2^c digits in [-2^(c-1), 2^(c-1)]: columns[j][i] is digit j of
    scalars[i], and scalars[i] == sum_j columns[j][i] * 2^(c*j) for scalars below 2^bits."""
    windows = _windows(bits, c)
    limb_count = -(-windows * c // 64) + 1  # one zero limb on top: a window may straddle it
    raw = b"".join(k.to_bytes(8 * limb_count, "little") for k in scalars)
    limbs = np.frombuffer(raw, dtype="<u8").reshape(len(scalars), limb_count)
    mask = np.uint64((1 << c) - 1)
    half, full = 1 << (c - 1), 1 << c
    carry = np.zeros(len(scalars), dtype=np.int64)
    columns = []
    for j in range(windows):
        limb, offset = divmod(j * c, 64)
        window = limbs[:, limb] >> np.uint64(offset)
        if offset + c > 64:
            window |= limbs[:, limb + 1] << np.uint64(64 - offset)
        d = (window & mask).astype(np.int64) + carry
        carry = (d > half).astype(np.int64)
        columns.append((d - carry * full).tolist())
    return columns


def fixed_base_mul(group: JacobianGroup[Any, Any], base: Any, scalars: Sequence[int], r: int) -> list[Any]:
    """[k * base for k in scalars], each returned with Z == 1 (or as the identity)."""
    if group.is_identity(base):
        return [group.identity] * len(scalars)
    bits = r.bit_length()
    c = _fixed_base_window(len(scalars), bits)
    table = _window_table(group, base, c, _windows(bits, c))
    columns = signed_digits([k % r for k in scalars], c, bits)
    add_affine = group.add_affine
    out = []
    for i in range(len(scalars)):
        acc = group.identity
        for row, column in zip(table, columns):
            d = column[i]
            if d:
                acc = add_affine(acc, row[d])
        out.append(acc)
    return [group.identity if a is None else group.from_affine(a) for a in group.normalize_many(out)]


def _fixed_base_window(n: int, bits: int) -> int:
    """Window width c minimising windows * (one addition per scalar + table entries)."""
    return min(range(2, 20), key=lambda c: _windows(bits, c) * (n + _FULL_ADD_COST * (1 << (c - 1))))


def _window_table(group: JacobianGroup[Any, Any], base: Any, c: int, windows: int) -> list[list[Any]]:
    """rows[j][d] == d * 2^(c*j) * base in affine form for d in [-2^(c-1), 2^(c-1)], d != 0;
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
        step = group.double(acc)  # 2^(c-1) * step doubled is 2^c * step
    affine = group.normalize_many(multiples)
    rows = []
    for j in range(windows):
        positive = affine[j * half : (j + 1) * half]
        rows.append([None, *positive, *(group.neg_affine(a) for a in reversed(positive))])
    return rows
