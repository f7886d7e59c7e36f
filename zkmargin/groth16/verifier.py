"""Groth16 verification, single and batched.

Everything is validated before any pairing: the number of public inputs, each input below r
(never reduced: ``x`` and ``x + r`` are different statements), and the proof points (not the
point at infinity, in the prime-order subgroup). A malformed input raises
:class:`MalformedInputError`; a well-formed proof that does not verify returns ``False``.

Points reach this module through the backends' validating constructors (the file formats
use them); the subgroup check is repeated here because a pairing on a point outside the
prime-order subgroup proves nothing.

A key prepared once (``prepare_verifying_key``: e(alpha, beta) computed, gamma and delta
negated) verifies with three Miller loops and one final exponentiation; a plain
``VerifyingKey`` puts alpha and beta into the same multi-pairing, four Miller loops. Whoever
verifies many proofs under one key (the service) prepares it once.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from zkmargin.backends import Backend, get_backend
from zkmargin.backends.base import G1, G2
from zkmargin.errors import MalformedInputError, ZkMarginError
from zkmargin.field import require_field_elements
from zkmargin.groth16.keys import PreparedVerifyingKey, Proof, VerifyingKey

Statement = tuple[Sequence[int], Proof]  # (public inputs, proof)
AnyVerifyingKey = VerifyingKey | PreparedVerifyingKey

_BATCH_CHALLENGE_BITS = 128


def prepare_verifying_key(vk: VerifyingKey, backend: Backend | None = None) -> PreparedVerifyingKey:
    """e(alpha, beta) once per key, in ``backend``'s G_T (one Miller loop, one final exponentiation)."""
    backend = backend or get_backend(vk.curve)
    return PreparedVerifyingKey(
        vk, backend, backend.pairing_product([vk.alpha_g1], [vk.beta_g2]),
        backend.g2_neg(vk.gamma_g2), backend.g2_neg(vk.delta_g2),
    )


def check_public_inputs(vk: AnyVerifyingKey, public_inputs: Sequence[int]) -> list[int]:
    if len(public_inputs) != vk.num_public:
        raise MalformedInputError(
            f"expected {vk.num_public} public inputs, got {len(public_inputs)}"
        )
    return require_field_elements(public_inputs, vk.curve.r, "public input ")


def check_proof_points(proof: Proof, vk: AnyVerifyingKey, backend: Backend, *, subgroups_checked: bool = False) -> None:
    """The proof is on the key's curve and no point is the point at infinity or outside the
    prime-order subgroup. ``subgroups_checked``: the points come from a validating parser, so the
    subgroup checks (most of the cost) are skipped; the curve and infinity are checked anyway."""
    if proof.curve.name != vk.curve.name:
        raise MalformedInputError(f"the proof is on {proof.curve.name}, the verification key on {vk.curve.name}")
    for name, point, is_g2 in (("A", proof.a_g1, False), ("B", proof.b_g2, True), ("C", proof.c_g1, False)):
        if (backend.g2_is_identity if is_g2 else backend.g1_is_identity)(point):
            raise MalformedInputError(f"proof point {name} is the point at infinity")
        if subgroups_checked:
            continue
        if not (backend.g2_in_subgroup if is_g2 else backend.g1_in_subgroup)(point):
            raise MalformedInputError(f"proof point {name} is not in the prime-order subgroup")


def public_input_point(vk: AnyVerifyingKey, public_inputs: Sequence[int], backend: Backend) -> G1:
    """IC_0 + sum x_i IC_i."""
    plain = _plain(vk)
    return backend.g1_msm(plain.gamma_abc_g1, [1, *public_inputs])


def verify(key: AnyVerifyingKey, public_inputs: Sequence[int], proof: Proof, backend: Backend | None = None) -> bool:
    """e(A, B) == e(alpha, beta) * e(IC(x), gamma) * e(C, delta), after every input check."""
    backend = _backend_for(key, backend)
    inputs = check_public_inputs(key, public_inputs)
    check_proof_points(proof, key, backend)
    return _equation_holds(key, inputs, proof, backend)


def _equation_holds(key: AnyVerifyingKey, inputs: list[int], proof: Proof, backend: Backend) -> bool:
    """The Groth16 equation as e(A, B) e(IC(x), -gamma) e(C, -delta) == e(alpha, beta), on checked input."""
    neg_gamma, neg_delta = _negated_gamma_delta(key, backend)
    g1s = [proof.a_g1, public_input_point(key, inputs, backend), proof.c_g1]
    g2s = [proof.b_g2, neg_gamma, neg_delta]
    if isinstance(key, PreparedVerifyingKey):
        return backend.gt_eq(backend.pairing_product(g1s, g2s), key.alpha_beta)
    return backend.pairing_check([*g1s, backend.g1_neg(key.alpha_g1)], [*g2s, key.beta_g2])


