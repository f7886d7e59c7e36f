"""Proof verification in batches, without making a lone request wait.

One ``BatchVerifier`` per verification key holds an asyncio queue. A worker task takes the
first waiting request at once and, with it, every request already queued (up to ``max_batch``);
it verifies them together with ``zkmargin.groth16.batch_verify`` in a worker thread (one
multi-pairing for the whole batch when all proofs hold; split over ``threads`` threads).
Requests arriving while a batch runs queue up and form the next batch. There is no fixed wait:
a request that arrives alone is verified alone, immediately. The one wait there is: requests
can ``announce`` themselves while they are being planned, and a batch about to start waits for
announced requests, at most ``gather_seconds`` (bigger batches under load: less CPU per proof).

Callers validate each statement first (``check_statement``: input count and range, proof
points on the curve and in the subgroup, not infinity), so a malformed proof is refused on its
own and never fails a batch. Should ``batch_verify`` still raise, the batch falls back to one
``verify`` per statement, so one bad statement cannot decide another's verdict.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Self

from zkmargin.backends import get_backend
from zkmargin.errors import ZkMarginError
from zkmargin.groth16 import PreparedVerifyingKey, Proof, VerifyingKey, batch_verify, prepare_verifying_key, verify
from zkmargin.groth16.verifier import check_proof_points, check_public_inputs

log = logging.getLogger("zkmargin.verifier")

BatchObserver = Callable[[str, int, float], None]  # (key name, batch size, seconds)


def check_statement(vk: VerifyingKey, public_inputs: Sequence[int], proof: Proof, *,
                    points_validated: bool = False) -> None:
    """Raise MalformedInputError unless the statement is well formed (no pairing is computed).

    ``points_validated``: the proof's points come from a validating constructor (a parsed
    ``proof.json``: coordinates below p, on the curve, in the prime-order subgroup), so their
    subgroup checks — most of this check's cost — are not repeated here. The curve and the
    point at infinity are checked either way (``batch_verify`` checks everything once more).
    """
    check_public_inputs(vk, public_inputs)
    check_proof_points(proof, vk, get_backend(vk.curve), subgroups_checked=points_validated)


@dataclass
class _Request:
    public_inputs: list[int]
    proof: Proof
    future: asyncio.Future


class Announcement:
    """A request on its way to ``verify`` (being planned); released when it is queued, or when it
    will not come after all (refused while planning, cancelled). Releasing twice is harmless."""

    def __init__(self, verifier: BatchVerifier):
        self._verifier = verifier
        self._live = True
        verifier._coming += 1

    def release(self) -> None:
        if self._live:
            self._live = False
            self._verifier._coming -= 1
            self._verifier._notify()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


class BatchVerifier:
    """Verifies proofs under one key, batching whatever arrives together."""

    def __init__(self, name: str, vk: VerifyingKey, *, max_batch: int = 64, observer: BatchObserver | None = None,
                 threads: int | None = None, gather_seconds: float = 0.0):
        self.name = name
        self.vk = vk
        self.max_batch = max_batch
        self.observer = observer
        # threads per batch (None: the core's default, one per core). Splitting a batch costs
        # CPU (each chunk has its own final exponentiation and combination): with as many
        # worker processes as cores, one thread per batch verifies more proofs per second.
        self.threads = threads
        # how long a batch about to start waits for announced requests (see ``announce``)
        self.gather_seconds = gather_seconds
        self._coming = 0  # announced requests not queued yet
        self._queue: asyncio.Queue[_Request] | None = None
        self._changed: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _ensure_worker(self) -> asyncio.Queue[_Request]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._worker is None or self._worker.done():
            self._loop = loop
            self._queue = asyncio.Queue()
            self._changed = asyncio.Event()
            self._worker = loop.create_task(self._run(self._queue), name=f"batch-verifier-{self.name}")
        assert self._queue is not None
        return self._queue

    def announce(self) -> Announcement:
        """Say that a request will ask for a verdict soon (it is being planned: a database read
        and the proof's parsing away). While requests are announced, a batch about to start
        waits for them, up to ``gather_seconds``: under load a batch then takes in the requests
        a few milliseconds behind it, and each proof costs less (the final exponentiation and
        the fixed pairings are shared by more proofs). Nothing waits when nothing is announced:
        a lone request is verified at once."""
        return Announcement(self)

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()

    async def verify(self, public_inputs: Sequence[int], proof: Proof,
                     announcement: Announcement | None = None) -> bool:
        """The verdict for one statement (already checked with ``check_statement``); the request's
        announcement, if it made one, is released as it joins the queue."""
        queue = self._ensure_worker()
        future = asyncio.get_running_loop().create_future()
        queue.put_nowait(_Request(list(public_inputs), proof, future))
        if announcement is not None:
            announcement.release()
        self._notify()
        return await future

    async def _gather(self, queue: asyncio.Queue[_Request], batch: list[_Request]) -> None:
        """Add the queued requests to ``batch``, waiting a little for announced ones."""
        while len(batch) < self.max_batch and not queue.empty():
            batch.append(queue.get_nowait())
        if not self._coming or self.gather_seconds <= 0 or self._changed is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.gather_seconds
        while self._coming and len(batch) < self.max_batch:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return
            finally:
                while len(batch) < self.max_batch and not queue.empty():
                    batch.append(queue.get_nowait())

    async def _run(self, queue: asyncio.Queue[_Request]) -> None:
        while True:
            batch = [await queue.get()]
            await self._gather(queue, batch)
            live = [r for r in batch if not r.future.done()]  # a cancelled request needs no verdict
            if not live:
                continue
            started = time.perf_counter()
            try:
                verdicts = await asyncio.to_thread(self._verify_batch, [(r.public_inputs, r.proof) for r in live])
            except Exception as exc:  # noqa: BLE001 - every waiting request must hear of it
                for request in live:
                    if not request.future.done():
                        request.future.set_exception(exc)
                continue
            if self.observer is not None:
                self.observer(self.name, len(live), time.perf_counter() - started)
            for request, verdict in zip(live, verdicts):
                if not request.future.done():
                    request.future.set_result(verdict)

    @cached_property
    def prepared(self) -> PreparedVerifyingKey:
        """The key with e(alpha, beta) computed once: three Miller loops a proof, not four."""
        return prepare_verifying_key(self.vk)

    def _verify_batch(self, statements: list[tuple[list[int], Proof]]) -> list[bool]:
        if len(statements) == 1:
            return [verify(self.prepared, *statements[0])]
        try:
            return batch_verify(self.prepared, statements, workers=self.threads)
        except ZkMarginError:
            log.warning("batch verification raised; verifying the %d statements one by one", len(statements),
                        extra={"event": "batch_fallback", "key": self.name})
            verdicts = []
            for inputs, proof in statements:
                try:
                    verdicts.append(verify(self.prepared, inputs, proof))
                except ZkMarginError:
                    verdicts.append(False)
            return verdicts

    @staticmethod
    def threads_for(processes: int) -> int:
        """Threads per batch when ``processes`` workers share this machine's cores."""
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            cores = os.cpu_count() or 1
        return max(1, cores // max(1, processes))

    async def aclose(self) -> None:
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
            try:
                await self._worker
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        self._worker = None
