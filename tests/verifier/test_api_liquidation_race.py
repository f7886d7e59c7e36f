"""A margin call cures within the grace period, and a cure racing the liquidation request: the
account row's lock decides, exactly one of them wins (SQLite and PostgreSQL, real threads)."""

from __future__ import annotations

import secrets
import threading
import time
from datetime import datetime, timedelta

from tests.verifier.helpers import attestation_plan
from tests.verifier.liquidation_helpers import GRACE, margin_called
from verifier.errors import AccountLiquidatingError, NotLiquidatableError
from verifier.services.liquidations import request_liquidation
from verifier.services.transitions import keep_attestation


def _health(scenario, trader) -> dict:
    return scenario.api.expect(scenario.api.client.get(
        f"/accounts/{trader.account_id}/health", params={"epoch_id": scenario.epoch_id}, headers=trader.auth), 200)


def test_an_attestation_in_the_grace_period_cures_the_margin_call(scenario, clock):
    trader, _ = margin_called(scenario, clock, past_grace=False)
    assert _health(scenario, trader)["status"] == "margin_call"
    assert scenario.request(trader.account_id, status=409)["rule"] == "grace_not_over"
    trader.attest(scenario.epoch_id)  # a real margin proof, after the deadline, within the grace period
    health = _health(scenario, trader)
    assert (health["status"], health["cured"], health["attested"]) == ("healthy", True, True)
    assert any("cured" in reason for reason in health["reasons"])
    clock.advance(GRACE)
    assert scenario.request(trader.account_id, status=409)["rule"] == "attested"


def test_an_attestation_after_the_grace_period_is_refused(scenario, clock):
    trader, _ = margin_called(scenario, clock)
    submission = trader.attestation_request(scenario.epoch_id)
    body = scenario.api.expect(scenario.api.client.post(submission.path, json=submission.body, headers=trader.auth),
                               409)
    assert "grace period" in body["detail"]


def _deadline(scenario):
    epoch = scenario.api.expect(scenario.api.client.get(f"/epochs/{scenario.epoch_id}"), 200)
    return datetime.fromisoformat(epoch["attestation_deadline"].replace("Z", "+00:00"))


def _race(scenario, clock, cure_ends: datetime, attest_delay: float, request_delay: float) -> tuple[object, dict]:
    """A fresh margin-called account; its attestation (just in time) and its liquidation request
    (just late) sent at once from two threads, each after its delay. Returns who won."""
    ctx = scenario.api.client.app.state.context
    trader = scenario.open_account()
    state = scenario.put_state(trader, collateral=600, sizes=(10, 0), costs=(10_000, 0))
    plan = attestation_plan(trader.account_id, scenario.epoch_id, state.commitment("bls12381"), secrets.token_hex(32))
    barrier, results = threading.Barrier(2), {}

    def attest() -> None:
        clock.per_thread[threading.get_ident()] = cure_ends - timedelta(milliseconds=1)
        barrier.wait()
        time.sleep(attest_delay)
        try:
            with scenario.database.unit_of_work() as session:
                keep_attestation(session, plan, timedelta(seconds=GRACE))
            results["attestation"] = "won"
        except AccountLiquidatingError:
            results["attestation"] = "lost"

    def liquidate() -> None:
        clock.per_thread[threading.get_ident()] = cure_ends + timedelta(milliseconds=1)
        barrier.wait()
        time.sleep(request_delay)
        try:
            with ctx.database.unit_of_work() as session:
                request_liquidation(session, ctx, trader.account_id, "margin_call", scenario.epoch_id)
            results["liquidation"] = "won"
        except NotLiquidatableError as exc:
            results["liquidation"] = "lost" if exc.rule == "attested" else f"refused: {exc}"

    threads = [threading.Thread(target=attest), threading.Thread(target=liquidate)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return trader, results


def test_a_request_and_a_last_minute_attestation_race_and_exactly_one_wins(scenario, clock):
    cure_ends = _deadline(scenario) + timedelta(seconds=GRACE)
    outcomes = []
    # rounds 0-3 start together; in round 4 the attestation goes first, in round 5 the request
    for round_number, delays in enumerate([(0, 0)] * 4 + [(0, 0.2), (0.2, 0)]):
        trader, results = _race(scenario, clock, cure_ends, *delays)
        assert sorted(results.values()) == ["lost", "won"], (round_number, results)
        outcomes.append(results["attestation"])
        health = _health(scenario, trader)
        view = scenario.api.expect(scenario.api.client.get(f"/accounts/{trader.account_id}", headers=trader.auth), 200)
        assert (view["liquidation"] is None) == (results["attestation"] == "won") == health["attested"]
    assert outcomes[4:] == ["won", "lost"]
