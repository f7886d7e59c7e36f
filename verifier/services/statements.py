"""Statements: public inputs built from our records, their digest, and proof verification.

The **statement digest** names what a proof proves: SHA-256 over a domain tag, the circuit id
(which fixes the statement kind, market count and curve) and the public-input vector. Accepted
statements are recorded by digest and a second acceptance is refused — whatever the proof bytes
(Groth16 proofs are malleable: anyone can re-randomize an accepted proof into new bytes).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool

from verifier.batching import Announcement, check_statement
from verifier.services.context import ServiceContext
from verifier.services.errors import ProofRejectedError
from zkmargin.errors import MalformedInputError
from zkmargin.formats.snarkjs import proof_from_json
from zkmargin.groth16 import Proof

STATEMENT_DOMAIN = "zkm/statement1"


def statement_digest(circuit_id: str, public_inputs: Sequence[int]) -> str:
    document = {"domain": STATEMENT_DOMAIN, "circuit": circuit_id, "inputs": [str(x) for x in public_inputs]}
    return hashlib.sha256(json.dumps(document, separators=(",", ":"), sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Statement:
    name: str  # margin, transfer, fill, settle
    public_inputs: list[int]
    digest: str
    circuit_id: str = ""  # the verifying key's circuit (recorded with a transition for the guardians)


def build_statement(ctx: ServiceContext, name: str, public_inputs: Sequence[int]) -> Statement:
    key = ctx.runtime.keys[name]
    inputs = list(public_inputs)
    return Statement(name, inputs, statement_digest(key.circuit_id, inputs), key.circuit_id)


def parse_proof(ctx: ServiceContext, name: str, proof_json: Any, public_inputs: Sequence[int]) -> Proof:
    """The proof, validated (curve, subgroup, infinity, coordinates < p) against its statement."""
    if not isinstance(proof_json, dict):
        raise MalformedInputError("proof: expected a snarkjs proof.json object")
    proof = proof_from_json(proof_json, curve=ctx.curve, source="proof")  # validates each point
    check_statement(ctx.runtime.keys[name].vk, public_inputs, proof, points_validated=True)
    return proof


async def verify_statement(ctx: ServiceContext, statement: Statement, proof_json: Any, *, count: bool = True,
                           parsed: Proof | MalformedInputError | None = None,
                           announcement: Announcement | None = None) -> None:
    """Parse and check the proof, then verify it (batched with concurrent requests).

    MalformedInputError (HTTP 400) for a malformed proof; ProofRejectedError (HTTP 422) for a
    well-formed proof of a different statement. ``parsed``: the proof already parsed (or the
    error parsing it raised), when the caller parsed it in a worker thread of its own.
    ``announcement``: the caller's ``BatchVerifier.announce()``, released as the proof is queued.
    """
    try:
        if isinstance(parsed, MalformedInputError):
            raise parsed
        proof = parsed or await run_in_threadpool(parse_proof, ctx, statement.name, proof_json, statement.public_inputs)
    except MalformedInputError:
        if count:
            ctx.metrics.proofs.labels(statement.name, "malformed").inc()
        raise
    valid = await ctx.batchers[statement.name].verify(statement.public_inputs, proof, announcement)
    if not valid:
        if count:
            ctx.metrics.proofs.labels(statement.name, "rejected").inc()
        raise ProofRejectedError(
            f"the {statement.name} proof does not verify against the statement built from the service's records "
            "(account, its current commitment, epoch prices, market rates and the referenced item)")
    if count:
        ctx.metrics.proofs.labels(statement.name, "verified").inc()
