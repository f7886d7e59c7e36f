"""Bad input: every malformed or illegitimate request is answered 4xx with a clear JSON message
(never 5xx), and nothing of it is recorded."""

from __future__ import annotations

import copy
import secrets

import pytest

from circuits.protocol.oracle_report import generate_oracle_key, sign_report
from tests.backends.curve_points import g1_point_outside_subgroup, g2_point_outside_subgroup
from zkmargin.backends import get_backend
from zkmargin.curves import get_curve
from zkmargin.formats.snarkjs import proof_from_json, proof_to_json

CURVE = get_curve("bls12381")


@pytest.fixture
def scene(api):
    """An open epoch and a trader with a credited deposit (and its valid, unsent submission)."""
    epoch_id = api.open_epoch([100, 200])["epoch_id"]
    trader = api.trader().open()
    deposit_id = api.credit(trader.account_id, 1_000, "bank-x")["deposit_id"]
    submission = trader.deposit_request(deposit_id, 1_000, epoch_id)
    return api, trader, epoch_id, deposit_id, submission


def assert_refused(response, status: int, fragment: str) -> dict:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert isinstance(body["detail"], str) and body["code"]
    assert fragment.lower() in body["detail"].lower(), body
    return body


def assert_nothing_recorded(api, trader) -> None:
    view = api.expect(api.client.get(f"/accounts/{trader.account_id}", headers=trader.auth), 200)
    assert view["sequence"] == 0 and len(view["pending_deposits"]) == 1
    assert api.expect(api.client.get("/ledger/verify", headers=api.operator), 200)["ok"]


def rerandomize(proof_json: dict, delta_g2) -> dict:
    """Groth16 malleability: (A/r, r*B + r*s*delta, C + s*A) proves the same statement."""
    backend = get_backend(CURVE)
    proof = proof_from_json(proof_json, backend)
    r, s = secrets.randbelow(CURVE.r - 1) + 1, secrets.randbelow(CURVE.r - 1) + 1
    a = backend.g1_mul(proof.a_g1, pow(r, -1, CURVE.r))
    b = backend.g2_add(backend.g2_mul(proof.b_g2, r), backend.g2_mul(delta_g2, r * s % CURVE.r))
    c = backend.g1_add(proof.c_g1, backend.g1_mul(proof.a_g1, s))
    fresh = proof_to_json(type(proof)(CURVE, a, b, c), backend)
    assert fresh != proof_json
    return fresh


def _with(proof: dict, key: str, value) -> dict:
    changed = copy.deepcopy(proof)
    changed[key] = value
    return changed


def _off_g2() -> list:
    (x0, x1), (y0, y1) = g2_point_outside_subgroup(CURVE)
    return [[str(x0), str(x1)], [str(y0), str(y1)], ["1", "0"]]


def test_commitments_not_below_r_keep_their_refusal_at_the_edge(scene):
    """The services call the core's one below-r check and keep their own refusal: status, code and words."""
    api, trader, _, _, submission = scene
    at_r = dict(submission.body, new_commitment=str(CURVE.r))
    response = api.client.post(submission.path, headers=trader.auth, json=at_r)
    body = assert_refused(response, 400,
                          f"new_commitment must be a field element: an integer in [0, r) for {CURVE.name}")
    assert body["code"] == "bad_request"
    below_r = dict(submission.body, new_commitment=str(CURVE.r - 1))  # in the field: the proof is what refuses it
    assert_refused(api.client.post(submission.path, headers=trader.auth, json=below_r), 422, "does not verify")
    fill = {"account_id": trader.account_id, "fill_commitment": str(CURVE.r), "ciphertext": "01" + "00" * 560,
            "reference": "edge"}
    body = assert_refused(api.client.post("/fills", headers=api.venue, json=fill), 400,
                          f"fill_commitment must be an integer in [0, r) for {CURVE.name}")
    assert body["code"] == "malformed_input"
    assert_nothing_recorded(api, trader)


