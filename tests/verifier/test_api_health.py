"""Account health per epoch: healthy, margin call (no attestation by the deadline), default
(a fill not applied by its deadline, no settlement by the settlement deadline); and an epoch
finalizes once every account with a position has settled or been declared in default (the
defaulters' unsettled pnl goes to the default fund)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from verifier.db.models import Epoch


def past() -> str:
    return (datetime.now(UTC) - timedelta(minutes=1)).isoformat()


def let_the_attestation_deadline_pass(database, epoch_id: int) -> None:
    """The clock moves past the deadline (attestations must arrive before it, so the test sends
    them first and then moves the deadline into the past instead of waiting)."""
    with database.unit_of_work() as session:
        session.execute(update(Epoch).where(Epoch.id == epoch_id)
                        .values(attestation_deadline=datetime.now(UTC)))


def statuses(api, epoch_id: int) -> dict[int, dict]:
    rows = api.expect(api.client.get(f"/epochs/{epoch_id}/health", headers=api.operator), 200)
    return {row["account_id"]: row for row in rows}


def test_margin_call_default_and_finalization_with_a_defaulted_account(api, database):
    api.post_prices([100, 200])
    epoch = api.expect(api.client.post("/epochs", headers=api.operator), 201)
    epoch_id = epoch["epoch_id"]
    idle, attested, silent, late = (api.trader().open() for _ in range(4))
    for trader in (attested, silent, late):
        trader.deposit(api.credit(trader.account_id, 10_000, f"bank-{trader.account_id}")["deposit_id"], 10_000,
                       epoch_id)
    attested.apply_fill(api.post_fill(attested, 0, 4, 100, 0)["fill_id"], epoch_id)
    silent.apply_fill(api.post_fill(silent, 0, -4, 100, 0)["fill_id"], epoch_id)
    attested.attest(epoch_id)
    let_the_attestation_deadline_pass(database, epoch_id)
    # a fill the venue posted with a deadline already passed, never applied
    overdue = api.expect(api.client.post("/fills", headers=api.venue, json={
        "account_id": late.account_id, "fill_commitment": "777", "ciphertext": "01" + "00" * 560,
        "reference": "late-fill", "deadline": past()}), 201)

    health = statuses(api, epoch_id)
    assert health[idle.account_id]["status"] == "healthy"  # never traded: holds no position
    assert health[attested.account_id]["status"] == "healthy"
    assert health[silent.account_id]["status"] == "margin_call"
    assert health[late.account_id]["status"] == "default"
    assert health[late.account_id]["overdue_fills"] == [overdue["fill_id"]]
    only_calls = api.expect(api.client.get(f"/epochs/{epoch_id}/health", params={"status": "margin_call"},
                                           headers=api.operator), 200)
    assert [row["account_id"] for row in only_calls] == [silent.account_id]
    mine = api.expect(api.client.get(f"/accounts/{silent.account_id}/health", params={"epoch_id": epoch_id},
                                     headers=silent.auth), 200)
    assert mine["status"] == "margin_call" and "attestation deadline" in mine["reasons"][0]

    api.post_prices([90, 200])
    api.expect(api.client.post(f"/epochs/{epoch_id}/close", headers=api.operator,
                               json={"settlement_deadline": past()}), 200)
    assert statuses(api, epoch_id)[silent.account_id]["status"] == "default"  # no settlement in time
    settled = attested.settle(epoch_id)
    assert settled["pnl"] == "-40" and settled["epoch_finalized"] is False
    refused = api.client.post(f"/epochs/{epoch_id}/finalize", headers=api.operator)
    assert refused.status_code == 409 and str(silent.account_id) in refused.json()["detail"]
    assert str(late.account_id) in refused.json()["detail"]  # its unapplied fill belongs to the epoch

    api.expect(api.client.post(f"/epochs/{epoch_id}/defaults", headers=api.operator,
                               json={"account_id": silent.account_id, "reason": "no settlement"}), 201)
    api.expect(api.client.post(f"/epochs/{epoch_id}/defaults", headers=api.operator,
                               json={"account_id": late.account_id, "reason": "fill not applied"}), 201)
    # an account with nothing to settle in the epoch cannot be declared in default for it
    refused = api.client.post(f"/epochs/{epoch_id}/defaults", headers=api.operator,
                              json={"account_id": idle.account_id, "reason": "uninvolved"})
    assert refused.status_code == 409 and "nothing to settle" in refused.json()["detail"]
    # the defaulted account's +40 never settled: the settled -40 is allocated to the default fund,
    # which keeps the defaulter's winnings (it would have covered a defaulter's loss the same way)
    finalized = api.expect(api.client.post(f"/epochs/{epoch_id}/finalize", headers=api.operator), 200)
    assert finalized["status"] == "finalized" and finalized["defaulted_accounts"] == 2
    assert finalized["default_allocation"] == "-40"
    assert api.expect(api.client.get("/ledger/balances/default-fund", headers=api.operator), 200)["balance"] == "40"
    assert api.expect(api.client.get("/ledger/balances/clearing", headers=api.operator), 200)["balance"] == "0"
    assert statuses(api, epoch_id)[silent.account_id]["reasons"][0].startswith("marked in default")
    assert api.expect(api.client.get("/ledger/verify", headers=api.operator), 200)["ok"]
