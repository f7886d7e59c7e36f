"""Persistence for the verifier service: SQLAlchemy 2 models, Alembic migrations, sessions.

- ``engine``: database URLs (``$ZKMARGIN_DATABASE_URL``, else a SQLite file under
  ``$ZKMARGIN_HOME``), engines with the right locking per backend, ``Database`` with its
  ``unit_of_work()`` (writes that commit together) and ``reader()`` (a consistent snapshot).
- ``migrate``: ``upgrade_database(url)``, which the service calls at start-up.
- ``models``: the tables; ``types``: exact money, field elements, UTC timestamps.
- ``records``: accounts and their commitment chain (optimistic concurrency), pending fills,
  attestations, epochs. Money moves through ``verifier.db.ledger``.
"""

from verifier.db.engine import Database, create_database_engine, resolve_database_url
from verifier.db.migrate import require_current_schema, upgrade_database

__all__ = ["Database", "create_database_engine", "require_current_schema", "resolve_database_url",
           "upgrade_database"]
