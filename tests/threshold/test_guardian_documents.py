"""A guardian's share at rest and the published guardian set: round trips and refusals."""

from __future__ import annotations

import json

import pytest

from tests.threshold.helpers import run_dkg
from zkmargin.edwards import BABY_JUBJUB, JUBJUB, add, point_to_json
from zkmargin.errors import MalformedInputError
from zkmargin.threshold import GuardianSet, GuardianShare
from zkmargin.threshold.guardians import (
    dumps,
    guardian_set_from_json,
    guardian_set_to_json,
    guardian_share_from_json,
    guardian_share_to_json,
)


@pytest.fixture(scope="module", params=[BABY_JUBJUB, JUBJUB], ids=str)
def two_of_three(request):
    return run_dkg(request.param, 2, 3, seed=3)


def test_share_document_round_trip(two_of_three):
    share = two_of_three.shares[2]
    document = guardian_share_to_json(share)
    assert document["format"] == "zkmargin-guardian-share" and document["index"] == 2
    assert document["transcript_digest"] == two_of_three.transcript.digest()
    assert guardian_share_from_json(dumps(document)) == share
    assert str(share.share) not in repr(share)  # the secret stays out of logs


def test_guardian_set_round_trip(two_of_three):
    public = two_of_three.transcript.guardian_set()
    assert guardian_set_from_json(json.dumps(guardian_set_to_json(public))) == public


def test_a_share_that_is_not_the_guardians_is_refused(two_of_three):
    ec = two_of_three.params.curve
    document = guardian_share_to_json(two_of_three.shares[2])
    cases = {
        "does not match the verification key of guardian 2": {
            **document,
            "share": str((two_of_three.shares[2].share + 1) % ec.order),
        },
        "does not match the verification key of guardian 1": {**document, "index": 1},
        "index: expected an integer in 1..3": {**document, "index": 4},
        "share: must not be zero": {**document, "share": "0"},
        "share: not below the modulus": {**document, "share": str(ec.order)},
        "share: expected a canonical decimal": {**document, "share": int(document["share"])},
    }
    for message, bad in cases.items():
        with pytest.raises(MalformedInputError, match=message):
            guardian_share_from_json(bad)


def test_inconsistent_public_keys_are_refused(two_of_three):
    ec = two_of_three.params.curve
    document = guardian_set_to_json(two_of_three.transcript.guardian_set())
    keys = document["verification_keys"]
    moved = point_to_json(add(ec, tuple(int(v) for v in keys[2]), ec.base))
    moved_key = point_to_json(add(ec, tuple(int(v) for v in document["group_key"]), ec.base))
    cases = {
        "verification key of guardian 3: not on the polynomial": {**document, "verification_keys": [*keys[:2], moved]},
        "group key: not the value at 0": {**document, "group_key": moved_key},
        r"verification_keys\[0\]: not in the prime-order subgroup": {
            **document,
            "verification_keys": [["0", str(ec.p - 1)], *keys[1:]],
        },
        "verification_keys: expected 3 entries": {**document, "verification_keys": keys[:2]},
        "threshold: expected an integer in 1..3": {**document, "threshold": 4},
        "threshold: expected an integer": {**document, "threshold": True},
        "transcript digest: expected 64 lowercase hex": {**document, "transcript_digest": "AB" * 32},
        "curve: expected one of": {**document, "curve": "ed25519"},
        "format is not 'zkmargin-guardian-set'": {**document, "format": "zkmargin-guardian-share"},
        "unsupported version": {**document, "version": "1"},
        "unknown field 'share'": {**document, "share": "1"},
        "missing field 'group_key'": {k: v for k, v in document.items() if k != "group_key"},
    }
    for message, bad in cases.items():
        with pytest.raises(MalformedInputError, match=message):
            guardian_set_from_json(bad)
    for text, message in [("", "empty"), ("[1]", "expected a JSON object"), ('{"a": 1, "a": 2}', "a")]:
        with pytest.raises(MalformedInputError, match=message):
            guardian_set_from_json(text)


def test_the_dataclasses_check_themselves(two_of_three):
    public = two_of_three.transcript.guardian_set()
    with pytest.raises(MalformedInputError, match="does not match the verification key"):
        GuardianShare(public, 1, two_of_three.shares[2].share)
    with pytest.raises(MalformedInputError, match="share: not in"):
        GuardianShare(public, 1, -1)
    with pytest.raises(MalformedInputError, match="verification keys: expected 3, got 2"):
        GuardianSet(public.curve, 2, 3, public.group_key, public.verification_keys[:2], public.transcript_digest)
