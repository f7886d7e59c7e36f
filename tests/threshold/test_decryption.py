"""Threshold decryption: every t-subset gives S = s·R, t − 1 cannot, bad shares are named."""

from __future__ import annotations

import dataclasses
import itertools
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.threshold.helpers import run_dkg
from zkmargin.edwards import BABY_JUBJUB, IDENTITY, JUBJUB, add, base_mul, mul
from zkmargin.errors import MalformedInputError
from zkmargin.threshold import (
    DecryptionShare,
    NotEnoughSharesError,
    combine_decryption_shares,
    decryption_share,
    verify_decryption_share,
)
from zkmargin.threshold.decryption import (
    decryption_share_from_json,
    decryption_share_to_json,
)
from zkmargin.threshold.dleq import DleqProof
from zkmargin.threshold.polynomials import interpolate_in_group

EPHEMERAL_SCALAR = 0xC0FFEE0123456789
CONTEXT = b"liquidation request 17"


@pytest.fixture(scope="module", params=[BABY_JUBJUB, JUBJUB], ids=str)
def three_of_five(request):
    ec = request.param
    run = run_dkg(ec, 3, 5, seed=7)
    ephemeral = base_mul(ec, EPHEMERAL_SCALAR)
    shares = {j: decryption_share(s, ephemeral, context=CONTEXT) for j, s in run.shares.items()}
    expected = mul(ec, EPHEMERAL_SCALAR, run.transcript.guardian_set().group_key)  # r·Y, the sender's side
    return ec, run.transcript.guardian_set(), ephemeral, shares, expected


def test_every_t_subset_recovers_the_senders_shared_point(three_of_five):
    _ec, public, ephemeral, shares, expected = three_of_five
    for subset in itertools.combinations(range(1, 6), 3):
        result = combine_decryption_shares(public, ephemeral, [shares[j] for j in subset], context=CONTEXT)
        assert result.shared_point == expected and result.used == subset and not result.refused
    # more than t: the lowest t valid are used, same point
    assert combine_decryption_shares(public, ephemeral, list(shares.values()), context=CONTEXT).shared_point == expected


def test_t_minus_one_shares_are_refused_and_would_give_another_point(three_of_five):
    ec, public, ephemeral, shares, expected = three_of_five
    for subset in itertools.combinations(range(1, 6), 2):
        with pytest.raises(NotEnoughSharesError, match="2 valid decryption shares, 3 needed"):
            combine_decryption_shares(public, ephemeral, [shares[j] for j in subset], context=CONTEXT)
        # combined as if two were enough: a point, but not S
        assert interpolate_in_group(ec, {j: shares[j].point for j in subset}) != expected


def test_duplicates_do_not_count_twice(three_of_five):
    _ec, public, ephemeral, shares, _ = three_of_five
    with pytest.raises(NotEnoughSharesError, match="2 valid"):
        combine_decryption_shares(public, ephemeral, [shares[1], shares[1], shares[2]], context=CONTEXT)


@pytest.fixture(scope="module")
def bad_share_cases(three_of_five):
    """Guardian 2 misbehaving in each way the combiner must catch, with the reason expected."""
    ec, _public, _ephemeral, shares, _ = three_of_five
    honest = shares[2]
    run = run_dkg(ec, 3, 5, seed=7)  # same seed: the same guardian set
    for_another_r = decryption_share(run.shares[2], base_mul(ec, 31337), context=CONTEXT)
    challenge, response = honest.proof.challenge, honest.proof.response
    return {
        "wrong D": (dataclasses.replace(honest, point=add(ec, honest.point, ec.base)), "DLEQ proof does not verify"),
        "proof of another R": (dataclasses.replace(honest, proof=for_another_r.proof), "DLEQ proof does not verify"),
        "tampered challenge": (
            dataclasses.replace(honest, proof=DleqProof((challenge + 1) % ec.order, response)),
            "DLEQ proof does not verify",
        ),
        "tampered response": (
            dataclasses.replace(honest, proof=DleqProof(challenge, (response + 1) % ec.order)),
            "DLEQ proof does not verify",
        ),
        "off-subgroup D": (
            dataclasses.replace(honest, point=add(ec, honest.point, (0, ec.p - 1))),
            "not in the prime-order subgroup",
        ),
        "identity D": (dataclasses.replace(honest, point=IDENTITY), "identity point is not allowed"),
        "guardian 3's share and proof under guardian 2's name": (
            dataclasses.replace(shares[3], guardian=2),
            "DLEQ proof does not verify",
        ),
        "response out of range": (
            dataclasses.replace(honest, proof=DleqProof(challenge, ec.order)),
            "proof response",
        ),
    }


CASES = [
    "wrong D",
    "proof of another R",
    "tampered challenge",
    "tampered response",
    "off-subgroup D",
    "identity D",
    "guardian 3's share and proof under guardian 2's name",
    "response out of range",
]


