"""The epoch's record in the journal (SQLite and PostgreSQL): each epoch's open and close documents
are journaled as ``epoch_record`` entries without postings, and ``verify_ledger`` rebuilds them from
the rows, so a risk record, a price, a funding rate or a snapshot changed after the fact, or a
record removed, is reported naming the epoch. Epochs opened before the record existed are counted
apart (``epochs_unrecorded``)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from circuits.protocol.epoch_record import canonical_bytes, record_reference, record_sha256, risk_record_sha256
from circuits.protocol.exit_codes import ExitCode
from verifier.cli import ledger_verify_command
from verifier.db import records
from verifier.db.epoch_records import record_view
from verifier.db.ledger import EXTERNAL, GENESIS_HASH, Posting, append_entry, verify_ledger
from verifier.db.models import (
    EntryKind,
    EpochRecord,
    EpochRiskRecord,
    JournalEntry,
    LedgerHead,
    Market,
    SnapshotPhase,
)
from verifier.errors import UnbalancedEntryError
from verifier.oracle import PriceSnapshot
from verifier.services import epoch_records, prices

NOW = 1_800_000_000
MARKS, SETTLEMENTS, RATES = (100, 200), (110, 190), (250, 0)  # market 0 a perpetual, market 1 a future
RISK = {"epoch": 1, "valued_at": NOW, "parameters": {"price_steps": 3},
        "markets": [{"market": 0, "price": 100, "vol": 600_000, "rate": 0}],
        "arrays": [{"instrument": {"kind": "future", "market": 0, "perpetual": True}, "mark": 100,
                    "short_charge": 0, "pnl": [3, -3]}],
        "digest": "123456789", "curve": "bls12381"}


def snapshot(epoch_id: int, values) -> PriceSnapshot:
    return PriceSnapshot(epoch_id, NOW, tuple(values), tuple((bytes([m + 1]) * 32,) for m in range(len(values))))


def open_recorded(session, epoch_id: int, risk: dict | None = None) -> None:
    """What ``verifier.services.epochs.open_epoch`` stores, without the oracles."""
    epoch = records.open_epoch(session, epoch_id)
    prices.store_snapshot(session, epoch_id, SnapshotPhase.MARK, snapshot(epoch_id, MARKS))
    if risk is not None:
        session.add(EpochRiskRecord(epoch_id=epoch_id, digest=risk["digest"], document=json.dumps(risk)))
        session.flush()
    epoch_records.record_epoch(session, epoch, "open")


def close_recorded(session, epoch_id: int) -> None:
    epoch = records.close_epoch(session, epoch_id, list(SETTLEMENTS))
    for row, rate in zip(epoch.prices, RATES):
        row.funding_rate = rate
    prices.store_snapshot(session, epoch_id, SnapshotPhase.SETTLEMENT, snapshot(epoch_id, SETTLEMENTS))
    session.flush()
    epoch_records.record_close(session, epoch)


@pytest.fixture
def recorded(database):
    """Epoch 1 opened in portfolio mode and closed (funding on market 0); epoch 2 open, flat."""
    with database.unit_of_work() as session:
        for i, name in enumerate(("BTC-PERP", "ETH-FUT")):
            session.add(Market(id=i, name=name, price_scale=1, maintenance_rate=50_000, initial_rate=100_000))
        session.flush()
        open_recorded(session, 1, RISK)
    with database.unit_of_work() as session:
        close_recorded(session, 1)
    with database.unit_of_work() as session:
        open_recorded(session, 2)
    return database


def report_of(database):
    with database.reader() as session:
        return verify_ledger(session)


def test_each_phase_is_one_journal_entry_naming_its_document(recorded):
    report = report_of(recorded)
    assert report.ok, report.problem
    assert (report.entries_checked, report.epochs_recorded, report.epochs_unrecorded) == (3, 2, 0)
    assert "2 epochs recorded" in report.verdict()
    with recorded.reader() as session:
        entries = session.scalars(select(JournalEntry).order_by(JournalEntry.sequence)).all()
        assert [(e.kind, e.epoch_id, e.postings) for e in entries] == [(EntryKind.EPOCH_RECORD, 1, []),
                                                                       (EntryKind.EPOCH_RECORD, 1, []),
                                                                       (EntryKind.EPOCH_RECORD, 2, [])]
        references, first_id = [e.reference for e in entries[:2]], entries[0].id
        view = record_view(session, 1)
    opened, closed = view["open"], view["close"]
    assert references == [record_reference(1, "open", opened["sha256"]),
                          record_reference(1, "close", closed["sha256"])]
    assert opened["sha256"] == record_sha256(opened["document"]) and opened["entry_id"] == first_id
    assert (opened["sequence"], closed["sequence"]) == (1, 2) and closed["reference"] == references[1]
    assert opened["document"] == {
        "domain": "zkmargin/epoch-record/v1", "phase": "open", "epoch": "1", "mode": "portfolio",
        "mark_prices": ["100", "200"], "mark_snapshot_sha256": snapshot(1, MARKS).digest().hex(),
        "risk_record_sha256": risk_record_sha256(RISK), "risk_digest": "123456789"}
    assert closed["document"] == {
        "domain": "zkmargin/epoch-record/v1", "phase": "close", "epoch": "1",
        "settlement_prices": ["110", "190"], "settlement_snapshot_sha256": snapshot(1, SETTLEMENTS).digest().hex(),
        "funding_rates": ["250", "0"], "funding_steps": ["27500", "0"], "settlement_valuation_sha256": None}


def test_a_flat_epoch_names_no_risk_record_and_an_open_epoch_no_close(recorded):
    with recorded.reader() as session:
        view = record_view(session, 2)
    assert view["close"] is None
    document = view["open"]["document"]
    assert (document["mode"], document["risk_record_sha256"], document["risk_digest"]) == ("flat", None, None)


def test_the_stored_document_is_the_canonical_bytes_hashed(recorded):
    with recorded.reader() as session:
        row = session.get(EpochRecord, (1, "open"))
        assert row.document == canonical_bytes(json.loads(row.document)).decode()
        assert row.sha256 == record_sha256(json.loads(row.document))


TAMPERING = {
    "risk arrays": ("UPDATE epoch_risk SET document = replace(document, '-3]', '-2]') WHERE epoch_id = 1",
                    "epoch 1's open record (journal entry 1) no longer matches the database: risk_record_sha256 "
                    "changed"),
    "risk digest column": ("UPDATE epoch_risk SET digest = '1' WHERE epoch_id = 1",
                           "epoch 1's open record cannot be rebuilt from the database: its risk record's digest"),
    "risk and digest": ("UPDATE epoch_risk SET digest = '1', document = replace(document, '123456789', '1') "
                        "WHERE epoch_id = 1", "epoch 1's open record (journal entry 1) no longer matches the "
                                              "database: risk_digest, risk_record_sha256 changed"),
    "risk record deleted": ("DELETE FROM epoch_risk WHERE epoch_id = 1",
                            "mode, risk_digest, risk_record_sha256 changed"),
    "settlement price": ("UPDATE epoch_prices SET price = 111 WHERE epoch_id = 1 AND market_id = 0",
                         "epoch 1's close record (journal entry 2) no longer matches the database: funding_steps, "
                         "settlement_prices changed"),
    "funding rate": ("UPDATE epoch_prices SET funding_rate = 1 WHERE epoch_id = 1 AND market_id = 0",
                     "epoch 1's close record (journal entry 2) no longer matches the database: funding_rates, "
                     "funding_steps changed"),
    "mark snapshot": ("UPDATE price_snapshots SET document = replace(document, '\"prices\":[100,', "
                      "'\"prices\":[101,') WHERE epoch_id = 2 AND phase = 'mark'",
                      "epoch 2's open record cannot be rebuilt from the database: its mark price snapshot was "
                      "altered"),
    "stored document": ("UPDATE epoch_records SET document = replace(document, '\"110\"', '\"111\"') "
                        "WHERE epoch_id = 1 AND phase = 'close'",
                        "epoch 1's close record does not hash to what journal entry 2 holds (altered)"),
    "record row deleted": ("DELETE FROM epoch_records WHERE epoch_id = 2",
                           "epoch 2's open record (journal entry 3) is missing from epoch_records"),
    "epoch reopened": ("UPDATE epochs SET status = 'open', closed_at = NULL WHERE id = 1",
                       "epoch 1 is open but the journal records its close"),
    "epoch closed unrecorded": ("UPDATE epochs SET status = 'closed', closed_at = opened_at WHERE id = 2",
                                "epoch 2 is closed but the journal holds no close record"),
}


@pytest.mark.parametrize("change", TAMPERING)
def test_a_change_after_the_fact_fails_verification_naming_the_epoch(recorded, change, database_url, capsys):
    statement, named = TAMPERING[change]
    with recorded.engine.begin() as connection:
        connection.execute(text(statement))
    report = report_of(recorded)
    assert not report.ok and report.broken_sequence is None
    assert named in report.problem, report.problem
    assert ledger_verify_command(database_url) == ExitCode.INVALID
    assert named in capsys.readouterr().err


def test_epochs_opened_before_the_record_are_counted_apart(database):
    with database.unit_of_work() as session:
        session.add(Market(id=0, name="BTC-PERP", price_scale=1, maintenance_rate=50_000, initial_rate=100_000))
        session.add(Market(id=1, name="ETH-FUT", price_scale=1, maintenance_rate=50_000, initial_rate=100_000))
        session.flush()
        records.open_epoch(session, 1)  # as before migration 0009: no record
        prices.store_snapshot(session, 1, SnapshotPhase.MARK, snapshot(1, MARKS))
    with database.unit_of_work() as session:
        close_recorded(session, 1)  # its close stays unrecorded too
    report = report_of(database)
    assert report.ok and (report.entries_checked, report.epochs_recorded, report.epochs_unrecorded) == (0, 0, 1)
    with database.unit_of_work() as session:
        open_recorded(session, 2)
    report = report_of(database)
    assert report.ok and (report.epochs_recorded, report.epochs_unrecorded) == (1, 1)
    assert "1 epochs recorded, 1 unrecorded" in report.verdict()


def test_an_epoch_after_the_first_recorded_one_must_be_recorded(recorded):
    with recorded.unit_of_work() as session:
        records.open_epoch(session, 3)  # beside the service: no record
    report = report_of(recorded)
    assert not report.ok and "epoch 3 is open but the journal holds no open record" in report.problem


def test_a_changed_record_reference_breaks_the_chain(recorded, guards_disabled):
    """The entry's hash covers its reference, so the document hash it names cannot be swapped."""
    other = record_reference(1, "open", "ab" * 32)
    with guards_disabled(), recorded.engine.begin() as connection:
        connection.execute(text(f"UPDATE journal_entries SET reference = '{other}' WHERE sequence = 1"))
    report = report_of(recorded)
    assert (report.ok, report.broken_sequence) == (False, 1) and "altered" in report.problem


