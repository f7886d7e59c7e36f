"""Idempotent deposit credits: every identical retry answers 200 with the same item, concurrent
ones included (two worker processes, either database); only different terms get 409."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from circuits.protocol.exit_codes import ExitCode
from verifier.ledger import ledger_verify_command

N = 16


def test_identical_concurrent_deposit_credits_all_succeed_with_one_item(start_server, database_url):
    server, api = start_server(workers=2)
    trader = api.trader().open()
    path = f"/accounts/{trader.account_id}/deposits"

    def credit(body):
        with httpx.Client(base_url=server.url, timeout=60) as client:  # a connection each: both workers race
            return client.post(path, headers=api.operator, json=body)

    with ThreadPoolExecutor(N) as pool:
        responses = list(pool.map(credit, [{"amount": 700, "reference": "wire-1"}] * N))
    assert sorted(r.status_code for r in responses) == [200] * (N - 1) + [201], [r.text for r in responses]
    answers = {r.text for r in responses}
    assert len(answers) == 1  # the same item every time
    [item] = [r.json() for r in responses[:1]]
    assert item["amount"] == "700" and item["reference"] == "wire-1" and not item["applied"]

    # credited once: one pending deposit, the amount once in the ledger
    view = api.expect(api.client.get(path.removesuffix("/deposits"), headers=api.operator), 200)
    assert [d["deposit_id"] for d in view["pending_deposits"]] == [item["deposit_id"]]
    assert view["balances"]["deposits"] == "700"

    # a later identical retry: 200, same item
    assert api.expect(api.client.post(path, headers=api.operator, json={"amount": 700, "reference": "wire-1"}),
                      200) == item

    # the same reference with other terms, concurrently: one wins, every other is refused 409
    bodies = [{"amount": 800 + i, "reference": "wire-2"} for i in range(N)]
    with ThreadPoolExecutor(N) as pool:
        responses = list(pool.map(credit, bodies))
    assert sorted(r.status_code for r in responses) == [201] + [409] * (N - 1), [r.text for r in responses]
    assert all(r.json()["code"] == "duplicate" and "wire-2" in r.json()["detail"]
               for r in responses if r.status_code == 409)
    winner = next(b for b, r in zip(bodies, responses, strict=True) if r.status_code == 201)
    view = api.expect(api.client.get(path.removesuffix("/deposits"), headers=api.operator), 200)
    assert view["balances"]["deposits"] == str(700 + winner["amount"])
    assert api.expect(api.client.get("/ledger/verify", headers=api.operator), 200)["ok"]
    assert ledger_verify_command(database_url) == ExitCode.OK
