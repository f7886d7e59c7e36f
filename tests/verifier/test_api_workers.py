"""Two service processes (``zkmargin serve --workers 2``) on one database behave as one service:
the whole epoch flow, and racing transitions on one account with exactly one winner."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from circuits.protocol.exit_codes import ExitCode
from tests.verifier.test_api_end_to_end import run_an_epoch
from verifier.cli import ledger_verify_command

N = 8


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_two_workers_on_one_database(start_server, database_url):
    server, api = start_server(workers=2)

    def worker_pid(_) -> int:
        with httpx.Client(base_url=server.url, timeout=30) as client:  # a new connection each time
            return client.get("/healthz").json()["worker"]

    pids: set[int] = set()
    deadline = time.monotonic() + 60  # the second worker may still be starting
    while len(pids) < 2 and time.monotonic() < deadline:
        with ThreadPoolExecutor(8) as pool:
            pids |= set(pool.map(worker_pid, range(32)))
    assert len(pids) == 2, "both workers should serve requests"

    run_an_epoch(api)

    # racing transitions, each on its own connection (so both workers take part)
    epoch_id = api.open_epoch([100, 200])["epoch_id"]
    trader = api.trader().open()
    credits = [api.credit(trader.account_id, 100 + i, f"race-{i}") for i in range(N)]
    submissions = [trader.deposit_request(c["deposit_id"], 100 + i, epoch_id) for i, c in enumerate(credits)]

    def send(submission):
        with httpx.Client(base_url=server.url, timeout=60) as client:
            return client.post(submission.path, headers=trader.auth, json=submission.body)

    with ThreadPoolExecutor(N) as pool:
        responses = list(pool.map(send, submissions))
    unexpected = [r.text for r in responses if r.status_code != 409]
    assert sorted(r.status_code for r in responses) == [201] + [409] * (N - 1), unexpected
    winner = next(i for i, r in enumerate(responses) if r.status_code == 201)
    view = api.expect(api.client.get(f"/accounts/{trader.account_id}", headers=trader.auth), 200)
    assert view["sequence"] == 1 and view["balances"]["collateral"] == str(100 + winner)
    assert api.expect(api.client.get("/ledger/verify", headers=api.operator), 200)["ok"]
    assert ledger_verify_command(database_url) == ExitCode.OK
