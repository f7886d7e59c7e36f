"""Double entry: an entry's postings sum to exactly zero, or nothing is written; the database
itself refuses to change or remove entries, and lets the head advance only along the chain."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from verifier.db.ledger import (
    CLEARING,
    EXTERNAL,
    GENESIS_HASH,
    Posting,
    append_entry,
    balance,
    check_postings,
    lock_ledger_head,
    verify_ledger,
)
from verifier.db.models import EntryKind, JournalEntry, LedgerHead
from verifier.errors import DuplicateError, UnbalancedEntryError, VerifierError

KIND = EntryKind.DEPOSIT_CREDITED


def post(session, reference, *legs):
    return append_entry(session, KIND, [Posting(code, amount) for code, amount in legs], reference=reference)


@pytest.mark.parametrize("legs, message", [
    ([("a", 5), ("b", -4)], "sum to 1, not 0"),
    ([("a", 0)], "at least two"),
    ([], "at least two"),
    ([("a", 5), ("b", -5), ("c", 0)], "not in"),
    ([("a", 2**96), ("b", -(2**96))], "not in"),
    ([("a", 5.0), ("b", -5)], "integers, got float"),
    ([("a", True), ("b", -1)], "integers, got bool"),
    ([("Bad Code", 5), ("b", -5)], "not a ledger account code"),
    ([("", 5), ("b", -5)], "not a ledger account code"),
])
def test_unbalanced_or_malformed_postings_are_refused(legs, message):
    with pytest.raises(UnbalancedEntryError, match=message):
        check_postings(Posting(code, amount) for code, amount in legs)


def test_an_unbalanced_entry_writes_nothing(database):
    with pytest.raises(UnbalancedEntryError), database.unit_of_work() as session:
        post(session, "ok", (EXTERNAL, -5), ("trader/1/deposits", 5))
        post(session, "bad", (EXTERNAL, -5), ("trader/1/deposits", 4))
    with database.reader() as session:  # the whole unit of work rolled back, the good entry too
        assert session.scalar(select(func.count()).select_from(JournalEntry)) == 0
        assert session.get(LedgerHead, 1).sequence == 0


def test_balances_are_sums_of_postings(database):
    with database.unit_of_work() as session:
        post(session, "one", (EXTERNAL, -100), ("trader/1/deposits", 100))
        post(session, "two", ("trader/1/deposits", -60), ("trader/1/collateral", 60))
    with database.reader() as session:
        assert balance(session, EXTERNAL) == -100
        assert balance(session, "trader/1/deposits") == 40
        assert balance(session, "trader/1/collateral") == 60
        assert balance(session, CLEARING) == 0
        assert verify_ledger(session).ok


def test_a_reference_posts_once(database):
    with database.unit_of_work() as session:
        post(session, "once", (EXTERNAL, -1), ("x", 1))
    with pytest.raises(DuplicateError, match="once"), database.unit_of_work() as session:
        post(session, "once", (EXTERNAL, -1), ("x", 1))


def test_a_read_snapshot_cannot_append(database):
    with pytest.raises(VerifierError, match="unit of work"), database.reader() as session:
        lock_ledger_head(session)


def test_entries_chain_from_the_genesis_hash(database):
    with database.unit_of_work() as session:
        first = post(session, "1", (EXTERNAL, -1), ("x", 1))
        second = post(session, "2", (EXTERNAL, -2), ("x", 2))
    assert (first.sequence, second.sequence) == (1, 2)
    assert first.previous_hash == GENESIS_HASH and second.previous_hash == first.entry_hash
    with database.reader() as session:
        head = session.get(LedgerHead, 1)
        assert (head.sequence, head.entry_hash) == (2, second.entry_hash)


# --- the database's own guards ---------------------------------------------------------------


@pytest.mark.parametrize("statement", [
    "UPDATE ledger_postings SET amount = amount",
    "DELETE FROM ledger_postings",
    "UPDATE journal_entries SET reference = 'changed'",
    "DELETE FROM journal_entries",
    "DELETE FROM ledger_head",
])
def test_the_database_refuses_to_change_the_ledger(database, statement):
    with database.unit_of_work() as session:
        post(session, "1", (EXTERNAL, -1), ("x", 1))
    with pytest.raises(IntegrityError, match="append-only"), database.unit_of_work() as session:
        session.execute(text(statement))


def test_the_database_refuses_a_head_that_skips_or_forks(database):
    with database.unit_of_work() as session:
        entry = post(session, "1", (EXTERNAL, -1), ("x", 1))
    with pytest.raises(IntegrityError), database.unit_of_work() as session:
        session.execute(text("UPDATE ledger_head SET sequence = 5"))
    with pytest.raises(IntegrityError), database.unit_of_work() as session:
        session.execute(text("UPDATE ledger_head SET sequence = 2, entry_hash = :h"), {"h": entry.entry_hash})


def forge_unbalanced_entry(session) -> None:
    """Write an unbalanced entry and move the head onto it, bypassing append_entry."""
    fake = "ab" * 32
    session.execute(text(
        "INSERT INTO journal_entries (sequence, kind, reference, created_at, previous_hash, entry_hash) "
        "VALUES (1, 'payout', 'forged', '2030-01-01 00:00:00', :genesis, :fake)"),
        {"genesis": GENESIS_HASH, "fake": fake})
    session.execute(text(
        "INSERT INTO ledger_postings (entry_id, position, ledger_account, amount) "
        "SELECT id, 0, 'x', 5 FROM journal_entries UNION ALL SELECT id, 1, 'y', -4 FROM journal_entries"))
    session.execute(text("UPDATE ledger_head SET sequence = 1, entry_hash = :fake"), {"fake": fake})


def test_an_unbalanced_entry_written_behind_the_code_is_refused_or_reported(database):
    """PostgreSQL refuses to move the head onto it; SQLite (which cannot add 97-bit amounts
    exactly in SQL) lets it through, and verify_ledger reports it."""
    if database.engine.dialect.name == "postgresql":
        with pytest.raises(IntegrityError, match="unbalanced"), database.unit_of_work() as session:
            forge_unbalanced_entry(session)
        return
    with database.unit_of_work() as session:
        forge_unbalanced_entry(session)
    with database.reader() as session:
        report = verify_ledger(session)
    assert (report.ok, report.broken_sequence) == (False, 1) and "sum to 1" in report.problem
