"""Racing transitions on one account: exactly one wins, the others get 409 and write nothing."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

N = 8


def test_parallel_transitions_on_one_account_accept_exactly_one(api):
    epoch_id = api.open_epoch([100, 200])["epoch_id"]
    trader = api.trader().open()
    credits = [api.credit(trader.account_id, 100 + i, f"bank-{i}") for i in range(N)]
    # every request is proven from the same current state: only one can be its successor
    submissions = [trader.deposit_request(c["deposit_id"], 100 + i, epoch_id) for i, c in enumerate(credits)]

    def send(submission):
        return api.client.post(submission.path, headers=trader.auth, json=submission.body)

    with ThreadPoolExecutor(N) as pool:
        responses = list(pool.map(send, submissions))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (N - 1), [r.text for r in responses]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"stale_commitment"}
    winner = next(i for i, r in enumerate(responses) if r.status_code == 201)
    trader.state = submissions[winner].new_state

    view = api.expect(api.client.get(f"/accounts/{trader.account_id}", headers=trader.auth), 200)
    assert view["sequence"] == 1
    assert int(view["current_commitment"]) == trader.state.commitment("bls12381")
    assert view["balances"]["collateral"] == str(100 + winner)
    assert len(view["pending_deposits"]) == N - 1  # the losers' deposits are still there to apply
    assert api.expect(api.client.get("/ledger/verify", headers=api.operator), 200)["ok"]

    # every proof was verified: against the current commitment (the losers then lost the swap), or,
    # planned after the winner committed, found to start from the previous one (409, not 422)
    metrics = api.client.get("/metrics").text
    counts = {outcome: float(value) for outcome, value in re.findall(
        r'zkmargin_proofs_total\{outcome="(\w+)",statement="transfer"\} (\S+)', metrics)}
    assert counts.get("verified", 0) + counts.get("rejected", 0) == N and counts.get("malformed", 0) == 0

    # the trader goes on from the winning state
    loser = credits[(winner + 1) % N]
    trader.deposit(loser["deposit_id"], int(loser["amount"]), epoch_id)
    assert api.expect(api.client.get(f"/accounts/{trader.account_id}", headers=trader.auth), 200)["sequence"] == 2


def test_the_same_statement_sent_many_times_at_once_is_accepted_once(api):
    epoch_id = api.open_epoch([100, 200])["epoch_id"]
    trader = api.trader().open()
    trader.deposit(api.credit(trader.account_id, 500, "bank-a")["deposit_id"], 500, epoch_id)
    attestation = trader.attestation_request(epoch_id)

    with ThreadPoolExecutor(N) as pool:
        responses = list(pool.map(lambda _: api.client.post(attestation.path, headers=trader.auth,
                                                            json=attestation.body), range(N)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (N - 1), [r.text for r in responses]
    listing = api.expect(api.client.get(f"/epochs/{epoch_id}/health", headers=api.operator), 200)
    assert [row["attested"] for row in listing] == [True]
