"""Poseidon encryption: a sponge stream cipher with an authentication tag, out of circuit.

The construction circom projects use (the Poseidon paper's encryption mode, as in zk-kit's
poseidon-cipher and MACI), over the curve's width-4 Poseidon permutation ``P`` (element 0 the
capacity, elements 1..3 the rate):

- Key: two field elements ``(k0, k1)``, the coordinates of an ECDH shared point.
- Nonce: ``N < 2^128``; message length ``l < 2^64``; the initial state is
  ``[0, k0, k1, N + l * 2^128]``. Length and nonce share one element without ambiguity
  because ``N < 2^128`` and ``l * 2^128 + N < 2^192 < r``.
- Encrypt: pad the message with zeros to ``3 * ceil(l / 3)`` elements; for each block of 3,
  ``state = P(state)``, add the block to elements 1..3, and release those three elements as
  ciphertext (they stay in the state: the next block is absorbed on top of them).
- Tag: ``state = P(state)`` once more; element 1 is appended as the last element.

So the ciphertext has ``3 * ceil(l / 3) + 1`` elements, the last one the tag. Decryption
subtracts the same keystream, re-absorbs the ciphertext, and refuses unless the tag matches and
the padding decrypts to zeros: a wrong key, nonce or length, or a changed element, fails.

On BN254 our width-4 permutation is circomlib's, so ciphertexts match zk-kit's byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from zkmargin.curves import Curve, get_curve
from zkmargin.errors import MalformedInputError
from zkmargin.poseidon.permutation import check_elements, get_permutation

CIPHER_WIDTH = 4
CIPHER_RATE = 3
NONCE_BITS = 128
LENGTH_BITS = 64

Permute = Callable[[list[int]], list[int]]
SharedKey = tuple[int, int]


def padded_length(length: int) -> int:
    """The number of message elements after zero padding: 3 * ceil(length / 3)."""
    return -(-length // CIPHER_RATE) * CIPHER_RATE


def ciphertext_length(length: int) -> int:
    """Elements of the ciphertext of a ``length``-element message, the tag included."""
    return padded_length(length) + 1


def initial_state(key: Sequence[int], nonce: int, length: int) -> list[int]:
    """``[0, k0, k1, N + l * 2^128]`` after checking the nonce and length bounds."""
    check_nonce(nonce)
    check_length(length)
    return [0, key[0], key[1], nonce + (length << NONCE_BITS)]


def check_nonce(nonce: object) -> None:
    if not isinstance(nonce, int) or isinstance(nonce, bool) or not 0 <= nonce < 1 << NONCE_BITS:
        raise MalformedInputError(f"a cipher nonce is an integer in [0, 2^{NONCE_BITS})")


def check_length(length: object) -> None:
    if not isinstance(length, int) or isinstance(length, bool) or not 0 <= length < 1 << LENGTH_BITS:
        raise MalformedInputError(f"a message length is an integer in [0, 2^{LENGTH_BITS})")


def poseidon_encrypt(
    message: Sequence[int], key: Sequence[int], nonce: int, curve: Curve | str | None = None
) -> list[int]:
    """The ciphertext of ``message`` (canonical field elements) under ``key``, tag last."""
    r, permute = _cipher_permutation(curve)
    _check_key(key, r)
    check_elements(message, r, "message")
    return encrypt_with(permute, r, message, key, nonce)


def poseidon_decrypt(
    ciphertext: Sequence[int], key: Sequence[int], nonce: int, length: int, curve: Curve | str | None = None
) -> list[int]:
    """The ``length`` message elements, or :class:`MalformedInputError` if the tag does not match."""
    r, permute = _cipher_permutation(curve)
    _check_key(key, r)
    check_elements(ciphertext, r, "ciphertext")
    return decrypt_with(permute, r, ciphertext, key, nonce, length)


def encrypt_with(permute: Permute, r: int, message: Sequence[int], key: Sequence[int], nonce: int) -> list[int]:
    """The construction over any state permutation of width 4 (inputs already checked)."""
    state = initial_state(key, nonce, len(message))
    padded = [*message, *[0] * (padded_length(len(message)) - len(message))]
    ciphertext: list[int] = []
    for start in range(0, len(padded), CIPHER_RATE):
        state = permute(state)
        state[1:] = [(s + m) % r for s, m in zip(state[1:], padded[start : start + CIPHER_RATE])]
        ciphertext.extend(state[1:])
    ciphertext.append(permute(state)[1])
    return ciphertext


def decrypt_with(
    permute: Permute, r: int, ciphertext: Sequence[int], key: Sequence[int], nonce: int, length: int
) -> list[int]:
    state = initial_state(key, nonce, length)
    if len(ciphertext) != ciphertext_length(length):
        raise MalformedInputError(
            f"a ciphertext of {length} elements has {ciphertext_length(length)} elements, got {len(ciphertext)}"
        )
    *blocks, tag = ciphertext
    padded: list[int] = []
    for start in range(0, len(blocks), CIPHER_RATE):
        state = permute(state)
        block = list(blocks[start : start + CIPHER_RATE])
        padded.extend((c - s) % r for c, s in zip(block, state[1:]))
        state[1:] = block
    if permute(state)[1] != tag:
        raise MalformedInputError(
            "the ciphertext's authentication tag does not match: wrong key, nonce or length, or a changed element"
        )
    if any(padded[length:]):
        raise MalformedInputError("the ciphertext's padding does not decrypt to zeros")
    return padded[:length]


def _cipher_permutation(curve: Curve | str | None) -> tuple[int, Permute]:
    perm = get_permutation(get_curve(curve), CIPHER_WIDTH)
    return perm.r, perm


def _check_key(key: Sequence[int], r: int) -> None:
    if len(key) != 2:
        raise MalformedInputError(f"a cipher key is two field elements (a shared point), got {len(key)}")
    check_elements(key, r, "key")
