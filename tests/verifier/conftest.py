"""Database fixtures: every database test runs on SQLite (a file) and on PostgreSQL.

PostgreSQL is the server at ``$ZKMARGIN_TEST_POSTGRES_URL`` (default: the local ``test``
database, user postgres). The session creates a randomly named database, migrates it once, and
wipes it before each test that uses it (dropping a database costs a checkpoint, about a second,
so one per test would dominate the run); tests that need an empty database get one of their
own. Everything is dropped at the end. SQLite tests each get a copy of a migrated file.

If the server is unreachable the PostgreSQL tests FAIL, so CI cannot pass without them,
unless ``ZKMARGIN_SKIP_POSTGRES=1`` says to skip them on purpose.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from verifier.db.engine import Database
from verifier.db.migrate import upgrade_database
from verifier.db.models import Base
from verifier.ledger import GENESIS_HASH

POSTGRES_URL_ENV = "ZKMARGIN_TEST_POSTGRES_URL"
SKIP_POSTGRES_ENV = "ZKMARGIN_SKIP_POSTGRES"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = ["sqlite", "postgresql"]
GUARDED_TABLES = ("journal_entries", "ledger_postings", "ledger_head")


# --- PostgreSQL: one server connection, one migrated database wiped per test ---------------


class PostgresDatabases:
    """Creates and drops this session's databases through an autocommit admin connection."""

    def __init__(self, server_url: str):
        self.server_url = make_url(server_url)
        self.prefix = f"zkm_test_{secrets.token_hex(4)}"
        self.admin: Engine = create_engine(self.server_url, isolation_level="AUTOCOMMIT")
        self.count = 0

    def url_of(self, name: str) -> str:
        return self.server_url.set(database=name).render_as_string(hide_password=False)

    def create(self) -> str:
        self.count += 1
        name = f"{self.prefix}_{self.count}"
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        return name

    def drop(self, name: str) -> None:
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def drop_all(self) -> None:
        with self.admin.connect() as connection:
            names = connection.execute(
                text("SELECT datname FROM pg_database WHERE datname LIKE :pattern"), {"pattern": f"{self.prefix}%"}
            ).scalars().all()
        for name in names:
            self.drop(name)
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases]:
    if os.environ.get(SKIP_POSTGRES_ENV) == "1":
        pytest.skip(f"PostgreSQL tests skipped on purpose ({SKIP_POSTGRES_ENV}=1)")
    databases = PostgresDatabases(os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL))
    unreachable = None
    try:
        with databases.admin.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except OperationalError as exc:
        unreachable = str(exc.orig or exc).splitlines()[0]
    if unreachable is not None:  # failed outside the except block: one clear line, no traceback chain
        pytest.fail(
            f"PostgreSQL is unreachable at {databases.server_url.render_as_string(hide_password=True)}: "
            f"{unreachable}. Start it, point {POSTGRES_URL_ENV} at a server, or set "
            f"{SKIP_POSTGRES_ENV}=1 to skip the PostgreSQL tests on purpose.",
            pytrace=False,
        )
    try:
        yield databases
    finally:
        databases.drop_all()


@pytest.fixture(scope="session")
def postgres_session_database(postgres: PostgresDatabases) -> Iterator[str]:
    """The session's migrated PostgreSQL database, and an engine that wipes it between tests."""
    url = postgres.url_of(postgres.create())
    upgrade_database(url)
    wiper = create_engine(url)
    yield url, wiper
    wiper.dispose()


def wipe_postgres(engine: Engine) -> None:
    """Back to a freshly migrated state: no rows, the genesis head, every ledger guard enabled.

    ``session_replication_role = replica`` skips user triggers (the append-only guards) and
    foreign-key checks for this transaction only; that is exactly a reset, nothing else is.
    """
    with engine.begin() as connection:
        connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
        for table in reversed(Base.metadata.sorted_tables):
            connection.exec_driver_sql(f"DELETE FROM {table.name}")
        connection.execute(text("INSERT INTO ledger_head (id, sequence, entry_hash) VALUES (1, 0, :genesis)"),
                           {"genesis": GENESIS_HASH})
        for table in GUARDED_TABLES:
            connection.exec_driver_sql(f"ALTER TABLE {table} ENABLE TRIGGER USER")


# --- SQLite: a migrated template file, copied per test ---------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    upgrade_database(f"sqlite:///{path}")
    return path


# --- what tests use ----------------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def empty_database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database with no schema at all."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    postgres: PostgresDatabases = request.getfixturevalue("postgres")
    name = postgres.create()
    yield postgres.url_of(name)
    postgres.drop(name)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, fully migrated database of this test's own."""
    if backend == "sqlite":
        path = tmp_path / "verifier.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    url, wiper = request.getfixturevalue("postgres_session_database")
    wipe_postgres(wiper)
    yield url


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database.connect(database_url)
    yield db
    db.dispose()


@contextmanager
def ledger_guards_disabled(database: Database) -> Iterator[None]:
    """Switch off the append-only triggers, as an attacker with DDL rights could, to tamper."""
    if database.engine.dialect.name == "postgresql":
        with database.engine.begin() as connection:
            for table in GUARDED_TABLES:
                connection.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        try:
            yield
        finally:
            with database.engine.begin() as connection:
                for table in GUARDED_TABLES:
                    connection.exec_driver_sql(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        return
    with database.engine.begin() as connection:
        triggers = connection.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").all()
        for name, _ in triggers:
            connection.exec_driver_sql(f"DROP TRIGGER {name}")
    try:
        yield
    finally:
        with database.engine.begin() as connection:
            for _, sql in triggers:
                connection.exec_driver_sql(sql)


@pytest.fixture
def guards_disabled(database: Database):
    """``with guards_disabled(): ...`` tampers with the ledger the way the database forbids."""
    return lambda: ledger_guards_disabled(database)
