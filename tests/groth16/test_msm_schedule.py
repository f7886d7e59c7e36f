"""The prover's MSM schedule: which strategy a backend and a machine get, and that every
strategy computes the same points as plain MSMs."""

from __future__ import annotations

import os
import random

import pytest

from zkmargin.backends import get_backend
from zkmargin.groth16 import PhaseTimer
from zkmargin.groth16.msm import FORK_ENV, MsmJob, MsmSchedule


def _jobs(backend, rng: random.Random, terms: int = 40):
    r = backend.curve.r
    g1 = backend.g1_batch_mul(backend.g1_generator(), [rng.randrange(1, r) for _ in range(terms)])
    g2 = backend.g2_batch_mul(backend.g2_generator(), [rng.randrange(1, r) for _ in range(terms)])
    # zeros and ones, as witnesses have, and full-size scalars
    scalars = [rng.choice([0, 1, rng.randrange(r)]) for _ in range(terms)]
    early = [MsmJob("msm B (G2)", "g2", g2, scalars), MsmJob("msm A (G1)", "g1", g1, scalars[::-1])]
    late = MsmJob("msm H (G1)", "g1", g1[:7], scalars[:7])
    return early, late


def _expected(backend, jobs):
    return {job.name: (backend.g2_msm if job.group == "g2" else backend.g1_msm)(job.points, job.scalars)
            for job in jobs}


@pytest.mark.parametrize("curve, backend_name, strategy", [
    ("bls12381", "arkworks", "threads"),
    ("bn128", "garaga", "serial"),
    ("bn128", "garaga", "two processes"),
])
def test_every_strategy_computes_the_plain_msms(curve, backend_name, strategy):
    if strategy == "two processes" and len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core: the prover never forks")
    backend = get_backend(curve, backend_name)
    early, late = _jobs(backend, random.Random(5))
    timer = PhaseTimer()
    results = MsmSchedule(backend, strategy).run(early, lambda: late, timer)
    expected = _expected(backend, [*early, late])
    assert set(results) == set(expected)
    for job in [*early, late]:
        eq = backend.g2_eq if job.group == "g2" else backend.g1_eq
        assert eq(results[job.name], expected[job.name]), job.name
    assert ("msm wait for second process" in timer.seconds) is (strategy == "two processes")


def test_the_late_job_is_computed_once_and_after_the_early_ones_started():
    backend = get_backend("bls12381")
    early, late = _jobs(backend, random.Random(6))
    announced: list[str] = []
    timer = PhaseTimer(announced.append)
    calls = []

    def compute_late():
        calls.append(list(announced))
        return late

    MsmSchedule.plan(backend, 10).run(early, compute_late, timer)
    assert calls == [["msm (A, B, C) and ntt"]]


def test_the_plan_follows_backend_size_and_setting(monkeypatch):
    assert MsmSchedule.plan(get_backend("bls12381"), 10**6).strategy == "threads"  # releases the GIL
    garaga = get_backend("bn128")
    monkeypatch.setenv(FORK_ENV, "2")
    assert MsmSchedule.plan(garaga, 100).strategy == "serial"  # too small to fork
    if len(os.sched_getaffinity(0)) >= 2:
        assert MsmSchedule.plan(garaga, 10**6).strategy == "two processes"
    monkeypatch.setenv(FORK_ENV, "1")
    assert MsmSchedule.plan(garaga, 10**6).strategy == "serial"


def test_halves_add_up_to_the_whole():
    backend = get_backend("bn128")
    early, _ = _jobs(backend, random.Random(7))
    job = early[1]
    first, second = job.halves()
    assert len(first.points) + len(second.points) == sum(1 for k in job.scalars if k)
    assert backend.g1_eq(backend.g1_add(first.run(backend), second.run(backend)), job.run(backend))
