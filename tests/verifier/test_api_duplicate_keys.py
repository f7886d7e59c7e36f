"""A JSON body that gives a key twice in one object is refused (400, naming the key) on every
route, before anything is read or recorded: two parsers of one request must never see two
different documents."""

from __future__ import annotations

import json

import pytest

from circuits.protocol.fill_delivery import generate_key_pair
from circuits.protocol.oracle_report import sign_report
from tests.verifier.test_api_bad_input import assert_nothing_recorded, assert_refused, scene  # noqa: F401


def twice(document: dict, key: str, value) -> str:
    """``document`` as JSON text with ``key`` given a second time (last), as no serializer would."""
    text = json.dumps(document)
    return f'{text[:-1]}, {json.dumps(key)}: {json.dumps(value)}}}'


def post(api, path: str, text: str, headers: dict | None = None, content_type: str = "application/json"):
    return api.client.post(path, content=text.encode(), headers={"Content-Type": content_type, **(headers or {})})


def test_duplicate_json_keys_are_refused_on_every_route(scene):  # noqa: F811
    api, trader, epoch_id, deposit_id, submission = scene
    opening = {"genesis_salt": "7", "encryption_public_key": generate_key_pair().public_hex}
    # a duplicate inside the proof object (Python would keep the second pi_c: the danger)
    nested = json.dumps(submission.body).replace(
        json.dumps(submission.body["proof"]), twice(submission.body["proof"], "pi_c", submission.body["proof"]["pi_a"]))
    report = sign_report(api.oracle_keys[0], 0, 100, api.timestamp()).to_dict()

    cases = [
        ("/accounts", twice(opening, "genesis_salt", "8"), {}, "genesis_salt"),
        (f"/accounts/{trader.account_id}/deposits", twice({"amount": 5, "reference": "r-1"}, "amount", 500),
         api.operator, "amount"),
        (submission.path, twice(submission.body, "new_commitment", submission.body["new_commitment"]),
         trader.auth, "new_commitment"),
        (submission.path, nested, trader.auth, "pi_c"),
        (f"/accounts/{trader.account_id}/withdrawals",
         twice({"epoch_id": epoch_id, "amount": 1}, "amount", 2), trader.auth, "amount"),
        ("/oracle-reports", twice(report, "price", "1"), {}, "price"),
        ("/fills", twice({"account_id": trader.account_id, "reference": "f-1"}, "reference", "f-2"), api.venue,
         "reference"),
        ("/payouts/1/paid", twice({"payment_reference": "p"}, "payment_reference", "q"), api.operator,
         "payment_reference"),
        ("/no/such/route", twice({"a": 1}, "a", 2), {}, "'a'"),
    ]
    for path, text, headers, key in cases:
        body = assert_refused(post(api, path, text, headers), 400, f"key {key}" if key.startswith("'") else key)
        assert body["code"] == "malformed_input" and "more than once" in body["detail"], (path, body)
    # with a charset, and with no content type at all (FastAPI reads both as JSON)
    text = twice({"amount": 5, "reference": "r-2"}, "reference", "r-3")
    path = f"/accounts/{trader.account_id}/deposits"
    assert_refused(post(api, path, text, api.operator, "application/json; charset=utf-8"), 400, "reference")
    bare = api.client.post(path, content=text.encode(), headers=api.operator)
    assert "content-type" not in bare.request.headers
    assert_refused(bare, 400, "reference")

    # nothing was recorded, not even the unauthenticated opening
    assert_nothing_recorded(api, trader)
    assert api.expect(api.client.post("/accounts", json=opening), 201)["account_id"] == trader.account_id + 1
    # the same key in two different objects is fine: the unchanged request is accepted
    trader.send(submission)


@pytest.mark.parametrize("backend", ["sqlite"])  # no database involved
@pytest.mark.parametrize(("text", "key"), [
    (b'{"a": 1, "a": 1}', "a"),
    (b'{"a": {"x": 1}, "b": {"x": 1, "y": [{"z": 1, "z": 2}]}}', "z"),
    (b'{"a": 1, "b": 2}', None),
    (b'{"a": {"x": 1}, "b": {"x": 2}}', None),
    (b'{"a": 1, "a"', None),  # invalid JSON: left to the route's parser and its own message
    (b'[1, 2, 3]', None),
])
def test_duplicate_key_detection(backend, text, key):
    from verifier.api.middleware import duplicate_json_key

    assert duplicate_json_key(text) == key
