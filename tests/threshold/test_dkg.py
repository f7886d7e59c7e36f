"""Joint-Feldman key generation: honest runs, cheating dealers, false complaints, transcripts."""

from __future__ import annotations

import dataclasses
import itertools
import json

import pytest

from tests.threshold.helpers import honest_delivery, recover_secret, run_dkg
from zkmargin.edwards import BABY_JUBJUB, IDENTITY, add, base_mul, mul
from zkmargin.errors import MalformedInputError
from zkmargin.threshold import (
    Complaint,
    ComplaintAnswer,
    DkgFailedError,
    DkgParameters,
    InconsistentShareError,
    SubShare,
    answer_complaints,
    conclude,
    deal,
    guardian_share,
)
from zkmargin.threshold.dkg import (
    broadcast_from_json,
    broadcast_to_json,
    transcript_from_json,
    transcript_to_json,
)


def _group_key_of(run, dealers):
    ec = run.params.curve
    key = IDENTITY
    for d in run.dealings:
        if d.broadcast.dealer in dealers:
            key = add(ec, key, d.broadcast.commitments[0])
    return key


@pytest.mark.parametrize(("threshold", "guardians"), [(1, 1), (2, 3), (3, 5), (4, 7)])
def test_every_t_subset_of_shares_holds_the_same_secret_behind_the_group_key(ec, threshold, guardians):
    run = run_dkg(ec, threshold, guardians)
    public = run.transcript.guardian_set()
    assert run.transcript.qualified == tuple(range(1, guardians + 1)) and not run.complaints
    assert public.group_key == _group_key_of(run, run.transcript.qualified)
    secrets_seen = {
        recover_secret(ec, {j: run.shares[j].share for j in subset})
        for subset in itertools.combinations(range(1, guardians + 1), threshold)
    }
    assert len(secrets_seen) == 1
    (secret,) = secrets_seen
    assert base_mul(ec, secret) == public.group_key
    for j, share in run.shares.items():
        assert base_mul(ec, share.share) == public.verification_keys[j - 1]
        # no single dealer's constant term is the key (nobody dealt it whole)
        assert all(d.broadcast.commitments[0] != public.group_key for d in run.dealings) or guardians == 1


def test_fewer_than_t_shares_interpolate_to_another_secret(ec):
    run = run_dkg(ec, 3, 5)
    public = run.transcript.guardian_set()
    for subset in itertools.combinations(range(1, 6), 2):
        guess = recover_secret(ec, {j: run.shares[j].share for j in subset})
        assert base_mul(ec, guess) != public.group_key


def _wrong_sub_share_to(cheater, victim):
    def deliver(dealing, recipient):
        sub_share = honest_delivery(dealing, recipient)
        if dealing.broadcast.dealer == cheater and recipient == victim:
            return dataclasses.replace(sub_share, value=sub_share.value + 1)
        return sub_share

    return deliver


def _answer_with_what_was_sent(deliver):
    def answer(dealing, complaints):
        return [
            ComplaintAnswer(c.dealer, c.complainer, deliver(dealing, c.complainer).value)
            for c in complaints
            if c.dealer == dealing.broadcast.dealer
        ]

    return answer


def test_a_dealer_of_a_wrong_sub_share_is_named_and_dropped_and_the_key_stays_consistent(ec):
    deliver = _wrong_sub_share_to(cheater=2, victim=4)
    run = run_dkg(ec, 3, 5, deliver=deliver, answer=_answer_with_what_was_sent(deliver))
    assert [(c.complainer, c.dealer, c.reason) for c in run.complaints] == [
        (4, 2, "sub-share does not match the commitments")
    ]
    assert run.transcript.qualified == (1, 3, 4, 5)
    assert "answered the complaint of guardian 4 with a sub-share that does not match" in run.transcript.disqualified[2]
    public = run.transcript.guardian_set()
    assert public.group_key == _group_key_of(run, {1, 3, 4, 5})
    for subset in itertools.combinations(range(1, 6), 3):
        secret = recover_secret(ec, {j: run.shares[j].share for j in subset})
        assert base_mul(ec, secret) == public.group_key


