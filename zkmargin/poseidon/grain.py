"""The Grain LFSR bit stream that the Poseidon reference derives its parameters from.

The reference (hadeshash ``generate_parameters_grain.sage``) seeds an 80-bit LFSR with the
instance description, clocks it with

    x[k+80] = x[k+62] ^ x[k+51] ^ x[k+38] ^ x[k+23] ^ x[k+13] ^ x[k],

discards the first 160 generated bits, and then self-shrinks: it reads the rest in pairs
``(a, b)`` and emits ``b`` when ``a == 1``. Numbers are read most significant bit first.

Over GF(2) the same sequence also obeys the recurrence with every offset scaled by ``2^j``
(the feedback polynomial ``f`` satisfies ``f(X)^(2^j) = f(X^(2^j))``), so whole blocks of
``18 * 2^j`` bits can be computed at once with numpy instead of one bit per Python step.
"""

from __future__ import annotations

import numpy as np

STATE_BITS = 80
TAPS = (13, 23, 38, 51, 62)  # plus offset 0
WARM_UP_BITS = 160
_MAX_SCALE = 1 << 12


def seed_bits(field: int, sbox: int, n: int, t: int, full_rounds: int, partial_rounds: int) -> list[int]:
    """The 80 seed bits: field (2), sbox (4), n (12), t (12), R_F (10), R_P (10), then 30 ones."""
    widths = ((field, 2), (sbox, 4), (n, 12), (t, 12), (full_rounds, 10), (partial_rounds, 10))
    bits: list[int] = []
    for value, width in widths:
        if not 0 <= value < 1 << width:
            raise ValueError(f"{value} does not fit the {width}-bit seed field")
        bits.extend(int(b) for b in format(value, f"0{width}b"))
    return bits + [1] * 30


def lfsr_sequence(seed: list[int], count: int) -> np.ndarray:
    """The first ``count`` LFSR bits, the seed itself included."""
    if len(seed) != STATE_BITS:
        raise ValueError(f"the Grain LFSR takes {STATE_BITS} seed bits")
    x = np.zeros(max(count, STATE_BITS), dtype=np.uint8)
    x[:STATE_BITS] = seed
    filled = STATE_BITS
    while filled < count:
        scale = _MAX_SCALE
        while STATE_BITS * scale > filled:
            scale >>= 1
        block = min((STATE_BITS - TAPS[-1]) * scale, count - filled)
        base = filled - STATE_BITS * scale
        acc = x[base : base + block].copy()
        for tap in TAPS:
            start = base + tap * scale
            acc ^= x[start : start + block]
        x[filled : filled + block] = acc
        filled += block
    return x[:count]


class GrainBits:
    """The self-shrunk output stream, read as big-endian integers of any bit length."""

    def __init__(self, seed: list[int]):
        self._seed = seed
        self._raw_bits = 1 << 16
        self._bits = self._shrunk(self._raw_bits)
        self._pos = 0

    def _shrunk(self, raw_count: int) -> str:
        raw = lfsr_sequence(self._seed, STATE_BITS + WARM_UP_BITS + raw_count)[STATE_BITS + WARM_UP_BITS :]
        kept = raw[1::2][raw[0::2] == 1]
        return str((kept + ord("0")).tobytes().decode("ascii"))

    def read(self, num_bits: int) -> int:
        """The next ``num_bits`` output bits as an integer, first bit most significant."""
        while self._pos + num_bits > len(self._bits):
            self._raw_bits *= 2
            self._bits = self._shrunk(self._raw_bits)
        value = int(self._bits[self._pos : self._pos + num_bits], 2)
        self._pos += num_bits
        return value
