"""Engines, sessions and the unit of work, with the locking each database needs.

Two backends are supported:

- **SQLite** (the embedded default, a file under ``$ZKMARGIN_HOME``): WAL journal, foreign keys
  on, ``synchronous=FULL`` (a commit survives power loss: the ledger holds money). Python's
  sqlite3 module would start transactions lazily with a plain ``BEGIN``; a transaction that
  reads and later writes can then fail at once with "database is locked" because SQLite cannot
  upgrade a stale snapshot. So every *write* transaction starts with ``BEGIN IMMEDIATE``: it
  takes the database's single write lock up front, and concurrent writers (threads or
  processes) queue on ``busy_timeout`` instead of failing. Readers use a deferred ``BEGIN`` and
  see a consistent WAL snapshot without blocking anyone.
- **PostgreSQL** through psycopg 3 (``postgresql+psycopg://``): writers run at READ COMMITTED
  and serialize where they must with row locks (``SELECT ... FOR UPDATE`` on the ledger head,
  a compare-and-swap ``UPDATE`` on an account); readers run at REPEATABLE READ, read-only, so a
  report (such as ledger verification) sees one snapshot.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from circuits.protocol.home import zkmargin_home
from verifier.errors import DatabaseConfigurationError

DATABASE_URL_ENV = "ZKMARGIN_DATABASE_URL"
DEFAULT_SQLITE_FILE = "verifier.sqlite3"
SQLITE_BUSY_TIMEOUT_SECONDS = 60
_SQLITE_BEGIN = "zkmargin_sqlite_begin"  # execution option: "IMMEDIATE" (writers) or "DEFERRED"
_READER_INFO = "zkmargin_reader"  # Session.info flag: a snapshot that must not write


def default_database_url(home: Path | None = None) -> str:
    """The embedded default: the SQLite file in ``home`` (default: ``zkmargin_home()``)."""
    return f"sqlite:///{(home or zkmargin_home()) / DEFAULT_SQLITE_FILE}"


def resolve_database_url(url: str | None = None, home: Path | None = None) -> str:
    """The URL to use: an explicit one, else ``$ZKMARGIN_DATABASE_URL``, else the SQLite file in
    ``home`` (default: ``zkmargin_home()``, the directory every zkmargin command uses).

    ``postgresql://`` and ``postgres://`` (what most tools print) are read as psycopg 3, the
    driver we ship; any other backend is refused here rather than deep inside SQLAlchemy.
    """
    chosen = url or os.environ.get(DATABASE_URL_ENV)
    if not chosen:
        return default_database_url(home)
    try:
        parsed = make_url(chosen)
    except ArgumentError as exc:
        raise DatabaseConfigurationError(f"not a database URL: {chosen!r} ({exc})") from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if backend == "sqlite" and driver in ("", "pysqlite"):
        if not parsed.database or parsed.database == ":memory:":
            raise DatabaseConfigurationError(
                "an in-memory SQLite database cannot be shared between connections; give a file path"
            )
        return chosen
    raise DatabaseConfigurationError(
        f"unsupported database {parsed.drivername!r}: use sqlite:///PATH or postgresql+psycopg://..."
    )


def create_database_engine(url: str | None = None, **engine_options: Any) -> Engine:
    """An engine for ``url`` (resolved as above) configured for this module's locking rules."""
    resolved = resolve_database_url(url)
    if make_url(resolved).get_backend_name() == "sqlite":
        return _sqlite_engine(resolved, **engine_options)
    engine_options.setdefault("pool_pre_ping", True)
    return create_engine(resolved, **engine_options)


def _enable_wal(cursor: Any) -> None:
    """WAL is a property of the file, set once. Switching needs the file to itself, and SQLite does
    not wait on its busy handler for it: replicas opening a new file at once retry here instead."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_SECONDS
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _sqlite_engine(url: str, **engine_options: Any) -> Engine:
    """SQLite with durable WAL, foreign keys, and explicit BEGIN (see the module docstring)."""
    path = Path(make_url(url).database or "")
    path.parent.mkdir(parents=True, exist_ok=True)
    connect_args = engine_options.pop("connect_args", {})
    connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_SECONDS)
    connect_args.setdefault("check_same_thread", False)
    engine = create_engine(url, connect_args=connect_args, **engine_options)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        _enable_wal(cursor)
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(_SQLITE_BEGIN, "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


class Database:
    """One database: an engine plus the two ways to open a transaction on it.

    ``unit_of_work()`` is for writes that belong together: everything done in the block commits
    together or not at all. ``reader()`` is for reports: one consistent snapshot, never commits.
    """

    def __init__(self, engine: Engine, *, autocommit_engine: Engine | None = None):
        self.engine = engine
        # PostgreSQL: an engine whose connections are in autocommit for good (its own pool), for
        # single statements and snapshot-free reads; None: ``autocommit()`` switches connections
        # of the main pool to autocommit for the time of one checkout (and back), which costs
        # CPU on every checkout.
        if autocommit_engine is not None and engine.dialect.name == "sqlite":
            raise DatabaseConfigurationError("SQLite has no autocommit engine: its writers take the write lock")
        self.autocommit_engine = autocommit_engine
        writer_bind = engine
        reader_bind = engine.execution_options(**self._reader_options(engine))
        self._writers = sessionmaker(writer_bind, expire_on_commit=False)
        self._readers = sessionmaker(reader_bind, expire_on_commit=False, autoflush=False, info={_READER_INFO: True})

    @classmethod
    def connect(cls, url: str | None = None, *, autocommit_pool: dict[str, Any] | None = None,
                **engine_options: Any) -> Database:
        """``autocommit_pool``: on PostgreSQL, also an autocommit engine with these pool options."""
        engine = create_database_engine(url, **engine_options)
        autocommit = None
        if autocommit_pool is not None and engine.dialect.name != "sqlite":
            options = {k: v for k, v in engine_options.items() if k not in ("pool_size", "max_overflow")}
            autocommit = create_database_engine(url, **{**options, **autocommit_pool, "isolation_level": "AUTOCOMMIT"})
        return cls(engine, autocommit_engine=autocommit)

    @staticmethod
    def _reader_options(engine: Engine) -> dict[str, Any]:
        if engine.dialect.name == "sqlite":
            return {_SQLITE_BEGIN: "DEFERRED"}
        return {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """A write transaction: commit when the block ends normally, roll back on any exception."""
        with self._writers.begin() as session:
            yield session

    @contextmanager
    def reader(self) -> Iterator[Session]:
        """A read-only snapshot; rolled back at the end (nothing to commit)."""
        with self._readers() as session:
            try:
                yield session
            finally:
                session.rollback()

    def dispose(self) -> None:
        self.engine.dispose()
        if self.autocommit_engine is not None:
            self.autocommit_engine.dispose()


def is_reader(session: Session) -> bool:
    """Whether ``session`` is a ``Database.reader()`` snapshot (writing through it is a bug:
    on SQLite its deferred transaction could not take the write lock reliably)."""
    return bool(session.info.get(_READER_INFO))
