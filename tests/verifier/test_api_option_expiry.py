"""Option expiry through the HTTP API with real proofs (SQLite and PostgreSQL; docs/protocol.md §10.7).

A call on BTC expires between two epochs: the epoch it traded in opens with the option live
(valued by the model), the close comes after its expiry, so the close values it at its intrinsic
value against BTC's closing price and flags it ``expires``; both holders settle at that price
(their positions extinguished, the position bit 0), the epoch finalizes at exactly zero, the ledger
verifies, a fill in the expired market is refused (422 ``market_expired``) and the next epoch opens,
publishing the expired option at intrinsic value with nothing at risk. A holder who keeps the
expired option (a proof with the flag 0) is refused: the service's statement carries its own flags.
"""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from circuits.protocol.api import Epoch, Market
from circuits.protocol.epoch_record import settlement_valuation_sha256
from circuits.protocol.exit_codes import ExitCode
from circuits.protocol.vol_report import sign_vol_report
from prover.trader.expiry import checked_expiries
from tests.verifier.conftest import API_CURVE, API_MARKETS, ServiceHarness, Submission, Trader
from verifier.cli import ledger_verify_command
from verifier.core.config import MarketConfig, OptionConfig
from verifier.main import create_app

BTC = MarketConfig(name="BTC-USD", maintenance_rate=50_000, initial_rate=100_000)
STRIKE = 40_000
LIVE_FOR = 4  # seconds between the open and the option's expiry: enough to open the epoch with it live


@pytest.fixture
def expiring_api(api_settings, api_keys, portfolio_keys, oracle_private_keys, wire_unchanged_by_response_models):
    expiry = int(time.time()) + LIVE_FOR
    call = MarketConfig(name="BTC-40000-C", maintenance_rate=50_000, initial_rate=100_000,
                        option=OptionConfig(right="call", strike=STRIKE, expiry=expiry, underlying=0))
    settings = api_settings.model_copy(update={"markets": (BTC, call), "margin_mode": "portfolio"})
    with TestClient(create_app(settings)) as client:
        yield ServiceHarness(client, settings, {**api_keys[1], **portfolio_keys}, oracle_private_keys), expiry


def post_vols(api: ServiceHarness) -> None:
    now = int(time.time())
    for key in api.oracle_keys:
        api.expect(api.client.post("/oracle-vol-reports", json=sign_vol_report(key, 0, 600_000, now).to_dict()), 201)


def settlement_request(trader: Trader, epoch_id: int, keep_everything: bool = False) -> Submission:
    """The trader's settlement with the epoch's published expires flags (checked as the CLI checks
    them); ``keep_everything``: a cheater's, which keeps the expired option (every flag 0)."""
    epoch = trader.epoch(epoch_id)
    markets = [Market.model_validate(m) for m in trader.api.expect(trader.api.client.get("/markets"), 200)]
    expires = None if keep_everything else checked_expiries(Epoch.model_validate(epoch), markets)
    new, pnl, inputs = trader.circuit("settle").transition(
        trader.state, epoch_id, epoch["settlement_prices"], API_CURVE,
        funding_steps=[int(step) for step in epoch["funding_steps"]], expires=expires)
    return Submission(f"/accounts/{trader.account_id}/settlements", {
        "epoch_id": epoch_id, "pnl": str(pnl), "holds_position": new.holds_position,
        "new_commitment": str(new.commitment(API_CURVE)), "proof": trader.prove("settle", inputs)}, new)


def fill_body(api: ServiceHarness, trader: Trader, market: int) -> dict:
    from circuits.protocol.fill_delivery import seal_fill
    from circuits.state import Fill, fresh_salt

    fill = Fill(trader.account_id, 999, market, 1, 100, 0, fresh_salt(API_CURVE))
    ciphertext = seal_fill(fill, trader.keypair.public_key, API_CURVE, markets=API_MARKETS)
    return {"account_id": trader.account_id, "fill_commitment": str(fill.commitment(API_CURVE)),
            "ciphertext": ciphertext.hex(), "reference": f"late-{market}", "market": market}


