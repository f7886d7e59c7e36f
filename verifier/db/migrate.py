"""Run the schema migrations from code: the service calls ``upgrade_database`` at start-up."""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from verifier.db.engine import create_database_engine, resolve_database_url
from verifier.errors import DatabaseConfigurationError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Alembic keeps the running migration's context in module globals: one command per process at
# a time. Processes (replicas) are serialized by the database itself, see migrations/env.py.
_ALEMBIC_LOCK = threading.Lock()


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration that needs no ini file (the package may be installed anywhere)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", resolve_database_url(url).replace("%", "%%"))
    return config


def upgrade_database(url: str | None = None, revision: str = "head") -> str:
    """Migrate the database at ``url`` (resolved as ``resolve_database_url``) to ``revision``.

    Idempotent, and safe to call from several processes at once (see migrations/env.py).
    Returns the resolved URL so the caller can log which database it is using.
    """
    resolved = resolve_database_url(url)
    engine = create_database_engine(resolved)
    try:
        with _ALEMBIC_LOCK, engine.begin() as connection:
            config = alembic_config(resolved)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()
    return resolved


def head_revision() -> str:
    """The newest migration this code ships."""
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert head is not None, "the migrations directory has no revision"
    return head


def database_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def require_current_schema(engine: Engine) -> None:
    """Refuse to run against a database that is not at this code's head revision."""
    found, expected = database_revision(engine), head_revision()
    if found != expected:
        raise DatabaseConfigurationError(
            f"the database schema is at revision {found or 'none (empty database)'}, this code needs "
            f"{expected}: run the migrations (verifier.db.migrate.upgrade_database)"
        )
