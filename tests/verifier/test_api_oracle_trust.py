"""Oracle trust through the HTTP API, on SQLite and PostgreSQL: no single oracle, and no minority
of oracles, sets a price.

- the configuration is the registry: a key it no longer lists is revoked at start-up, and the
  operator can revoke one; a revoked oracle's reports are refused and never counted, those it
  signed before its revocation included;
- a price needs fresh reports of 2f + 1 distinct oracles (f = 1: all three development oracles);
- the circuit breaker holds an epoch whose prices spread or moved too far, unless confirmed;
- small-order and non-canonical Ed25519 keys are refused;
- two different prices signed by one oracle for one instant: 409 ``oracle_equivocation``.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select, text

from circuits.protocol.oracle_report import (
    generate_oracle_key,
    public_key_bytes,
    sign_report,
)
from tests.verifier.conftest import ServiceHarness
from tests.verifier.test_oracle import NON_CANONICAL_KEYS, SMALL_ORDER_KEYS
from verifier.core.config import Settings
from verifier.db.engine import Database
from verifier.db.models import OracleKey, OracleReport, PriceSnapshotRecord, SnapshotPhase
from verifier.errors import DatabaseConfigurationError, EquivocationError, InvalidOracleKeyError, OracleConfigError
from verifier.services import prices

MARKETS = 2  # the API fixtures' market count
NOW = datetime(2026, 12, 3, tzinfo=timezone.utc)


@contextmanager
def service(settings: Settings, oracle_keys):
    """The service started (again) with these settings, as a restarted replica would be."""
    from fastapi.testclient import TestClient

    from verifier.main import create_app

    with TestClient(create_app(settings)) as client:
        yield ServiceHarness(client, settings, None, oracle_keys)


def configured(keys) -> dict[str, str]:
    return {public_key_bytes(k).hex(): f"oracle-{i}" for i, k in enumerate(keys)}


def report(api, key, prices_by_market: list[int], stamp: int, status: int = 201) -> list[dict]:
    return [api.expect(api.client.post("/oracle-reports", json=sign_report(key, m, p, stamp).to_dict()), status)
            for m, p in enumerate(prices_by_market)]


def refused(response, status: int, code: str, *fragments: str) -> dict:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert body["code"] == code, body
    for fragment in fragments:
        assert fragment in body["detail"], body
    return body


def open_epoch(api, body: dict | None = None):
    return api.client.post("/epochs", headers=api.operator, json=body)


def stored_snapshot_row(settings: Settings, epoch_id: int, phase: SnapshotPhase) -> SimpleNamespace:
    """The stored snapshot record's columns (read straight from the database)."""
    database = Database.connect(settings.database_url)
    try:
        with database.reader() as session:
            row = session.get(PriceSnapshotRecord, (epoch_id, phase))
            return SimpleNamespace(document=row.document, circuit_breaker_override=row.circuit_breaker_override)
    finally:
        database.dispose()


# --- the configuration is the registry; revocation ------------------------------------------

def test_a_key_removed_from_the_configuration_is_revoked_at_start_up(api_settings, oracle_private_keys):
    retired = generate_oracle_key()
    four = [*oracle_private_keys, retired]
    first = api_settings.model_copy(update={"oracle_keys": configured(four)})
    stamp = int(time.time())
    with service(first, four) as api:
        # the retired oracle and two others report; all four are registered, three would be a quorum
        for key, price in ((four[0], 1000), (four[1], 1000), (retired, 1)):
            report(api, key, [price, price], stamp)
    with service(api_settings, oracle_private_keys) as api:  # the configuration no longer lists it
        oracles = {o["name"]: o for o in api.expect(api.client.get("/oracles"), 200)}
        assert oracles["oracle-3"]["revoked_at"] is not None
        assert oracles["oracle-3"]["revoked_reason"] == "removed from ZKMARGIN_ORACLE_KEYS"
        assert all(oracles[f"oracle-{i}"]["revoked_at"] is None for i in range(3))
        # its new reports are refused, and its report from before still does not count
        refused(api.client.post("/oracle-reports", json=sign_report(retired, 0, 1, stamp + 1).to_dict()),
                403, "oracle_revoked", "revoked", "removed from ZKMARGIN_ORACLE_KEYS")
        refused(open_epoch(api), 409, "no_price_quorum", "1 revoked oracle", "3 distinct oracles needed")
        report(api, oracle_private_keys[2], [1010, 1010], stamp)
        epoch = api.expect(open_epoch(api), 201)
        assert epoch["mark_prices"] == [1000, 1000]  # not the retired oracle's 1


