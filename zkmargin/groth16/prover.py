"""The Groth16 prover: witness -> QAP evaluations -> h(X) -> five MSMs."""

from __future__ import annotations

import multiprocessing
import os
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from zkmargin.backends import Backend, get_backend
from zkmargin.constraints import ConstraintSystem
from zkmargin.errors import KeyFileError, UnsatisfiedError
from zkmargin.groth16.keys import Proof, ProvingKey
from zkmargin.groth16.qap import QAPShape, qap_shape, witness_evaluations
from zkmargin.polynomials import EvaluationDomain, quotient_h

PhaseCallback = Callable[[str], None]


class PhaseTimer:
    """Collects wall-clock seconds per named phase and announces each phase as it starts.

    Phases may run concurrently (the MSMs do), so their sum can exceed the wall time.
    """

    def __init__(self, on_phase: PhaseCallback | None = None):
        self.seconds: dict[str, float] = {}
        self._on_phase = on_phase

    def announce(self, name: str) -> None:
        if self._on_phase:
            self._on_phase(name)

    def record(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self.announce(name)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.record(name, time.perf_counter() - start)

    def timed(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        start = time.perf_counter()
        result = fn(*args)
        self.record(name, time.perf_counter() - start)
        return result


def _msm_skipping_zeros(msm: Callable[[Sequence[Any], Sequence[int]], Any], points: Sequence[Any], scalars: Sequence[int]) -> Any:
    # Range-check bits make most witness values 0 or 1; zero terms are free to drop.
    pairs = [(p, s) for p, s in zip(points, scalars) if s]
    return msm([p for p, _ in pairs], [s for _, s in pairs])


# Below this many MSM terms in all, a second process costs more (fork, result transfer) than
# it saves; above it, a backend that holds the GIL splits every MSM between two processes.
_FORK_MIN_TERMS = 2048
# "1": one process; "2": two processes whenever the circuit is large enough; unset: two
# processes when a second core is idle (the 1-minute load average leaves one free), since a
# second process that only competes for a busy core costs ~14% more CPU and gains nothing.
FORK_ENV = "ZKMARGIN_PROVER_PROCESSES"


def _fork_workers(backend: Backend, terms: int) -> int:
    """Processes for the MSMs of a backend whose arithmetic holds the GIL (threads would not help)."""
    if getattr(backend, "releases_gil", False) or terms < _FORK_MIN_TERMS:
        return 1
    if "fork" not in multiprocessing.get_all_start_methods():
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


def _msm_halves(backend: Backend, jobs: list[tuple[str, Sequence[Any], Sequence[int]]]) -> list[bytes]:
    """The MSMs of ``jobs`` as raw point encodings (what the child sends back)."""
    out = []
    for group, points, scalars in jobs:
        if group == "g2":
            out.append(backend.g2_to_bytes(_msm_skipping_zeros(backend.g2_msm, points, scalars)))
        else:
            out.append(backend.g1_to_bytes(_msm_skipping_zeros(backend.g1_msm, points, scalars)))
    return out


def _msm_halves_in_child(backend: Backend, jobs: list[tuple[str, Sequence[Any], Sequence[int]]], conn) -> None:
    """In a forked child: the second half of every MSM, sent back as raw point encodings."""
    try:
        conn.send(("ok", _msm_halves(backend, jobs)))
    except BaseException as err:  # noqa: BLE001 - reported to the parent, which recomputes
        conn.send(("error", repr(err)))
    finally:
        conn.close()


def _split_msms(
    backend: Backend, jobs: dict[str, tuple[str, Sequence[Any], Sequence[int]]], timer: "PhaseTimer"
) -> dict[str, Any]:
    """Every MSM cut in two by terms: a forked child computes the second halves while this
    process computes the first ones; the halves are added. The child inherits the key's points
    (copy-on-write) and sends back one encoded point per MSM. Should the child fail or die, this
    process computes the second halves itself: slower, never wrong."""
    firsts, seconds = {}, []
    for name, (group, points, scalars) in jobs.items():
        pairs = [(pt, k) for pt, k in zip(points, scalars) if k]  # zero terms cost nothing; balance the rest
        half = len(pairs) // 2
        firsts[name] = (group, [pt for pt, _ in pairs[:half]], [k for _, k in pairs[:half]])
        seconds.append((group, [pt for pt, _ in pairs[half:]], [k for _, k in pairs[half:]]))
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_msm_halves_in_child, args=(backend, seconds, sender), daemon=True)
    child.start()
    sender.close()
    try:
        results = {}
        for name, (group, points, scalars) in firsts.items():
            msm = backend.g2_msm if group == "g2" else backend.g1_msm
            results[name] = timer.timed(name, msm, points, scalars)
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
        payload = timer.timed("msm second halves (child failed)", _msm_halves, backend, seconds)
    for (name, (group, _, _)), encoded in zip(firsts.items(), payload):
        if group == "g2":
            results[name] = backend.g2_add(results[name], backend.g2_from_bytes_unchecked(encoded))
        else:
            results[name] = backend.g1_add(results[name], backend.g1_from_bytes_unchecked(encoded))
    return results


def check_key_matches(pk: ProvingKey, shape: QAPShape) -> None:
    if pk.curve.name != shape.curve_name:
        raise KeyFileError(f"the proving key is for {pk.curve.name}, the circuit is built on {shape.curve_name}")
    if pk.circuit_id != shape.digest():
        raise KeyFileError("the proving key was made for a different circuit (or different parameters)")


def prove(
    pk: ProvingKey,
    cs: ConstraintSystem,
    backend: Backend | None = None,
    *,
    timer: PhaseTimer | None = None,
    shape: QAPShape | None = None,
) -> Proof:
    """Prove that the witness held by ``cs`` satisfies the circuit ``pk`` was made for.

    Checks the witness first and names the first failing constraint, so no time is spent on a
    proof that cannot verify. Fresh r, s from the OS CSPRNG make every proof unlinkable.
    """
    backend = backend or get_backend(pk.curve)
    timer = timer or PhaseTimer()
    r = pk.curve.r
    with timer.phase("check witness"):
        failing = cs.first_unsatisfied()
        if failing is not None:
            raise UnsatisfiedError(failing[1], failing[0])
        shape = shape or qap_shape(cs)
        check_key_matches(pk, shape)
        w = cs.witness()
    with timer.phase("constraint evaluation"):
        a_evals, b_evals, c_evals = witness_evaluations(shape, w, r)
    blind_r = secrets.randbelow(r - 1) + 1
    blind_s = secrets.randbelow(r - 1) + 1
    public_count = pk.num_public + 1
    vk = pk.vk
    msms = {
        "msm B (G2)": (backend.g2_msm, [*pk.b_query_g2, vk.beta_g2, vk.delta_g2], [*w, 1, blind_s]),
        "msm A (G1)": (backend.g1_msm, [*pk.a_query_g1, vk.alpha_g1, pk.delta_g1], [*w, 1, blind_r]),
        "msm B (G1)": (backend.g1_msm, [*pk.b_query_g1, pk.beta_g1, pk.delta_g1], [*w, 1, blind_s]),
        "msm C (G1)": (backend.g1_msm, pk.l_query_g1, w[public_count:]),
    }
    processes = _fork_workers(backend, 4 * len(w) + pk.domain_size)
    if processes > 1:
        with timer.phase("ntt"):
            h = quotient_h(a_evals, b_evals, c_evals, EvaluationDomain(pk.domain_size, pk.curve), check=False)
        timer.announce("msm (A, B, C, H) on two processes")
        jobs = {name: ("g2" if fn == backend.g2_msm else "g1", points, scalars) for name, (fn, points, scalars) in msms.items()}
        jobs["msm H (G1)"] = ("g1", pk.h_query_g1, h[: pk.domain_size - 1])
        results = _split_msms(backend, jobs, timer)
        return _assemble(pk, backend, results, blind_r, blind_s, timer)
    # A native backend releases the GIL inside an MSM: run the MSMs on a second core while
    # this thread computes h(X). A pure-Python backend gains nothing from threads.
    workers = 2 if getattr(backend, "releases_gil", False) else 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        timer.announce("msm (A, B, C) and ntt")
        pending = {name: pool.submit(timer.timed, name, _msm_skipping_zeros, *job) for name, job in msms.items()} if workers > 1 else {}
        with timer.phase("ntt"):
            # the witness was checked above, with constraint labels; skip the quotient's own check
            h = quotient_h(a_evals, b_evals, c_evals, EvaluationDomain(pk.domain_size, pk.curve), check=False)
        h_job = (backend.g1_msm, pk.h_query_g1, h[: pk.domain_size - 1])
        if workers > 1:
            pending["msm H (G1)"] = pool.submit(timer.timed, "msm H (G1)", _msm_skipping_zeros, *h_job)
            results = {name: future.result() for name, future in pending.items()}
        else:
            results = {}
            for name, job in [*msms.items(), ("msm H (G1)", h_job)]:
                timer.announce(name)
                results[name] = timer.timed(name, _msm_skipping_zeros, *job)
    return _assemble(pk, backend, results, blind_r, blind_s, timer)


def _assemble(pk: ProvingKey, backend: Backend, results: dict[str, Any], blind_r: int, blind_s: int, timer: PhaseTimer) -> Proof:
    r = pk.curve.r
    a, b2, b1 = results["msm A (G1)"], results["msm B (G2)"], results["msm B (G1)"]
    with timer.phase("assemble"):
        # C = sum w_i L_i + h(tau)Z(tau)/delta + s*A + r*B1 - r*s*delta
        c = backend.g1_add(results["msm C (G1)"], results["msm H (G1)"])
        c = backend.g1_add(c, backend.g1_msm([a, b1, pk.delta_g1], [blind_s, blind_r, (-blind_r * blind_s) % r]))
    return Proof(pk.curve, a, b2, c)
