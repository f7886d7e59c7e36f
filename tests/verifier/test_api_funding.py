"""Perpetual funding over HTTP: signed funding-rate reports (quorum, circuit breaker, refusals),
the rate fixed at the close, and an epoch with a perpetual where everyone settles that finalizes
at exactly zero with the funding remainder R booked to the insurance (default) fund."""

from __future__ import annotations

import time

import pytest

from circuits.protocol.exit_codes import ExitCode
from circuits.protocol.funding_report import SignedFundingReport, sign_funding_report
from verifier.cli import ledger_verify_command

PERPETUAL = 1  # market 0 stays a future


@pytest.fixture
def perp_api(api_settings, api_keys, oracle_private_keys, wire_unchanged_by_response_models):
    from fastapi.testclient import TestClient

    from verifier.core.config import MarketConfig
    from verifier.main import create_app
    from tests.verifier.conftest import ServiceHarness

    markets = (MarketConfig(name="BTC-USD", maintenance_rate=50_000, initial_rate=100_000),
               MarketConfig(name="ETH-PERP", maintenance_rate=50_000, initial_rate=100_000, kind="perpetual"))
    settings = api_settings.model_copy(update={"markets": markets})
    with TestClient(create_app(settings)) as client:
        yield ServiceHarness(client, settings, api_keys[1], oracle_private_keys)


def post_rates(api, epoch_id: int, rates: list[int], first_oracle: int = 0) -> list[dict]:
    stamp = int(time.time())  # one report per oracle, market and epoch: no need to move the price clock
    keys = api.oracle_keys[first_oracle:]
    return [api.expect(api.client.post("/funding-reports", json=sign_funding_report(
        key, PERPETUAL, epoch_id, rate, stamp).to_dict()), 201) for key, rate in zip(keys, rates)]


def close(api, epoch_id: int, prices: list[int], status: int = 200, **body) -> dict:
    api.post_prices(prices)
    return api.expect(api.client.post(f"/epochs/{epoch_id}/close", headers=api.operator, json=body or None), status)


def test_the_close_fixes_the_quorum_median_rate_and_step(perp_api):
    epoch_id = perp_api.open_epoch([100, 200])["epoch_id"]
    receipts = post_rates(perp_api, epoch_id, [120, 100, 900])
    assert [r["rate"] for r in receipts] == [120, 100, 900]
    closed = close(perp_api, epoch_id, [100, 200], confirm_circuit_breaker=True)  # 900 spreads beyond 500
    assert closed["funding_rates"] == [0, 120]  # a future pays none; the lower median of 100, 120, 900
    assert closed["funding_steps"] == ["0", str(120 * 200)]
    assert perp_api.expect(perp_api.client.get(f"/epochs/{epoch_id}"), 200)["funding_steps"] == ["0", "24000"]


def test_a_perpetual_without_a_funding_quorum_does_not_close(perp_api):
    epoch_id = perp_api.open_epoch([100, 200])["epoch_id"]
    post_rates(perp_api, epoch_id, [100, 100])  # 2 of the 3 needed (2f + 1, f = 1)
    refused = close(perp_api, epoch_id, [100, 200], 409)
    assert refused["code"] == "no_price_quorum" and "funding quorum" in refused["detail"]
    post_rates(perp_api, epoch_id, [100], first_oracle=2)  # the third oracle's
    assert close(perp_api, epoch_id, [100, 200])["funding_rates"] == [0, 100]


def test_the_circuit_breaker_holds_back_a_rate_that_moved_too_far(perp_api):
    first = perp_api.open_epoch([100, 200])["epoch_id"]
    post_rates(perp_api, first, [100, 100, 100])
    close(perp_api, first, [100, 200])
    perp_api.expect(perp_api.client.post(f"/epochs/{first}/finalize", headers=perp_api.operator), 200)
    second = perp_api.open_epoch([100, 200])["epoch_id"]
    post_rates(perp_api, second, [1_200, 1_200, 1_200])  # moved 1 100 millionths, the limit is 1 000
    refused = close(perp_api, second, [100, 200], 409)
    assert refused["code"] == "circuit_breaker" and "moved 1100 millionths" in refused["detail"]
    assert close(perp_api, second, [100, 200], confirm_circuit_breaker=True)["funding_rates"] == [0, 1_200]