def test_a_revoked_key_configured_again_refuses_start_up(api_settings, oracle_private_keys):
    extra = generate_oracle_key()
    four = [*oracle_private_keys, extra]
    with service(api_settings.model_copy(update={"oracle_keys": configured(four)}), four):
        pass
    with service(api_settings, oracle_private_keys):
        pass  # revokes oracle-3
    with pytest.raises(OracleConfigError, match="was revoked at .*a revoked key is never trusted again"):
        with service(api_settings.model_copy(update={"oracle_keys": configured(four)}), four):
            pass


def test_the_operator_revokes_a_key_and_none_of_its_reports_counts(api):
    fourth = generate_oracle_key()
    fourth_hex = public_key_bytes(fourth).hex()
    api.expect(api.client.post("/oracles", headers=api.operator,
                               json={"public_key": fourth_hex, "name": "oracle-3"}), 201)
    stamp = api.timestamp()
    # with all four counted the lower median would be 1000; without oracle-0 it is 1010
    for key, price in zip([*api.oracle_keys, fourth], [1000, 1000, 1010, 1010]):
        report(api, key, [price, price], stamp)
    victim = public_key_bytes(api.oracle_keys[0]).hex()

    refused(api.client.post(f"/oracles/{victim}/revoke", json={"reason": "key leaked"}), 401, "unauthenticated")
    revoked = api.expect(api.client.post(f"/oracles/{victim}/revoke", headers=api.operator,
                                         json={"reason": "key leaked"}), 200)
    assert revoked["name"] == "oracle-0" and revoked["revoked_reason"] == "key leaked" and revoked["revoked_at"]
    again = api.expect(api.client.post(f"/oracles/{victim}/revoke", headers=api.operator,
                                       json={"reason": "another reason"}), 200)
    assert again == revoked  # idempotent: the first revocation stands, reason and time included
    refused(api.client.post(f"/oracles/{'ab' * 32}/revoke", headers=api.operator, json={"reason": "x"}),
            404, "not_found", "not registered")

    # new reports are refused; the one it signed before never counts
    refused(api.client.post("/oracle-reports", json=sign_report(api.oracle_keys[0], 0, 1000, stamp + 1).to_dict()),
            403, "oracle_revoked", "oracle-0", "key leaked")
    epoch = api.expect(open_epoch(api), 201)
    assert epoch["mark_prices"] == [1010, 1010]
    row = stored_snapshot_row(api.settings, epoch["epoch_id"], SnapshotPhase.MARK)
    assert all(len(market) == 3 for market in json.loads(row.document)["reports"])

    # a revoked key is never registered again
    refused(api.client.post("/oracles", headers=api.operator, json={"public_key": victim, "name": "oracle-0"}),
            409, "oracle_configuration", "was revoked")


def test_revoking_below_2f_plus_1_oracles_stops_epochs_until_another_is_registered(api):
    stamp = api.timestamp()
    for key in api.oracle_keys:
        report(api, key, [1000, 1000], stamp)
    victim = public_key_bytes(api.oracle_keys[2]).hex()
    api.expect(api.client.post(f"/oracles/{victim}/revoke", headers=api.operator, json={"reason": "lying"}), 200)
    refused(open_epoch(api), 409, "oracle_configuration", "quorum of 3 oracles", "impossible with 2")
    replacement = generate_oracle_key()
    api.expect(api.client.post("/oracles", headers=api.operator, json={
        "public_key": public_key_bytes(replacement).hex(), "name": "oracle-new"}), 201)
    report(api, replacement, [1000, 1000], stamp)
    assert api.expect(open_epoch(api), 201)["mark_prices"] == [1000, 1000]


# --- 2f + 1 distinct oracles ------------------------------------------------------------------

