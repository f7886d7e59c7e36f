"""The margin attestation hot path: what one attestation costs the database, and its one acceptance
statement refusing what may not be kept (``keep_attestation`` says why)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, update

from tests.verifier.helpers import attestation_plan
from verifier.db.models import Epoch, EpochStatus, StatementKind
from verifier.db.records import advance_commitment, open_account, open_epoch
from verifier.errors import EpochStateError, NotFoundError, StaleCommitmentError
from verifier.services.errors import AlreadyAcceptedError
from verifier.services.transitions import Plan, insert_attestation, keep_attestation

# SQL statements one margin attestation sends (warm: pool connections open, epoch prices cached).
# PostgreSQL: the plan (one SELECT) and the keep (one INSERT ... SELECT ... FOR UPDATE ... ON
# CONFLICT DO NOTHING), each in autocommit: two round trips, no BEGIN/COMMIT. SQLite: the reader's
# BEGIN and the plan's SELECT, then the writer's BEGIN IMMEDIATE and the same INSERT ... SELECT.
STATEMENTS_PER_ATTESTATION = {"postgresql": ["SELECT", "INSERT"],
                              "sqlite": ["BEGIN", "SELECT", "BEGIN", "INSERT"]}


def test_one_attestation_costs_a_fixed_number_of_statements(api, backend):
    epoch_id = api.open_epoch([100, 200])["epoch_id"]
    first, second = api.trader().open(), api.trader().open()
    first.attest(epoch_id)  # warms the pool and the epoch's price cache
    submission = second.attestation_request(epoch_id)

    database = api.client.app.state.context.database
    engines = [e for e in (database.engine, database.autocommit_engine) if e is not None]
    sent: list[tuple[str, bool]] = []

    def count(connection, cursor, statement, parameters, context, executemany):
        autocommit = getattr(connection.connection.dbapi_connection, "autocommit", None)
        sent.append((statement.split(None, 1)[0].upper(), autocommit))

    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    try:
        accepted = second.send(submission)
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count)
    assert accepted["account_id"] == second.account_id
    assert [verb for verb, _ in sent] == STATEMENTS_PER_ATTESTATION[backend], sent
    if backend == "postgresql":
        assert all(autocommit for _, autocommit in sent), "each statement commits on its own: no BEGIN/COMMIT"
    # the same statement again: 'already accepted' from the plan's one SELECT, before any pairing
    again = api.client.post(submission.path, headers=second.auth, json=submission.body)
    assert again.status_code == 409 and again.json()["accepted"]["attestation_id"] == accepted["attestation_id"]


def _digest(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


def _plan(account_id: int, commitment: int, epoch_id: int, label: str) -> Plan:
    return attestation_plan(account_id, epoch_id, commitment, _digest(label))


def test_the_one_acceptance_statement_refuses_and_the_keep_says_why(database, backend):
    with database.unit_of_work() as session:
        open_account(session, 1, 10)
        open_epoch(session, 1)
        open_epoch(session, 2)

    def insert(plan: Plan):
        """The statement alone: in autocommit on PostgreSQL (the hot path), in a unit of work on SQLite."""
        if backend == "postgresql":
            with database.engine.execution_options(isolation_level="AUTOCOMMIT").connect() as connection:
                return insert_attestation(connection, plan)
        with database.unit_of_work() as session:
            return insert_attestation(session, plan)

    def keep(plan: Plan):
        with database.unit_of_work() as session:
            return keep_attestation(session, plan)

    kept = insert(_plan(1, 10, 1, "a"))
    assert kept is not None and kept["commitment"] == "10"
    # the same statement: nothing inserted; the keep says why
    assert insert(_plan(1, 10, 1, "a")) is None
    with pytest.raises(AlreadyAcceptedError):
        keep(_plan(1, 10, 1, "a"))
    # the account moved on after the plan: nothing inserted, 'stale'
    with database.unit_of_work() as session:
        advance_commitment(session, 1, expected_commitment=10, new_commitment=11, kind=StatementKind.TRANSFER,
                           statement_digest=_digest("t"), state_epoch=0)
    assert insert(_plan(1, 10, 2, "b")) is None
    with pytest.raises(StaleCommitmentError):
        keep(_plan(1, 10, 2, "b"))
    # an epoch that does not exist, or is no longer open, takes no attestation
    assert insert(_plan(1, 11, 9, "e")) is None
    with pytest.raises(NotFoundError):
        keep(_plan(1, 11, 9, "e"))
    now = datetime.now(UTC)
    with database.unit_of_work() as session:
        session.execute(update(Epoch).where(Epoch.id == 2).values(status=EpochStatus.FINALIZED, closed_at=now,
                                                                  finalized_at=now))
    assert insert(_plan(1, 11, 2, "c")) is None
    with pytest.raises(EpochStateError, match="finalized"):
        keep(_plan(1, 11, 2, "c"))
    # past the attestation deadline
    with database.unit_of_work() as session:
        session.execute(update(Epoch).where(Epoch.id == 1).values(attestation_deadline=now - timedelta(seconds=1)))
    assert insert(_plan(1, 11, 1, "d")) is None
    with pytest.raises(EpochStateError, match="deadline"):
        keep(_plan(1, 11, 1, "d"))
    # the current commitment in an open epoch, by its deadline, is kept by the same path
    with database.unit_of_work() as session:
        session.execute(update(Epoch).where(Epoch.id == 1).values(attestation_deadline=now + timedelta(hours=1)))
    assert keep(_plan(1, 11, 1, "d"))["statement_digest"] == _digest("d")
