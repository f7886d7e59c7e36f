"""The key ceremony through ``zkmargin guardian``: every guardian ends with a share of one key, a
cheating dealer is complained against and answered or disqualified, and a ceremony that cannot
make a key says why."""

from __future__ import annotations

import json

import pytest

from guardian.messages import (
    GUARDIAN_SET_NAME,
    TRANSCRIPT_NAME,
    broadcast_name,
    sub_share_name,
)
from tests.guardian.helpers import Ceremony, cheat_with_broadcast, ok
from zkmargin.edwards import base_mul, point_to_json
from zkmargin.threshold.dkg import transcript_from_json
from zkmargin.threshold.guardians import guardian_set_from_json

SIZES = [
    pytest.param(2, 3, "bn254", id="2-of-3-babyjubjub"),
    pytest.param(3, 5, "bls12381", id="3-of-5-jubjub"),
    pytest.param(3, 5, "babyjubjub", id="3-of-5-babyjubjub"),
    pytest.param(2, 3, "jubjub", id="2-of-3-jubjub"),
]


def lagrange_at_zero(indices: list[int], j: int, order: int) -> int:
    numerator, denominator = 1, 1
    for k in indices:
        if k != j:
            numerator = numerator * k % order
            denominator = denominator * (k - j) % order
    return numerator * pow(denominator, -1, order) % order


def assert_every_guardian_holds_the_published_key(ceremony: Ceremony, qualified: list[int]) -> None:
    guardian_set = guardian_set_from_json(ceremony.published(GUARDIAN_SET_NAME))
    transcript = transcript_from_json(ceremony.published(TRANSCRIPT_NAME))
    assert transcript.digest() == guardian_set.transcript_digest
    assert list(transcript.qualified) == qualified
    for j in ceremony.indices():
        shown = ceremony.show(j)
        assert shown["group_key"] == point_to_json(guardian_set.group_key)
        assert shown["verification_key"] == point_to_json(guardian_set.verification_key(j))
        share = ceremony.state(j).share
        assert share is not None and share.guardian_set == guardian_set
    # the first t shares, combined, are the discrete log of the group key: the key is really shared
    ec, t = guardian_set.curve, ceremony.threshold
    first = list(range(1, t + 1))
    secret = sum(lagrange_at_zero(first, j, ec.order) * ceremony.state(j).share.share for j in first) % ec.order
    assert base_mul(ec, secret) == guardian_set.group_key


@pytest.mark.parametrize(("threshold", "guardians", "curve"), SIZES)
def test_a_ceremony_ends_with_one_group_key_in_every_file_and_the_set(tmp_path, threshold, guardians, curve):
    ceremony = Ceremony(tmp_path, threshold, guardians, curve)
    ceremony.up_to("answer")
    finished = ceremony.all("finish")
    guardian_set = guardian_set_from_json(ceremony.published(GUARDIAN_SET_NAME))
    expected_curve = {"bn254": "babyjubjub", "bls12381": "jubjub"}.get(curve, curve)
    assert guardian_set.curve.name == expected_curve
    assert (guardian_set.threshold, guardian_set.guardians) == (threshold, guardians)
    printed = {result.stdout.strip() for result in finished}
    assert printed == {f"group key {', '.join(point_to_json(guardian_set.group_key))}"}
    assert_every_guardian_holds_the_published_key(ceremony, list(ceremony.indices()))
    assert ceremony.published(TRANSCRIPT_NAME)["complaints"] == []
    # the share is made once: finishing again is refused, and the dealing is no longer kept
    again = ceremony.step("finish", 1)
    assert again.exit_code == 2 and "already holds its share" in again.output
    assert ceremony.state(1).dealing is None and ceremony.state(1).received is None


def test_a_sealed_sub_share_altered_on_the_way_is_complained_about_and_answered(tmp_path):
    ceremony = Ceremony(tmp_path, 2, 3, "bn254")
    ceremony.up_to("deal")
    path = ceremony.shared / sub_share_name(1, 2)
    sealed = json.loads(path.read_text())
    sealed["ciphertext"] = ("0" if sealed["ciphertext"][0] != "0" else "1") + sealed["ciphertext"][1:]
    path.write_text(json.dumps(sealed))

    checks = ceremony.all("check")
    assert "guardian 2 complains about dealer 1: sealed sub-share does not open" in checks[1].output
    assert "no complaint" in checks[0].output and "no complaint" in checks[2].output
    answers = ceremony.all("answer")
    assert "guardian 1 answered 1 complaints (of guardians 2)" in answers[0].output
    ceremony.all("finish")

    transcript = ceremony.published(TRANSCRIPT_NAME)
    assert [(c["complainer"], c["dealer"]) for c in transcript["complaints"]] == [(2, 1)]
    assert [(a["dealer"], a["recipient"]) for a in transcript["answers"]] == [(1, 2)]
    assert_every_guardian_holds_the_published_key(ceremony, [1, 2, 3])  # the answer cleared dealer 1


