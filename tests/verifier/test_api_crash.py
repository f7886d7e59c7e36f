"""Crash safety: the service process SIGKILLed in the middle of a transition or a settlement,
then restarted: nothing is half-written, the ledger verifies, and the retried request succeeds
(or, if the kill came after the commit, is answered 'already accepted' for the same record)."""

from __future__ import annotations

import signal

import httpx
import pytest

from circuits.protocol.exit_codes import ExitCode
from verifier.ledger import ledger_verify_command


def send_and_get_killed(server, trader, submission) -> None:
    with pytest.raises(httpx.HTTPError):
        trader.api.client.post(submission.path, headers=trader.auth, json=submission.body)
    assert server.wait_killed() == -signal.SIGKILL


def reconnect(trader, api) -> None:
    trader.api = api


def account(api, trader) -> dict:
    return api.expect(api.client.get(f"/accounts/{trader.account_id}", headers=trader.auth), 200)


def ledger_ok(api, database_url) -> dict:
    report = api.expect(api.client.get("/ledger/verify", headers=api.operator), 200)
    assert report["ok"], report
    assert ledger_verify_command(database_url) == ExitCode.OK
    return report


def test_killed_in_the_middle_of_transitions_and_settlement(start_server, database_url):
    # 1. killed inside the deposit's unit of work, before COMMIT
    server, api = start_server(crash="before_commit:transfer")
    epoch_id = api.open_epoch([100, 200])["epoch_id"]
    alice, bob = api.trader().open(), api.trader().open()
    deposits = {t.account_id: api.credit(t.account_id, 10_000, f"bank-{t.account_id}")["deposit_id"]
                for t in (alice, bob)}
    deposit = alice.deposit_request(deposits[alice.account_id], 10_000, epoch_id)
    send_and_get_killed(server, alice, deposit)

    server, api = start_server(crash="after_commit:transfer")
    reconnect(alice, api), reconnect(bob, api)
    view = account(api, alice)
    assert view["sequence"] == 0 and view["balances"]["collateral"] == "0" and len(view["pending_deposits"]) == 1
    entries_before = ledger_ok(api, database_url)["entries_checked"]

    # 2. the retry: this time killed right after COMMIT, before the response
    send_and_get_killed(server, alice, deposit)
    server, api = start_server(crash="before_commit:settle")
    reconnect(alice, api), reconnect(bob, api)
    view = account(api, alice)
    assert view["sequence"] == 1 and view["balances"]["collateral"] == "10000" and view["pending_deposits"] == []
    assert ledger_ok(api, database_url)["entries_checked"] == entries_before + 1
    # the client retries once more: the same statement is recognized, the same record returned
    again = api.client.post(deposit.path, headers=alice.auth, json=deposit.body)
    assert again.status_code == 409 and again.json()["code"] == "already_accepted"
    assert again.json()["accepted"]["sequence"] == 1
    alice.state = deposit.new_state

    # trade, close, and get killed in the middle of a settlement
    bob.deposit(deposits[bob.account_id], 10_000, epoch_id)
    alice.apply_fill(api.post_fill(alice, 0, 5, 100, 1)["fill_id"], epoch_id)
    bob.apply_fill(api.post_fill(bob, 0, -5, 100, 1)["fill_id"], epoch_id)
    api.close_epoch(epoch_id, [120, 200])
    settlement = alice.settlement_request(epoch_id)
    send_and_get_killed(server, alice, settlement)

    server, api = start_server(crash="after_commit:settle")
    reconnect(alice, api), reconnect(bob, api)
    assert account(api, alice)["sequence"] == 2  # deposit, fill: the settlement left nothing
    entries_before = ledger_ok(api, database_url)["entries_checked"]
    send_and_get_killed(server, alice, settlement)

    server, api = start_server()
    reconnect(alice, api), reconnect(bob, api)
    assert account(api, alice)["sequence"] == 3
    assert account(api, alice)["balances"]["collateral"] == "10100"  # 10 000 + 5 * (120 - 100)
    assert ledger_ok(api, database_url)["entries_checked"] == entries_before + 1
    again = api.client.post(settlement.path, headers=alice.auth, json=settlement.body)
    assert again.status_code == 409 and again.json()["code"] == "already_accepted"
    alice.state = settlement.new_state

    bob.settle(epoch_id)
    finalized = api.expect(api.client.post(f"/epochs/{epoch_id}/finalize", headers=api.operator), 200)
    assert finalized["settled_accounts"] == 2
    assert api.expect(api.client.get("/ledger/balances/clearing", headers=api.operator), 200)["balance"] == "0"
    ledger_ok(api, database_url)