PROOF_CORRUPTIONS = [
    ("garbage coordinates", lambda p: _with(p, "pi_a", ["garbage", "\x00\xff", "1"]), 400, "pi_a"),
    ("coordinate not below p", lambda p: _with(p, "pi_a", [str(CURVE.p), p["pi_a"][1], "1"]), 400, "below"),
    ("point off the curve", lambda p: _with(p, "pi_a", [p["pi_a"][0], str(int(p["pi_a"][1]) + 1), "1"]), 400,
     "is not on the"),
    ("G1 point outside the subgroup",
     lambda p: _with(p, "pi_c", [*map(str, g1_point_outside_subgroup(CURVE)), "1"]), 400, "subgroup"),
    ("G2 point outside the subgroup", lambda p: _with(p, "pi_b", _off_g2()), 400, "subgroup"),
    ("point at infinity", lambda p: _with(p, "pi_a", ["0", "1", "0"]), 400, "infinity"),
    ("another curve", lambda p: _with(p, "curve", "bn128"), 400, "curve"),
    ("another protocol", lambda p: _with(p, "protocol", "plonk"), 400, "protocol"),
    ("wrong shape", lambda p: _with(p, "pi_b", ["1", "2", "3"]), 400, "pi_b"),
    ("a valid point, another proof", lambda p: _with(p, "pi_a", p["pi_c"]), 422, "does not verify"),
    ("unknown field in the proof", lambda p: _with(p, "witness", [1, 2]), 422, "unknown field"),
    ("not an object", lambda p: "deadbeef", 422, "proof"),
]


@pytest.mark.parametrize("name, corrupt, status, fragment", PROOF_CORRUPTIONS, ids=[c[0] for c in PROOF_CORRUPTIONS])
def test_corrupted_proofs_are_refused(scene, name, corrupt, status, fragment):
    api, trader, _, _, submission = scene
    body = dict(submission.body, proof=corrupt(submission.body["proof"]))
    assert_refused(api.client.post(submission.path, headers=trader.auth, json=body), status, fragment)
    assert_nothing_recorded(api, trader)


REQUEST_CORRUPTIONS = [
    ("new commitment not below r", lambda b: dict(b, new_commitment=str(CURVE.r)), 400, "field element"),
    ("new commitment far beyond r", lambda b: dict(b, new_commitment="9" * 99), 400, "field element"),
    ("negative commitment", lambda b: dict(b, new_commitment=-1), 422, "non-negative"),
    ("float commitment", lambda b: dict(b, new_commitment=1.5), 422, "integer"),
    ("boolean epoch", lambda b: dict(b, epoch_id=True), 422, "epoch_id"),
    ("private state sent by mistake", lambda b: dict(b, state={"salt": "1", "collateral": "5"}), 422, "unknown field"),
    ("the salt sent by mistake", lambda b: dict(b, new_salt="12345"), 422, "unknown field"),
    ("missing proof", lambda b: {k: v for k, v in b.items() if k != "proof"}, 422, "proof"),
    ("a commitment other than the proven one", lambda b: dict(b, new_commitment="12345"), 422, "does not verify"),
    ("an epoch that does not exist", lambda b: dict(b, epoch_id=999), 404, "epoch 999"),
]


@pytest.mark.parametrize("name, corrupt, status, fragment", REQUEST_CORRUPTIONS,
                         ids=[c[0] for c in REQUEST_CORRUPTIONS])
def test_malformed_requests_are_refused(scene, name, corrupt, status, fragment):
    api, trader, _, _, submission = scene
    response = api.client.post(submission.path, headers=trader.auth, json=corrupt(submission.body))
    assert_refused(response, status, fragment)
    assert_nothing_recorded(api, trader)


def test_bodies_that_are_not_json_too_large_or_too_deep(scene):
    api, trader, _, _, submission = scene
    headers = {**trader.auth, "content-type": "application/json"}

    def post(**kw):
        return api.client.post(submission.path, headers=headers, **kw)

    assert_refused(post(content=b"\x00\xffgarbage{"), 422, "not valid JSON")
    assert_refused(post(content=b'{"epoch_id": 1,'), 422, "not valid JSON")
    assert_refused(post(content=b"[" * 5000 + b"]" * 5000), 400, "nested deeper")
    assert_refused(post(content=b'{"x": "' + b"a" * 70_000 + b'"}'), 413, "exceeds")
    assert_nothing_recorded(api, trader)


