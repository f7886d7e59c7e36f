"""Proof verification in batches, without making a lone request wait.

One ``BatchVerifier`` per verification key holds an asyncio queue. A worker task takes the
first waiting request at once and, with it, every request already queued (up to ``max_batch``);
it verifies them together with ``zkmargin.groth16.batch_verify`` in a worker thread (one
multi-pairing for the whole batch when all proofs hold; the core splits the work over the
cores). Requests arriving while a batch runs queue up and form the next batch. There is no
fixed wait: a request that arrives alone is verified alone, immediately.

Callers validate each statement first (``check_statement``: input count and range, proof
points on the curve and in the subgroup, not infinity), so a malformed proof is refused on its
own and never fails a batch. Should ``batch_verify`` still raise, the batch falls back to one
``verify`` per statement, so one bad statement cannot decide another's verdict.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from zkmargin.backends import get_backend
from zkmargin.errors import ZkMarginError
from zkmargin.groth16 import Proof, VerifyingKey, batch_verify, verify
from zkmargin.groth16.verifier import check_proof_points, check_public_inputs

log = logging.getLogger("zkmargin.verifier")

BatchObserver = Callable[[str, int, float], None]  # (key name, batch size, seconds)


def check_statement(vk: VerifyingKey, public_inputs: Sequence[int], proof: Proof) -> None:
    """Raise MalformedInputError unless the statement is well formed (no pairing is computed)."""
    check_public_inputs(vk, public_inputs)
    check_proof_points(proof, vk, get_backend(vk.curve))


@dataclass
class _Request:
    public_inputs: list[int]
    proof: Proof
    future: asyncio.Future


class BatchVerifier:
    """Verifies proofs under one key, batching whatever arrives together."""

    def __init__(self, name: str, vk: VerifyingKey, *, max_batch: int = 64, observer: BatchObserver | None = None):
        self.name = name
        self.vk = vk
        self.max_batch = max_batch
        self.observer = observer
        self._queue: asyncio.Queue[_Request] | None = None
        self._worker: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _ensure_worker(self) -> asyncio.Queue[_Request]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._worker is None or self._worker.done():
            self._loop = loop
            self._queue = asyncio.Queue()
            self._worker = loop.create_task(self._run(self._queue), name=f"batch-verifier-{self.name}")
        assert self._queue is not None
        return self._queue

    async def verify(self, public_inputs: Sequence[int], proof: Proof) -> bool:
        """The verdict for one statement (already checked with ``check_statement``)."""
        queue = self._ensure_worker()
        future = asyncio.get_running_loop().create_future()
        queue.put_nowait(_Request(list(public_inputs), proof, future))
        return await future

    async def _run(self, queue: asyncio.Queue[_Request]) -> None:
        while True:
            batch = [await queue.get()]
            while len(batch) < self.max_batch and not queue.empty():
                batch.append(queue.get_nowait())
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

    def _verify_batch(self, statements: list[tuple[list[int], Proof]]) -> list[bool]:
        if len(statements) == 1:
            return [verify(self.vk, *statements[0])]
        try:
            return batch_verify(self.vk, statements)
        except ZkMarginError:
            log.warning("batch verification raised; verifying the %d statements one by one", len(statements),
                        extra={"event": "batch_fallback", "key": self.name})
            verdicts = []
            for inputs, proof in statements:
                try:
                    verdicts.append(verify(self.vk, inputs, proof))
                except ZkMarginError:
                    verdicts.append(False)
            return verdicts

    async def aclose(self) -> None:
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
            try:
                await self._worker
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        self._worker = None