def test_a_dealer_that_ignores_a_complaint_is_disqualified(ec):
    run = run_dkg(ec, 2, 3, deliver=_wrong_sub_share_to(cheater=1, victim=3), answer=lambda dealing, cs: [])
    assert run.transcript.disqualified == {1: "did not answer the complaint of guardian 3"}
    assert run.transcript.qualified == (2, 3)


def test_a_withheld_sub_share_is_a_complaint_and_a_correct_answer_clears_the_dealer(ec):
    def deliver(dealing, recipient):
        return None if (dealing.broadcast.dealer, recipient) == (3, 1) else honest_delivery(dealing, recipient)

    run = run_dkg(ec, 2, 3, deliver=deliver)
    assert [(c.complainer, c.dealer, c.reason) for c in run.complaints] == [(1, 3, "no sub-share received")]
    assert run.transcript.qualified == (1, 2, 3) and len(run.transcript.answers) == 1
    # guardian 1 takes dealer 3's sub-share from the public answer
    assert base_mul(ec, run.shares[1].share) == run.transcript.guardian_set().verification_keys[0]


def test_a_false_complaint_does_not_disqualify_an_honest_dealer(ec):
    params = DkgParameters(ec, 2, 3, "false-complaint")
    dealings = [deal(params, i) for i in (1, 2, 3)]
    lie = Complaint(complainer=3, dealer=1, reason="sub-share does not match the commitments")
    answers = answer_complaints(params, dealings[0], [lie])
    transcript = conclude(params, [d.broadcast for d in dealings], [lie], answers)
    assert transcript.qualified == (1, 2, 3) and not transcript.disqualified


def test_a_copied_broadcast_fails_its_proof_of_knowledge(ec):
    """Dealer 2 replays dealer 1's commitments and proof: the proof is bound to dealer 1."""
    params = DkgParameters(ec, 2, 3, "copy")
    dealings = [deal(params, i) for i in (1, 2, 3)]
    copied = dataclasses.replace(dealings[0].broadcast, dealer=2)
    broadcasts = [dealings[0].broadcast, copied, dealings[2].broadcast]
    transcript = conclude(params, broadcasts, [], [])
    assert transcript.disqualified == {2: "its proof of knowledge of the constant term does not verify"}


def test_a_proof_of_knowledge_from_another_session_fails(ec):
    params = DkgParameters(ec, 2, 3, "one")
    other = DkgParameters(ec, 2, 3, "two")
    dealings = [deal(params, i) for i in (1, 2)] + [deal(other, 3)]
    transcript = conclude(params, [d.broadcast for d in dealings], [], [])
    assert transcript.qualified == (1, 2) and 3 in transcript.disqualified


def test_equivocation_wrong_shape_and_absence_disqualify(ec):
    params = DkgParameters(ec, 2, 5, "shapes")
    dealings = [deal(params, i) for i in (1, 2, 3, 4, 5)]
    twice = deal(params, 1).broadcast
    short = dataclasses.replace(dealings[2].broadcast, commitments=dealings[2].broadcast.commitments[:1])
    broadcasts = [dealings[0].broadcast, twice, dealings[1].broadcast, short, dealings[4].broadcast]
    transcript = conclude(params, broadcasts, [], [])
    assert transcript.qualified == (2, 5)
    assert transcript.disqualified == {
        1: "broadcast two different commitment lists",
        3: "broadcast 1 commitments, expected 2",
        4: "sent no broadcast",
    }
    with pytest.raises(DkgFailedError, match="1 qualified dealers, 2 needed.*guardian 4: sent no broadcast"):
        conclude(params, [dealings[1].broadcast], [], [])


def test_a_guardian_holding_a_bad_sub_share_without_complaining_cannot_build_a_share(ec):
    run = run_dkg(ec, 2, 3)
    bad = [dataclasses.replace(s, value=(s.value + 1) % ec.order) if s.dealer == 2 else s for s in run.received[1]]
    with pytest.raises(InconsistentShareError, match="qualified dealer 2"):
        guardian_share(run.transcript, 1, bad)
    with pytest.raises(MalformedInputError, match="addressed to guardian 2"):
        guardian_share(run.transcript, 1, run.received[2])
    with pytest.raises(MalformedInputError, match="two different sub-shares from dealer 1"):
        guardian_share(run.transcript, 1, [*run.received[1], SubShare(1, 1, 5)])