@pytest.mark.parametrize("case", CASES)
def test_a_bad_share_is_refused_and_its_guardian_named(three_of_five, bad_share_cases, case):
    _ec, public, ephemeral, shares, expected = three_of_five
    bad, reason = bad_share_cases[case]
    assert not verify_decryption_share(public, ephemeral, bad, context=CONTEXT)
    # with t valid shares besides it: the result is right, and guardian 2 is named
    result = combine_decryption_shares(public, ephemeral, [bad, shares[1], shares[4], shares[5]], context=CONTEXT)
    assert result.shared_point == expected and result.used == (1, 4, 5)
    assert list(result.refused) == [2] and reason in result.refused[2]
    # without: the combination fails and names guardian 2
    with pytest.raises(NotEnoughSharesError, match=f"guardian 2: .*{reason}") as caught:
        combine_decryption_shares(public, ephemeral, [bad, shares[1], shares[4]], context=CONTEXT)
    assert list(caught.value.refused) == [2]


def test_a_share_made_for_another_request_is_refused(three_of_five):
    _ec, public, ephemeral, shares, _ = three_of_five
    assert verify_decryption_share(public, ephemeral, shares[1], context=CONTEXT)
    assert not verify_decryption_share(public, ephemeral, shares[1], context=b"liquidation request 18")


def test_a_share_for_an_unknown_guardian_is_named(three_of_five):
    _ec, public, ephemeral, shares, _ = three_of_five
    stranger = dataclasses.replace(shares[1], guardian=6)
    with pytest.raises(NotEnoughSharesError, match="guardian 6: guardian: expected a guardian index in 1..5"):
        combine_decryption_shares(public, ephemeral, [stranger, shares[2], shares[3]], context=CONTEXT)


def test_the_ephemeral_point_is_checked(three_of_five):
    ec, public, ephemeral, shares, _ = three_of_five
    for bad, message in [(IDENTITY, "identity"), (add(ec, ephemeral, (0, ec.p - 1)), "subgroup")]:
        with pytest.raises(MalformedInputError, match=f"ephemeral point R: .*{message}"):
            combine_decryption_shares(public, bad, list(shares.values()), context=CONTEXT)


def test_decryption_share_json(three_of_five):
    ec, public, _ephemeral, shares, _expected = three_of_five
    document = decryption_share_to_json(public, shares[3])
    assert decryption_share_from_json(public, json.dumps(document)) == shares[3]
    other_curve = "jubjub" if ec.name == "babyjubjub" else "babyjubjub"
    cases = {
        "curve .* is not the guardians'": {**document, "curve": other_curve},
        "another guardian set": {**document, "transcript_digest": "0" * 64},
        "share: not in the prime-order subgroup": {**document, "share": ["0", str(ec.p - 1)]},
        r"share\[1\]: expected a canonical decimal": {**document, "share": [document["share"][0], 5]},
        "guardian: expected an integer in 1..5": {**document, "guardian": 0},
        "unknown field 'context'": {**document, "context": ""},
        "missing field 'proof'": {k: v for k, v in document.items() if k != "proof"},
        "unsupported version": {**document, "version": 2},
        "expected a JSON object": [],
    }
    for message, bad in cases.items():
        with pytest.raises(MalformedInputError, match=message):
            decryption_share_from_json(public, bad)
    with pytest.raises(MalformedInputError, match="not UTF-8|JSON"):
        decryption_share_from_json(public, b"\xff{")


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_guardian_sets_and_subsets(data):
    ec = data.draw(st.sampled_from([BABY_JUBJUB, JUBJUB]), label="curve")
    guardians = data.draw(st.integers(1, 7), label="n")
    threshold = data.draw(st.integers(1, guardians), label="t")
    run = run_dkg(ec, threshold, guardians, seed=data.draw(st.integers(0, 2**32), label="seed"))
    public = run.transcript.guardian_set()
    r = data.draw(st.integers(1, ec.order - 1), label="r")
    ephemeral = base_mul(ec, r)
    expected = mul(ec, r, public.group_key)
    chosen = data.draw(
        st.lists(st.integers(1, guardians), min_size=threshold, max_size=guardians, unique=True), label="subset"
    )
    shares = [decryption_share(run.shares[j], ephemeral) for j in chosen]
    result = combine_decryption_shares(public, ephemeral, shares)
    assert result.shared_point == expected and result.used == tuple(sorted(chosen)[:threshold])
    if threshold > 1:
        fewer = shares[: threshold - 1]
        with pytest.raises(NotEnoughSharesError):
            combine_decryption_shares(public, ephemeral, fewer)
        assert interpolate_in_group(ec, {s.guardian: s.point for s in fewer}) != expected


def test_decryption_share_refuses_a_bad_ephemeral_point(three_of_five):
    ec, _public, ephemeral, _shares, _ = three_of_five
    run = run_dkg(ec, 3, 5, seed=7)
    with pytest.raises(MalformedInputError, match="identity"):
        decryption_share(run.shares[1], IDENTITY)
    assert isinstance(decryption_share(run.shares[1], ephemeral), DecryptionShare)