def test_an_option_expiring_between_epochs_settles_at_intrinsic_value_and_finalizes_at_zero(expiring_api,
                                                                                            database_url):
    api, expiry = expiring_api
    post_vols(api)
    epoch_id = api.open_epoch([60_000, 1_000])["epoch_id"]  # the option is live: the model marks it
    risk = api.expect(api.client.get(f"/epochs/{epoch_id}/risk"), 200)
    assert risk["valued_at"] < expiry and not risk["arrays"][1]["expired"] and risk["settlement"] is None

    alice, bob = api.trader().open(), api.trader().open()
    for trader, reference in ((alice, "bank-1"), (bob, "bank-2")):
        trader.deposit(api.credit(trader.account_id, 100_000, reference)["deposit_id"], 100_000, epoch_id)
    alice.apply_fill(api.post_fill(alice, market=1, size_delta=2, price=19_000, fee=0)["fill_id"], epoch_id)
    bob.apply_fill(api.post_fill(bob, market=1, size_delta=-2, price=19_000, fee=0)["fill_id"], epoch_id)

    time.sleep(max(0.0, expiry + 1 - time.time()))  # the option expires before the close
    closed = api.close_epoch(epoch_id, [61_000, 1_000])
    assert closed["settlement_prices"] == [61_000, 61_000 - STRIKE]  # intrinsic against BTC's closing price
    assert closed["settlement_expires"] == [False, True]
    valuation = api.expect(api.client.get(f"/epochs/{epoch_id}/risk"), 200)["settlement"]
    assert valuation["expires"] == [False, True] and valuation["prices"] == [61_000, 21_000]
    assert valuation["valued_at"] >= expiry and valuation["markets"] == []  # no live option: no volatility

    # a short who keeps the expired call (hoping it lapses later) proves a statement the service does not make
    kept = bob.send(settlement_request(bob, epoch_id, keep_everything=True), 422)
    assert kept["code"] == "invalid_proof"
    gain = alice.send(settlement_request(alice, epoch_id))
    assert gain["pnl"] == str(2 * 21_000 - 2 * 19_000)
    loss = bob.send(settlement_request(bob, epoch_id))
    assert loss["pnl"] == "-4000" and loss["epoch_finalized"] is True
    for trader in (alice, bob):
        assert trader.state.sizes == (0, 0) and trader.state.costs == (0, 0)  # extinguished
        assert not trader.state.holds_position
    assert alice.state.collateral == 104_000 and bob.state.collateral == 96_000

    finalized = api.expect(api.client.get(f"/epochs/{epoch_id}"), 200)
    assert finalized["status"] == "finalized" and finalized["settled_accounts"] == 2
    assert api.expect(api.client.get("/ledger/balances/clearing", headers=api.operator), 200)["balance"] == "0"
    assert api.expect(api.client.get("/ledger/verify", headers=api.operator), 200)["ok"]
    assert ledger_verify_command(database_url) == ExitCode.OK

    refused = api.expect(api.client.post("/fills", headers=api.venue, json=fill_body(api, alice, 1)), 422)
    assert refused["code"] == "market_expired" and "expired" in refused["detail"]

    journaled = api.expect(api.client.get(f"/epochs/{epoch_id}/record"), 200)["close"]["document"]
    assert journaled["settlement_valuation_sha256"] == settlement_valuation_sha256(valuation)

    following = api.open_epoch([61_000, 1_000])  # no volatility needed: the only option has expired
    record = api.expect(api.client.get(f"/epochs/{following['epoch_id']}/risk"), 200)
    call = record["arrays"][1]
    assert call["expired"] and call["mark"] == 21_000 and call["short_charge"] == 0 and set(call["pnl"]) == {0}
    api.expect(api.client.post("/fills", headers=api.venue, json=fill_body(api, alice, 0)), 201)  # BTC trades on

    # the valuation is journaled with the close: a payoff changed after the fact fails ledger verify
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text(f"UPDATE epoch_risk SET settlement = replace(settlement, '21000', '21001') "
                                f"WHERE epoch_id = {epoch_id}"))
    engine.dispose()
    report = api.expect(api.client.get("/ledger/verify", headers=api.operator), 200)
    assert not report["ok"] and f"epoch {epoch_id}" in report["problem"]


def test_a_close_before_expiry_values_the_live_option_with_fresh_volatilities(expiring_api):
    api, expiry = expiring_api
    post_vols(api)
    epoch_id = api.open_epoch([60_000, 1_000])["epoch_id"]
    closed = api.close_epoch(epoch_id, [61_000, 1_000])
    assert time.time() < expiry, "the machine was too slow for this test's window"
    assert closed["settlement_expires"] == [False, False]
    valuation = api.expect(api.client.get(f"/epochs/{epoch_id}/risk"), 200)["settlement"]
    assert valuation["markets"] == [{"market": 0, "price": 61_000, "vol": 600_000}]
    assert 21_000 <= closed["settlement_prices"][1] < 61_000  # the model's value: above intrinsic, below the spot
    trader = api.trader().open()
    unknown = {**fill_body(api, trader, 0), "market": 7}
    assert api.expect(api.client.post("/fills", headers=api.venue, json=unknown), 422)["code"] == "unknown_market"
