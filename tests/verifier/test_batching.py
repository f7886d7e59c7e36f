"""Batch forming (``verifier.batching.BatchVerifier``): a lone request is verified at once; under
load a batch about to start waits, briefly, for the requests announced as on their way; and the
worker processes of ``zkmargin serve`` each listen on a socket of their own."""

from __future__ import annotations

import asyncio
import socket

import pytest

from verifier.batching import BatchVerifier
from verifier.serving import reuse_port_socket, reuse_port_supported


class RecordingVerifier(BatchVerifier):
    """Batches recorded instead of verified (every proof holds): the forming logic alone."""

    def __init__(self, gather_seconds: float, max_batch: int = 64):
        super().__init__("test", vk=None, max_batch=max_batch, gather_seconds=gather_seconds)  # type: ignore[arg-type]
        self.batches: list[list[int]] = []

    def _verify_batch(self, statements):
        self.batches.append([inputs[0] for inputs, _ in statements])
        return [True] * len(statements)


def run(coroutine):
    return asyncio.run(coroutine)


def test_a_lone_request_is_verified_at_once():
    async def scenario():
        verifier = RecordingVerifier(gather_seconds=5.0)  # a long gather time that must not be used
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await verifier.verify([1], proof=None)
        elapsed = loop.time() - started
        await verifier.aclose()
        return verifier.batches, elapsed

    batches, elapsed = run(scenario())
    assert batches == [[1]] and elapsed < 1.0


def test_a_batch_waits_for_announced_requests():
    async def scenario():
        verifier = RecordingVerifier(gather_seconds=5.0)
        announced = verifier.announce()  # being planned: it will come
        first = asyncio.create_task(verifier.verify([1], proof=None))
        await asyncio.sleep(0.05)  # the batch has started forming and waits for the announced one
        assert verifier.batches == []
        second = asyncio.create_task(verifier.verify([2], proof=None, announcement=announced))
        assert await first and await second
        await verifier.aclose()
        return verifier.batches

    assert run(scenario()) == [[1, 2]]


def test_a_request_refused_while_planned_does_not_hold_the_batch():
    async def scenario():
        verifier = RecordingVerifier(gather_seconds=5.0)
        with verifier.announce():  # planned, then refused (an exception leaves the block)
            first = asyncio.create_task(verifier.verify([1], proof=None))
            await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await first
        elapsed = loop.time() - started
        await verifier.aclose()
        return verifier.batches, elapsed

    batches, elapsed = run(scenario())
    assert batches == [[1]] and elapsed < 1.0


def test_the_gather_time_bounds_the_wait():
    async def scenario():
        verifier = RecordingVerifier(gather_seconds=0.05)
        announced = verifier.announce()  # never comes
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await verifier.verify([1], proof=None)
        elapsed = loop.time() - started
        announced.release()
        await verifier.aclose()
        return verifier.batches, elapsed

    batches, elapsed = run(scenario())
    assert batches == [[1]] and 0.04 <= elapsed < 1.0


def test_a_full_batch_does_not_wait():
    async def scenario():
        verifier = RecordingVerifier(gather_seconds=5.0, max_batch=2)
        announced = verifier.announce()
        tasks = [asyncio.create_task(verifier.verify([i], proof=None)) for i in (1, 2)]
        assert all(await asyncio.wait_for(asyncio.gather(*tasks), 1.0))
        announced.release()
        await verifier.aclose()
        return verifier.batches

    assert run(scenario()) == [[1, 2]]


def test_threads_per_batch_share_the_cores_among_workers():
    assert BatchVerifier.threads_for(1) >= 1
    assert BatchVerifier.threads_for(10_000) == 1


@pytest.mark.skipif(not reuse_port_supported(), reason="SO_REUSEPORT balancing is Linux's")
def test_worker_sockets_share_a_port_that_no_other_server_holds():
    first = reuse_port_socket("127.0.0.1", 0)
    port = first.getsockname()[1]
    second = reuse_port_socket("127.0.0.1", port)  # another worker's: same group
    for sock in (first, second):
        sock.listen(8)
    plain = socket.socket()
    try:
        with pytest.raises(OSError):  # a server that does not share the port cannot take it
            plain.bind(("127.0.0.1", port))
    finally:
        for sock in (first, second, plain):
            sock.close()
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        with pytest.raises(OSError):  # nor can the workers join a port another server holds
            reuse_port_socket("127.0.0.1", taken.getsockname()[1])
    finally:
        taken.close()
