"""Poseidon encryption in circuit: the ciphertext of :mod:`zkmargin.poseidon.cipher` as linear combinations.

Only the permutations cost constraints: ``ceil(l / 3) + 1`` permutations of width 4, 264 each
(3 · (4 · 8 + 56)), so 792 for 4 to 6 elements. Absorbing a block and releasing the ciphertext
are additions, free; the padding is the constant 0. Nonce and length are circuit constants
(the length is the circuit's shape anyway), so their bounds are checked when the circuit is
written, not by constraints.
"""

from __future__ import annotations

from collections.abc import Sequence

from zkmargin.constraints import LC, ConstraintSystem, LCLike
from zkmargin.gadgets.poseidon import poseidon_permutation_gadget
from zkmargin.poseidon.cipher import CIPHER_RATE, initial_state, padded_length


def poseidon_encrypt_gadget(
    cs: ConstraintSystem, message: Sequence[LCLike], key: tuple[LCLike, LCLike], nonce: int, label: str = "cipher"
) -> list[LC]:
    """The ciphertext of ``message`` under ``key`` (an ECDH point's coordinates), tag last."""
    constant = initial_state([0, 0], nonce, len(message))  # checks nonce and length
    state = [LC(), LC.of(key[0]), LC.of(key[1]), LC.of(constant[3])]
    padded = [*map(LC.of, message), *[LC()] * (padded_length(len(message)) - len(message))]
    ciphertext: list[LC] = []
    with cs.namespace(label):
        for index, start in enumerate(range(0, len(padded), CIPHER_RATE)):
            with cs.namespace(f"block {index}"):
                state = poseidon_permutation_gadget(cs, state)
            state[1:] = [s + m for s, m in zip(state[1:], padded[start : start + CIPHER_RATE])]
            ciphertext.extend(state[1:])
        with cs.namespace("tag"):
            ciphertext.append(poseidon_permutation_gadget(cs, state)[1])
    return ciphertext
