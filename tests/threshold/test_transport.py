"""Sub-shares sealed between guardians: they open only for the recipient, from the dealer."""

from __future__ import annotations

import dataclasses
import json

import pytest

from tests.threshold.helpers import run_dkg
from zkmargin.edwards import BABY_JUBJUB
from zkmargin.errors import MalformedInputError
from zkmargin.threshold import (
    DkgParameters,
    check_dealings,
    conclude,
    deal,
    guardian_share,
)
from zkmargin.threshold.transport import (
    new_transport_key,
    open_sub_share,
    public_bytes,
    seal_sub_share,
    sealed_from_json,
    sealed_to_json,
)

PARAMS = DkgParameters(BABY_JUBJUB, 2, 3, "transport")


@pytest.fixture(scope="module")
def keys():
    return {j: new_transport_key() for j in (1, 2, 3)}


def test_a_whole_generation_over_sealed_messages(keys):
    dealings = [deal(PARAMS, i) for i in (1, 2, 3)]
    wire = [
        json.dumps(sealed_to_json(PARAMS, seal_sub_share(PARAMS, d.sub_share_for(j), keys[i], public_bytes(keys[j]))))
        for i, d in enumerate(dealings, start=1)
        for j in (1, 2, 3)
    ]
    inbox = {j: [] for j in (1, 2, 3)}
    for text in wire:
        sealed = sealed_from_json(PARAMS, text)
        dealer_key = public_bytes(keys[sealed.dealer])
        inbox[sealed.recipient].append(open_sub_share(PARAMS, sealed, keys[sealed.recipient], dealer_key))
    broadcasts = [d.broadcast for d in dealings]
    assert all(not check_dealings(PARAMS, j, broadcasts, inbox[j]) for j in inbox)
    transcript = conclude(PARAMS, broadcasts, [], [])
    shares = [guardian_share(transcript, j, inbox[j]) for j in inbox]
    assert [s.index for s in shares] == [1, 2, 3]


def test_a_sealed_sub_share_opens_only_as_sent(keys):
    sub_share = run_dkg(BABY_JUBJUB, 2, 3, session="transport").dealings[0].sub_share_for(2)
    sealed = seal_sub_share(PARAMS, sub_share, keys[1], public_bytes(keys[2]))
    assert open_sub_share(PARAMS, sealed, keys[2], public_bytes(keys[1])) == sub_share
    flipped = bytearray(sealed.ciphertext)
    flipped[0] ^= 1
    attempts = {
        "another recipient's key": (sealed, keys[3], public_bytes(keys[1]), PARAMS),
        "a forger posing as the dealer": (
            seal_sub_share(PARAMS, sub_share, new_transport_key(), public_bytes(keys[2])),
            keys[2],
            public_bytes(keys[1]),
            PARAMS,
        ),
        "a flipped ciphertext bit": (
            dataclasses.replace(sealed, ciphertext=bytes(flipped)), keys[2], public_bytes(keys[1]), PARAMS),
        "relabelled as dealer 3's": (dataclasses.replace(sealed, dealer=3), keys[2], public_bytes(keys[1]), PARAMS),
        "another session": (sealed, keys[2], public_bytes(keys[1]), DkgParameters(BABY_JUBJUB, 2, 3, "other")),
    }
    for candidate, key, sender, params in attempts.values():
        with pytest.raises(MalformedInputError, match="does not open"):
            open_sub_share(params, candidate, key, sender)


def test_sealed_json_is_checked(keys):
    sub_share = run_dkg(BABY_JUBJUB, 2, 3, session="transport").dealings[0].sub_share_for(2)
    document = sealed_to_json(PARAMS, seal_sub_share(PARAMS, sub_share, keys[1], public_bytes(keys[2])))
    for message, bad in {
        "another session": {**document, "session": "other"},
        "nonce: expected 12 bytes": {**document, "nonce": "00"},
        "ephemeral_key: expected lowercase hex": {**document, "ephemeral_key": "ZZ" * 32},
        "recipient: expected an integer in 1..3": {**document, "recipient": 9},
    }.items():
        with pytest.raises(MalformedInputError, match=message):
            sealed_from_json(PARAMS, bad)
    with pytest.raises(MalformedInputError, match="small-order"):
        seal_sub_share(PARAMS, sub_share, keys[1], bytes(32))