def batch_verify(
    key: AnyVerifyingKey, statements: Sequence[Statement], backend: Backend | None = None, *,
    workers: int | None = None,
) -> list[bool]:
    """Verdicts for many proofs under one key, with one final exponentiation per chunk when all hold.

    Each proof's equation is raised to a fresh random 128-bit power and the results multiplied:
    a batch with any invalid proof passes with probability below 2^-128. When a batch fails it
    is split in halves until the invalid proofs are found. A native backend releases the GIL in
    its pairings and subgroup checks, so the statements are cut into one chunk per core.
    """
    backend = _backend_for(key, backend)
    if workers is None:
        workers = min(2, os.cpu_count() or 1) if backend.releases_gil else 1
    bounds = _chunk_bounds(len(statements), max(1, workers))
    if len(bounds) <= 1:
        return _verify_chunk(key, statements, 0, backend)
    with ThreadPoolExecutor(max_workers=len(bounds)) as pool:
        futures = [pool.submit(_verify_chunk, key, statements[a:b], a, backend) for a, b in bounds]
        return [verdict for future in futures for verdict in future.result()]


def _chunk_bounds(count: int, chunks: int) -> list[tuple[int, int]]:
    size = -(-count // chunks) if count else 0
    return [(a, min(a + size, count)) for a in range(0, count, size)] if size else []


_Checked = tuple[list[int], Proof]


def _verify_chunk(key: AnyVerifyingKey, statements: Sequence[Statement], offset: int, backend: Backend) -> list[bool]:
    checked: list[_Checked] = []
    for index, (inputs, proof) in enumerate(statements, start=offset):
        try:
            checked.append((check_public_inputs(key, inputs), proof))
            check_proof_points(proof, key, backend)
        except MalformedInputError as err:
            raise MalformedInputError(f"statement {index}: {err}") from None
    verdicts = [False] * len(checked)
    _settle(key, checked, list(range(len(checked))), verdicts, backend)
    return verdicts


def _settle(key: AnyVerifyingKey, checked: list[_Checked], indices: list[int], verdicts: list[bool],
            backend: Backend) -> None:
    if not indices:
        return
    if len(indices) == 1:
        inputs, proof = checked[indices[0]]
        verdicts[indices[0]] = _equation_holds(key, inputs, proof, backend)
        return
    if _batch_holds(key, [checked[i] for i in indices], backend):
        for i in indices:
            verdicts[i] = True
        return
    middle = len(indices) // 2
    _settle(key, checked, indices[:middle], verdicts, backend)
    _settle(key, checked, indices[middle:], verdicts, backend)


def _batch_holds(key: AnyVerifyingKey, batch: list[_Checked], backend: Backend) -> bool:
    """prod_j e(rho_j A_j, B_j) * e(-(sum rho_j) alpha, beta) * e(sum rho_j IC(x_j), -gamma)
    * e(sum rho_j C_j, -delta) == 1. The alpha term stays a Miller loop even with a prepared key:
    e(alpha, beta)^(sum rho_j) would need an exponentiation in G_T, which the backends do not
    offer natively and which costs more than the Miller loop it would save."""
    vk = _plain(key)
    r = vk.curve.r
    challenges = [secrets.randbits(_BATCH_CHALLENGE_BITS) | 1 for _ in batch]
    # sum_j rho_j * (1, x_j): the combined public-input scalars, so IC is one MSM
    combined = [0] * (vk.num_public + 1)
    for rho, (inputs, _) in zip(challenges, batch, strict=True):
        combined[0] += rho
        for i, x in enumerate(inputs, start=1):
            combined[i] += rho * x
    combined = [v % r for v in combined]
    neg_gamma, neg_delta = _negated_gamma_delta(key, backend)
    g1s = [backend.g1_mul(proof.a_g1, rho) for rho, (_, proof) in zip(challenges, batch, strict=True)]
    g2s = [proof.b_g2 for _, proof in batch]
    g1s += [backend.g1_mul(vk.alpha_g1, (-combined[0]) % r), backend.g1_msm(vk.gamma_abc_g1, combined),
            backend.g1_msm([proof.c_g1 for _, proof in batch], challenges)]
    g2s += [vk.beta_g2, neg_gamma, neg_delta]
    return backend.pairing_check(g1s, g2s)


def _plain(key: AnyVerifyingKey) -> VerifyingKey:
    return key.vk if isinstance(key, PreparedVerifyingKey) else key


def _negated_gamma_delta(key: AnyVerifyingKey, backend: Backend) -> tuple[G2, G2]:
    if isinstance(key, PreparedVerifyingKey):
        return key.neg_gamma_g2, key.neg_delta_g2
    return backend.g2_neg(key.gamma_g2), backend.g2_neg(key.delta_g2)


def _backend_for(key: AnyVerifyingKey, backend: Backend | None) -> Backend:
    """A prepared key's G_T element belongs to the backend that computed it."""
    if isinstance(key, PreparedVerifyingKey):
        if backend is not None and backend is not key.backend:
            raise ZkMarginError(f"the key was prepared for {key.backend!r}, not {backend!r}")
        return key.backend
    return backend or get_backend(key.curve)
