"""Liquidation through the HTTP API (SQLite and PostgreSQL): the rules, the guardians' shares, the
opening, the close-out and its ledger entries. Escrowed states are planted without proofs
(tests/verifier/liquidation_helpers.py); the service's clock is moved forward where a deadline
must pass, instead of waiting for it."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from circuits.inputs import state_from_json
from circuits.protocol.api import LiquidationJson
from circuits.protocol.fill_delivery import open_fill
from circuits.protocol.liquidation import LiquidationRequest, signature_valid
from tests.verifier.conftest import API_CURVE, API_MARKETS
from tests.verifier.liquidation_helpers import (
    BACKSTOP,
    GRACE,
    PRICES,
    Scenario,
    apply_fill_publicly,
    commitment_kinds,
    margin_called,
    open_epoch,
    settle_publicly,
)
from verifier.db import records
from verifier.db.engine import Database
from verifier.db.ledger import CLEARING, DEFAULT_FUND, EXTERNAL, Posting, append_entry, balance, verify_ledger
from verifier.db.models import EntryKind, JournalEntry, Settlement
from verifier.errors import AccountLiquidatingError

def _ledger_ok(database: Database) -> None:
    with database.reader() as session:
        report = verify_ledger(session)
    assert report.ok, report.verdict()


def test_the_request_is_signed_by_the_published_operator_key_and_recorded(scenario, clock):
    trader, state = margin_called(scenario, clock)
    liquidation = scenario.request(trader.account_id)
    LiquidationJson.model_validate(liquidation)
    key = scenario.api.expect(scenario.api.client.get("/operator"), 200)["signing_key"]
    request = LiquidationRequest.from_dict(liquidation["request"])
    assert signature_valid(key, request, liquidation["signature"])
    assert request.commitment == state.commitment(API_CURVE) and request.reason == "margin_call"
    assert request.grace_seconds == GRACE and request.commitment in request.public_inputs
    assert liquidation["status"] == "requested" and liquidation["threshold"] == 2 and liquidation["shares"] == []
    with scenario.database.reader() as session:
        record = session.scalar(select(JournalEntry).where(JournalEntry.kind == EntryKind.LIQUIDATION_REQUEST))
        assert record is not None and record.reference.endswith(request.digest()) and record.postings == []
    _ledger_ok(scenario.database)
    view = scenario.api.expect(scenario.api.client.get(f"/accounts/{trader.account_id}", headers=trader.auth), 200)
    assert view["liquidation"]["status"] == "requested" and view["liquidation"]["successor_state"] is None
    listed = scenario.api.expect(scenario.api.client.get("/liquidations?status=requested"), 200)
    assert [row["id"] for row in listed] == [liquidation["id"]]


def test_requests_the_rules_do_not_allow_are_refused_naming_the_rule(scenario, clock):
    trader = scenario.open_account()
    body = scenario.request(trader.account_id, status=409)
    assert "has no escrow" in body["detail"]  # the genesis state was never sealed
    scenario.put_state(trader, collateral=600, sizes=(10, 0), costs=(10_000, 0))
    assert scenario.request(trader.account_id, status=409)["rule"] == "grace_not_over"  # deadline not passed yet
    clock.advance(10 + GRACE - 5)
    assert scenario.request(trader.account_id, status=409)["rule"] == "grace_not_over"  # still in its grace period
    clock.advance(10)
    assert scenario.request(trader.account_id, "settlement", status=409)["rule"] == "epoch_not_closed"
    assert scenario.request(trader.account_id, "fill_deadline", status=409)["rule"] == "no_overdue_fill"
    flat = scenario.open_account()
    scenario.put_state(flat, collateral=500, sizes=(0, 0), costs=(0, 0))
    assert scenario.request(flat.account_id, status=409)["rule"] == "no_position"
    assert scenario.request(BACKSTOP, status=409)["rule"] == "backstop"
    assert scenario.request(999, status=404)["code"] == "not_found"
    scenario.request(trader.account_id)  # allowed now
    assert "already has liquidation" in scenario.request(trader.account_id, status=409)["detail"]
    _ledger_ok(scenario.database)


def test_a_settlement_missed_and_an_overdue_fill_are_liquidatable(scenario, clock):
    late = scenario.open_account()
    scenario.put_state(late, collateral=600, sizes=(10, 0), costs=(10_000, 0))
    filled = scenario.open_account()
    scenario.put_state(filled, collateral=900, sizes=(0, 0), costs=(0, 0))
    fill = scenario.api.post_fill(filled, 0, 1, 1000, 0)
    scenario.api.close_epoch(scenario.epoch_id, PRICES)
    assert scenario.request(late.account_id, "settlement", status=409)["rule"] == "deadline_not_passed"
    clock.advance(2 * 3600 + 1)  # past the settlement deadline and the fill's
    settled = scenario.request(late.account_id, "settlement")
    overdue = scenario.request(filled.account_id, "fill_deadline")
    assert LiquidationRequest.from_dict(overdue["request"]).overdue_fills == (fill["fill_id"],)
    assert settled["request"]["reason"] == "settlement"


def test_a_frozen_account_takes_no_transition_and_no_attestation(scenario, clock):
    from tests.verifier.helpers import attestation_plan
    from verifier.db.models import StatementKind
    from verifier.services.transitions import keep_attestation

    trader, state = margin_called(scenario, clock)
    liquidation = scenario.request(trader.account_id)
    with pytest.raises(AccountLiquidatingError, match=f"liquidation {liquidation['id']}"):
        with scenario.database.unit_of_work() as session:
            records.advance_commitment(session, trader.account_id, expected_commitment=state.commitment(API_CURVE),
                                       new_commitment=12345, kind=StatementKind.TRANSFER, statement_digest="ab" * 32,
                                       state_epoch=scenario.epoch_id)
    with pytest.raises(AccountLiquidatingError):
        with scenario.database.unit_of_work() as session:
            keep_attestation(session, attestation_plan(trader.account_id, scenario.epoch_id,
                                                       state.commitment(API_CURVE), "cd" * 32),
                             timedelta(days=1))


def test_shares_open_the_state_only_at_the_threshold_and_each_bad_one_is_named(scenario, clock):
    trader, state = margin_called(scenario, clock)
    liquidation = scenario.request(trader.account_id)
    number = liquidation["id"]
    wrong_context = scenario.share(liquidation, 1, context=b"another request")
    body = scenario.post_share(number, wrong_context, 422)
    assert body["code"] == "bad_share" and body["guardian"] == 1 and "DLEQ" in body["detail"]
    body = scenario.post_share(number, scenario.share(liquidation, 1, as_guardian=3), 422)
    assert body["guardian"] == 3
    assert scenario.post_share(number, {"guardian": 4, "share": scenario.share(liquidation, 1)["share"]}, 422)[
        "code"] == "bad_share"
    one = scenario.post_share(number, scenario.share(liquidation, 1))
    assert one["status"] == "requested" and one["revealed_state"] is None  # t - 1 shares open nothing
    assert [s["guardian"] for s in one["shares"]] == [1]
    assert scenario.post_share(number, scenario.share(liquidation, 1), 409)["code"] == "duplicate"
    closed = scenario.post_share(number, scenario.share(liquidation, 3))
    assert closed["status"] == "closed"
    assert state_from_json(closed["revealed_state"]) == state
    assert scenario.post_share(number, scenario.share(liquidation, 2), 409)["code"] == "conflict"
    assert commitment_kinds(scenario.database, trader.account_id)[-1] == "liquidation"
    _ledger_ok(scenario.database)


def test_an_opening_that_is_not_the_pinned_commitment_fails_the_liquidation(scenario, clock):
    trader = scenario.open_account()
    other = trader.state.next(API_CURVE, collateral=7, epoch=scenario.epoch_id)
    scenario.put_state(trader, collateral=600, sizes=(10, 0), costs=(10_000, 0), sealed=other)
    clock.advance(10 + GRACE + 1)
    liquidation = scenario.request(trader.account_id)
    scenario.post_share(liquidation["id"], scenario.share(liquidation, 2))
    body = scenario.post_share(liquidation["id"], scenario.share(liquidation, 3), 409)
    assert body["code"] == "opening_mismatch" and "pinned commitment" in body["detail"]
    failed = scenario.api.expect(scenario.api.client.get(f"/liquidations/{liquidation['id']}"), 200)
    assert failed["status"] == "failed" and "broken escrow" in failed["failure"]
    assert failed["revealed_state"] is None and commitment_kinds(scenario.database, trader.account_id)[-1] == "transfer"


def _close(scenario: Scenario, liquidation: dict) -> dict:
    scenario.post_share(liquidation["id"], scenario.share(liquidation, 1))
    return scenario.post_share(liquidation["id"], scenario.share(liquidation, 2))


def test_a_partial_close_out_moves_part_of_the_position_to_the_backstop(scenario, clock):
    trader, state = margin_called(scenario, clock)
    closed = _close(scenario, scenario.request(trader.account_id))
    closeout = closed["closeout"]
    assert closeout["full"] is False and 0 < int(closeout["closed"][0]) < 10 and int(closeout["penalty"]) > 0
    moved, penalty = int(closeout["closed"][0]), int(closeout["penalty"])
    fills = scenario.api.expect(scenario.api.client.get(f"/accounts/{BACKSTOP}/fills",
                                                        headers=scenario.backstop.auth), 200)
    assert len(fills) == 1 and fills[0]["epoch_id"] == scenario.epoch_id
    fill = open_fill(bytes.fromhex(fills[0]["ciphertext"]), scenario.backstop.keypair.private_key,
                     int(fills[0]["fill_commitment"]), API_CURVE, markets=API_MARKETS)
    assert (fill.account_id, fill.market, fill.size_delta, fill.price, fill.fee) == (BACKSTOP, 0, moved, 1000, 0)
    owner_view = scenario.api.expect(scenario.api.client.get(f"/accounts/{trader.account_id}",
                                                             headers=trader.auth), 200)
    successor = state_from_json(owner_view["liquidation"]["successor_state"])
    assert successor.commitment(API_CURVE) == int(owner_view["current_commitment"])
    assert successor.sizes == (10 - moved, 0) and successor.costs == (10_000 - moved * 1000, 0)
    assert successor.collateral == state.collateral - penalty and successor.nonce == state.nonce + 1
    assert owner_view["holds_position"] is True and owner_view["liquidation"]["status"] == "closed"
    operator_view = scenario.api.expect(scenario.api.client.get(f"/accounts/{trader.account_id}",
                                                                headers=scenario.api.operator), 200)
    assert operator_view["liquidation"]["successor_state"] is None  # the opening is the owner's
    with scenario.database.reader() as session:
        assert balance(session, DEFAULT_FUND) == penalty
        assert balance(session, f"trader/{trader.account_id}/collateral") == state.collateral - penalty
    _ledger_ok(scenario.database)


def test_a_full_close_out_of_a_bankrupt_account_runs_the_waterfall_down_to_socialized_loss(scenario, clock):
    winner, other_winner, loser = (scenario.open_account() for _ in range(3))
    scenario.api.close_epoch(scenario.epoch_id, PRICES)
    settle_publicly(scenario.database, scenario.epoch_id, {winner.account_id: 3000, other_winner.account_id: 1000,
                                                           loser.account_id: -4000})
    with scenario.database.unit_of_work() as session:  # the insurance fund holds 1000
        append_entry(session, EntryKind.SETTLEMENT, [Posting(EXTERNAL, -1000), Posting(DEFAULT_FUND, 1000)],
                     reference="test/insurance-fund")
    epoch = open_epoch(scenario.api, PRICES, clock.now() + timedelta(seconds=10))
    scenario.epoch_id = epoch["epoch_id"]
    scenario.put_state(winner, collateral=5000, sizes=(0, 0), costs=(0, 0))  # what the winner holds now
    seller = scenario.open_account()  # the other side of the trade: sold 10 at 1500
    scenario.put_state(seller, collateral=5000, sizes=(-10, 0), costs=(-15_000, 0))
    # bought 10 at 1500, marked at 1000: equity 600 + 10 000 - 15 000 = -4 400
    trader, state = margin_called(scenario, clock, costs=(15_000, 0))
    closed = _close(scenario, scenario.request(trader.account_id))
    closeout = closed["closeout"]
    assert closeout["full"] is True and closeout["realized_pnl"] == "-5000" and closeout["shortfall"] == "4400"
    levies = closeout["waterfall"].pop("levies")  # the pending items that collect them
    assert closeout["waterfall"] == {"shortfall": "4400", "from_collateral": "600", "from_insurance": "1000",
                                     "socialized": {str(winner.account_id): "2550",
                                                    str(other_winner.account_id): "850"}}
    assert set(levies) == {str(winner.account_id), str(other_winner.account_id)}
    with scenario.database.reader() as session:
        entries = session.scalars(select(JournalEntry).where(JournalEntry.sequence.in_(closeout["journal_entries"]))
                                  .order_by(JournalEntry.sequence)).all()
        assert [e.reference.rsplit("/", 1)[-1] for e in entries] == ["collateral", "insurance", "socialized"]
        assert all(sum(p.amount for p in e.postings) == 0 for e in entries)
        assert balance(session, CLEARING, epoch_id=scenario.epoch_id) == 5000  # = -(the booked pnl)
        assert balance(session, DEFAULT_FUND) == 0
        assert balance(session, f"trader/{winner.account_id}/levies") == -2550
        assert balance(session, f"trader/{trader.account_id}/collateral") == 0
        settlement = session.scalar(select(Settlement).where(Settlement.account_id == trader.account_id))
        assert (settlement.epoch_id, settlement.pnl) == (scenario.epoch_id, -5000)
    view = scenario.api.expect(scenario.api.client.get(f"/accounts/{trader.account_id}", headers=trader.auth), 200)
    successor = state_from_json(view["liquidation"]["successor_state"])
    assert successor.is_flat and successor.collateral == 0 and successor.epoch == scenario.epoch_id + 1
    _winner_pays_its_levy(scenario, winner, levies[str(winner.account_id)], 2550)
    assert view["state_epoch"] == scenario.epoch_id + 1 and view["holds_position"] is False
    _ledger_ok(scenario.database)
    # the epoch still finalizes at zero: the backstop applies its fill, the seller and the backstop
    # settle at the close (the seller wins the 5 000 the liquidation paid into clearing)
    apply_fill_publicly(scenario.database, BACKSTOP, closeout["backstop_fills"][0]["fill_id"])
    scenario.api.close_epoch(scenario.epoch_id, PRICES)
    settle_publicly(scenario.database, scenario.epoch_id, {seller.account_id: 5000, BACKSTOP: 0})
    with scenario.database.reader() as session:
        assert balance(session, CLEARING, epoch_id=scenario.epoch_id) == 0
    finalized = scenario.api.expect(scenario.api.client.get(f"/epochs/{scenario.epoch_id}"), 200)
    assert finalized["status"] == "finalized" and finalized["defaulted_accounts"] == 0
    _ledger_ok(scenario.database)
    clock.advance(3600)  # the other winner let its levy pass its deadline: it is in default
    health = scenario.api.expect(scenario.api.client.get(
        f"/accounts/{other_winner.account_id}/health", params={"epoch_id": scenario.epoch_id},
        headers=scenario.api.operator), 200)
    assert health["status"] == "default" and health["overdue_fills"] == [levies[str(other_winner.account_id)]]


def _winner_pays_its_levy(scenario: Scenario, winner, levy_id: int, amount: int) -> None:
    """The levy comes first in the winner's clearing order; its transfer proof debits it."""

    view = scenario.api.expect(scenario.api.client.get(f"/accounts/{winner.account_id}", headers=winner.auth), 200)
    assert [(levy["levy_id"], levy["amount"]) for levy in view["pending_levies"]] == [(levy_id, str(amount))]
    assert view["balances"]["levies"] == str(-amount)
    collateral_before = int(view["balances"]["collateral"])
    withdrawal = winner.withdrawal_request(10, scenario.epoch_id)
    refused = scenario.api.expect(scenario.api.client.post(withdrawal.path, json=withdrawal.body,
                                                           headers=winner.auth), 409)
    assert refused["code"] == "out_of_order" and f"apply levy {levy_id} first" in refused["detail"]
    prices = winner.epoch(scenario.epoch_id)["mark_prices"]
    new, inputs = winner.circuit("transfer").transition(
        winner.state, -amount, scenario.epoch_id, prices, winner.rates("initial"), API_CURVE,
        escrow_key=scenario.api.escrow_key)
    paid = scenario.api.expect(scenario.api.client.post(
        f"/accounts/{winner.account_id}/levies/{levy_id}/apply", headers=winner.auth,
        json=winner.escrowed_body({"epoch_id": scenario.epoch_id, "new_commitment": str(new.commitment(API_CURVE)),
                                   "proof": winner.prove("transfer", inputs)}, inputs)), 201)
    winner.state = new
    assert paid["levy_id"] == levy_id and paid["amount"] == str(amount)
    view = scenario.api.expect(scenario.api.client.get(f"/accounts/{winner.account_id}", headers=winner.auth), 200)
    assert view["pending_levies"] == [] and view["balances"]["levies"] == "0"
    assert int(view["balances"]["collateral"]) == collateral_before - amount