def test_one_lying_oracle_cannot_set_the_price(api):
    """Observed before: with a quorum of 2 of 3, an honest 100 and a lying 1 opened the epoch at 1."""
    honest, other, liar = api.oracle_keys
    stamp = api.timestamp()
    report(api, honest, [100, 100], stamp)
    report(api, liar, [1, 1], stamp)
    refused(open_epoch(api), 409, "no_price_quorum", "3 distinct oracles needed", "had 2 valid fresh reports")
    # the third oracle reports: the liar is outvoted; the spread it causes trips the breaker first
    report(api, other, [101, 101], stamp)
    body = refused(open_epoch(api), 409, "circuit_breaker", "market 0 (BTC-USD)", "median 100")
    assert {(t["market"], t["kind"], t["median"], t["low"], t["high"]) for t in body["trips"]} == {
        (0, "spread", 100, 1, 101), (1, "spread", 100, 1, 101)}
    epoch = api.expect(open_epoch(api, {"confirm_circuit_breaker": True}), 201)
    assert epoch["mark_prices"] == [100, 100]  # an honest oracle's price, never the liar's


def test_the_configuration_needs_2f_plus_1_oracles(api_settings, oracle_private_keys):
    with pytest.raises(OracleConfigError, match=r"2 oracle\(s\) configured.*2f \+ 1 = 3"):
        with service(api_settings.model_copy(update={"oracle_keys": configured(oracle_private_keys[:2])}),
                     oracle_private_keys[:2]):
            pass
    with pytest.raises(OracleConfigError, match=r"ZKMARGIN_ORACLE_FAULTS = 2 .* at least 5"):
        with service(api_settings.model_copy(update={"oracle_faults": 2}), oracle_private_keys):
            pass


def test_the_old_quorum_setting_is_refused_with_directions(monkeypatch, tmp_path):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="ZKMARGIN_ORACLE_QUORUM is no longer supported.*ZKMARGIN_ORACLE_FAULTS"):
        Settings(home=tmp_path, oracle_quorum=2)
    monkeypatch.setenv("ZKMARGIN_ORACLE_QUORUM", "2")
    with pytest.raises(ValidationError, match="ZKMARGIN_ORACLE_FAULTS"):
        Settings(home=tmp_path)
    monkeypatch.delenv("ZKMARGIN_ORACLE_QUORUM")
    with pytest.raises(ValidationError, match="oracle_faults"):
        Settings(home=tmp_path, oracle_faults=0)  # one oracle would set the price
    assert Settings(home=tmp_path).oracle_faults == 1


# --- the circuit breaker --------------------------------------------------------------------

def test_the_circuit_breaker_refuses_a_wide_spread_unless_confirmed(api):
    stamp = api.timestamp()
    for key, price in zip(api.oracle_keys, [100, 100, 106]):  # 6 % above the median; the limit is 5 %
        report(api, key, [200, price], stamp)
    body = refused(open_epoch(api), 409, "circuit_breaker", "market 1 (ETH-USD)", "from 100 to 106",
                   "60000 millionths", "limit 50000", "confirm_circuit_breaker")
    assert body["trips"] == [{"market": 1, "kind": "spread", "median": 100, "figure_millionths": 60000,
                              "limit_millionths": 50000, "low": 100, "high": 106}]
    refused(open_epoch(api, {"confirm_circuit_breaker": "yes"}), 422, "invalid_request")  # only a JSON true
    epoch = api.expect(open_epoch(api, {"confirm_circuit_breaker": True}), 201)
    assert epoch["mark_prices"] == [200, 100]
    assert epoch["circuit_breaker_override"] == body["trips"]
    row = stored_snapshot_row(api.settings, epoch["epoch_id"], SnapshotPhase.MARK)
    assert json.loads(row.circuit_breaker_override) == body["trips"]


