"""The schema: migrations apply from scratch on both databases, match the models, and are safe
to run from several processes at once (service replicas starting together)."""

from __future__ import annotations

import multiprocessing
import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from verifier.db.engine import Database, create_database_engine, resolve_database_url
from verifier.db.ledger import GENESIS_HASH, verify_ledger
from verifier.db.migrate import database_revision, head_revision, require_current_schema, upgrade_database
from verifier.db.models import Base, LedgerHead
from verifier.errors import DatabaseConfigurationError


def test_migrations_apply_from_scratch(empty_database_url):
    upgrade_database(empty_database_url)
    engine = create_database_engine(empty_database_url)
    try:
        assert set(inspect(engine).get_table_names()) >= set(Base.metadata.tables)
        assert database_revision(engine) == head_revision()
        require_current_schema(engine)
    finally:
        engine.dispose()


def test_a_fresh_ledger_is_the_genesis_head(database):
    with database.reader() as session:
        head = session.get(LedgerHead, 1)
        assert (head.sequence, head.entry_hash) == (0, GENESIS_HASH)
        assert verify_ledger(session).ok


def test_the_migrated_schema_matches_the_models(database):
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_upgrading_twice_changes_nothing(database_url):
    assert upgrade_database(database_url) == resolve_database_url(database_url)
    engine = create_database_engine(database_url)
    try:
        assert database_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_replicas_migrating_at_once_do_not_collide(empty_database_url):
    """Three processes (as three service replicas would) migrate one empty database together."""
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        assert pool.map(upgrade_database, [empty_database_url] * 3) == [resolve_database_url(empty_database_url)] * 3
    database = Database.connect(empty_database_url)
    try:
        with database.reader() as session:
            assert verify_ledger(session).ok
    finally:
        database.dispose()


def test_threads_migrating_at_once_take_turns(empty_database_url):
    """Alembic is not thread-safe; upgrade_database serializes callers within a process."""
    errors: list[BaseException] = []

    def migrate() -> None:
        try:
            upgrade_database(empty_database_url)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_downgrade_removes_everything_and_upgrade_restores_it(empty_database_url):
    from alembic import command

    from verifier.db.migrate import alembic_config

    upgrade_database(empty_database_url)
    command.downgrade(alembic_config(empty_database_url), "base")
    engine = create_database_engine(empty_database_url)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    upgrade_database(empty_database_url)


def test_an_unmigrated_database_is_refused(empty_database_url):
    engine = create_database_engine(empty_database_url)
    try:
        with pytest.raises(DatabaseConfigurationError, match="run the migrations"):
            require_current_schema(engine)
    finally:
        engine.dispose()


# --- URLs (no database needed) -------------------------------------------------------------


def test_the_url_comes_from_the_argument_then_the_environment_then_the_default(monkeypatch, tmp_path):
    monkeypatch.setenv("ZKMARGIN_HOME", str(tmp_path))
    monkeypatch.delenv("ZKMARGIN_DATABASE_URL", raising=False)
    assert resolve_database_url() == f"sqlite:///{tmp_path}/verifier.sqlite3"
    monkeypatch.setenv("ZKMARGIN_DATABASE_URL", "sqlite:////srv/zk.sqlite3")
    assert resolve_database_url() == "sqlite:////srv/zk.sqlite3"
    assert resolve_database_url("sqlite:////x.sqlite3") == "sqlite:////x.sqlite3"


@pytest.mark.parametrize("given", ["postgresql://u:p@h:5/db", "postgres://u:p@h:5/db",
                                   "postgresql+psycopg://u:p@h:5/db"])
def test_postgres_urls_use_psycopg_3(given):
    assert resolve_database_url(given) == "postgresql+psycopg://u:p@h:5/db"


@pytest.mark.parametrize("given, message", [
    ("mysql://root@localhost/test", "unsupported database"),
    ("postgresql+psycopg2://u@h/db", "unsupported database"),
    ("sqlite://", "in-memory"),
    ("sqlite:///:memory:", "in-memory"),
    ("not a url", "not a database URL"),
])
def test_unsupported_urls_are_refused_clearly(given, message):
    with pytest.raises(DatabaseConfigurationError, match=message):
        resolve_database_url(given)


def test_a_database_of_state_version_one_accounts_is_refused_with_instructions(empty_database_url):
    """Their commitments do not open under state version 2: the upgrade stops, saying what to do,
    instead of stranding the accounts (and ``zkmargin serve`` prints it as one line)."""
    upgrade_database(empty_database_url, revision="0002")
    engine = create_database_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO accounts (id, genesis_commitment, current_commitment, sequence, opened_at) "
                "VALUES (1, '11', '11', 0, CURRENT_TIMESTAMP)")
        with pytest.raises(DatabaseConfigurationError, match="1 accounts committed under state version 1"):
            upgrade_database(empty_database_url)
        assert database_revision(engine) == "0002"  # nothing of 0003 was applied
    finally:
        engine.dispose()
