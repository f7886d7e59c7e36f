"""Poseidon encryption out of circuit: round trips, a published vector, and every refusal."""

from __future__ import annotations

import random

import pytest

from zkmargin.errors import MalformedInputError
from zkmargin.poseidon import poseidon_permutation
from zkmargin.poseidon.cipher import (
    ciphertext_length,
    decrypt_with,
    encrypt_with,
    initial_state,
    poseidon_decrypt,
    poseidon_encrypt,
)
from zkmargin.poseidon.permutation import get_permutation

# hyperledger-labs/zeto go-sdk internal/crypto/encryption_test.go (TestPoseidonEncrypt): the same
# construction, but its permutation step is circomlib's PoseidonEx(4, 4), i.e. the width-5
# permutation of [0, *state] truncated to 4 elements, where zk-kit uses the width-4 permutation
ZETO_KEY = (
    2225468530552752510522780019536893048169408270351832766087923920964657502364,
    18264896395019517559018400396898398442219687903646821466907778802937824776999,
)
ZETO_NONCE = 220373351579243596212522709113509916796
ZETO_MESSAGE = [1234567890, 2345678901]
ZETO_CIPHERTEXT = [
    3623473636383738070031324804097049685564466189577273141109672613904615191520,
    14192366070411288656840625597415252300006763456323771445497376523077328650161,
    8948874854696341437962075211230225158124203775185169948359228967178039019393,
    13654519867376896827561074824557193869787926453227340059166840999629617764240,
]


def zeto_permutation(state):
    return poseidon_permutation([0, *state], "bn128")[:4]


def random_message(curve, length, seed):
    rng = random.Random(seed)
    return [rng.randrange(curve.r) for _ in range(length)]


KEY = (123456789, 987654321)


def test_construction_matches_a_published_vector_byte_for_byte():
    r = get_permutation("bn128", 5).r
    assert encrypt_with(zeto_permutation, r, ZETO_MESSAGE, ZETO_KEY, ZETO_NONCE) == ZETO_CIPHERTEXT
    assert decrypt_with(zeto_permutation, r, ZETO_CIPHERTEXT, ZETO_KEY, ZETO_NONCE, 2) == ZETO_MESSAGE
    tampered = [*ZETO_CIPHERTEXT[:3], ZETO_CIPHERTEXT[3] + 1]
    with pytest.raises(MalformedInputError, match="tag"):
        decrypt_with(zeto_permutation, r, tampered, ZETO_KEY, ZETO_NONCE, 2)


def test_our_cipher_is_the_width_4_instance(curve):
    # zk-kit's layout: permute [0, k0, k1, N + l*2^128] with the width-4 permutation, add the block
    message = random_message(curve, 2, seed=1)
    state = poseidon_permutation([0, *KEY, 7 + (2 << 128)], curve)
    first_block = [(s + m) % curve.r for s, m in zip(state[1:], [*message, 0])]
    tag = poseidon_permutation([state[0], *first_block], curve)[1]
    assert poseidon_encrypt(message, KEY, 7, curve) == [*first_block, tag]


@pytest.mark.parametrize("length", [0, 1, 2, 3, 4, 5, 6, 7, 35])
def test_round_trip(curve, length):
    message = random_message(curve, length, seed=length)
    ciphertext = poseidon_encrypt(message, KEY, 5, curve)
    assert len(ciphertext) == ciphertext_length(length) == 3 * -(-length // 3) + 1
    assert poseidon_decrypt(ciphertext, KEY, 5, length, curve) == message


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda c, k, n, length: (c, (k[0] + 1, k[1]), n, length), id="wrong key"),
        pytest.param(lambda c, k, n, length: (c, k, n + 1, length), id="wrong nonce"),
        pytest.param(lambda c, k, n, length: (c, k, n, length - 1), id="shorter length, same blocks"),
        pytest.param(lambda c, k, n, length: ([c[0] + 1, *c[1:]], k, n, length), id="changed element"),
        pytest.param(lambda c, k, n, length: ([*c[:-1], c[-1] + 1], k, n, length), id="changed tag"),
    ],
)
def test_decryption_refuses_a_wrong_tag(curve, change):
    message = random_message(curve, 5, seed=2)
    ciphertext = poseidon_encrypt(message, KEY, 9, curve)
    with pytest.raises(MalformedInputError, match="authentication tag does not match"):
        poseidon_decrypt(*change(ciphertext, KEY, 9, 5), curve)


def test_decryption_refuses_a_length_that_does_not_fit_the_ciphertext(curve):
    ciphertext = poseidon_encrypt([1, 2, 3, 4], KEY, 0, curve)
    with pytest.raises(MalformedInputError, match="has 7 elements, got 8"):
        poseidon_decrypt([*ciphertext, 0], KEY, 0, 4, curve)
    with pytest.raises(MalformedInputError, match="has 4 elements, got 7"):
        poseidon_decrypt(ciphertext, KEY, 0, 3, curve)


def test_decryption_refuses_nonzero_padding(curve):
    # a ciphertext made with the IV of length 4 but a nonzero fifth element: the tag matches
    perm = get_permutation(curve, 4)
    state = initial_state(KEY, 0, 4)
    ciphertext = []
    for block in ([1, 2, 3], [4, 5, 0]):
        state = perm(state)
        state[1:] = [(s + m) % curve.r for s, m in zip(state[1:], block)]
        ciphertext.extend(state[1:])
    ciphertext.append(perm(state)[1])
    with pytest.raises(MalformedInputError, match="padding"):
        poseidon_decrypt(ciphertext, KEY, 0, 4, curve)


def test_inputs_out_of_range_are_refused(curve):
    with pytest.raises(MalformedInputError, match="nonce"):
        poseidon_encrypt([1], KEY, 1 << 128, curve)
    with pytest.raises(MalformedInputError, match="nonce"):
        poseidon_encrypt([1], KEY, -1, curve)
    with pytest.raises(MalformedInputError, match="below the scalar field modulus"):
        poseidon_encrypt([curve.r], KEY, 0, curve)
    with pytest.raises(MalformedInputError, match="below the scalar field modulus"):
        poseidon_decrypt([curve.r, 0, 0, 0], KEY, 0, 1, curve)
    with pytest.raises(MalformedInputError, match="two field elements"):
        poseidon_encrypt([1], (1, 2, 3), 0, curve)