def test_bad_funding_reports_are_refused(perp_api):
    epoch_id = perp_api.open_epoch([100, 200])["epoch_id"]
    key = perp_api.oracle_keys[0]
    good = sign_funding_report(key, PERPETUAL, epoch_id, 100, int(time.time()))
    forged = SignedFundingReport(good.oracle, good.market, good.epoch, 101, good.timestamp, good.signature)
    refused = perp_api.expect(perp_api.client.post("/funding-reports", json=forged.to_dict()), 401)
    assert refused["code"] == "bad_signature"
    future_market = sign_funding_report(key, 0, epoch_id, 100, int(time.time()))
    perp_api.expect(perp_api.client.post("/funding-reports", json=future_market.to_dict()), 422)
    other_epoch = sign_funding_report(key, PERPETUAL, epoch_id + 1, 100, int(time.time()))
    perp_api.expect(perp_api.client.post("/funding-reports", json=other_epoch.to_dict()), 409)
    perp_api.expect(perp_api.client.post("/funding-reports", json=good.to_dict()), 201)
    perp_api.expect(perp_api.client.post("/funding-reports", json=good.to_dict()), 200)  # the same report again
    twice = sign_funding_report(key, PERPETUAL, epoch_id, 150, int(time.time()))
    refused = perp_api.expect(perp_api.client.post("/funding-reports", json=twice.to_dict()), 409)
    assert refused["code"] == "oracle_equivocation"
    with pytest.raises(Exception, match="outside"):
        sign_funding_report(key, PERPETUAL, epoch_id, 1_000_001, int(time.time()))


def test_everyone_settles_funding_and_the_epoch_finalizes_at_zero(perp_api, database_url):
    api = perp_api
    epoch_id = api.open_epoch([100, 200])["epoch_id"]
    alice, bob = api.trader().open(), api.trader().open()
    for trader, reference in ((alice, "bank-1"), (bob, "bank-2")):
        credited = api.credit(trader.account_id, 10_000, reference)
        trader.deposit(credited["deposit_id"], 10_000, epoch_id)
    alice.apply_fill(api.post_fill(alice, market=PERPETUAL, size_delta=3, price=200, fee=0)["fill_id"], epoch_id)
    bob.apply_fill(api.post_fill(bob, market=PERPETUAL, size_delta=-3, price=200, fee=0)["fill_id"], epoch_id)

    post_rates(api, epoch_id, [1_234, 1_234, 1_234])
    closed = close(api, epoch_id, [100, 200])
    assert closed["funding_steps"] == ["0", str(1_234 * 200)]
    # the long pays ceil(3 x 246 800 / 10^6) = ceil(0.7404) = 1; the short receives ceil(-0.7404) = 0
    assert alice.settle(epoch_id)["pnl"] == "-1"
    second = bob.settle(epoch_id)
    assert second["pnl"] == "0" and second["epoch_finalized"] is True

    finalized = api.expect(api.client.post(f"/epochs/{epoch_id}/finalize", headers=api.operator), 200)
    assert finalized["total_pnl"] == 0 and finalized["funding_remainder"] == "1"
    assert api.expect(api.client.get("/ledger/balances/clearing", headers=api.operator), 200)["balance"] == "0"
    assert api.expect(api.client.get("/ledger/balances/default-fund", headers=api.operator), 200)["balance"] == "1"
    assert api.expect(api.client.get("/ledger/verify", headers=api.operator), 200)["ok"]
    assert ledger_verify_command(database_url) == ExitCode.OK
