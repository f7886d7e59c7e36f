"""The hash chain: verify_ledger recomputes it and names the first broken entry, whatever an
attacker with full database rights changed: an amount, a deleted entry, a reordered entry."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from verifier.cli import ledger_verify_command
from verifier.db.ledger import EXTERNAL, Posting, append_entry, verify_ledger
from verifier.db.models import EntryKind

ENTRIES = 5


@pytest.fixture
def ledger(database):
    """A ledger of five entries: entry n moves n * 10^25 (beyond 64 bits) from external to x."""
    with database.unit_of_work() as session:
        for n in range(1, ENTRIES + 1):
            amount = n * 10**25
            append_entry(session, EntryKind.DEPOSIT_CREDITED, [Posting(EXTERNAL, -amount), Posting("x", amount)],
                         reference=f"entry-{n}")
    return database


def tamper(database, guards_disabled, *statements):
    with guards_disabled(), database.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


def report_of(database):
    with database.reader() as session:
        return verify_ledger(session)


def test_an_intact_ledger_verifies(ledger):
    report = report_of(ledger)
    assert report.ok and report.entries_checked == ENTRIES and report.head_sequence == ENTRIES
    assert report.verdict().startswith(f"ledger OK: {ENTRIES} entries")


def test_a_tampered_amount_is_detected(ledger, guards_disabled):
    # keep the entry balanced: only the hash can tell
    tamper(ledger, guards_disabled,
           "UPDATE ledger_postings SET amount = '-30000000000000000000000001' WHERE position = 0 AND entry_id = "
           "(SELECT id FROM journal_entries WHERE sequence = 3)",
           "UPDATE ledger_postings SET amount = '30000000000000000000000001' WHERE position = 1 AND entry_id = "
           "(SELECT id FROM journal_entries WHERE sequence = 3)")
    report = report_of(ledger)
    assert not report.ok and report.broken_sequence == 3 and "altered" in report.problem


def test_an_unbalancing_change_is_detected(ledger, guards_disabled):
    tamper(ledger, guards_disabled,
           "UPDATE ledger_postings SET amount = '7' WHERE position = 1 AND entry_id = "
           "(SELECT id FROM journal_entries WHERE sequence = 2)")
    report = report_of(ledger)
    assert (report.ok, report.broken_sequence) == (False, 2) and "balanced" in report.problem


def test_a_deleted_entry_is_detected(ledger, guards_disabled):
    tamper(ledger, guards_disabled,
           "DELETE FROM ledger_postings WHERE entry_id = (SELECT id FROM journal_entries WHERE sequence = 2)",
           "DELETE FROM journal_entries WHERE sequence = 2")
    report = report_of(ledger)
    assert (report.ok, report.broken_sequence) == (False, 2) and "missing" in report.problem


def test_a_deleted_last_entry_is_detected(ledger, guards_disabled):
    tamper(ledger, guards_disabled,
           f"DELETE FROM ledger_postings WHERE entry_id = (SELECT id FROM journal_entries WHERE sequence = {ENTRIES})",
           f"DELETE FROM journal_entries WHERE sequence = {ENTRIES}")
    report = report_of(ledger)
    assert (report.ok, report.broken_sequence) == (False, ENTRIES) and "removed" in report.problem


def test_reordered_entries_are_detected(ledger, guards_disabled):
    tamper(ledger, guards_disabled,
           "UPDATE journal_entries SET sequence = 100 WHERE sequence = 2",
           "UPDATE journal_entries SET sequence = 2 WHERE sequence = 3",
           "UPDATE journal_entries SET sequence = 3 WHERE sequence = 100")
    report = report_of(ledger)
    assert (report.ok, report.broken_sequence) == (False, 2) and "previous_hash" in report.problem


def test_a_removed_posting_is_detected(ledger, guards_disabled):
    tamper(ledger, guards_disabled,
           "DELETE FROM ledger_postings WHERE position = 0 AND entry_id = "
           "(SELECT id FROM journal_entries WHERE sequence = 4)")
    report = report_of(ledger)
    assert (report.ok, report.broken_sequence) == (False, 4) and "numbered" in report.problem


def test_an_entry_written_behind_the_head_is_detected(ledger, guards_disabled):
    tamper(ledger, guards_disabled,
           "INSERT INTO journal_entries (sequence, kind, reference, created_at, previous_hash, entry_hash) "
           f"VALUES ({ENTRIES + 1}, 'payout', 'sneaky', '2030-01-01 00:00:00', 'x', 'y')")
    report = report_of(ledger)
    assert (report.ok, report.broken_sequence) == (False, ENTRIES + 1) and "beyond the head" in report.problem


def test_a_rewritten_hash_is_detected(ledger, guards_disabled):
    tamper(ledger, guards_disabled, f"UPDATE journal_entries SET entry_hash = '{'0' * 64}' WHERE sequence = 1")
    report = report_of(ledger)
    assert (report.ok, report.broken_sequence) == (False, 1)


# --- the CLI hook -----------------------------------------------------------------------------


def test_the_verify_command_says_ok(ledger, database_url, capsys):
    assert ledger_verify_command(database_url) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"ledger OK: {ENTRIES} entries") and "\n" not in out


def test_the_verify_command_says_broken(ledger, database_url, guards_disabled, capsys):
    tamper(ledger, guards_disabled, "UPDATE journal_entries SET reference = 'changed' WHERE sequence = 4")
    assert ledger_verify_command(database_url) == 1
    assert capsys.readouterr().err.strip() == (
        "ledger BROKEN at entry 4: its content does not match its hash (the entry or a posting was altered)")


def test_the_verify_command_reports_an_unusable_database(tmp_path, capsys):
    assert ledger_verify_command("mysql://nobody@localhost/none") == 2
    assert "unsupported database" in capsys.readouterr().err
    assert ledger_verify_command(f"sqlite:///{tmp_path / 'empty.sqlite3'}") == 2
    assert "run the migrations" in capsys.readouterr().err
