"""kill -9 of the service mid-liquidation loses nothing: between two shares, and inside the
opening and close-out (t shares stored, nothing opened); after a restart the next share or
``POST /liquidations/{id}/resume`` completes it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.verifier.conftest import SERVE, ServerProcess, ServiceHarness, free_port, server_environment
from tests.verifier.liquidation_helpers import BACKSTOP, PRICES, Scenario, later, liquidation_settings, open_epoch
from verifier.db.engine import Database
from verifier.db.ledger import verify_ledger

# Run in the server process: SIGKILL itself inside the opening and close-out, after its writes,
# before its COMMIT.
OPENING_CRASH = r'''
import os, signal
from verifier.services import liquidations

original = liquidations.open_and_close

def crashing_open_and_close(session, ctx, row):
    original(session, ctx, row)
    session.flush()
    os.kill(os.getpid(), signal.SIGKILL)

liquidations.open_and_close = crashing_open_and_close
'''


class LiquidationServer(ServerProcess):
    """``zkmargin serve`` in a child process, optionally with the opening crash above."""

    def __init__(self, settings, log_path: Path, *, crash_in_opening: bool = False):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log_path, "ab")
        code = (OPENING_CRASH + "\n" + SERVE) if crash_in_opening else SERVE
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, "--port", str(self.port), "--workers", "1"],
            env=server_environment(settings), stdout=self.log, stderr=subprocess.STDOUT,
            cwd=str(Path(__file__).resolve().parents[2]))
        self.wait_ready()


@pytest.fixture
def servers(api_settings, api_keys, oracle_private_keys, guardian_run, tmp_path):
    """``start(crash_in_opening=...)`` -> (server, harness); every server stopped at the end."""
    settings = liquidation_settings(api_settings, guardian_run, tmp_path, liquidation_grace_seconds=0)
    settings.home.mkdir(parents=True, exist_ok=True)
    started: list[LiquidationServer] = []

    def start(crash_in_opening: bool = False):
        server = LiquidationServer(settings, tmp_path / "server.log", crash_in_opening=crash_in_opening)
        started.append(server)
        return server, ServiceHarness(server.client(), settings, api_keys[1], oracle_private_keys)

    database = Database.connect(settings.database_url)
    yield start, database
    for server in started:
        server.stop()
    database.dispose()


def _liquidation_requested(start, database, guardian_run, crash_in_opening: bool = False):
    server, api = start(crash_in_opening)
    backstop = api.trader().open()
    assert backstop.account_id == BACKSTOP
    epoch = open_epoch(api, PRICES, later(1))
    scenario = Scenario(api, database, guardian_run, backstop, epoch["epoch_id"])
    trader = scenario.open_account()
    scenario.put_state(trader, collateral=600, sizes=(10, 0), costs=(10_000, 0))
    time.sleep(1.2)  # past the attestation deadline (no grace in these tests)
    return server, scenario, scenario.request(trader.account_id)


def _kill(server: LiquidationServer) -> None:
    server.process.kill()  # SIGKILL, by the pid this test started
    server.wait_killed()
    server.stop()


def _ledger_ok(database: Database) -> None:
    with database.reader() as session:
        report = verify_ledger(session)
    assert report.ok, report.verdict()


def test_a_kill_between_two_shares_keeps_the_first_and_the_second_completes(servers, guardian_run):
    start, database = servers
    server, scenario, liquidation = _liquidation_requested(start, database, guardian_run)
    scenario.post_share(liquidation["id"], scenario.share(liquidation, 1))
    _kill(server)
    _, scenario.api = start()
    stored = scenario.api.expect(scenario.api.client.get(f"/liquidations/{liquidation['id']}"), 200)
    assert stored["status"] == "requested" and [s["guardian"] for s in stored["shares"]] == [1]
    closed = scenario.post_share(liquidation["id"], scenario.share(liquidation, 3))
    assert closed["status"] == "closed" and closed["revealed_state"] is not None
    _ledger_ok(database)


def test_a_kill_inside_the_opening_keeps_the_shares_and_resume_completes_it(servers, guardian_run):
    start, database = servers
    server, scenario, liquidation = _liquidation_requested(start, database, guardian_run, crash_in_opening=True)
    scenario.post_share(liquidation["id"], scenario.share(liquidation, 1))
    with pytest.raises(httpx.TransportError):  # the service dies inside the opening's transaction
        scenario.api.client.post(f"/liquidations/{liquidation['id']}/shares", json=scenario.share(liquidation, 2))
    server.wait_killed()
    server.stop()
    _, scenario.api = start()
    stored = scenario.api.expect(scenario.api.client.get(f"/liquidations/{liquidation['id']}"), 200)
    assert stored["status"] == "requested" and [s["guardian"] for s in stored["shares"]] == [1, 2]
    assert stored["revealed_state"] is None and stored["closeout"] is None
    resumed = scenario.api.expect(scenario.api.client.post(f"/liquidations/{liquidation['id']}/resume",
                                                           headers=scenario.api.operator), 200)
    assert resumed["status"] == "closed" and resumed["closeout"]["full"] is False
    _ledger_ok(database)
