"""The epoch's record through the HTTP API (SQLite and PostgreSQL): opening and closing an epoch
journal its documents (GET /epochs/{id}/record), GET /ledger/verify counts the recorded epochs, a
portfolio epoch's open document names its risk record's hash, and a risk record changed in the
database fails both ``ledger verify`` (naming the epoch) and the trader's check."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from circuits.protocol.api import EpochRecordView
from circuits.protocol.epoch_record import record_reference, record_sha256, risk_record_sha256
from circuits.protocol.vol_report import sign_vol_report
from prover.trader.epoch_record import EpochRecordRefusedError, check_epoch_record
from tests.verifier.conftest import ServiceHarness
from verifier.core.config import MarketConfig, OptionConfig
from verifier.db.engine import Database
from verifier.main import create_app

BTC = MarketConfig(name="BTC-USD", maintenance_rate=50_000, initial_rate=100_000)
CALL = MarketConfig(name="BTC-40000-C", maintenance_rate=50_000, initial_rate=100_000,
                    option=OptionConfig(right="call", strike=40_000, expiry=int(time.time()) + 30 * 86_400,
                                        underlying=0))


@pytest.fixture
def options_api(api_settings, api_keys, portfolio_key, oracle_private_keys, wire_unchanged_by_response_models):
    settings = api_settings.model_copy(update={"markets": (BTC, CALL), "margin_mode": "portfolio"})
    with TestClient(create_app(settings)) as client:
        yield ServiceHarness(client, settings, {**api_keys[1], "portfolio": portfolio_key}, oracle_private_keys)


def record_of(api, epoch_id: int) -> dict:
    return api.expect(api.client.get(f"/epochs/{epoch_id}/record"), 200)


def ledger_report(api) -> dict:
    return api.expect(api.client.get("/ledger/verify", headers=api.operator), 200)


def tamper(database_url: str, statement: str, **params) -> None:
    database = Database.connect(database_url)
    try:
        with database.engine.begin() as connection:
            connection.execute(text(statement), params)
    finally:
        database.dispose()


def test_opening_and_closing_journal_the_epochs_documents(api):
    epoch = api.open_epoch([60_000, 3_000])
    epoch_id = epoch["epoch_id"]
    opened = record_of(api, epoch_id)
    assert opened["close"] is None
    document = opened["open"]["document"]
    assert document["mode"] == "flat" and document["mark_prices"] == ["60000", "3000"]
    assert document["mark_snapshot_sha256"] == epoch["mark_snapshot_digest"]
    assert opened["open"]["sha256"] == record_sha256(document)
    assert opened["open"]["reference"] == record_reference(epoch_id, "open", opened["open"]["sha256"])

    closed = api.close_epoch(epoch_id, [61_000, 2_900])
    close = record_of(api, epoch_id)["close"]
    assert close["document"]["settlement_prices"] == ["61000", "2900"]
    assert close["document"]["settlement_snapshot_sha256"] == closed["settlement_snapshot_digest"]
    assert close["document"]["funding_steps"] == closed["funding_steps"]
    assert close["document"]["settlement_valuation_sha256"] is None
    assert (opened["open"]["sequence"], close["sequence"]) == (1, 2)

    report = ledger_report(api)
    assert report["ok"] and report["entries_checked"] == 2
    assert (report["epochs_recorded"], report["epochs_unrecorded"]) == (1, 0)


def test_the_record_of_an_unknown_epoch_is_not_found(api):
    answer = api.client.get("/epochs/99/record")
    assert answer.status_code == 404 and answer.json()["code"] == "not_found"


def open_portfolio_epoch(api) -> int:
    now = int(time.time())
    for key, vol in zip(api.oracle_keys, (600_000, 620_000, 640_000)):
        api.expect(api.client.post("/oracle-vol-reports", json=sign_vol_report(key, 0, vol, now).to_dict()), 201)
    return api.open_epoch([60_000, 1])["epoch_id"]


def test_a_portfolio_epoch_journals_its_risk_record_and_a_changed_one_is_caught(options_api, database_url):
    api = options_api
    epoch_id = open_portfolio_epoch(api)
    risk = api.expect(api.client.get(f"/epochs/{epoch_id}/risk"), 200)
    view = record_of(api, epoch_id)
    document = view["open"]["document"]
    assert document["mode"] == "portfolio" and document["risk_digest"] == risk["digest"]
    assert document["risk_record_sha256"] == risk_record_sha256(risk)
    check_epoch_record(EpochRecordView.model_validate(view), risk, epoch_id, [60_000, 1])  # the trader's check
    assert ledger_report(api)["ok"]

    # the operator's database changes the short charges after the epoch opened
    tamper(database_url, "UPDATE epoch_risk SET document = replace(document, :old, :new) WHERE epoch_id = :epoch",
           old='"short_charge":', new='"short_charge":1', epoch=epoch_id)
    report = ledger_report(api)
    assert not report["ok"]
    assert f"epoch {epoch_id}'s open record (journal entry 1) no longer matches the database" in report["problem"]
    changed = api.expect(api.client.get(f"/epochs/{epoch_id}/risk"), 200)
    with pytest.raises(EpochRecordRefusedError, match="not the record the epoch opened with"):
        check_epoch_record(EpochRecordView.model_validate(record_of(api, epoch_id)), changed, epoch_id, [60_000, 1])


def test_a_refused_opening_journals_nothing(options_api):
    options_api.post_prices([60_000, 1])
    answer = options_api.client.post("/epochs", headers=options_api.operator)
    assert answer.status_code == 409 and answer.json()["code"] == "no_vol_quorum"
    report = ledger_report(options_api)
    assert report["ok"] and (report["entries_checked"], report["epochs_recorded"]) == (0, 0)
