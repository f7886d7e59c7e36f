"""Groth16 verification, single and batched.

Everything is validated before any pairing: the number of public inputs, each input below r
(never reduced: ``x`` and ``x + r`` are different statements), and the proof points (not the
point at infinity, in the prime-order subgroup). A malformed input raises
:class:`MalformedInputError`; a well-formed proof that does not verify returns ``False``.

Points reach this module through the backends' validating constructors (the file formats
use them); the subgroup check is repeated here because a pairing on a point outside the
prime-order subgroup proves nothing.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from zkmargin.backends import Backend, get_backend
from zkmargin.errors import MalformedInputError
from zkmargin.groth16.keys import Proof, VerifyingKey

Statement = tuple[Sequence[int], Proof]  # (public inputs, proof)

_BATCH_CHALLENGE_BITS = 128


def check_public_inputs(vk: VerifyingKey, public_inputs: Sequence[int]) -> list[int]:
    if len(public_inputs) != vk.num_public:
        raise MalformedInputError(
            f"expected {vk.num_public} public inputs, got {len(public_inputs)}"
        )
    r = vk.curve.r
    for i, x in enumerate(public_inputs):
        if not isinstance(x, int) or isinstance(x, bool):
            raise MalformedInputError(f"public input {i} is not an integer")
        if not 0 <= x < r:
            raise MalformedInputError(f"public input {i} is not below the scalar field modulus r")
    return list(public_inputs)


def check_proof_points(proof: Proof, vk: VerifyingKey, backend: Backend) -> None:
    if proof.curve.name != vk.curve.name:
        raise MalformedInputError(f"the proof is on {proof.curve.name}, the verification key on {vk.curve.name}")
    for name, point, is_g2 in (("A", proof.a_g1, False), ("B", proof.b_g2, True), ("C", proof.c_g1, False)):
        if (backend.g2_is_identity if is_g2 else backend.g1_is_identity)(point):
            raise MalformedInputError(f"proof point {name} is the point at infinity")
        if not (backend.g2_in_subgroup if is_g2 else backend.g1_in_subgroup)(point):
            raise MalformedInputError(f"proof point {name} is not in the prime-order subgroup")


def public_input_point(vk: VerifyingKey, public_inputs: Sequence[int], backend: Backend):
    """IC_0 + sum x_i IC_i."""
    return backend.g1_msm(vk.gamma_abc_g1, [1, *public_inputs])


def verify(vk: VerifyingKey, public_inputs: Sequence[int], proof: Proof, backend: Backend | None = None) -> bool:
    """e(A, B) == e(alpha, beta) * e(IC(x), gamma) * e(C, delta), as one multi-pairing check."""
    backend = backend or get_backend(vk.curve)
    inputs = check_public_inputs(vk, public_inputs)
    check_proof_points(proof, vk, backend)
    vk_x = public_input_point(vk, inputs, backend)
    return backend.pairing_check(
        [backend.g1_neg(proof.a_g1), vk.alpha_g1, vk_x, proof.c_g1],
        [proof.b_g2, vk.beta_g2, vk.gamma_g2, vk.delta_g2],
    )


def batch_verify(
    vk: VerifyingKey, statements: Sequence[Statement], backend: Backend | None = None, *, workers: int | None = None
) -> list[bool]:
    """Verdicts for many proofs under one key, with one final exponentiation per chunk when all hold.

    Each proof's equation is raised to a fresh random 128-bit power and the results multiplied:
    a batch with any invalid proof passes with probability below 2^-128. When a batch fails it
    is split in halves until the invalid proofs are found. A native backend releases the GIL in
    its pairings and subgroup checks, so the statements are cut into one chunk per core.
    """
    backend = backend or get_backend(vk.curve)
    if workers is None:
        workers = min(2, os.cpu_count() or 1) if getattr(backend, "releases_gil", False) else 1
    bounds = _chunk_bounds(len(statements), max(1, workers))
    if len(bounds) <= 1:
        return _verify_chunk(vk, statements, 0, backend)
    with ThreadPoolExecutor(max_workers=len(bounds)) as pool:
        futures = [pool.submit(_verify_chunk, vk, statements[a:b], a, backend) for a, b in bounds]
        return [verdict for future in futures for verdict in future.result()]


def _chunk_bounds(count: int, chunks: int) -> list[tuple[int, int]]:
    size = -(-count // chunks) if count else 0
    return [(a, min(a + size, count)) for a in range(0, count, size)] if size else []


def _verify_chunk(vk: VerifyingKey, statements: Sequence[Statement], offset: int, backend: Backend) -> list[bool]:
    checked = []
    for index, (inputs, proof) in enumerate(statements, start=offset):
        try:
            checked.append((check_public_inputs(vk, inputs), proof))
            check_proof_points(proof, vk, backend)
        except MalformedInputError as err:
            raise MalformedInputError(f"statement {index}: {err}") from None
    verdicts = [False] * len(checked)
    _settle(vk, checked, list(range(len(checked))), verdicts, backend)
    return verdicts


def _settle(vk: VerifyingKey, checked: list, indices: list[int], verdicts: list[bool], backend: Backend) -> None:
    if not indices:
        return
    if len(indices) == 1:
        inputs, proof = checked[indices[0]]
        verdicts[indices[0]] = _verify_checked(vk, inputs, proof, backend)
        return
    if _batch_holds(vk, [checked[i] for i in indices], backend):
        for i in indices:
            verdicts[i] = True
        return
    middle = len(indices) // 2
    _settle(vk, checked, indices[:middle], verdicts, backend)
    _settle(vk, checked, indices[middle:], verdicts, backend)


def _verify_checked(vk: VerifyingKey, inputs: list[int], proof: Proof, backend: Backend) -> bool:
    vk_x = public_input_point(vk, inputs, backend)
    return backend.pairing_check(
        [backend.g1_neg(proof.a_g1), vk.alpha_g1, vk_x, proof.c_g1],
        [proof.b_g2, vk.beta_g2, vk.gamma_g2, vk.delta_g2],
    )


def _batch_holds(vk: VerifyingKey, batch: list[tuple[list[int], Proof]], backend: Backend) -> bool:
    r = vk.curve.r
    challenges = [secrets.randbits(_BATCH_CHALLENGE_BITS) | 1 for _ in batch]
    # sum_j r_j * (1, x_j): the combined public-input scalars, so IC is one MSM
    combined = [0] * (vk.num_public + 1)
    for rho, (inputs, _) in zip(challenges, batch):
        combined[0] += rho
        for i, x in enumerate(inputs, start=1):
            combined[i] += rho * x
    combined = [v % r for v in combined]
    vk_x = backend.g1_msm(vk.gamma_abc_g1, combined)
    c_sum = backend.g1_msm([proof.c_g1 for _, proof in batch], challenges)
    g1s = [backend.g1_mul(proof.a_g1, rho) for rho, (_, proof) in zip(challenges, batch)]
    g2s = [proof.b_g2 for _, proof in batch]
    g1s += [backend.g1_mul(vk.alpha_g1, (-combined[0]) % r), backend.g1_neg(vk_x), backend.g1_neg(c_sum)]
    g2s += [vk.beta_g2, vk.gamma_g2, vk.delta_g2]
    return backend.pairing_check(g1s, g2s)