def test_transcript_round_trip_and_digest(ec):
    run = run_dkg(ec, 3, 5, deliver=_wrong_sub_share_to(2, 4), answer=lambda dealing, cs: [])
    document = transcript_to_json(run.transcript)
    text = json.dumps(document)
    again = transcript_from_json(text)
    assert again == run.transcript and again.digest() == run.transcript.digest()
    assert run.transcript.guardian_set().transcript_digest == run.transcript.digest()


def test_a_transcript_whose_outcome_does_not_follow_from_its_messages_is_refused(ec):
    run = run_dkg(ec, 2, 3, deliver=_wrong_sub_share_to(1, 2), answer=lambda dealing, cs: [])
    document = transcript_to_json(run.transcript)
    forged = {**document, "qualified": [1, 2, 3], "disqualified": {}}
    with pytest.raises(MalformedInputError, match="not what the messages give"):
        transcript_from_json(forged)
    without_complaint = {**document, "complaints": []}
    with pytest.raises(MalformedInputError, match="not what the messages give"):
        transcript_from_json(without_complaint)


def test_malformed_broadcasts_are_refused_with_the_field_named(ec):
    params = DkgParameters(ec, 2, 3, "json")
    broadcast = deal(params, 1).broadcast
    good = broadcast_to_json(params, broadcast)
    assert broadcast_from_json(params, json.dumps(good)) == broadcast
    order_two = [str(0), str(ec.p - 1)]
    cases = {
        "subgroup": {**good, "commitments": [order_two, good["commitments"][1]]},
        "identity point": {**good, "commitments": [["0", "1"], good["commitments"][1]]},
        "not a point": {**good, "commitments": [["1", "1"], good["commitments"][1]]},
        "expected 2 entries": {**good, "commitments": good["commitments"][:1]},
        "canonical decimal": {**good, "commitments": [["0x1", "2"], good["commitments"][1]]},
        "not below the modulus": {**good, "commitments": [[str(ec.p), "1"], good["commitments"][1]]},
        "unknown field 'extra'": {**good, "extra": 1},
        "missing field 'dealer'": {k: v for k, v in good.items() if k != "dealer"},
        "dealer: expected an integer in 1..3": {**good, "dealer": 4},
        "belongs to session 'other'": {**good, "session": "other"},
        "proof_of_knowledge.response": {**good, "proof_of_knowledge": {"challenge": "1", "response": str(ec.order)}},
        "format is not": {**good, "format": "zkmargin-dkg-complaint"},
    }
    for message, document in cases.items():
        with pytest.raises(MalformedInputError, match=message):
            broadcast_from_json(params, document)
    with pytest.raises(MalformedInputError, match="duplicate|twice"):
        broadcast_from_json(params, '{"format": "a", "format": "b"}')


def test_parameters_are_validated():
    for threshold, guardians, session in [(0, 3, "s"), (4, 3, "s"), (1, 65, "s"), (2, 3, ""), (2, 3, "a b")]:
        with pytest.raises(MalformedInputError):
            DkgParameters(BABY_JUBJUB, threshold, guardians, session)
    params = DkgParameters(BABY_JUBJUB, 2, 3, "s")
    with pytest.raises(MalformedInputError, match="dealer"):
        deal(params, 4)


def test_shares_of_the_group_secret_are_what_verification_keys_promise(ec):
    """VK_j from the public transcript alone equals s_j·B for the share guardian j computed."""
    run = run_dkg(ec, 3, 4)
    commitments = run.transcript.aggregate_commitments()
    for j, share in run.shares.items():
        expected = IDENTITY
        for k, c in enumerate(commitments):
            expected = add(ec, expected, mul(ec, j**k, c))
        assert expected == base_mul(ec, share.share)
