"""A domain-separated Poseidon sponge for inputs of any length.

Construction (the same in and out of circuit; F_r is the curve's scalar field):

- Permutation: Poseidon of width t = 5 (the curve's instance: x^5, R_F = 8, R_P = 60).
  Element 0 is the capacity, elements 1..4 the rate.
- Initial state: ``[IV, 0, 0, 0, 0]`` with ``IV = D * 2^64 + n``, where ``n`` (< 2^64) is the
  number of inputs and ``D`` is the domain tag read as a big-endian integer: its bytes are
  1..23 printable ASCII characters (0x20..0x7e). The first byte is never zero, so distinct
  tags give distinct ``D``; ``D < 2^184`` keeps ``IV < 2^248 < r``, so distinct
  (domain, length) pairs give distinct initial states on both curves.
- Absorb: the inputs (canonical elements of F_r), padded with zeros to ``max(1, ceil(n/4))``
  blocks of 4; for each block, add it to elements 1..4 and permute.
  Zero padding is unambiguous because ``n`` is in the IV: ``[x]`` and ``[x, 0]`` differ.
- Output: element 1 of the final state (the first rate element).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from zkmargin.curves import Curve
from zkmargin.errors import MalformedInputError
from zkmargin.poseidon.permutation import check_elements, get_permutation

SPONGE_WIDTH = 5
SPONGE_RATE = SPONGE_WIDTH - 1
MAX_DOMAIN_BYTES = 23
LENGTH_BITS = 64

T = TypeVar("T")


def initial_capacity(domain: str, length: int) -> int:
    """IV = D * 2^64 + n: injective in (domain, length), below 2^248."""
    if not isinstance(domain, str) or not 1 <= len(domain) <= MAX_DOMAIN_BYTES:
        raise MalformedInputError(f"a sponge domain is 1..{MAX_DOMAIN_BYTES} characters, got {domain!r}")
    if not all(" " <= ch <= "~" for ch in domain):
        raise MalformedInputError(f"a sponge domain is printable ASCII, got {domain!r}")
    if not 0 <= length < 1 << LENGTH_BITS:
        raise MalformedInputError(f"a sponge absorbs fewer than 2^{LENGTH_BITS} inputs")
    return int.from_bytes(domain.encode("ascii"), "big") << LENGTH_BITS | length


def blocks(values: Sequence[T]) -> list[list[T | int]]:
    """The inputs cut into rate-sized blocks, zero-padded, at least one block."""
    count = max(1, -(-len(values) // SPONGE_RATE))
    padded: list[T | int] = [*values, *[0] * (count * SPONGE_RATE - len(values))]
    return [padded[k : k + SPONGE_RATE] for k in range(0, len(padded), SPONGE_RATE)]


def poseidon_sponge(values: Sequence[int], domain: str, curve: Curve | str | None = None) -> int:
    """The domain-separated digest of ``values`` (see the module docstring)."""
    perm = get_permutation(curve, SPONGE_WIDTH)
    r = perm.r
    check_elements(values, r, "input")
    state = [initial_capacity(domain, len(values))] + [0] * SPONGE_RATE
    for block in blocks(values):
        state = perm([state[0], *[(s + v) % r for s, v in zip(state[1:], block)]])
    return state[1]
