"""The verifier HTTP service: ``create_app(settings)`` builds it.

Start-up (``verifier.core.bootstrap.prepare_runtime``) migrates the database, loads the
verification key of every statement at the configured market count and curve (generating
development keys on first start if allowed) and refuses to start when a key was made for
another circuit. With no configuration at all it runs on embedded defaults under
``ZKMARGIN_HOME`` and says so in its log.

``uvicorn verifier.main:app_factory --factory`` (what ``zkmargin serve`` runs) reads the
settings from the environment.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from verifier.api.errors import install_error_handlers
from verifier.api.middleware import RequestGuard
from verifier.api.routes import ROUTERS
from verifier.core.bootstrap import prepare_runtime
from verifier.core.config import Settings
from verifier.core.logging import configure_logging
from verifier.db.engine import Database
from verifier.services.context import AUTOCOMMIT_CONNECTIONS, ServiceContext
from verifier.services.metrics import Metrics

log = logging.getLogger("zkmargin.verifier")

DESCRIPTION = """Zero-knowledge margin verification: traders prove statements about their hidden
account states; the service builds every public input from its own records, verifies the
proofs (in batches under load), and keeps the settlement ledger.

Authentication: operator and venue endpoints take `Authorization: Bearer <token>` from the
configuration; an account's proofs take the account token returned when it was opened; oracle
reports are authenticated by their Ed25519 signature."""


def connect_database(url: str) -> Database:
    """The service's engines. On PostgreSQL without a ping per checkout (one round trip less per
    transaction): a connection the server dropped fails one request with 503, and SQLAlchemy then
    replaces the pool. Pool sizes: the threads that run database work at once, at most 32
    connections per worker in all (PostgreSQL allows 100 by default): 24 for transactions and
    8 kept in autocommit for the proof intake's single-statement reads and writes (each holds
    one for a round trip)."""
    if url.startswith("sqlite"):
        return Database.connect(url)
    return Database.connect(url, pool_pre_ping=False, pool_size=16, max_overflow=8,
                            autocommit_pool={"pool_size": AUTOCOMMIT_CONNECTIONS, "max_overflow": 0})


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_json)
    runtime = prepare_runtime(settings)
    if runtime.embedded_defaults:
        log.warning("running on embedded defaults (development only): %s", "; ".join(runtime.embedded_defaults),
                    extra={"event": "embedded_defaults", "home": str(settings.home)})
    database = connect_database(runtime.database_url)
    metrics = Metrics()
    context = ServiceContext(runtime, database, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await context.warm_up()
        yield
        await context.aclose()
        database.dispose()

    app = FastAPI(title="zkmargin verifier", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.context = context
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(RequestGuard, max_bytes=settings.max_request_bytes, metrics=metrics)
    log.info("verifier ready: %s, curve %s, %d markets, database %s", ", ".join(runtime.keys), runtime.curve,
             runtime.market_count, database.url,
             extra={"event": "started", "curve": runtime.curve, "markets": runtime.market_count,
                    "database": database.url})
    return app


def app_factory() -> FastAPI:
    """For ``uvicorn --factory`` (each worker process): settings from the environment.

    Once the app is built, everything alive is moved out of the garbage collector's reach
    (``gc.freeze``): the keys, circuits, ORM mappings and routes are some 140,000 objects that a
    full collection would otherwise traverse again and again (about 70 ms each time, a pause
    for every request in flight); nothing of the start-up is freed later anyway."""
    app = create_app(Settings())
    gc.collect()
    gc.freeze()
    return app
