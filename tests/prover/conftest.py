"""The trader CLI's tests run against a real service process: reuse the verifier tests' fixtures
(databases, keys made once per session, oracles, ``start_server``).

pytest registers a conftest's fixtures by the names the module holds, so importing them is
enough; ``__all__`` says the imports are for re-export. The list is ``start_server`` and
everything it needs, including the fixtures ``database_url`` asks for by name."""

from tests.verifier.conftest import (
    api_keys,
    api_settings,
    backend,
    database_url,
    oracle_private_keys,
    postgres,
    postgres_session_database,
    sqlite_template,
    start_server,
)

__all__ = [
    "api_keys",
    "api_settings",
    "backend",
    "database_url",
    "oracle_private_keys",
    "postgres",
    "postgres_session_database",
    "sqlite_template",
    "start_server",
]
