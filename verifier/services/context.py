"""What every request's business logic runs against: the runtime configuration, the database,
one batch verifier per statement, and the metrics.

Database work is synchronous (SQLAlchemy); it runs in a worker thread so the event loop keeps
serving (and batching) other requests meanwhile, in one of three ways: ``read`` (a consistent
snapshot: views and reports), ``write`` (a unit of work) and ``autocommit`` (the proof intake's
plans and its one-statement keep of an attestation, without BEGIN/COMMIT round trips).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from verifier.batching import BatchVerifier
from verifier.core.bootstrap import Runtime
from verifier.db.engine import Database
from verifier.services.metrics import Metrics
from verifier.services.ratelimit import AddressRateLimiter

T = TypeVar("T")
log = logging.getLogger("zkmargin.verifier")

# connections kept in autocommit per worker (``Database.autocommit_engine``'s pool), and threads
# that use them: each holds one for a round trip or two (the proof intake's hot path)
AUTOCOMMIT_CONNECTIONS = 8


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same_secret(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented token with the expected one."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


@dataclass
class ServiceContext:
    runtime: Runtime
    database: Database
    metrics: Metrics
    batchers: dict[str, BatchVerifier] = field(default_factory=dict)
    # immutable once written: epoch id -> prices (mark snapshot / settlement snapshot)
    mark_prices: dict[int, list[int]] = field(default_factory=dict)
    settlement_prices: dict[int, list[int]] = field(default_factory=dict)
    attestation_deadlines: dict[int, Any] = field(default_factory=dict)  # epoch id -> datetime | None

    def __post_init__(self) -> None:
        # per worker process: see verifier.services.ratelimit
        self.account_openings = AddressRateLimiter(self.runtime.settings.account_openings_per_minute, 60.0,
                                                   what="account openings")
        self._autocommit: Engine | None = None
        self._autocommit_threads = ThreadPoolExecutor(AUTOCOMMIT_CONNECTIONS, thread_name_prefix="zkmargin-autocommit")
        if self.database.engine.dialect.name != "sqlite":
            self._autocommit = (self.database.autocommit_engine
                                or self.database.engine.execution_options(isolation_level="AUTOCOMMIT"))
        for name, key in self.runtime.keys.items():
            self.batchers[name] = BatchVerifier(name, key.vk, max_batch=self.runtime.settings.max_batch,
                                                observer=self.metrics.observe_batch,
                                                threads=BatchVerifier.threads_for(self.runtime.settings.workers),
                                                gather_seconds=self.runtime.settings.batch_gather_ms / 1000)

    @property
    def curve(self) -> str:
        return self.runtime.curve

    @property
    def markets(self) -> int:
        return self.runtime.market_count

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(session, *args)`` in one consistent read-only snapshot, in a worker thread: views and
        reports (a ledger verification must not mistake an append committed meanwhile for damage)."""
        def run() -> T:
            with self.database.reader() as session:
                return fn(session, *args, **kwargs)
        return await run_in_threadpool(run)

    async def write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(session, *args)`` in one unit of work (commits together or not at all), in a worker thread."""
        def run() -> T:
            with self.database.unit_of_work() as session:
                return fn(session, *args, **kwargs)
        return await run_in_threadpool(run)

    @property
    def autocommits(self) -> bool:
        """Whether ``autocommit`` runs statements that commit on their own (PostgreSQL) or only reads (SQLite)."""
        return self._autocommit is not None

    async def autocommit(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """The proof intake's round trips: ``fn(db, *args)`` where each statement stands on its own.

        On PostgreSQL ``db`` is a Core connection in autocommit: no BEGIN/COMMIT round trips, each
        read sees the latest committed data, each write is one atomic statement. Plans need no
        snapshot (everything they read is checked again where it is written). SQLite has no such
        connection (its writers must take the write lock): there ``db`` is a read snapshot's
        session, for reads only (``autocommits`` is False)."""
        if self._autocommit is None:
            return await self.read(fn, *args, **kwargs)
        engine = self._autocommit

        def run() -> T:
            with engine.connect() as connection:
                return fn(connection, *args, **kwargs)
        # a thread pool of its own, as large as the autocommit pool (no thread waits for a
        # connection), through asyncio directly: a third of the CPU of a hop through anyio's
        return await asyncio.get_running_loop().run_in_executor(self._autocommit_threads, run)

    async def warm_up(self) -> None:
        """Open the autocommit pool's connections before the first request (PostgreSQL): a burst
        of first requests would otherwise wait for them to be opened all at once (a server
        process each). Failing here only leaves them to be opened on demand."""
        if self.database.autocommit_engine is None:
            return
        engine = self.database.autocommit_engine

        def run() -> None:
            connections = []
            try:
                for _ in range(AUTOCOMMIT_CONNECTIONS):
                    connections.append(engine.connect())
            finally:
                for connection in connections:
                    connection.close()
        try:
            await asyncio.get_running_loop().run_in_executor(self._autocommit_threads, run)
        except SQLAlchemyError as exc:
            log.warning("could not open the autocommit connections in advance: %s", exc,
                        extra={"event": "warm_up_failed"})

    async def aclose(self) -> None:
        for batcher in self.batchers.values():
            await batcher.aclose()
        self._autocommit_threads.shutdown(wait=False)
