"""Alembic environment for the verifier's schema.

The database comes, in this order, from a connection the caller passes in
``config.attributes["connection"]`` (what ``verifier.db.migrate.upgrade_database`` does), the
``sqlalchemy.url`` option, or ``$ZKMARGIN_DATABASE_URL`` / the embedded SQLite default. On
PostgreSQL the migration holds a transaction-scoped advisory lock, so several service
replicas starting at once run it one after another (the later ones find nothing to do); on
SQLite the engine's ``BEGIN IMMEDIATE`` serializes them the same way.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, text

from verifier.db.engine import create_database_engine, resolve_database_url
from verifier.db.models import Base

MIGRATION_LOCK_KEY = 0x7A6B6D5F6D6967  # "zkm_mig": an arbitrary, fixed advisory-lock id

config = context.config
if config.config_file_name is not None and not config.attributes.get("connection"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _database_url() -> str:
    return resolve_database_url(config.get_main_option("sqlalchemy.url") or None)


def run_migrations_offline() -> None:
    """``alembic upgrade --sql``: print the DDL instead of running it."""
    context.configure(
        url=_database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        context.run_migrations()


def run_migrations_online() -> None:
    given = config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    engine = create_database_engine(_database_url())
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