def test_a_replayed_or_rerandomized_transition_is_already_accepted(scene):
    api, trader, _, deposit_id, submission = scene
    accepted = trader.send(submission)
    replay = assert_refused(api.client.post(submission.path, headers=trader.auth, json=submission.body), 409,
                            "already accepted")
    assert replay["code"] == "already_accepted" and replay["accepted"] == accepted["transition"]
    fresh = rerandomize(submission.body["proof"], api.proving_keys["transfer"].vk.delta_g2)
    body = dict(submission.body, proof=fresh)
    assert_refused(api.client.post(submission.path, headers=trader.auth, json=body), 409, "already accepted")
    view = api.expect(api.client.get(f"/accounts/{trader.account_id}", headers=trader.auth), 200)
    assert view["sequence"] == 1 and view["balances"]["collateral"] == "1000"


def test_a_replayed_or_rerandomized_attestation_is_already_accepted(scene):
    api, trader, epoch_id, _, submission = scene
    trader.send(submission)
    attestation = trader.attestation_request(epoch_id)
    trader.send(attestation)
    assert_refused(api.client.post(attestation.path, headers=trader.auth, json=attestation.body), 409,
                   "already accepted")
    fresh = rerandomize(attestation.body["proof"], api.proving_keys["margin"].vk.delta_g2)
    assert_refused(api.client.post(attestation.path, headers=trader.auth, json=dict(attestation.body, proof=fresh)),
                   409, "already accepted")


def test_a_proof_for_another_epoch_or_account_is_refused(scene):
    api, trader, epoch_id, _, submission = scene
    trader.send(submission)
    attestation = trader.attestation_request(epoch_id)  # proven for this epoch
    api.close_epoch(epoch_id, [100, 200])
    next_epoch = api.open_epoch([100, 200])["epoch_id"]
    wrong_epoch = dict(attestation.body, epoch_id=next_epoch)
    assert_refused(api.client.post(attestation.path, headers=trader.auth, json=wrong_epoch), 422, "does not verify")
    # a deposit against the closed epoch's prices: the epoch is named, and refused
    deposit_id = api.credit(trader.account_id, 10, "bank-y")["deposit_id"]
    stale = trader.deposit_request(deposit_id, 10, next_epoch)
    assert_refused(api.client.post(stale.path, headers=trader.auth, json=dict(stale.body, epoch_id=epoch_id)), 409,
                   f"epoch {epoch_id} is closed")
    # another trader's valid proof, sent for this account
    other = api.trader().open()
    other_deposit = api.credit(other.account_id, 10, "bank-z")["deposit_id"]
    theirs = other.deposit_request(other_deposit, 10, next_epoch)
    mine_path = f"/accounts/{trader.account_id}/deposits/{deposit_id}/apply"
    assert_refused(api.client.post(mine_path, headers=trader.auth, json=theirs.body), 422, "does not verify")
    # settling an open epoch
    settle = {"epoch_id": next_epoch, "pnl": "0", "holds_position": False, "new_commitment": "5",
              "proof": attestation.body["proof"]}
    assert_refused(api.client.post(f"/accounts/{trader.account_id}/settlements", headers=trader.auth, json=settle),
                   409, "still open")
    # pnl outside the protocol's bounds
    api.close_epoch(next_epoch, [100, 200])
    settle["pnl"] = str(1 << 100)
    assert_refused(api.client.post(f"/accounts/{trader.account_id}/settlements", headers=trader.auth, json=settle),
                   400, "pnl")


