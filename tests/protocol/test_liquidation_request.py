"""The liquidation request both sides share: its strict codec, the operator's signature, the share
context, and check_rules naming each unmet rule."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from circuits.protocol.errors import LiquidationFormatError, LiquidationRefused
from circuits.protocol.liquidation import (
    MAX_CLOCK_SKEW,
    REQUEST_DOMAIN,
    LiquidationRequest,
    check_rules,
    operator_key_hex,
    rule_deadline,
    share_context,
    sign_request,
    signature_valid,
)

NOW = datetime(2026, 12, 3, 19, 0, tzinfo=UTC)
DEADLINE = NOW - timedelta(seconds=120)


def _request(**changes) -> LiquidationRequest:
    fields = dict(liquidation_id=7, account_id=3, reason="margin_call", epoch_id=2, deadline=DEADLINE,
                  grace_seconds=60, commitment=111, escrow_digest=222, circuit="transfer-escrow-markets2",
                  public_inputs=(3, 111, 5, 6, 222), requested_at=NOW)
    return LiquidationRequest(**(fields | changes))


def test_the_json_round_trips_to_the_same_canonical_bytes():
    request = _request(reason="fill_deadline", overdue_fills=(4, 9))
    text = request.to_json()
    assert LiquidationRequest.from_json(text) == request
    assert request.canonical_bytes() == REQUEST_DOMAIN + text.encode()
    assert json.loads(text)["deadline"] == "2026-12-03T18:58:00.000000Z"
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))


@pytest.mark.parametrize("change, message", [
    (lambda d: d | {"extra": 1}, "unknown field"),
    (lambda d: {k: v for k, v in d.items() if k != "circuit"}, "missing field"),
    (lambda d: d | {"commitment": "0111"}, "canonical decimal"),
    (lambda d: d | {"commitment": 111}, "canonical decimal"),
    (lambda d: d | {"epoch_id": True}, "must be an integer"),
    (lambda d: d | {"deadline": "2026-12-03T18:58:00Z"}, "ISO 8601"),
    (lambda d: d | {"reason": "bored"}, "reason must be one of"),
    (lambda d: d | {"overdue_fills": [9, 4]}, "increasing order"),
])
def test_the_codec_is_strict(change, message):
    data = json.loads(_request().to_json())
    with pytest.raises(LiquidationFormatError, match=message):
        LiquidationRequest.from_dict(change(data))


def test_floats_and_duplicate_keys_are_refused():
    text = _request().to_json()
    with pytest.raises(LiquidationFormatError, match="floats"):
        LiquidationRequest.from_json(text.replace('"epoch_id":2', '"epoch_id":2.0'))
    with pytest.raises(LiquidationFormatError, match="duplicate"):
        LiquidationRequest.from_json(text.replace('{"account_id":3', '{"account_id":3,"account_id":4'))


def test_the_signature_covers_every_field():
    key = Ed25519PrivateKey.generate()
    request = _request()
    signature = sign_request(key, request)
    assert signature_valid(operator_key_hex(key), request, signature)
    assert not signature_valid(operator_key_hex(key), replace(request, account_id=4), signature)
    assert not signature_valid(operator_key_hex(Ed25519PrivateKey.generate()), request, signature)
    with pytest.raises(LiquidationFormatError, match="128 lower-case hex"):
        signature_valid(operator_key_hex(key), request, signature.upper())


def test_shares_are_bound_to_one_request():
    assert share_context(_request()) != share_context(_request(liquidation_id=8))


def test_check_rules_allows_a_request_past_the_deadline_and_grace():
    check_rules(_request(), NOW, 60)
    assert rule_deadline(_request()) == DEADLINE + timedelta(seconds=60)
    check_rules(_request(reason="settlement", grace_seconds=0), NOW, 0)  # no grace outside a margin call


@pytest.mark.parametrize("request_, checker_grace, rule", [
    (_request(requested_at=DEADLINE + timedelta(seconds=30)), 60, "grace_not_over"),
    (_request(reason="settlement", requested_at=DEADLINE), 0, "deadline_not_passed"),
    (_request(grace_seconds=10), 60, "grace_period"),
    (_request(requested_at=NOW + MAX_CLOCK_SKEW + timedelta(seconds=1)), 60, "requested_in_future"),
    (_request(reason="fill_deadline"), 60, "evidence"),
    (_request(overdue_fills=(4,)), 60, "evidence"),
    (_request(public_inputs=(3, 5, 6, 222)), 60, "evidence"),
    (_request(escrow_digest=999), 60, "evidence"),
])
def test_check_rules_names_the_unmet_rule(request_, checker_grace, rule):
    with pytest.raises(LiquidationRefused) as refused:
        check_rules(request_, NOW, checker_grace)
    assert refused.value.rule == rule
