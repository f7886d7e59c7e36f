"""Splitting scalars into signed c-bit windows, shared by the bucket and table methods."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def window_count(bits: int, c: int) -> int:
    """Windows for scalars below 2^bits, with one spare top bit so that the carry out of
    the highest window is always zero."""
    return -(-(bits + 1) // c)


def cheapest_window(n: int, bits: int, per_window_overhead: Callable[[int], float]) -> int:
    """The width c minimising window_count * (n + per_window_overhead(c)): n point
    additions per window plus the window's own bucket or table work, in additions."""
    return min(range(2, 20), key=lambda c: window_count(bits, c) * (n + per_window_overhead(c)))


def signed_digits(scalars: Sequence[int], c: int, bits: int) -> np.ndarray:
    """Signed base-2^c digits in [-2^(c-1), 2^(c-1)] as an int64 array of shape
    (windows, len(scalars)): scalars[i] == sum_j digits[j, i] * 2^(c*j) for each
    scalar below 2^bits. Negative digits halve the buckets or table entries needed."""
    windows = window_count(bits, c)
    limb_count = -(-windows * c // 64) + 1  # one zero limb on top: a window may straddle it
    raw = b"".join(k.to_bytes(8 * limb_count, "little") for k in scalars)
    limbs = np.frombuffer(raw, dtype="<u8").reshape(len(scalars), limb_count)
    mask = np.uint64((1 << c) - 1)
    half, full = 1 << (c - 1), 1 << c
    carry = np.zeros(len(scalars), dtype=np.int64)
    digits = np.empty((windows, len(scalars)), dtype=np.int64)
    for j in range(windows):
        limb, offset = divmod(j * c, 64)
        window = limbs[:, limb] >> np.uint64(offset)
        if offset + c > 64:
            window |= limbs[:, limb + 1] << np.uint64(64 - offset)
        d = (window & mask).astype(np.int64) + carry
        carry = (d > half).astype(np.int64)
        digits[j] = d - carry * full
    return digits
