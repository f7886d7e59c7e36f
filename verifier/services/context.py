"""What every request's business logic runs against: the runtime configuration, the database,
one batch verifier per statement, and the metrics.

Database work is synchronous (SQLAlchemy sessions); ``read``/``write`` run it in a worker
thread so the event loop keeps serving (and batching) other requests meanwhile.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from verifier.batching import BatchVerifier
from verifier.core.bootstrap import Runtime
from verifier.db.engine import Database
from verifier.services.metrics import Metrics

T = TypeVar("T")


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

    def __post_init__(self) -> None:
        # Plans (the read step of a proof submission) need no snapshot isolation: everything they
        # read is checked again where it is written. On PostgreSQL they run in autocommit (no
        # BEGIN/ROLLBACK round trips: each query sees the latest committed data); on SQLite in
        # the reader's deferred transaction (a writer's BEGIN IMMEDIATE would take the write lock).
        self._plain = None
        if self.database.engine.dialect.name != "sqlite":
            self._plain = sessionmaker(self.database.engine.execution_options(isolation_level="AUTOCOMMIT"),
                                       expire_on_commit=False, autoflush=False)
        for name, key in self.runtime.keys.items():
            self.batchers[name] = BatchVerifier(name, key.vk, max_batch=self.runtime.settings.max_batch,
                                                observer=self.metrics.observe_batch)

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
