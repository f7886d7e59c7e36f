"""How the prover runs its five multi-scalar multiplications (MSMs).

Four MSMs (A and B in G1, B in G2, C) need only the witness; the fifth, H, needs h(X), which
the NTTs compute. Which way is fastest depends on the backend and the machine:

- a native backend releases the GIL inside an MSM: the four run on a second thread while this
  one computes h(X) (``threads``);
- a backend that holds the GIL gains nothing from threads; on a circuit large enough, with a
  core idle, every MSM is cut in two halves and a forked process computes the second ones
  (``two processes``);
- otherwise they run one after the other (``serial``).

``MsmSchedule.plan`` chooses; ``MsmSchedule.run`` runs the four, then ``compute_late`` (the NTT
and the job it yields), and returns every MSM's point by job name.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Literal

from zkmargin.backends import Backend
from zkmargin.groth16.timing import PhaseTimer

# Below this many MSM terms in all, a second process costs more (fork, result transfer) than
# it saves; above it, a backend that holds the GIL splits every MSM between two processes.
_FORK_MIN_TERMS = 2048
# "1": one process; "2": two processes whenever the circuit is large enough; unset: two
# processes when a second core is idle (the 1-minute load average leaves one free), since a
# second process that only competes for a busy core costs ~14% more CPU and gains nothing.
FORK_ENV = "ZKMARGIN_PROVER_PROCESSES"

Group = Literal["g1", "g2"]
Strategy = Literal["serial", "threads", "two processes"]


@dataclass(frozen=True)
class MsmJob:
    """sum scalars[i] * points[i] in one group, named as the prover's phases are."""

    name: str
    group: Group
    points: Sequence[Any]
    scalars: Sequence[int]

    def nonzero_terms(self) -> tuple[list[Any], list[int]]:
        # Range-check bits make most witness values 0 or 1; zero terms are free to drop.
        pairs = [(p, k) for p, k in zip(self.points, self.scalars, strict=False) if k]
        return [p for p, _ in pairs], [k for _, k in pairs]

    def run(self, backend: Backend) -> Any:
        points, scalars = self.nonzero_terms()
        return (backend.g2_msm if self.group == "g2" else backend.g1_msm)(points, scalars)

    def halves(self) -> tuple[MsmJob, MsmJob]:
        """The nonzero terms cut in two (balanced by count): their MSMs add up to this one's."""
        points, scalars = self.nonzero_terms()
        half = len(points) // 2
        return (MsmJob(self.name, self.group, points[:half], scalars[:half]),
                MsmJob(self.name, self.group, points[half:], scalars[half:]))


@dataclass(frozen=True)
class MsmSchedule:
    backend: Backend
    strategy: Strategy

    @classmethod
    def plan(cls, backend: Backend, terms: int) -> MsmSchedule:
        """The strategy for ``terms`` MSM terms in all on this backend and machine."""
        if backend.releases_gil:
            return cls(backend, "threads")
        return cls(backend, "two processes" if _fork_workers(terms) > 1 else "serial")

    def run(self, early: list[MsmJob], compute_late: Callable[[], MsmJob], timer: PhaseTimer) -> dict[str, Any]:
        if self.strategy == "threads":
            return self._run_beside_the_late_job(early, compute_late, timer)
        late = compute_late()
        if self.strategy == "two processes":
            timer.announce("msm (A, B, C, H) on two processes")
            return _split_msms(self.backend, [*early, late], timer)
        results = {}
        for job in [*early, late]:
            timer.announce(job.name)
            results[job.name] = timer.timed(job.name, job.run, self.backend)
        return results

    def _run_beside_the_late_job(self, early: list[MsmJob], compute_late: Callable[[], MsmJob],
                                 timer: PhaseTimer) -> dict[str, Any]:
        with ThreadPoolExecutor(max_workers=2) as pool:
            timer.announce("msm (A, B, C) and ntt")
            pending: dict[str, Future[Any]] = {
                job.name: pool.submit(timer.timed, job.name, job.run, self.backend) for job in early
            }
            late = compute_late()
            pending[late.name] = pool.submit(timer.timed, late.name, late.run, self.backend)
            return {name: future.result() for name, future in pending.items()}


def _fork_workers(terms: int) -> int:
    """Processes for the MSMs of a backend whose arithmetic holds the GIL (threads would not help)."""
    if terms < _FORK_MIN_TERMS or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    wanted = os.environ.get(FORK_ENV, "").strip()
    if wanted == "1":
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if cores < 2:
        return 1
    if wanted == "2":
        return 2
    try:
        busy = os.getloadavg()[0]
    except OSError:  # no load average on this platform: assume the cores are free
        busy = 0.0
    return 2 if busy < cores - 0.5 else 1


def _encoded_results(backend: Backend, jobs: list[MsmJob]) -> list[bytes]:
    """The MSMs of ``jobs`` as raw point encodings (what the child sends back)."""
    return [(backend.g2_to_bytes if job.group == "g2" else backend.g1_to_bytes)(job.run(backend)) for job in jobs]


def _msm_halves_in_child(backend: Backend, jobs: list[MsmJob], conn: Connection) -> None:
    """In a forked child: the second half of every MSM, sent back as raw point encodings."""
    try:
        conn.send(("ok", _encoded_results(backend, jobs)))
    except BaseException as err:  # noqa: BLE001 - reported to the parent, which recomputes
        conn.send(("error", repr(err)))
    finally:
        conn.close()


def _split_msms(backend: Backend, jobs: list[MsmJob], timer: PhaseTimer) -> dict[str, Any]:
    """Every MSM cut in two by terms: a forked child computes the second halves while this
    process computes the first ones; the halves are added. The child inherits the key's points
    (copy-on-write) and sends back one encoded point per MSM. Should the child fail or die, this
    process computes the second halves itself: slower, never wrong."""
    firsts, seconds = zip(*(job.halves() for job in jobs), strict=True)
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_msm_halves_in_child, args=(backend, list(seconds), sender), daemon=True)
    child.start()
    sender.close()
    try:
        results = {job.name: timer.timed(job.name, job.run, backend) for job in firsts}
        start = time.perf_counter()
        try:
            status, payload = receiver.recv()
        except EOFError:  # the child died without an answer
            status, payload = "error", None
        timer.record("msm wait for second process", time.perf_counter() - start)
    except BaseException:
        child.terminate()
        raise
    finally:
        receiver.close()
        child.join()
    if status != "ok":
        payload = timer.timed("msm second halves (child failed)", _encoded_results, backend, list(seconds))
    for job, encoded in zip(firsts, payload, strict=True):
        if job.group == "g2":
            results[job.name] = backend.g2_add(results[job.name], backend.g2_from_bytes_unchecked(encoded))
        else:
            results[job.name] = backend.g1_add(results[job.name], backend.g1_from_bytes_unchecked(encoded))
    return results