def test_credentials_are_checked(scene):
    api, trader, epoch_id, _, submission = scene
    other = api.trader().open()
    assert_refused(api.client.post(submission.path, json=submission.body), 401, "account's token")
    assert_refused(api.client.post(submission.path, headers=other.auth, json=submission.body), 401, "not account")
    assert_refused(api.client.post(submission.path, headers={"Authorization": "Bearer nonsense"},
                                   json=submission.body), 401, "not account")
    assert_refused(api.client.post("/epochs", headers=api.venue), 403, "operator")
    assert_refused(api.client.post("/epochs", headers={"Authorization": "Bearer nonsense"}), 401, "operator")
    assert_refused(api.client.post(f"/accounts/{trader.account_id}/deposits", headers=trader.auth,
                                   json={"amount": 5, "reference": "r"}), 401, "operator")
    assert_refused(api.client.post("/fills", headers=api.operator, json={
        "account_id": trader.account_id, "fill_commitment": "1", "ciphertext": "00", "reference": "f"}), 403, "venue")
    assert_refused(api.client.get(f"/accounts/{trader.account_id}", headers=other.auth), 401, "not account")
    assert_nothing_recorded(api, trader)


def test_oracle_reports_must_be_signed_registered_and_fresh(api):
    key = api.oracle_keys[0]
    now = api.timestamp()
    good = sign_report(key, 0, 100, now).to_dict()
    assert_refused(api.client.post("/oracle-reports", json={k: v for k, v in good.items() if k != "signature"}), 422,
                   "signature")
    assert_refused(api.client.post("/oracle-reports", json=dict(good, signature="00" * 64)), 401, "signature")
    assert_refused(api.client.post("/oracle-reports", json=dict(good, price=101)), 401, "signature")
    stranger = sign_report(generate_oracle_key(), 0, 100, now).to_dict()
    assert_refused(api.client.post("/oracle-reports", json=stranger), 401, "not registered")
    assert_refused(api.client.post("/oracle-reports", json=sign_report(key, 0, 100, now - 3600).to_dict()), 422,
                   "staleness")
    assert_refused(api.client.post("/oracle-reports", json=sign_report(key, 0, 100, now + 3600).to_dict()), 422,
                   "after now")
    assert_refused(api.client.post("/oracle-reports", json=sign_report(key, 7, 100, now).to_dict()), 422,
                   "market 7")
    assert_refused(api.client.post("/oracle-reports", json=dict(good, price=1.0)), 422, "price")
    assert_refused(api.client.post("/oracle-reports", json=dict(good, extra=1)), 422, "unknown field")
    assert api.client.post("/oracle-reports", json=good).status_code == 201
    assert api.client.post("/oracle-reports", json=good).status_code == 200  # the same report, recorded once
    # one oracle is no quorum: the epoch cannot open
    assert_refused(api.client.post("/epochs", headers=api.operator), 409, "quorum")


def test_account_opening_and_credits_are_validated(api):
    bad_key = {"genesis_salt": "1", "encryption_public_key": "zz" * 32}
    assert_refused(api.client.post("/accounts", json=bad_key), 422, "encryption_public_key")
    too_big = {"genesis_salt": str(CURVE.r), "encryption_public_key": "11" * 32}
    assert_refused(api.client.post("/accounts", json=too_big), 400, "salt")
    commitment = {"genesis_salt": "1", "encryption_public_key": "11" * 32, "genesis_commitment": "5"}
    assert_refused(api.client.post("/accounts", json=commitment), 422, "unknown field")
    trader = api.trader().open()
    path = f"/accounts/{trader.account_id}/deposits"
    assert_refused(api.client.post(path, headers=api.operator, json={"amount": 0, "reference": "a"}), 400, "(0, 2^96)")
    assert_refused(api.client.post(path, headers=api.operator, json={"amount": 1 << 96, "reference": "a"}), 400,
                   "(0, 2^96)")
    assert_refused(api.client.post("/accounts/424242/deposits", headers=api.operator,
                                   json={"amount": 5, "reference": "b"}), 404, "does not exist")
    api.credit(trader.account_id, 5, "c")
    assert_refused(api.client.post(path, headers=api.operator, json={"amount": 6, "reference": "c"}), 409, "reference")
    fill = {"account_id": trader.account_id, "fill_commitment": "1", "ciphertext": "00" * 10, "reference": "f"}
    assert_refused(api.client.post("/fills", headers=api.venue, json=fill), 400, "sealed fill")
    assert_refused(api.client.post("/fills", headers=api.venue, json=dict(fill, fill_commitment=str(CURVE.r))), 400,
                   "fill_commitment")