def test_a_dealer_whose_commitments_do_not_match_its_sub_shares_is_disqualified(tmp_path):
    ceremony = Ceremony(tmp_path, 3, 5, "bls12381")
    ceremony.up_to("deal")
    cheat_with_broadcast(ceremony, 4)

    checks = ceremony.all("check")
    for j in (1, 2, 3, 5):
        assert "complains about dealer 4: sub-share does not match the commitments" in checks[j - 1].output
    ceremony.all("answer")
    finished = ceremony.all("finish")

    assert "dealer 4 disqualified: answered the complaint of guardian 1 with a sub-share that does not match" \
        in finished[0].output
    assert ceremony.published(TRANSCRIPT_NAME)["disqualified"].keys() == {"4"}
    assert_every_guardian_holds_the_published_key(ceremony, [1, 2, 3, 5])


def test_too_many_cheating_dealers_end_the_ceremony_with_the_reason(tmp_path):
    ceremony = Ceremony(tmp_path, 2, 3, "bn254")
    ceremony.up_to("deal")
    cheat_with_broadcast(ceremony, 1)
    cheat_with_broadcast(ceremony, 2)
    ceremony.all("check")
    ceremony.all("answer")

    for j in ceremony.indices():
        result = ceremony.step("finish", j)
        assert result.exit_code == 1, result.output
        line = result.output.strip()
        assert line.startswith("error: key generation failed: 1 qualified dealers, 2 needed (disqualified: "
                               "guardian 1: answered the complaint of guardian 2"), line
        assert "\n" not in line and "Traceback" not in result.output
        assert ceremony.state(j).share is None
    assert not (ceremony.shared / GUARDIAN_SET_NAME).exists()


def test_a_broadcast_altered_without_its_dealers_signature_is_refused(tmp_path):
    ceremony = Ceremony(tmp_path, 2, 3, "jubjub")
    ceremony.up_to("deal")
    path = ceremony.shared / broadcast_name(3)
    signed = json.loads(path.read_text())
    signed["message"]["commitments"][1] = signed["message"]["commitments"][0]
    path.write_text(json.dumps(signed))

    result = ceremony.step("check", 1)
    assert result.exit_code == 2
    assert f"{path}: the signature of guardian 3 does not verify" in result.output
    assert ceremony.state(1).received is None  # nothing was recorded


def test_a_step_waits_for_every_message_and_names_the_missing_ones(tmp_path):
    ceremony = Ceremony(tmp_path, 2, 3, "bn254")
    ceremony.all("init")
    early = ceremony.step("deal", 1)
    assert early.exit_code == 0  # every card is in
    ceremony.step("deal", 2)
    waiting = ceremony.step("check", 1)
    assert waiting.exit_code == 2 and "lacks broadcast-3.json: wait until every guardian has sent it" in waiting.output
    ceremony.step("deal", 3)
    ok("dkg", "check", "--in", str(ceremony.shared), "--out", str(ceremony.shared), "--home", str(ceremony.home(1)))
    too_soon = ceremony.step("answer", 1)
    assert too_soon.exit_code == 2 and "lacks complaints-2.json, complaints-3.json" in too_soon.output
    not_checked = ceremony.step("finish", 2)
    assert not_checked.exit_code == 2 and "has not checked its sub-shares" in not_checked.output


def test_dealing_again_resends_the_same_dealing(tmp_path):
    ceremony = Ceremony(tmp_path, 2, 3, "bn254")
    ceremony.up_to("deal")
    before = (ceremony.shared / broadcast_name(2)).read_text()
    ceremony.step("deal", 2)
    assert (ceremony.shared / broadcast_name(2)).read_text() == before
    for step in ("check", "answer", "finish"):
        ceremony.all(step)
    assert_every_guardian_holds_the_published_key(ceremony, [1, 2, 3])


def test_a_guardian_that_concluded_otherwise_is_caught_by_the_set_in_the_folder(tmp_path):
    ceremony = Ceremony(tmp_path, 2, 3, "bn254")
    ceremony.up_to("answer")
    ceremony.step("finish", 1)
    published = ceremony.published(GUARDIAN_SET_NAME)
    published["transcript_digest"] = "0" * 64
    (ceremony.shared / GUARDIAN_SET_NAME).write_text(json.dumps(published))
    result = ceremony.step("finish", 2)
    assert result.exit_code == 2 and "already holds another document" in result.output
    assert ceremony.state(2).share is None
