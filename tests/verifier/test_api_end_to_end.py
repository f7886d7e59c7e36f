"""The whole life of an epoch over HTTP, with real proofs, on SQLite and PostgreSQL:
oracle reports -> epoch snapshot -> two accounts open, get deposits credited and prove them in,
take opposite fills from the venue, attest margin -> the epoch closes -> both settle -> the
epoch finalizes with pnl summing to zero, and the ledger verifies."""

from __future__ import annotations

from circuits.protocol.exit_codes import ExitCode
from verifier.cli import ledger_verify_command


def test_an_epoch_from_prices_to_finalization(api, database_url, capsys):
    run_an_epoch(api)
    assert ledger_verify_command(database_url) == ExitCode.OK
    assert "ledger OK" in capsys.readouterr().out


def run_an_epoch(api) -> None:
    """The flow above, against any client (an in-process app or a server process)."""
    epoch = api.open_epoch([100, 200])
    assert epoch["status"] == "open" and epoch["mark_prices"] == [100, 200]
    assert api.expect(api.client.get("/epochs/current"), 200)["epoch_id"] == epoch["epoch_id"]
    epoch_id = epoch["epoch_id"]

    alice, bob = api.trader().open(), api.trader().open()
    assert alice.account_id != bob.account_id

    for trader, reference in ((alice, "bank-1"), (bob, "bank-2")):
        credited = api.credit(trader.account_id, 10_000, reference)
        applied = trader.deposit(credited["deposit_id"], 10_000, epoch_id)
        assert applied["transition"]["sequence"] == 1 and applied["amount"] == "10000"

    # opposite fills: alice buys 10 of market 0 at 100, bob sells them; each pays a fee of 5
    fill_a = api.post_fill(alice, market=0, size_delta=10, price=100, fee=5)
    fill_b = api.post_fill(bob, market=0, size_delta=-10, price=100, fee=5)
    alice.apply_fill(fill_a["fill_id"], epoch_id)
    bob.apply_fill(fill_b["fill_id"], epoch_id)
    assert alice.state.sizes == (10, 0) and bob.state.sizes == (-10, 0)

    for trader in (alice, bob):
        attestation = trader.attest(epoch_id)
        assert attestation["epoch_id"] == epoch_id
        health = api.expect(api.client.get(f"/accounts/{trader.account_id}/health", params={"epoch_id": epoch_id},
                                           headers=trader.auth), 200)
        assert health["status"] == "healthy" and health["attested"]

    closed = api.close_epoch(epoch_id, [110, 200])
    assert closed["status"] == "closed" and closed["settlement_prices"] == [110, 200]

    first = alice.settle(epoch_id)
    assert first["pnl"] == "100" and first["epoch_finalized"] is False
    second = bob.settle(epoch_id)
    assert second["pnl"] == "-100" and second["epoch_finalized"] is True

    finalized = api.expect(api.client.post(f"/epochs/{epoch_id}/finalize", headers=api.operator), 200)
    assert finalized["status"] == "finalized" and finalized["settled_accounts"] == 2 and finalized["total_pnl"] == 0
    again = api.expect(api.client.post(f"/epochs/{epoch_id}/finalize", headers=api.operator), 200)
    assert again == finalized  # idempotent

    balances = {t.account_id: api.expect(api.client.get(f"/accounts/{t.account_id}", headers=t.auth), 200)
                for t in (alice, bob)}
    assert balances[alice.account_id]["balances"]["collateral"] == "10100"
    assert balances[bob.account_id]["balances"]["collateral"] == "9900"
    assert api.expect(api.client.get("/ledger/balances/clearing", headers=api.operator), 200)["balance"] == "0"
    listing = api.expect(api.client.get(f"/epochs/{epoch_id}/health", headers=api.operator), 200)
    assert {row["status"] for row in listing} == {"healthy"}

    report = api.expect(api.client.get("/ledger/verify", headers=api.operator), 200)
    # 2 credits, 2 applications, 2 settlements, and the epoch's open and close records
    assert report["ok"] and report["entries_checked"] == 8
    assert (report["epochs_recorded"], report["epochs_unrecorded"]) == (1, 0)


def test_a_withdrawal_becomes_a_payout(api):
    epoch_id = api.open_epoch([100, 200])["epoch_id"]
    trader = api.trader().open()
    credited = api.credit(trader.account_id, 5_000, "bank-w")
    trader.deposit(credited["deposit_id"], 5_000, epoch_id)
    withdrawn = trader.send(trader.withdrawal_request(1_500, epoch_id))
    assert withdrawn["amount"] == "1500" and withdrawn["status"] == "pending"
    payouts = api.expect(api.client.get("/payouts", params={"status": "pending"}, headers=api.operator), 200)
    assert [p["payout_id"] for p in payouts] == [withdrawn["payout_id"]]
    paid = api.expect(api.client.post(f"/payouts/{withdrawn['payout_id']}/paid", headers=api.operator,
                                      json={"payment_reference": "wire-1"}), 200)
    assert paid["status"] == "paid"
    view = api.expect(api.client.get(f"/accounts/{trader.account_id}", headers=trader.auth), 200)
    assert view["balances"] == {"deposits": "0", "collateral": "3500", "payouts": "0", "levies": "0"}
    assert api.expect(api.client.get("/ledger/verify", headers=api.operator), 200)["ok"]
