"""Transitions escrowed to the guardians: what the service requires, refuses and keeps.

With a guardian set (``ZKMARGIN_GUARDIAN_SET``) every transition is an escrow variant: the body
carries the escrow, the service builds the key inputs from its own set and the digest input from
the escrow it will store, and keeps escrow and proof beside the new commitment. The stored
escrow, opened by two of the three in-process guardians, is the state whose commitment the
ledger holds. Real proofs throughout (the escrowed ones are in the slow set).
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from sqlalchemy import select

from circuits.state import AccountState
from tests.verifier.conftest import API_CURVE, API_MARKETS
from zkmargin.curves import get_curve
from zkmargin.edwards import BABY_JUBJUB, base_mul, embedded_curve
from zkmargin.escrow import Escrow, seal

PRICES = [50_000, 3_000]


def stored_commitments(settings, account_id: int) -> list:
    from verifier.db.engine import Database
    from verifier.db.models import AccountCommitment

    database = Database.connect(settings.database_url)
    try:
        with database.unit_of_work() as session:
            return list(session.execute(select(AccountCommitment.sequence, AccountCommitment.commitment,
                                               AccountCommitment.escrow, AccountCommitment.proof)
                                        .where(AccountCommitment.account_id == account_id)
                                        .order_by(AccountCommitment.sequence)))
    finally:
        database.dispose()


def a_funded_trader(api):
    trader = api.trader().open()
    epoch = api.open_epoch(PRICES)
    deposit = api.credit(trader.account_id, 10**9, f"wire-{trader.account_id}")
    return trader, epoch["epoch_id"], deposit["deposit_id"]


def assert_opens_to_the_ledgers_state(api, row, guardians=(1, 2)) -> AccountState:
    escrow = Escrow.from_json(json.loads(row.escrow), API_CURVE)
    opened = AccountState.from_commitment_inputs(api.guardians.open_escrow(escrow, guardians), API_CURVE)
    assert opened.commitment(API_CURVE) == int(row.commitment)
    return opened


# --- accepted and stored ---------------------------------------------------------------------
def test_deposit_fill_and_settlement_carry_escrows_that_open_to_the_ledgers_state(escrow_api):
    api = escrow_api
    trader, epoch_id, deposit_id = a_funded_trader(api)
    trader.deposit(deposit_id, 10**9, epoch_id)
    fill = api.post_fill(trader, 0, 3, 50_000, 7)
    trader.apply_fill(fill["fill_id"])
    api.close_epoch(epoch_id, [51_000, 3_000])
    trader.settle(epoch_id)

    rows = stored_commitments(api.settings, trader.account_id)
    assert [r.sequence for r in rows] == [0, 1, 2, 3]
    assert rows[0].escrow is None and rows[0].proof is None  # the genesis is public
    for row, guardians in zip(rows[1:], [(1, 2), (2, 3), (1, 3)]):
        assert json.loads(row.proof)["protocol"] == "groth16"
        opened = assert_opens_to_the_ledgers_state(api, row, guardians)
    assert opened == trader.state  # the last: the settled state the trader holds
    view = api.expect(api.client.get(f"/accounts/{trader.account_id}", headers=trader.auth), 200)
    assert view["escrowed"] is True


# --- refused -----------------------------------------------------------------------------------
@pytest.fixture
def escrowed_deposit(escrow_api):
    """A proven escrowed deposit, not sent yet: (api, trader, submission)."""
    trader, epoch_id, deposit_id = a_funded_trader(escrow_api)
    return escrow_api, trader, trader.deposit_request(deposit_id, 10**9, epoch_id)


def send_with_escrow(api, trader, submission, escrow, status):
    body = {**submission.body, "escrow": escrow}
    if escrow is None:
        del body["escrow"]
    return api.expect(api.client.post(submission.path, headers=trader.auth, json=body), status)


def test_escrow_refusals(escrowed_deposit):
    api, trader, submission = escrowed_deposit
    honest = submission.body["escrow"]
    missing = send_with_escrow(api, trader, submission, None, 400)
    assert "an escrow is required" in missing["detail"]
    malformed = send_with_escrow(api, trader, submission, {**honest, "tag": "01"}, 400)
    assert "escrow" in malformed["detail"] and "canonical" in malformed["detail"]
    other_curve = send_with_escrow(api, trader, submission, {**honest, "curve": "bn128"}, 400)
    assert "expected bls12381" in other_curve["detail"]
    short = seal([1, 2, 3], api.escrow_key, API_CURVE).to_json()
    assert "a state at 2 markets has 6" in send_with_escrow(api, trader, submission, short, 400)["detail"]
    # well formed, but not the escrow the proof sealed: its digest is another public input
    escrow = Escrow.from_json(honest, API_CURVE)
    for wrong in (replace(escrow, tag=(escrow.tag + 1) % get_curve(API_CURVE).r),
                  seal(trader.state.commitment_inputs(), api.escrow_key, API_CURVE)):  # the old state
        body = send_with_escrow(api, trader, submission, wrong.to_json(), 422)
        assert body["code"] == "invalid_proof"
    # nothing of the refused ones was kept; the honest one is accepted and kept
    assert len(stored_commitments(api.settings, trader.account_id)) == 1
    trader.send(submission)
    assert json.loads(stored_commitments(api.settings, trader.account_id)[1].escrow) == honest


def test_a_service_without_guardians_refuses_an_escrow_and_keeps_the_proof(api):
    trader, epoch_id, deposit_id = a_funded_trader(api)
    submission = trader.deposit_request(deposit_id, 10**9, epoch_id)
    key = base_mul(embedded_curve(API_CURVE), 5)
    escrow = seal(submission.new_state.commitment_inputs(), key, API_CURVE).to_json()
    body = send_with_escrow(api, trader, submission, escrow, 400)
    assert "no guardian set" in body["detail"]
    trader.send(submission)
    row = stored_commitments(api.settings, trader.account_id)[1]
    assert row.escrow is None and json.loads(row.proof) == submission.body["proof"]
    view = api.expect(api.client.get(f"/accounts/{trader.account_id}", headers=trader.auth), 200)
    assert view["escrowed"] is False


def test_an_escrow_on_the_other_embedded_curve_is_refused_before_any_proof(escrow_api):
    api = escrow_api
    trader, epoch_id, deposit_id = a_funded_trader(api)
    other = seal([1] * (4 + API_MARKETS), base_mul(BABY_JUBJUB, 9), "bn128").to_json()
    body = {"epoch_id": epoch_id, "new_commitment": "1", "escrow": other,
            "proof": {"pi_a": [], "pi_b": [], "pi_c": [], "protocol": "groth16"}}
    answer = api.expect(api.client.post(f"/accounts/{trader.account_id}/deposits/{deposit_id}/apply",
                                        headers=trader.auth, json=body), 400)
    assert "escrow is on bn128, expected bls12381" in answer["detail"]
