"""The Groth16 prover: witness -> QAP evaluations -> h(X) -> five MSMs."""

from __future__ import annotations

import secrets
import time
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
    """Collects wall-clock seconds per named phase and announces each phase as it starts."""

    def __init__(self, on_phase: PhaseCallback | None = None):
        self.seconds: dict[str, float] = {}
        self._on_phase = on_phase

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        if self._on_phase:
            self._on_phase(name)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


def _msm_skipping_zeros(msm: Callable[[Sequence[Any], Sequence[int]], Any], points: Sequence[Any], scalars: Sequence[int]) -> Any:
    # Range-check bits make most witness values 0 or 1; zero terms are free to drop.
    pairs = [(p, s) for p, s in zip(points, scalars) if s]
    return msm([p for p, _ in pairs], [s for _, s in pairs])


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
    with timer.phase("ntt"):
        h = quotient_h(a_evals, b_evals, c_evals, EvaluationDomain(pk.domain_size, pk.curve))
    blind_r = secrets.randbelow(r - 1) + 1
    blind_s = secrets.randbelow(r - 1) + 1
    public_count = pk.num_public + 1
    vk = pk.vk
    with timer.phase("msm A (G1)"):
        a = _msm_skipping_zeros(backend.g1_msm, [*pk.a_query_g1, vk.alpha_g1, pk.delta_g1], [*w, 1, blind_r])
    with timer.phase("msm B (G2)"):
        b2 = _msm_skipping_zeros(backend.g2_msm, [*pk.b_query_g2, vk.beta_g2, vk.delta_g2], [*w, 1, blind_s])
    with timer.phase("msm B (G1)"):
        b1 = _msm_skipping_zeros(backend.g1_msm, [*pk.b_query_g1, pk.beta_g1, pk.delta_g1], [*w, 1, blind_s])
    with timer.phase("msm C (G1)"):
        c_priv = _msm_skipping_zeros(backend.g1_msm, pk.l_query_g1, w[public_count:])
    with timer.phase("msm H (G1)"):
        c_h = _msm_skipping_zeros(backend.g1_msm, pk.h_query_g1, h[: pk.domain_size - 1])
    with timer.phase("assemble"):
        # C = sum w_i L_i + h(tau)Z(tau)/delta + s*A + r*B1 - r*s*delta
        c = backend.g1_add(c_priv, c_h)
        c = backend.g1_add(c, backend.g1_msm([a, b1, pk.delta_g1], [blind_s, blind_r, (-blind_r * blind_s) % r]))
    return Proof(pk.curve, a, b2, c)
