"""The Groth16 prover: witness -> QAP evaluations -> h(X) -> five MSMs -> the proof."""

from __future__ import annotations

import secrets
from typing import Any

from zkmargin.backends import Backend, get_backend
from zkmargin.constraints import ConstraintSystem
from zkmargin.errors import KeyFileError, UnsatisfiedError
from zkmargin.groth16.keys import Proof, ProvingKey
from zkmargin.groth16.msm import MsmJob, MsmSchedule
from zkmargin.groth16.qap import QAPShape, qap_shape, witness_evaluations
from zkmargin.groth16.timing import PhaseTimer
from zkmargin.polynomials import EvaluationDomain, quotient_h

__all__ = ["PhaseTimer", "check_key_matches", "prove"]


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

    def quotient_job() -> MsmJob:
        with timer.phase("ntt"):
            # the witness was checked above, with constraint labels; skip the quotient's own check
            h = quotient_h(a_evals, b_evals, c_evals, EvaluationDomain(pk.domain_size, pk.curve), check=False)
        return MsmJob("msm H (G1)", "g1", pk.h_query_g1, h[: pk.domain_size - 1])

    schedule = MsmSchedule.plan(backend, 4 * len(w) + pk.domain_size)
    results = schedule.run(_witness_msms(pk, w, blind_r, blind_s), quotient_job, timer)
    return _assemble(pk, backend, results, blind_r, blind_s, timer)


def _witness_msms(pk: ProvingKey, w: list[int], blind_r: int, blind_s: int) -> list[MsmJob]:
    """A = alpha + sum w_i A_i + r delta; B = beta + sum w_i B_i + s delta (in G2, and in G1 for C);
    C's private part sum w_i L_i over the private variables."""
    vk = pk.vk
    return [
        MsmJob("msm B (G2)", "g2", [*pk.b_query_g2, vk.beta_g2, vk.delta_g2], [*w, 1, blind_s]),
        MsmJob("msm A (G1)", "g1", [*pk.a_query_g1, vk.alpha_g1, pk.delta_g1], [*w, 1, blind_r]),
        MsmJob("msm B (G1)", "g1", [*pk.b_query_g1, pk.beta_g1, pk.delta_g1], [*w, 1, blind_s]),
        MsmJob("msm C (G1)", "g1", pk.l_query_g1, w[pk.num_public + 1:]),
    ]


def _assemble(pk: ProvingKey, backend: Backend, results: dict[str, Any], blind_r: int, blind_s: int,
              timer: PhaseTimer) -> Proof:
    r = pk.curve.r
    a, b2, b1 = results["msm A (G1)"], results["msm B (G2)"], results["msm B (G1)"]
    with timer.phase("assemble"):
        # C = sum w_i L_i + h(tau)Z(tau)/delta + s*A + r*B1 - r*s*delta
        c = backend.g1_add(results["msm C (G1)"], results["msm H (G1)"])
        c = backend.g1_add(c, backend.g1_msm([a, b1, pk.delta_g1], [blind_s, blind_r, (-blind_r * blind_s) % r]))
    return Proof(pk.curve, a, b2, c)
