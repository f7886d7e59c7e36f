"""Concurrent appends — from threads, and from separate processes as service replicas would —
extend one unbroken chain: the head lock serializes them, none is lost, none forks it."""

from __future__ import annotations

import multiprocessing
import threading

from sqlalchemy import func, select

from verifier.db.engine import Database
from verifier.db.ledger import EXTERNAL, Posting, append_entry, balance, verify_ledger
from verifier.db.models import EntryKind, JournalEntry

PER_WRITER = 12


def append_many(database_url: str, writer: int, count: int, barrier=None) -> int:
    """One writer: ``count`` entries, each in its own transaction (as separate requests are)."""
    database = Database.connect(database_url)
    try:
        if barrier is not None:
            barrier.wait()
        for i in range(count):
            amount = 2**90 + writer * 1000 + i
            with database.unit_of_work() as session:
                append_entry(session, EntryKind.DEPOSIT_CREDITED,
                             [Posting(EXTERNAL, -amount), Posting(f"trader/{writer}/deposits", amount)],
                             reference=f"writer-{writer}-{i}")
        return count
    finally:
        database.dispose()


def assert_one_chain(database_url: str, writers: int) -> None:
    database = Database.connect(database_url)
    try:
        with database.reader() as session:
            report = verify_ledger(session)
            assert report.ok, report.verdict()
            assert report.entries_checked == writers * PER_WRITER
            sequences = session.scalars(select(JournalEntry.sequence).order_by(JournalEntry.sequence)).all()
            assert sequences == list(range(1, writers * PER_WRITER + 1))
            assert session.scalar(select(func.count(func.distinct(JournalEntry.previous_hash)))) == len(sequences)
            expected = sum(2**90 + w * 1000 + i for w in range(writers) for i in range(PER_WRITER))
            assert balance(session, EXTERNAL) == -expected
    finally:
        database.dispose()


def test_threads_appending_at_once_extend_one_chain(database_url):
    writers = 6
    barrier = threading.Barrier(writers)
    threads = [threading.Thread(target=append_many, args=(database_url, w, PER_WRITER, barrier))
               for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert_one_chain(database_url, writers)


def test_processes_appending_at_once_extend_one_chain(database_url):
    writers = 3
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        barrier = manager.Barrier(writers)
        with context.Pool(writers) as pool:
            done = pool.starmap(append_many, [(database_url, w, PER_WRITER, barrier) for w in range(writers)])
    assert done == [PER_WRITER] * writers
    assert_one_chain(database_url, writers)


def test_a_reader_sees_one_snapshot_and_blocks_no_writer(database):
    """verify_ledger relies on this: appends committed during a report are not half-seen."""
    def append(reference: str) -> None:
        with database.unit_of_work() as session:
            append_entry(session, EntryKind.DEPOSIT_CREDITED, [Posting(EXTERNAL, -1), Posting("x", 1)],
                         reference=reference)

    append("before")
    with database.reader() as snapshot:
        assert verify_ledger(snapshot).entries_checked == 1
        writer = threading.Thread(target=append, args=("during",))
        writer.start()
        writer.join(timeout=10)
        assert not writer.is_alive(), "an open reader blocked a writer"
        report = verify_ledger(snapshot)
        assert report.ok and report.entries_checked == 1
    with database.reader() as session:
        assert verify_ledger(session).entries_checked == 2
