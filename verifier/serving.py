"""Worker processes that share the load evenly: one ``SO_REUSEPORT`` listening socket each (Linux).

``uvicorn --workers N`` binds one socket in the parent and hands it to every worker. All of them
wake for each new connection, and the first to run accepts every connection waiting at that
moment: a burst of keep-alive connections (a client pool opening 32 at once) typically lands on
one worker, which then does all the proof verification on its one core while the others idle
(measured here: 32 connections to one worker, 0 to the other). With a socket of its own per
worker in one ``SO_REUSEPORT`` group, the kernel spreads the connections over the workers by a
hash of their addresses instead.

The supervisor here does what uvicorn's does for the service: it starts the workers, replaces
one that dies (a worker that fails to start stops everything: it would fail the same way
again), and on SIGINT/SIGTERM stops them all (each drains its requests within uvicorn's
graceful-shutdown timeout). The parent keeps a bound, non-listening socket on the port for as
long as it runs, so the port cannot be taken by a server that does not share it, and a port
already in use is reported at once.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("zkmargin.verifier")

STARTUP_FAILURE = 3  # uvicorn's exit code for a worker that could not start
WORKERS_ENV = "ZKMARGIN_WORKERS"  # read by every worker's Settings: how many processes share the machine


def reuse_port_supported() -> bool:
    """SO_REUSEPORT balances TCP connections over the group's sockets on Linux (3.9+) only; on
    the BSDs and macOS one socket of the group takes them all."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) in the port's SO_REUSEPORT group (not listening yet)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _run_worker(host: str, port: int, uvicorn_options: dict[str, Any]) -> None:
    """One worker process: its own socket in the group, one uvicorn server on it."""
    import uvicorn

    config = uvicorn.Config(host=host, port=port, **uvicorn_options)
    try:
        sock = reuse_port_socket(host, port)
    except OSError as exc:
        log.error("worker %d cannot bind %s:%d: %s", os.getpid(), host, port, exc)
        sys.exit(STARTUP_FAILURE)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def serve_workers(host: str, port: int, workers: int, uvicorn_options: dict[str, Any],
                  *, poll_seconds: float = 0.5) -> int:
    """Run ``workers`` uvicorn workers on (host, port) until SIGINT/SIGTERM; the exit code."""
    holder = reuse_port_socket(host, port)  # OSError (port taken) before any worker starts
    context = multiprocessing.get_context("spawn")
    stop = threading.Event()
    previous: dict[int, Callable | int | None] = {}

    def request_stop(signum: int, _frame: Any) -> None:
        log.info("received %s: stopping the workers", signal.Signals(signum).name, extra={"event": "stopping"})
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, request_stop)

    def start() -> multiprocessing.process.BaseProcess:
        process = context.Process(target=_run_worker, args=(host, port, uvicorn_options), daemon=False)
        process.start()
        return process

    exit_code = 0
    processes = [start() for _ in range(workers)]
    log.info("serving on %s:%d with %d worker processes (one SO_REUSEPORT socket each): %s", host, port, workers,
             ", ".join(str(p.pid) for p in processes), extra={"event": "workers_started", "workers": workers})
    try:
        while not stop.wait(poll_seconds):
            for index, process in enumerate(processes):
                if process.is_alive():
                    continue
                process.join()
                if process.exitcode == STARTUP_FAILURE:
                    log.error("worker %s failed to start: stopping", process.pid, extra={"event": "worker_failed"})
                    exit_code = STARTUP_FAILURE
                    stop.set()
                    break
                log.warning("worker %s exited with %s: starting another", process.pid, process.exitcode,
                            extra={"event": "worker_replaced"})
                processes[index] = start()
    finally:
        timeout = float(uvicorn_options.get("timeout_graceful_shutdown") or 5) + 10
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout)
            if process.is_alive():
                process.kill()
                process.join()
        holder.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return exit_code
