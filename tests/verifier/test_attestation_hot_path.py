"""The margin attestation hot path: what one attestation costs the database, and the one-statement
keep on PostgreSQL refusing exactly what ``commit_attestation`` refuses."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, update

from verifier.db.models import Epoch, EpochStatus, StatementKind
from verifier.db.records import advance_commitment, open_account, open_epoch
from verifier.errors import EpochStateError, StaleCommitmentError
from verifier.services.errors import AlreadyAcceptedError
from verifier.services.statements import Statement
from verifier.services.transitions import Plan, commit_attestation, insert_attestation

# SQL statements one margin attestation sends (warm: pool connections open, epoch prices cached).
# PostgreSQL: the plan (one SELECT) and the keep (one INSERT ... SELECT ... FOR UPDATE ... ON
# CONFLICT DO NOTHING), each in autocommit: two round trips, no BEGIN/COMMIT. SQLite: the reader's
# BEGIN and the plan's SELECT, then the writer's BEGIN IMMEDIATE, the locking SELECT and the INSERT.
STATEMENTS_PER_ATTESTATION = {"postgresql": ["SELECT", "INSERT"],
                              "sqlite": ["BEGIN", "SELECT", "BEGIN", "SELECT", "INSERT"]}


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
    return Plan(Statement("margin", [account_id, commitment, epoch_id], _digest(label)), None, account_id,
                commitment, epoch_id=epoch_id)


@pytest.mark.parametrize("backend", ["postgresql"])
def test_the_one_statement_keep_refuses_what_the_unit_of_work_refuses(database):
    with database.unit_of_work() as session:
        open_account(session, 1, 10)
        open_epoch(session, 1)
        open_epoch(session, 2)
    autocommit = database.engine.execution_options(isolation_level="AUTOCOMMIT")

    def keep(plan: Plan):
        with autocommit.connect() as connection:
            return insert_attestation(connection, plan)

    kept = keep(_plan(1, 10, 1, "a"))
    assert kept is not None and kept["commitment"] == "10"
    # the same statement: nothing inserted; the unit of work says why
    assert keep(_plan(1, 10, 1, "a")) is None
    with pytest.raises(AlreadyAcceptedError), database.unit_of_work() as session:
        commit_attestation(session, _plan(1, 10, 1, "a"))
    # the account moved on after the plan: nothing inserted, 'stale'
    with database.unit_of_work() as session:
        advance_commitment(session, 1, expected_commitment=10, new_commitment=11, kind=StatementKind.TRANSFER,
                           statement_digest=_digest("t"), state_epoch=0)
    assert keep(_plan(1, 10, 2, "b")) is None
    with pytest.raises(StaleCommitmentError), database.unit_of_work() as session:
        commit_attestation(session, _plan(1, 10, 2, "b"))
    # a finalized epoch takes no attestation
    now = datetime.now(UTC)
    with database.unit_of_work() as session:
        session.execute(update(Epoch).where(Epoch.id == 2).values(status=EpochStatus.FINALIZED, closed_at=now,
                                                                  finalized_at=now))
    assert keep(_plan(1, 11, 2, "c")) is None
    with pytest.raises(EpochStateError), database.unit_of_work() as session:
        commit_attestation(session, _plan(1, 11, 2, "c"))
    # the current commitment in an open epoch is kept
    assert keep(_plan(1, 11, 1, "d")) is not None