def test_an_epoch_record_moves_no_money(recorded):
    with recorded.unit_of_work() as session, pytest.raises(UnbalancedEntryError, match="records a fact"):
        append_entry(session, EntryKind.EPOCH_RECORD, [Posting(EXTERNAL, -1), Posting("x", 1)],
                     reference=record_reference(2, "close", "ab" * 32), epoch_id=2)


def move_head_onto_an_entry_without_postings(session, kind: str) -> None:
    """Bypassing append_entry: an entry of ``kind`` with no postings, and the head moved onto it."""
    fake = "cd" * 32
    session.execute(text(
        "INSERT INTO journal_entries (sequence, kind, reference, created_at, previous_hash, entry_hash) "
        "VALUES (1, :kind, 'forged', '2030-01-01 00:00:00', :genesis, :fake)"),
        {"kind": kind, "genesis": GENESIS_HASH, "fake": fake})
    session.execute(text("UPDATE ledger_head SET sequence = 1, entry_hash = :fake"), {"fake": fake})


@pytest.mark.parametrize(("kind", "allowed"), [("epoch_record", True), ("liquidation_request", True),
                                               ("deposit_credited", False), ("settlement", False)])
def test_the_head_guard_lets_only_the_record_kinds_through_without_postings(database, kind, allowed):
    """Migration 0009's head guards (the SQLite trigger and the PostgreSQL function)."""
    if allowed:
        with database.unit_of_work() as session:
            move_head_onto_an_entry_without_postings(session, kind)
        with database.reader() as session:
            assert session.get(LedgerHead, 1).sequence == 1
        return
    with pytest.raises(IntegrityError), database.unit_of_work() as session:
        move_head_onto_an_entry_without_postings(session, kind)
