"""Chaum–Pedersen proofs: ``log_B(VK) = log_R(D)``, and Schnorr's proof of knowledge of a log.

Both are the one sigma protocol "the same secret s links every (base, s·base) pair", made
non-interactive by Fiat–Shamir:

- statement: the curve, the pairs (B, VK) and (R, D) — or just (B, P) for knowledge — and a
  caller's ``context`` (what the proof is for: a DKG session, a decryption request);
- nonce k: SHA-512 over the secret, 32 fresh random bytes and the statement, reduced mod l
  (hedged: a broken random source alone does not repeat k across statements, and a fault in
  the hash alone does not make k predictable without the randomness);
- commitments ``k·B`` (and ``k·R``); challenge c: SHA-512 over a domain tag, the statement and
  the commitments, reduced mod l (512 bits: the reduction's bias is below 2^-250);
- response ``z = k + c·s mod l``. The proof is (c, z).

Verification recomputes the commitments as ``z·base − c·public`` and the challenge from them.
A malformed input — a point off the curve, outside the prime-order subgroup or the identity, a
c or z not below l — raises MalformedInputError; a well-formed proof that does not hold is False.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from zkmargin.edwards import EdwardsCurve, Point, base_mul, double_mul, mul
from zkmargin.errors import MalformedInputError
from zkmargin.threshold.encoding import (
    check_keys,
    framed,
    hash_to_scalar,
    point_bytes,
    read_scalar,
    require_group_element,
    require_scalar,
    scalar_bytes,
)

DLEQ_DOMAIN = b"zkmargin/threshold/dleq/v1"
KNOWLEDGE_DOMAIN = b"zkmargin/threshold/knowledge/v1"
_NONCE_SUFFIX = b"/nonce"
_CHALLENGE_SUFFIX = b"/challenge"
RANDOMNESS_BYTES = 32


@dataclass(frozen=True)
class DleqProof:
    """A Fiat–Shamir proof (challenge c, response z), both in [0, l)."""

    challenge: int
    response: int


# --- the two statements ----------------------------------------------------------------


def prove_dleq(
    ec: EdwardsCurve, secret: int, ephemeral: Point, *, context: bytes = b"", randomness: bytes | None = None
) -> DleqProof:
    """Prove ``log_B(secret·B) = log_R(secret·R)`` where R is ``ephemeral``."""
    secret = require_scalar(ec, secret, "secret", nonzero=True)
    ephemeral = require_group_element(ec, ephemeral, "ephemeral point R")
    bases = (ec.base, ephemeral)
    publics = (base_mul(ec, secret), mul(ec, secret, ephemeral))
    return _prove(ec, DLEQ_DOMAIN, secret, bases, publics, context, randomness)


def verify_dleq(
    ec: EdwardsCurve,
    verification_key: Point,
    ephemeral: Point,
    share_point: Point,
    proof: DleqProof,
    *,
    context: bytes = b"",
) -> bool:
    """Does ``proof`` show ``log_B(verification_key) = log_R(share_point)`` for R = ``ephemeral``?"""
    bases = (ec.base, require_group_element(ec, ephemeral, "ephemeral point R"))
    publics = (
        require_group_element(ec, verification_key, "verification key"),
        require_group_element(ec, share_point, "decryption share D"),
    )
    return _holds(ec, DLEQ_DOMAIN, bases, publics, _require_proof(ec, proof), context)


def prove_knowledge(
    ec: EdwardsCurve, secret: int, *, context: bytes = b"", randomness: bytes | None = None
) -> DleqProof:
    """Schnorr: prove knowledge of ``secret`` = ``log_B(secret·B)``."""
    secret = require_scalar(ec, secret, "secret", nonzero=True)
    return _prove(ec, KNOWLEDGE_DOMAIN, secret, (ec.base,), (base_mul(ec, secret),), context, randomness)


def verify_knowledge(ec: EdwardsCurve, public: Point, proof: DleqProof, *, context: bytes = b"") -> bool:
    publics = (require_group_element(ec, public, "public point"),)
    return _holds(ec, KNOWLEDGE_DOMAIN, (ec.base,), publics, _require_proof(ec, proof), context)


def holds_for_checked_points(
    ec: EdwardsCurve,
    verification_key: Point,
    ephemeral: Point,
    share_point: Point,
    proof: DleqProof,
    *,
    context: bytes = b"",
) -> bool:
    """:func:`verify_dleq` for points the caller has already put through the subgroup checks."""
    bases, publics = (ec.base, ephemeral), (verification_key, share_point)
    return _holds(ec, DLEQ_DOMAIN, bases, publics, _require_proof(ec, proof), context)


# --- the sigma protocol ----------------------------------------------------------------


def _prove(
    ec: EdwardsCurve,
    domain: bytes,
    secret: int,
    bases: Sequence[Point],
    publics: Sequence[Point],
    context: bytes,
    randomness: bytes | None,
) -> DleqProof:
    statement = _statement(bases, publics, context)
    nonce = _hedged_nonce(ec, domain, secret, statement, randomness)
    commitments = [mul(ec, nonce, base) for base in bases]
    challenge = _challenge(ec, domain, statement, commitments)
    return DleqProof(challenge, (nonce + challenge * secret) % ec.order)


def _holds(
    ec: EdwardsCurve,
    domain: bytes,
    bases: Sequence[Point],
    publics: Sequence[Point],
    proof: DleqProof,
    context: bytes,
) -> bool:
    commitments = [
        double_mul(ec, proof.response, base, -proof.challenge, public) for base, public in zip(bases, publics)
    ]
    return _challenge(ec, domain, _statement(bases, publics, context), commitments) == proof.challenge


def _statement(bases: Sequence[Point], publics: Sequence[Point], context: bytes) -> bytes:
    if not isinstance(context, bytes):
        raise MalformedInputError("context: expected bytes")
    return framed(*(point_bytes(b) for b in bases), *(point_bytes(p) for p in publics), context)


def _hedged_nonce(ec: EdwardsCurve, domain: bytes, secret: int, statement: bytes, randomness: bytes | None) -> int:
    if randomness is None:
        randomness = os.urandom(RANDOMNESS_BYTES)
    elif not isinstance(randomness, bytes) or len(randomness) != RANDOMNESS_BYTES:
        raise MalformedInputError(f"randomness: expected {RANDOMNESS_BYTES} bytes")
    nonce = hash_to_scalar(ec, domain + _NONCE_SUFFIX, (scalar_bytes(secret), randomness, statement))
    if nonce == 0:  # probability 1/l; a zero nonce would reveal the secret through z = c·s
        raise MalformedInputError("randomness gives a zero nonce; draw new randomness")
    return nonce


def _challenge(ec: EdwardsCurve, domain: bytes, statement: bytes, commitments: Sequence[Point]) -> int:
    return hash_to_scalar(ec, domain + _CHALLENGE_SUFFIX, (statement, *(point_bytes(c) for c in commitments)))


def _require_proof(ec: EdwardsCurve, proof: object) -> DleqProof:
    if not isinstance(proof, DleqProof):
        raise MalformedInputError("proof: expected a DleqProof")
    require_scalar(ec, proof.challenge, "proof challenge")
    require_scalar(ec, proof.response, "proof response")
    return proof


# --- JSON ------------------------------------------------------------------------------


def proof_to_json(proof: DleqProof) -> dict[str, str]:
    return {"challenge": str(proof.challenge), "response": str(proof.response)}


def proof_from_json(ec: EdwardsCurve, value: object, source: str, field: str = "proof") -> DleqProof:
    if not isinstance(value, dict):
        raise MalformedInputError(f"{source}: {field}: expected an object")
    check_keys(value, ("challenge", "response"), f"{source}: {field}")
    return DleqProof(
        read_scalar(ec, value["challenge"], source, f"{field}.challenge"),
        read_scalar(ec, value["response"], source, f"{field}.response"),
    )