def test_the_circuit_breaker_refuses_a_large_move_at_the_close_unless_confirmed(api):
    epoch = api.open_epoch([1000, 2000])
    assert epoch["circuit_breaker_override"] is None  # nothing tripped, nothing recorded
    assert stored_snapshot_row(api.settings, epoch["epoch_id"], SnapshotPhase.MARK).circuit_breaker_override is None
    api.post_prices([1201, 2400])  # +20.1 % and exactly +20 % (the limit) from the mark prices
    path = f"/epochs/{epoch['epoch_id']}/close"
    body = refused(api.client.post(path, headers=api.operator), 409, "circuit_breaker",
                   "does not close", "market 0 (BTC-USD): the median 1201 moved 201000 millionths from the previous "
                   "snapshot's 1000 (limit 200000)")
    assert [(t["market"], t["kind"]) for t in body["trips"]] == [(0, "move")]
    assert api.expect(api.client.get(f"/epochs/{epoch['epoch_id']}"), 200)["status"] == "open"
    closed = api.expect(api.client.post(path, headers=api.operator, json={"confirm_circuit_breaker": True}), 200)
    assert closed["settlement_prices"] == [1201, 2400] and closed["circuit_breaker_override"] == body["trips"]
    assert stored_snapshot_row(api.settings, epoch["epoch_id"], SnapshotPhase.SETTLEMENT).circuit_breaker_override
    shown = api.expect(api.client.get(f"/epochs/{epoch['epoch_id']}"), 200)["circuit_breaker_overrides"]
    assert shown == {"settlement": body["trips"]}  # the epoch's record says what the operator confirmed

    # the next epoch's move is measured from the settlement snapshot (1201), not the mark (1000)
    api.post_prices([1201, 2400])
    assert api.expect(open_epoch(api), 201)["circuit_breaker_override"] is None


def test_circuit_breaker_limits_are_configurable(api_settings, oracle_private_keys):
    strict = api_settings.model_copy(update={"circuit_breaker_max_spread": 0, "circuit_breaker_max_move": 0})
    with service(strict, oracle_private_keys) as api:
        api.post_prices([100, 100])
        api.expect(open_epoch(api), 201)  # identical reports: no spread, no previous snapshot
        epoch_id = api.expect(api.client.get("/epochs/current"), 200)["epoch_id"]
        api.post_prices([100, 101])
        refused(api.client.post(f"/epochs/{epoch_id}/close", headers=api.operator), 409, "circuit_breaker",
                "moved 10000 millionths", "limit 0")


# --- keys -----------------------------------------------------------------------------------

@pytest.mark.parametrize("key", SMALL_ORDER_KEYS + NON_CANONICAL_KEYS)
def test_small_order_keys_are_refused_at_registration(api, key):
    body = refused(api.client.post("/oracles", headers=api.operator, json={"public_key": key, "name": "forger"}),
                   422, "invalid_oracle_key", key)
    assert "small-order" in body["detail"] or "not canonical" in body["detail"] or "not a point" in body["detail"]
    assert "forger" not in {o["name"] for o in api.expect(api.client.get("/oracles"), 200)}


@pytest.mark.parametrize("key", [SMALL_ORDER_KEYS[0], NON_CANONICAL_KEYS[0]])
def test_small_order_keys_are_refused_in_the_configuration(api_settings, oracle_private_keys, key):
    oracles = {**configured(oracle_private_keys), key: "forger"}
    with pytest.raises(InvalidOracleKeyError, match=key):
        with service(api_settings.model_copy(update={"oracle_keys": oracles}), oracle_private_keys):
            pass


def test_the_all_zero_key_cannot_be_used_to_forge_prices(api):
    """Observed before: the all-zero key was accepted; its 'signatures' then verify for anyone."""
    refused(api.client.post("/oracles", headers=api.operator, json={"public_key": "00" * 32, "name": "zero"}),
            422, "invalid_oracle_key", "small-order point (order 4)")
    forged = {"oracle": "00" * 32, "market": 0, "price": 1, "timestamp": int(time.time()),
              "signature": "00" * 64}
    refused(api.client.post("/oracle-reports", json=forged), 401, "unknown_oracle", "not registered")


# --- equivocation ---------------------------------------------------------------------------

def test_equivocation_is_refused_with_409(api):
    key = api.oracle_keys[0]
    stamp = api.timestamp()
    first = sign_report(key, 0, 100, stamp).to_dict()
    assert api.expect(api.client.post("/oracle-reports", json=first), 201)["price"] == 100
    assert api.expect(api.client.post("/oracle-reports", json=first), 200)["price"] == 100  # idempotent
    refused(api.client.post("/oracle-reports", json=sign_report(key, 0, 101, stamp).to_dict()), 409,
            "oracle_equivocation", "already signed price 100 for market 0", "(101)")
    # another market or another instant is not equivocation
    api.expect(api.client.post("/oracle-reports", json=sign_report(key, 1, 101, stamp).to_dict()), 201)
    api.expect(api.client.post("/oracle-reports", json=sign_report(key, 0, 101, stamp + 1).to_dict()), 201)


