"""``zkmargin serve`` as a deployment: one server per port, and no worker outlives its supervisor.

Each test runs real ``zkmargin serve`` processes (started and stopped by pid)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.verifier.conftest import SERVE, ServerProcess, server_environment
from verifier.serving import PortInUseError, claim_port, reuse_port_supported

SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])  # about processes and sockets, not the database
ROOT = Path(__file__).resolve().parents[2]


def serving_pids(url: str, connections: int = 32) -> set[int]:
    """The worker pids that answer ``connections`` new connections."""
    def worker_pid(_) -> int:
        with httpx.Client(base_url=url, timeout=30) as client:
            return client.get("/healthz").json()["worker"]

    with ThreadPoolExecutor(8) as pool:
        return set(pool.map(worker_pid, range(connections)))


def all_workers(url: str, workers: int, timeout: float = 60) -> set[int]:
    pids: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(pids) < workers and time.monotonic() < deadline:
        pids |= serving_pids(url)
    assert len(pids) == workers, f"expected {workers} workers to serve, saw {pids}"
    return pids


def second_server(server: ServerProcess, api, workers: int) -> subprocess.CompletedProcess:
    """``zkmargin serve`` on the port ``server`` serves, with the same configuration; run to its end."""
    return subprocess.run([sys.executable, "-c", SERVE, "--port", str(server.port), "--workers", str(workers)],
                          env=server_environment(api.settings), capture_output=True, text=True, timeout=120, cwd=ROOT)


@SQLITE_ONLY
@pytest.mark.skipif(not reuse_port_supported(), reason="SO_REUSEPORT groups are Linux's")
def test_a_second_server_on_a_served_port_refuses_to_start(start_server):
    server, api = start_server(workers=2)
    first = all_workers(server.url, 2)  # the first deployment spreads connections over its own workers

    for workers in (2, 1):
        refused = second_server(server, api, workers)
        assert refused.returncode == 2, (refused.returncode, refused.stdout, refused.stderr)
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: cannot listen on 127.0.0.1:{server.port}"), lines
        assert f"pid {server.process.pid}" in lines[0]  # names the server that holds the port

    # every connection still reaches the first deployment's workers, and only them
    assert serving_pids(server.url, 64) <= first
    assert server.process.poll() is None


def test_a_port_another_program_listens_on_is_refused_even_without_the_lock():
    with socket.socket() as other:  # not a zkmargin server: it holds no lock file
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(PortInUseError, match="already in use"):
            claim_port("127.0.0.1", port)
    with claim_port("127.0.0.1", port):  # free again, and now claimed
        with pytest.raises(PortInUseError, match=f"pid {os.getpid()}"):
            claim_port("127.0.0.1", port)
    claim_port("127.0.0.1", port).release()  # the claim ends with its holder


def _gone(pid: int) -> bool:
    """Whether ``pid`` no longer runs (a zombie waiting to be reaped by init counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, IndexError):
        return True


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@SQLITE_ONLY
@pytest.mark.skipif(not reuse_port_supported(), reason="serve --workers uses SO_REUSEPORT workers on Linux")
def test_workers_exit_when_their_supervisor_is_killed(start_server):
    server, _ = start_server(workers=2)
    workers = all_workers(server.url, 2)
    assert server.process.pid not in workers

    os.kill(server.process.pid, signal.SIGKILL)
    server.wait_killed()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and (_answers(server.port) or not all(_gone(pid) for pid in workers)):
        time.sleep(0.2)
    assert not _answers(server.port), "a worker still serves the port after its supervisor was killed"
    assert all(_gone(pid) for pid in workers), f"workers still running: {[p for p in workers if not _gone(p)]}"

    # and the port is free for the next deployment at once (the dead supervisor's claim is gone)
    claim_port("127.0.0.1", server.port).release()