def test_resume_is_refused_when_there_is_nothing_to_resume(scenario, clock):
    trader, _ = margin_called(scenario, clock)
    liquidation = scenario.request(trader.account_id)
    path = f"/liquidations/{liquidation['id']}/resume"
    assert scenario.api.expect(scenario.api.client.post(path), 401)["code"] == "unauthenticated"
    assert "1 of the 2 shares" not in json.dumps(scenario.post_share(liquidation["id"], scenario.share(liquidation, 1)))
    body = scenario.api.expect(scenario.api.client.post(path, headers=scenario.api.operator), 409)
    assert "1 of the 2 shares" in body["detail"]
    scenario.post_share(liquidation["id"], scenario.share(liquidation, 2))
    assert "closed" in scenario.api.expect(scenario.api.client.post(path, headers=scenario.api.operator), 409)[
        "detail"]


def test_ledger_verify_catches_an_altered_liquidation_request(scenario, clock):
    from sqlalchemy import text

    trader, _ = margin_called(scenario, clock)
    liquidation = scenario.request(trader.account_id)
    _ledger_ok(scenario.database)
    with scenario.database.engine.begin() as connection:  # the request table is not the journal: edit it
        connection.execute(text("UPDATE liquidations SET request = replace(request, '\"margin_call\"', "
                                "'\"settlement\"') WHERE id = :id"), {"id": liquidation["id"]})
    with scenario.database.reader() as session:
        report = verify_ledger(session)
    assert not report.ok and "does not hash to its digest" in report.verdict()


def test_every_liquidation_route_declares_its_response_model(scenario):
    openapi = scenario.api.client.app.openapi()

    def model(path: str, method: str) -> str:
        responses = openapi["paths"][path][method]["responses"]
        schema = next(r for code, r in responses.items() if code.startswith("2"))["content"]["application/json"]
        target = schema["schema"].get("items", schema["schema"])
        return target["$ref"].rsplit("/", 1)[-1]

    assert model("/operator", "get") == "OperatorKey"
    assert model("/liquidations", "post") == model("/liquidations", "get") == "LiquidationJson"
    assert model("/liquidations/{liquidation_id}", "get") == "LiquidationJson"
    assert model("/liquidations/{liquidation_id}/shares", "post") == "LiquidationJson"
    assert model("/liquidations/{liquidation_id}/resume", "post") == "LiquidationJson"
    assert model("/accounts/{account_id}/levies/{levy_id}/apply", "post") == "AppliedLevy"