def test_concurrent_equivocating_reports_store_one_through_the_api(api):
    key = api.oracle_keys[1]
    stamp = api.timestamp()
    bodies = [sign_report(key, 0, 100 + i, stamp).to_dict() for i in range(8)]
    with ThreadPoolExecutor(len(bodies)) as pool:
        responses = list(pool.map(lambda body: api.client.post("/oracle-reports", json=body), bodies))
    assert sorted(r.status_code for r in responses) == [201] + [409] * 7, [r.text for r in responses]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"oracle_equivocation"}
    database = Database.connect(api.settings.database_url)
    try:
        with database.reader() as session:
            assert session.scalar(select(func.count()).select_from(OracleReport).where(
                OracleReport.oracle == public_key_bytes(key).hex(), OracleReport.timestamp == stamp)) == 1
    finally:
        database.dispose()


def test_concurrent_equivocating_reports_store_one(database, tmp_path):
    """Two units of work insert different prices for one instant; the second waits for the first
    (SQLite: the write lock; PostgreSQL: the unique index) and is then refused."""
    key = generate_oracle_key()
    with database.unit_of_work() as session:
        session.add(OracleKey(public_key=public_key_bytes(key).hex(), name="oracle-x"))
    ctx = SimpleNamespace(runtime=SimpleNamespace(settings=Settings(home=tmp_path)), markets=MARKETS)
    stamp = int(time.time())
    first_inserted, second_started = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def first() -> None:
        with database.unit_of_work() as session:
            outcome["first"] = prices.submit_report(session, ctx, sign_report(key, 0, 100, stamp))
            first_inserted.set()
            second_started.wait(10)
            time.sleep(0.5)  # the second is now blocked behind this uncommitted insert

    def second() -> None:
        first_inserted.wait(10)
        second_started.set()
        try:
            with database.unit_of_work() as session:
                outcome["second"] = prices.submit_report(session, ctx, sign_report(key, 0, 1, stamp))
        except EquivocationError as exc:
            outcome["second"] = exc

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outcome["first"][1] is True
    assert isinstance(outcome["second"], EquivocationError), outcome["second"]
    with database.reader() as session:
        assert session.scalars(select(OracleReport.price)).all() == [100]


# --- the schema -----------------------------------------------------------------------------

def test_the_upgrade_refuses_stored_equivocations(empty_database_url):
    from verifier.db.migrate import upgrade_database

    upgrade_database(empty_database_url, "0003")
    database = Database.connect(empty_database_url)
    try:
        with database.engine.begin() as connection:
            connection.execute(text("INSERT INTO oracle_keys (public_key, name, created_at) VALUES (:k, 'o', :t)"),
                               {"k": "ab" * 32, "t": NOW})
            for i, price in enumerate((100, 1)):
                connection.execute(text(
                    "INSERT INTO oracle_reports (digest, oracle, market, price, timestamp, signature, received_at) "
                    "VALUES (:d, :k, 0, :p, 1700000000, :s, :t)"),
                    {"d": f"{i:064x}", "k": "ab" * 32, "p": price, "s": "00" * 64, "t": NOW})
    finally:
        database.dispose()
    refusal = r"1 equivocation\(s\).*market 0 timestamp 1700000000 \(2 prices\)"
    with pytest.raises(DatabaseConfigurationError, match=refusal):
        upgrade_database(empty_database_url)


def test_the_downgrade_refuses_while_keys_are_revoked(empty_database_url):
    from alembic import command

    from verifier.db.migrate import alembic_config, upgrade_database

    upgrade_database(empty_database_url)
    database = Database.connect(empty_database_url)
    try:
        with database.unit_of_work() as session:
            session.add(OracleKey(public_key="ab" * 32, name="gone", revoked_at=NOW, revoked_reason="leaked"))
    finally:
        database.dispose()
    with pytest.raises(DatabaseConfigurationError, match=r"1 oracle key\(s\) are revoked \(gone\)"):
        command.downgrade(alembic_config(empty_database_url), "0003")
