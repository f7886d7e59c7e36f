"""What every request's business logic runs against: the runtime configuration, the database,
one batch verifier per statement, and the metrics.

Database work is synchronous (SQLAlchemy sessions); ``read``/``write`` run it in a worker
thread so the event loop keeps serving (and batching) other requests meanwhile.
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
from sqlalchemy.orm import Session, sessionmaker
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
        # Plans (the read step of a proof submission) need no snapshot isolation: everything they
        # read is checked again where it is written. On PostgreSQL they run in autocommit (no
        # BEGIN/ROLLBACK round trips: each query sees the latest committed data); on SQLite in
        # the reader's deferred transaction (a writer's BEGIN IMMEDIATE would take the write lock).
        self._plain = None
        self._autocommit: Engine | None = None
        self._autocommit_threads = ThreadPoolExecutor(AUTOCOMMIT_CONNECTIONS, thread_name_prefix="zkmargin-autocommit")
        if self.database.engine.dialect.name != "sqlite":
            self._autocommit = (self.database.autocommit_engine
                                or self.database.engine.execution_options(isolation_level="AUTOCOMMIT"))
            self._plain = sessionmaker(self._autocommit, expire_on_commit=False, autoflush=False)
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
        """``fn(session, *args)`` in a read-only snapshot, in a worker thread."""
        def run() -> T:
            with self.database.reader() as session:
                return fn(session, *args, **kwargs)
        return await run_in_threadpool(run)

    async def plan(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(session, *args)`` reading committed data (never writing), in a worker thread."""
        if self._plain is None:
            return await self.read(fn, *args, **kwargs)

        def run() -> T:
            with self._plain() as session:
                try:
                    return fn(session, *args, **kwargs)
                finally:
                    session.rollback()
        return await run_in_threadpool(run)

    @property
    def autocommits(self) -> bool:
        """Whether ``autocommit`` is available (PostgreSQL)."""
        return self._autocommit is not None

    async def autocommit(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(connection, *args)`` on a Core connection in autocommit (PostgreSQL only), in a worker
        thread: each statement commits on its own, with no BEGIN/COMMIT round trips and no ORM
        session. For reads that need no snapshot and for writes that are one atomic statement."""
        if self._autocommit is None:
            raise RuntimeError("autocommit connections are for PostgreSQL only")
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

    async def query(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(db, *args)`` reading committed data with Core statements (``db.execute``), in a worker
        thread: on an autocommit connection on PostgreSQL, in a read snapshot (a session) on SQLite."""
        if self._autocommit is None:
            return await self.read(fn, *args, **kwargs)
        return await self.autocommit(fn, *args, **kwargs)

    async def write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(session, *args)`` in one unit of work (commits together or not at all)."""
        def run() -> T:
            with self.database.unit_of_work() as session:
                return fn(session, *args, **kwargs)
        return await run_in_threadpool(run)

    def write_now(self, fn: Callable[[Session], T]) -> T:
        with self.database.unit_of_work() as session:
            return fn(session)

    async def aclose(self) -> None:
        for batcher in self.batchers.values():
            await batcher.aclose()
        self._autocommit_threads.shutdown(wait=False)
