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

One port, one deployment. Any process of the same user may join an ``SO_REUSEPORT`` group, so a
second ``zkmargin serve`` on a served port would silently take part of the first one's
connections. ``claim_port`` stops that before anything starts: it takes an exclusive ``flock`` on
a lock file named after host and port (held for the server's lifetime, released by the kernel
however the process ends, ``kill -9`` included), then binds the port once *without*
``SO_REUSEPORT`` (a plain bind fails while any socket listens on it, ours or another program's).
The lock closes the window in which two servers starting together could both pass the probe
before either listens; the probe catches whatever the lock cannot see (another program, another
host spelling of the same address, another user).

Workers die with their supervisor: each asks the kernel for SIGTERM when its parent dies
(``prctl(PR_SET_PDEATHSIG)``, Linux) and also watches its parent pid (every platform), so a
supervisor killed with SIGKILL leaves no worker serving behind it.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import multiprocessing
import os
import re
import signal
import socket
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zkmargin.errors import ZkMarginError

log = logging.getLogger("zkmargin.verifier")

STARTUP_FAILURE = 3  # uvicorn's exit code for a worker that could not start
WORKERS_ENV = "ZKMARGIN_WORKERS"  # read by every worker's Settings: how many processes share the machine
PR_SET_PDEATHSIG = 1  # linux/prctl.h
SUPERVISOR_POLL_SECONDS = 0.5  # how often a worker checks that its supervisor is still its parent


class PortInUseError(ZkMarginError, OSError):
    """Another server (or program) already serves the port: this one must not start."""


class PortClaim:
    """This process's exclusive claim on (host, port): an ``flock`` held until ``release``."""

    def __init__(self, host: str, port: int, lock_file: Path, fd: int):
        self.host, self.port, self.lock_file, self._fd = host, port, lock_file, fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor releases the lock; the file stays (harmless)
            self._fd = -1

    def __enter__(self) -> PortClaim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def port_lock_file(host: str, port: int) -> Path:
    """The lock file for (host, port), in ``$TMPDIR/zkmargin-<uid>/``: per user, as only the same
    user may join an SO_REUSEPORT group; in a folder of this user's alone, so that nobody else
    can plant a file or a symbolic link where the server will write its pid."""
    folder = Path(tempfile.gettempdir()) / f"zkmargin-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        status = folder.lstat()
    except OSError as exc:
        raise PortInUseError(exc.errno or errno.EACCES, f"cannot use the lock folder {folder}: {exc}") from None
    if not stat.S_ISDIR(status.st_mode) or status.st_uid != os.getuid() or status.st_mode & 0o077:
        raise PortInUseError(errno.EACCES, f"the lock folder {folder} is not a private folder of this user "
                             "(mode 0700): remove it and start again")
    safe_host = re.sub(r"[^0-9A-Za-z.-]", "_", host) or "_"
    return folder / f"serve-{safe_host}-{port}.lock"


def claim_port(host: str, port: int) -> PortClaim:
    """Claim (host, port) for this server, or ``PortInUseError`` naming who holds it.

    Call it before starting anything, and keep the claim for as long as the server runs. Port 0
    (a port the kernel chooses) needs no claim."""
    import fcntl

    lock_file = port_lock_file(host, port)
    if port == 0:
        return PortClaim(host, port, lock_file, -1)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            who = f"pid {holder}" if holder.isdigit() else "another process"
            raise PortInUseError(errno.EADDRINUSE, f"another zkmargin server ({who}) is serving this port; "
                                 "stop it or choose another --port") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        _probe_plain_bind(host, port)
    except BaseException:
        os.close(fd)
        raise
    return PortClaim(host, port, lock_file, fd)


def _probe_plain_bind(host: str, port: int) -> None:
    """Bind (host, port) without SO_REUSEPORT and let go: fails while any socket listens there."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # connections in TIME_WAIT do not count
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(errno.EADDRINUSE, "the port is already in use by another program; "
                                     "stop it or choose another --port") from None
            raise


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


def die_with_parent(parent_pid: int, grace_seconds: float) -> None:
    """End this process when ``parent_pid`` stops being its parent, however the parent ended.

    On Linux the kernel sends SIGTERM at the parent's death (``PR_SET_PDEATHSIG``; uvicorn shuts
    down gracefully on it). Everywhere a daemon thread also polls the parent pid, sends SIGTERM
    itself, and exits hard if the graceful shutdown has not finished after ``grace_seconds``."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
                log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
        except (OSError, AttributeError) as exc:  # no libc to load: the watchdog below still works
            log.warning("prctl(PR_SET_PDEATHSIG) unavailable: %s", exc)
    if os.getppid() != parent_pid:  # the parent died before the kernel was told to signal us
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(SUPERVISOR_POLL_SECONDS)
        log.warning("worker %d: supervisor %d is gone: stopping", os.getpid(), parent_pid,
                    extra={"event": "supervisor_gone"})
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace_seconds)
        os._exit(1)

    threading.Thread(target=watch, name="zkmargin-supervisor-watch", daemon=True).start()


def _run_worker(host: str, port: int, uvicorn_options: dict[str, Any], supervisor_pid: int) -> None:
    """One worker process: its own socket in the group, one uvicorn server on it; it stops when
    its supervisor is gone."""
    die_with_parent(supervisor_pid, float(uvicorn_options.get("timeout_graceful_shutdown") or 5) + 5)
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
    """Run ``workers`` uvicorn workers on (host, port) until SIGINT/SIGTERM; the exit code.

    The caller holds the port's ``claim_port`` claim for the whole call."""
    holder = reuse_port_socket(host, port)  # OSError (port taken) before any worker starts
    context = multiprocessing.get_context("spawn")
    stop = threading.Event()
    previous: dict[int, Callable | int | None] = {}

    def request_stop(signum: int, _frame: Any) -> None:
        log.info("received %s: stopping the workers", signal.Signals(signum).name, extra={"event": "stopping"})
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, request_stop)

    # called from this (the main) thread only: PR_SET_PDEATHSIG fires when the thread that started
    # a worker ends, so a worker started from a short-lived thread would be stopped with it
    def start() -> multiprocessing.process.BaseProcess:
        process = context.Process(target=_run_worker, args=(host, port, uvicorn_options, os.getpid()),
                                  daemon=False)
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
