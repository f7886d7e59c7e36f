"""Accounts and their commitment chain: optimistic concurrency (exactly one of racing
transitions wins), statement deduplication, pending fills consumed once; exact big integers."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from tests.verifier.helpers import accept_attestation
from verifier.db.ledger import EXTERNAL, Posting, append_entry, balance
from verifier.db.models import (
    Account,
    AccountCommitment,
    EntryKind,
    Epoch,
    LedgerPosting,
    PendingItem,
    StatementKind,
)
from verifier.db.records import (
    advance_commitment,
    consume_fill,
    open_account,
    open_epoch,
    overdue_fills,
    record_fill,
)
from verifier.errors import DuplicateError, NotFoundError, StaleCommitmentError, VerifierError
from verifier.services.deposits import credit_deposit
from verifier.services.errors import AlreadyAcceptedError


def digest(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


def transfer(session, account_id, old, new, label=None):
    return advance_commitment(session, account_id, expected_commitment=old, new_commitment=new,
                              kind=StatementKind.TRANSFER,
                              statement_digest=digest(label or f"{account_id}:{old}:{new}"), state_epoch=0)


def test_an_account_opens_at_its_genesis_commitment(database):
    with database.unit_of_work() as session:
        open_account(session, 7, 1111, encryption_public_key=bytes(32))
    with database.reader() as session:
        account = session.get(Account, 7)
        assert (account.genesis_commitment, account.current_commitment, account.sequence) == (1111, 1111, 0)
        history = session.scalars(select(AccountCommitment)).all()
        assert [(h.sequence, h.kind, h.statement_digest) for h in history] == [(0, StatementKind.GENESIS, None)]


def test_accounts_and_commitments_open_once(database):
    with database.unit_of_work() as session:
        open_account(session, 1, 10)
    with pytest.raises(DuplicateError, match="already exists"), database.unit_of_work() as session:
        open_account(session, 1, 11)
    with pytest.raises(DuplicateError, match="commitment"), database.unit_of_work() as session:
        open_account(session, 2, 10)


def test_a_transition_moves_the_commitment_and_the_version(database):
    with database.unit_of_work() as session:
        open_account(session, 1, 10)
        first = transfer(session, 1, 10, 11)
        second = transfer(session, 1, 11, 12)
    assert (first.sequence, second.sequence) == (1, 2)
    with database.reader() as session:
        account = session.get(Account, 1)
        assert (account.current_commitment, account.sequence) == (12, 2)


def test_a_transition_from_an_old_commitment_is_stale(database):
    with database.unit_of_work() as session:
        open_account(session, 1, 10)
        transfer(session, 1, 10, 11)
    with pytest.raises(StaleCommitmentError, match="sequence 1"), database.unit_of_work() as session:
        transfer(session, 1, 10, 12)


def test_a_transition_of_an_unknown_account_is_not_found(database):
    with pytest.raises(NotFoundError), database.unit_of_work() as session:
        transfer(session, 99, 10, 11)


def test_a_statement_is_accepted_once_and_a_commitment_entered_once(database):
    with database.unit_of_work() as session:
        open_account(session, 1, 10)
        open_account(session, 2, 20)
        transfer(session, 1, 10, 11, label="s")
        open_epoch(session, 5)
        accept_attestation(session, account_id=2, epoch_id=5, commitment=20, statement_digest=digest("a"))
    with pytest.raises(DuplicateError, match="statement"), database.unit_of_work() as session:
        transfer(session, 1, 11, 12, label="s")
    with pytest.raises(AlreadyAcceptedError, match="already accepted"), database.unit_of_work() as session:
        accept_attestation(session, account_id=2, epoch_id=5, commitment=20, statement_digest=digest("a"))
    with pytest.raises(DuplicateError, match="statement"), database.unit_of_work() as session:
        transfer(session, 2, 20, 21, label="a")  # a transition cannot reuse an attestation's statement
    with pytest.raises(DuplicateError, match="commitment"), database.unit_of_work() as session:
        transfer(session, 1, 11, 10)  # back to an old state: its old proofs would be valid again


def test_racing_transitions_exactly_one_wins(database):
    """Eight threads each try to move the account from the same commitment."""
    with database.unit_of_work() as session:
        open_account(session, 1, 10)
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def race(i: int) -> None:
        barrier.wait()
        try:
            with database.unit_of_work() as session:
                transfer(session, 1, 10, 100 + i)
            outcomes.append("won")
        except StaleCommitmentError:
            outcomes.append("stale")

    threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["stale"] * 7 + ["won"]
    with database.reader() as session:
        assert session.get(Account, 1).sequence == 1
        assert len(session.scalars(select(AccountCommitment)).all()) == 2


def test_a_fill_is_recorded_once_and_applied_once(database):
    later = datetime.now(UTC) + timedelta(hours=1)
    with database.unit_of_work() as session:
        open_account(session, 1, 10)
        open_epoch(session, 1)
        item = record_fill(session, account_id=1, fill_commitment=555, reference="venue-1", epoch_id=1,
                           ciphertext=b"box", deadline=later)
        again = record_fill(session, account_id=1, fill_commitment=555, reference="venue-1", epoch_id=1)
        assert again.id == item.id  # a retried delivery
    with pytest.raises(DuplicateError), database.unit_of_work() as session:
        record_fill(session, account_id=1, fill_commitment=556, reference="venue-1", epoch_id=1)
    with database.unit_of_work() as session:
        step = advance_commitment(session, 1, expected_commitment=10, new_commitment=11, kind=StatementKind.FILL,
                                  statement_digest=digest("fill"), state_epoch=0, holds_position=True)
        consume_fill(session, fill_commitment=555, transition=step)
    with pytest.raises(DuplicateError, match="already been applied"), database.unit_of_work() as session:
        step = advance_commitment(session, 1, expected_commitment=11, new_commitment=12, kind=StatementKind.FILL,
                                  statement_digest=digest("fill again"), state_epoch=0)
        consume_fill(session, fill_commitment=555, transition=step)
    with database.reader() as session:  # the refused transition was rolled back with it
        assert session.get(Account, 1).current_commitment == 11


def test_unapplied_fills_past_their_deadline_are_overdue(database):
    now = datetime.now(UTC)
    with database.unit_of_work() as session:
        open_account(session, 1, 10)
        open_epoch(session, 1)
        record_fill(session, account_id=1, fill_commitment=1, reference="late", epoch_id=1,
                    deadline=now - timedelta(seconds=1))
        record_fill(session, account_id=1, fill_commitment=2, reference="on time", epoch_id=1,
                    deadline=now + timedelta(hours=1))
    with database.reader() as session:
        assert [item.reference for item in overdue_fills(session, now)] == ["late"]


# --- exact values -------------------------------------------------------------------------

BIG = [2**95, -(2**95), 2**96 - 1, -(2**96 - 1), 1, -1]


def test_big_amounts_round_trip_exactly(database):
    with database.unit_of_work() as session:
        open_account(session, 1, 10)
        for i, amount in enumerate(BIG):
            append_entry(session, EntryKind.DEPOSIT_CREDITED, [Posting(EXTERNAL, -amount), Posting("suspense", amount)],
                         reference=f"big-{i}")
        credit_deposit(session, account_id=1, amount=2**96 - 1, reference="huge")
    with database.reader() as session:
        stored = session.scalars(select(LedgerPosting.amount).where(LedgerPosting.ledger_account == "suspense")
                                 .order_by(LedgerPosting.id)).all()
        assert stored == BIG and all(type(v) is int for v in stored)
        assert balance(session, "suspense") == sum(BIG)
        assert session.scalar(select(PendingItem.amount)) == 2**96 - 1


def test_field_elements_round_trip_exactly(database):
    top = 2**256 - 1
    with database.unit_of_work() as session:
        open_account(session, 1, top)
    with database.reader() as session:
        assert session.get(Account, 1).current_commitment == top


@pytest.mark.parametrize("amount", [1.0, 10**20 + 0.5, True, "5"])
def test_non_integer_money_is_refused(database, amount):
    with pytest.raises(VerifierError, match="integer"), database.unit_of_work() as session:
        open_account(session, 1, 10)
        credit_deposit(session, account_id=1, amount=amount, reference="x")


def test_naive_timestamps_are_refused(database):
    with pytest.raises(VerifierError, match="timezone-aware"), database.unit_of_work() as session:
        open_epoch(session, 1, attestation_deadline=datetime(2030, 1, 1))


def test_timestamps_come_back_in_utc(database):
    deadline = datetime(2030, 1, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    with database.unit_of_work() as session:
        open_epoch(session, 1, attestation_deadline=deadline)
    with database.reader() as session:
        stored = session.get(Epoch, 1).attestation_deadline
        assert stored == deadline and stored.tzinfo == UTC
