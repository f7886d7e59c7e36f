"""The clearing cycle's promises, one regression test per way it was seen to break.

Each test drives the HTTP API as traders and the operator would, with real proofs. Where the
service must refuse an out-of-order step, the request carries a well-formed proof that is never
looked at: the order is checked when the statement is planned, before any pairing, and the
refusal (409) says what to do first.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from circuits.state import BoundError

P0 = [100, 200]


def funded(api, epoch_id: int, *names: str):
    traders = []
    for name in names:
        trader = api.trader().open()
        deposit = api.credit(trader.account_id, 100_000, f"bank-{name}-{trader.account_id}")
        trader.deposit(deposit["deposit_id"], 100_000, epoch_id)
        traders.append(trader)
    return traders


def trade(api, buyer, seller, size: int, price: int, market: int = 0) -> tuple[int, int]:
    """The venue posts both sides of one trade; returns the two fill ids."""
    return (api.post_fill(buyer, market, size, price, 0)["fill_id"],
            api.post_fill(seller, market, -size, price, 0)["fill_id"])


def applied_trade(api, buyer, seller, size: int, price: int, market: int = 0) -> None:
    """A trade both sides apply at once (one fill proof each)."""
    for fill_id, trader in zip(trade(api, buyer, seller, size, price, market), (buyer, seller)):
        trader.apply_fill(fill_id)


def trading_pair(api, size: int, price: int = 100):
    """Epoch 1 open at P0, alice and bob funded, and a trade of ``size`` at ``price`` applied."""
    epoch1 = api.open_epoch(P0)["epoch_id"]
    alice, bob = funded(api, epoch1, "alice", "bob")
    applied_trade(api, alice, bob, size, price)
    return epoch1, alice, bob


def refused(response, code: str, *fragments: str) -> dict:
    assert response.status_code == 409, (response.status_code, response.text)
    body = response.json()
    assert body["code"] == code, body
    for fragment in fragments:
        assert fragment in body["detail"], body["detail"]
    return body


def post(api, trader, path: str, body: dict):
    return api.client.post(f"/accounts/{trader.account_id}/{path}", headers=trader.auth, json=body)


def some_proof(trader, epoch_id: int) -> dict:
    """A well-formed proof (a margin attestation's): the refusals below come before any pairing."""
    return trader.attestation_request(epoch_id).body["proof"]


def finalize(api, epoch_id: int) -> dict:
    return api.expect(api.client.post(f"/epochs/{epoch_id}/finalize", headers=api.operator), 200)


def settle(trader, epoch_id: int) -> int:
    result = trader.settle(epoch_id)
    trader.extra[f"pnl/{epoch_id}"] = result["pnl"]
    return int(result["pnl"])


def test_an_epoch_is_settled_on_the_positions_held_at_its_close(api):
    """Observed: a fill of epoch N+1 applied before settling N made N's pnl sum to non-zero, and
    N could never finalize. Now a state holding N's positions cannot take an N+1 fill."""
    epoch1, alice, bob = trading_pair(api, 5)
    api.close_epoch(epoch1, [110, 200])
    epoch2 = api.open_epoch([110, 200])["epoch_id"]
    later_alice, later_bob = trade(api, alice, bob, 3, 110)

    with pytest.raises(BoundError, match=f"settle epoch {epoch1} first"):  # the trader's own prover refuses
        alice.fill_request(later_alice)
    body = {"epoch_id": epoch2, "new_commitment": "12345", "proof": some_proof(alice, epoch2)}
    refused(post(api, alice, f"fills/{later_alice}/apply", body), "out_of_order", f"settle epoch {epoch1} first")

    assert settle(alice, epoch1) == 50 and settle(bob, epoch1) == -50
    alice.apply_fill(later_alice)
    bob.apply_fill(later_bob)
    assert finalize(api, epoch1)["settled_accounts"] == 2
    api.close_epoch(epoch2, [120, 200])
    assert settle(alice, epoch2) + settle(bob, epoch2) == 0  # (5 + 3) * 10 each way
    assert finalize(api, epoch2)["total_pnl"] == 0
    assert api.expect(api.client.get("/ledger/verify", headers=api.operator), 200)["ok"]


def test_a_fill_posted_during_an_epoch_is_applied_before_that_epoch_settles(api):
    """Observed: a fill posted during N and applied after settling N unbalanced N. Now the fill
    belongs to N: it is applied against N (closed or not) before N is settled."""
    epoch1 = api.open_epoch(P0)["epoch_id"]
    alice, bob = funded(api, epoch1, "alice", "bob")
    alice_fill, bob_fill = trade(api, alice, bob, 4, 100)
    bob.apply_fill(bob_fill)
    api.close_epoch(epoch1, [90, 200])
    epoch2 = api.open_epoch([90, 200])["epoch_id"]

    body = {"epoch_id": epoch1, "pnl": "0", "holds_position": False, "new_commitment": "777",
            "proof": some_proof(alice, epoch2)}
    refused(post(api, alice, "settlements", body), "out_of_order", f"apply fill {alice_fill} of epoch {epoch1} first")
    wrong_epoch = {"epoch_id": epoch2, "new_commitment": "778", "proof": some_proof(alice, epoch2)}
    response = post(api, alice, f"fills/{alice_fill}/apply", wrong_epoch)
    assert response.status_code == 400 and f"belongs to epoch {epoch1}" in response.json()["detail"]

    alice.apply_fill(alice_fill)  # against epoch 1's mark prices, after its close
    assert settle(alice, epoch1) == -40 and settle(bob, epoch1) == 40
    assert finalize(api, epoch1)["total_pnl"] == 0
    # a deposit in epoch 2 needs the account settled into it: alice and bob are
    deposit = api.credit(alice.account_id, 5, "bank-late")["deposit_id"]
    alice.deposit(deposit, 5, epoch2)


def test_accounts_without_a_position_at_the_close_are_not_asked_to_settle(api):
    """Observed: an account opened (or first trading) after N closed was required to settle N."""
    epoch1, alice, bob = trading_pair(api, 2)
    api.close_epoch(epoch1, [105, 200])
    epoch2 = api.open_epoch([105, 200])["epoch_id"]
    carol, dave = funded(api, epoch2, "carol", "dave")
    applied_trade(api, carol, dave, 1, 105, market=1)

    health = {row["account_id"]: row for row in
              api.expect(api.client.get(f"/epochs/{epoch1}/health", headers=api.operator), 200)}
    assert health[carol.account_id]["may_hold_position"] is False
    assert health[alice.account_id]["may_hold_position"] is True
    settle(alice, epoch1), settle(bob, epoch1)
    assert finalize(api, epoch1)["settled_accounts"] == 2  # carol and dave were never asked


def test_a_defaulted_account_is_frozen_and_never_settles_again(api):
    """Observed: a defaulted account withdrew 90 % of its collateral in the next epoch, and a
    defaulted account that settled later posted its old pnl again."""
    epoch1, alice, bob = trading_pair(api, 10)
    api.close_epoch(epoch1, [95, 200])
    settle(alice, epoch1)
    bob_settlement = bob.settlement_request(epoch1)  # proven, never sent in time
    api.expect(api.client.post(f"/epochs/{epoch1}/defaults", headers=api.operator,
                               json={"account_id": bob.account_id, "reason": "no settlement"}), 201)
    refused(api.client.post(bob_settlement.path, headers=bob.auth, json=bob_settlement.body), "account_in_default",
            "frozen")
    assert finalize(api, epoch1)["default_allocation"] == "-50"

    epoch2 = api.open_epoch([95, 200])["epoch_id"]
    withdrawal = {"epoch_id": epoch2, "amount": "90000", "new_commitment": "99", "proof": some_proof(bob, epoch2)}
    refused(post(api, bob, "withdrawals", withdrawal), "account_in_default", f"in epoch {epoch1}")
    api.close_epoch(epoch2, [90, 200])
    settle_again = {"epoch_id": epoch2, "pnl": "50", "holds_position": True, "new_commitment": "98",
                    "proof": some_proof(bob, epoch2)}
    refused(post(api, bob, "settlements", settle_again), "account_in_default")
    view = api.expect(api.client.get(f"/accounts/{bob.account_id}", headers=bob.auth), 200)
    assert view["in_default"]["epoch_id"] == epoch1
    # epoch 2 needs only alice: bob is in default since epoch 1, his pnl allocated again
    assert settle(alice, epoch2) == -50
    result = finalize(api, epoch2)
    assert result["defaulted_accounts"] == 1 and result["default_allocation"] == "-50"
    assert api.expect(api.client.get("/ledger/balances/clearing", headers=api.operator), 200)["balance"] == "0"


def test_attestations_count_only_while_the_epoch_is_open_and_before_its_deadline(api):
    """Observed: attestations were accepted for closed epochs and after the deadline, flipping a
    margin call to healthy after the fact."""
    epoch1, alice, bob = trading_pair(api, 1)
    late = bob.attestation_request(epoch1)
    api.close_epoch(epoch1, P0)
    refused(api.client.post(late.path, headers=bob.auth, json=late.body), "epoch_state", "closed",
            "only while the epoch is open")

    for trader in (alice, bob):
        settle(trader, epoch1)
    api.post_prices(P0)
    # past the deadline and the grace period a margin call has to cure in (docs/protocol.md §12)
    grace = api.settings.liquidation_grace_seconds
    past = (datetime.now(UTC) - timedelta(seconds=grace + 5)).isoformat()
    epoch2 = api.expect(api.client.post("/epochs", headers=api.operator, json={"attestation_deadline": past}),
                        201)["epoch_id"]
    refused(post(api, bob, "attestations", bob.attestation_request(epoch2).body), "epoch_state",
            "attestation deadline", "do not count")
    health = api.expect(api.client.get(f"/accounts/{bob.account_id}/health", params={"epoch_id": epoch2},
                                       headers=bob.auth), 200)
    assert health["status"] == "margin_call" and health["attested"] is False


def test_both_sides_of_a_trade_belong_to_one_epoch(api):
    """A side the venue posts after the close names the trade's epoch, so the epoch still sums to
    zero; no fill can join a finalized epoch, and without an open epoch a fill must name one."""
    epoch1 = api.open_epoch(P0)["epoch_id"]
    alice, bob = funded(api, epoch1, "alice", "bob")
    alice.apply_fill(api.post_fill(alice, 0, 2, 100, 0)["fill_id"])
    api.close_epoch(epoch1, [115, 200])
    unnamed = api.post_fill(bob, 0, -2, 100, 0, status=409)
    assert unnamed["code"] == "no_open_epoch"
    late = api.post_fill(bob, 0, -2, 100, 0, epoch_id=epoch1)
    assert late["epoch_id"] == epoch1
    bob.apply_fill(late["fill_id"])
    assert settle(alice, epoch1) == 30 and settle(bob, epoch1) == -30
    assert finalize(api, epoch1)["total_pnl"] == 0
    assert api.post_fill(bob, 0, 1, 100, 0, epoch_id=epoch1, status=409)["code"] == "epoch_state"


def test_a_rejected_proof_costs_at_most_one_extra_verification(api):
    """Observed: a junk proof from an authenticated client cost up to three verifications (the
    stale-commitment probe tried two older commitments). Now it tries only the one before."""
    epoch1 = api.open_epoch(P0)["epoch_id"]
    [alice] = funded(api, epoch1, "alice")
    for reference in ("bank-2", "bank-3"):  # more history behind the current commitment
        alice.deposit(api.credit(alice.account_id, 10, reference)["deposit_id"], 10, epoch1)
    context = api.client.app.state.context
    batcher = context.batchers["transfer"]
    calls = []
    original = batcher.verify

    async def counting(*args, **kwargs):
        calls.append(1)
        return await original(*args, **kwargs)

    batcher.verify = counting
    try:
        junk = {"epoch_id": epoch1, "amount": "5", "new_commitment": "4242", "proof": some_proof(alice, epoch1)}
        response = post(api, alice, "withdrawals", junk)
    finally:
        batcher.verify = original
    assert response.status_code == 422 and response.json()["code"] == "invalid_proof"
    assert len(calls) == 2  # the statement itself, and the commitment just before the current one


def test_a_fee_cannot_take_a_risk_reducing_fill_below_maintenance(api):
    """Observed: a fill of -1 with a fee of 990 left an account below maintenance, accepted. The
    trader's prover refuses it before proving (no proof can exist: the circuit's margin rule)."""
    epoch1, alice, bob = trading_pair(api, 100)
    dodge = api.post_fill(alice, 0, -1, 100, 99_990)["fill_id"]  # reduces the long by one, pays almost everything
    with pytest.raises(BoundError, match="lower the account's maintenance margin by 99985"):
        alice.fill_request(dodge)
    fair = api.post_fill(alice, 0, -1, 100, 5)["fill_id"]  # a fee the released requirement (100 * 5 %) pays for
    alice.apply_fill(fair)
    view = api.expect(api.client.get(f"/accounts/{alice.account_id}", headers=alice.auth), 200)
    assert [f["fill_id"] for f in view["pending_fills"]] == [dodge]  # unapplied: a default once overdue


def test_a_late_side_cannot_join_an_epoch_its_account_has_moved_past(api):
    """A fill of epoch N could never be applied to a state already past N: refused when posted,
    so the venue knows at once (rather than N being left one side short)."""
    epoch1, alice, bob = trading_pair(api, 2)
    api.close_epoch(epoch1, [105, 200])
    settle(alice, epoch1)  # bob has not: the epoch stays open to late fills, but not for alice
    body = api.post_fill(alice, 0, 1, 105, 0, epoch_id=epoch1, status=409)
    assert body["code"] == "out_of_order" and f"moved past epoch {epoch1}" in body["detail"]


def test_a_fill_posted_while_a_settlement_is_verified_is_applied_first(api):
    """The order is checked again where the settlement is written, under the account row's lock
    (which the late fill's posting takes too): the settlement is refused, nothing is written, and
    the trader applies the fill, then settles."""
    epoch1, alice, bob = trading_pair(api, 2)
    api.close_epoch(epoch1, [105, 200])
    settle(alice, epoch1)
    submission = bob.settlement_request(epoch1)
    batcher = api.client.app.state.context.batchers["settle"]
    original, late = batcher.verify, {}

    async def verify_while_the_venue_posts(*args, **kwargs):
        late.update(await asyncio.to_thread(api.post_fill, bob, 0, 1, 100, 0, epoch_id=epoch1))
        return await original(*args, **kwargs)

    batcher.verify = verify_while_the_venue_posts
    try:
        response = api.client.post(submission.path, headers=bob.auth, json=submission.body)
    finally:
        batcher.verify = original
    refused(response, "out_of_order", f"apply fill {late['fill_id']} of epoch {epoch1} first")
    view = api.expect(api.client.get(f"/accounts/{bob.account_id}", headers=bob.auth), 200)
    assert view["state_epoch"] == epoch1 and view["sequence"] == 2  # deposit, fill: the settlement left nothing
    bob.apply_fill(late["fill_id"])
    alice_late = api.post_fill(alice, 0, -1, 100, 0, epoch_id=epoch1, status=409)  # alice settled: refused
    assert alice_late["code"] == "out_of_order"
    assert settle(bob, epoch1) == -5  # short 2 at 100, bought 1 back at 100: short 1, marked at 105
