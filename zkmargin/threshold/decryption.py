"""Threshold decryption: each guardian's share ``D_j = s_j·R`` with its proof, and the combiner.

An ElGamal/ECIES-style ciphertext carries an ephemeral point ``R = r·B``; its shared point is
``S = r·Y = s·R`` for the group key ``Y = s·B``. Nobody holds s. Guardian j returns
``D_j = s_j·R`` and a Chaum–Pedersen proof that ``log_R(D_j) = log_B(VK_j)``; the combiner
checks every share against the published VK_j, refuses and names each guardian whose share
fails, and with t distinct valid shares interpolates in the exponent:
``S = Σ_j λ_j·D_j``, λ_j the Lagrange coefficients at 0 of the chosen indices.

Each proof binds the guardian set (its transcript digest), the guardian's index and the
caller's ``context`` — what the decryption is for (a liquidation request, a ciphertext) — so a
share made for one request does not verify for another.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from zkmargin.edwards import Point, mul, point_to_json
from zkmargin.errors import MalformedInputError
from zkmargin.threshold.dleq import (
    DleqProof,
    holds_for_checked_points,
    proof_from_json,
    proof_to_json,
    prove_dleq,
)
from zkmargin.threshold.encoding import (
    JsonDocument,
    as_object,
    check_format,
    check_keys,
    framed,
    read_count,
    read_curve,
    read_point,
    require_group_element,
)
from zkmargin.threshold.errors import NotEnoughSharesError
from zkmargin.threshold.guardians import GuardianSet, GuardianShare
from zkmargin.threshold.polynomials import interpolate_in_group

SHARE_FORMAT = "zkmargin-decryption-share"
VERSION = 1


@dataclass(frozen=True)
class DecryptionShare:
    guardian: int
    point: Point  # D_j = s_j·R
    proof: DleqProof


@dataclass(frozen=True)
class Combination:
    """The shared point, which guardians' shares made it, and which were refused and why."""

    shared_point: Point
    used: tuple[int, ...]
    refused: Mapping[int, str] = field(default_factory=dict)


def proof_context(guardian_set: GuardianSet, guardian: int, context: bytes) -> bytes:
    return framed(
        b"zkmargin/threshold/decryption/v1",
        guardian_set.transcript_digest.encode(),
        str(guardian).encode(),
        context,
    )


def decryption_share(
    share: GuardianShare, ephemeral: Point, *, context: bytes = b"", randomness: bytes | None = None
) -> DecryptionShare:
    """Guardian ``share.index``'s ``D_j = s_j·R`` with its DLEQ proof."""
    if not isinstance(share, GuardianShare):
        raise MalformedInputError("share: expected a GuardianShare")
    ec = share.guardian_set.curve
    ephemeral = require_group_element(ec, ephemeral, "ephemeral point R")
    proof = prove_dleq(
        ec,
        share.share,
        ephemeral,
        context=proof_context(share.guardian_set, share.index, context),
        randomness=randomness,
    )
    return DecryptionShare(share.index, mul(ec, share.share, ephemeral), proof)


def share_fault(guardian_set: GuardianSet, ephemeral: Point, share: DecryptionShare, context: bytes) -> str | None:
    """Why ``share`` is refused, or None when it is valid. ``ephemeral`` must be checked already."""
    if not isinstance(share, DecryptionShare):
        return "not a decryption share"
    ec = guardian_set.curve
    try:
        point = require_group_element(ec, share.point, "decryption share D")
        verification_key = guardian_set.verification_key(share.guardian)
        holds = holds_for_checked_points(
            ec,
            verification_key,
            ephemeral,
            point,
            share.proof,
            context=proof_context(guardian_set, share.guardian, context),
        )
    except MalformedInputError as exc:
        return str(exc)
    return None if holds else "its DLEQ proof does not verify against its verification key"


def verify_decryption_share(
    guardian_set: GuardianSet, ephemeral: Point, share: DecryptionShare, *, context: bytes = b""
) -> bool:
    """True when ``share`` is guardian ``share.guardian``'s correct ``s_j·R``.

    A malformed ephemeral point raises; anything wrong with the share itself is False.
    """
    ephemeral = require_group_element(guardian_set.curve, ephemeral, "ephemeral point R")
    return share_fault(guardian_set, ephemeral, share, context) is None


def combine_decryption_shares(
    guardian_set: GuardianSet,
    ephemeral: Point,
    shares: Sequence[DecryptionShare],
    *,
    context: bytes = b"",
) -> Combination:
    """``S = s·R`` from t distinct valid shares; every share is checked, the lowest t valid are used.

    Raises NotEnoughSharesError, naming every refused guardian, when fewer than t are valid.
    """
    ephemeral = require_group_element(guardian_set.curve, ephemeral, "ephemeral point R")
    valid: dict[int, Point] = {}
    refused: dict[int, str] = {}
    for share in shares:
        guardian = share.guardian if isinstance(share, DecryptionShare) else 0
        if guardian in valid:
            continue  # D_j is determined by s_j and R: a second valid share adds nothing
        fault = share_fault(guardian_set, ephemeral, share, context)
        if fault is None:
            valid[guardian] = share.point
            refused.pop(guardian, None)
        else:
            refused.setdefault(guardian, fault)
    if len(valid) < guardian_set.threshold:
        raise NotEnoughSharesError(len(valid), guardian_set.threshold, refused)
    used = tuple(sorted(valid)[: guardian_set.threshold])
    shared_point = interpolate_in_group(guardian_set.curve, {j: valid[j] for j in used}, 0)
    return Combination(shared_point, used, refused)


# --- JSON ------------------------------------------------------------------------------


def decryption_share_to_json(guardian_set: GuardianSet, share: DecryptionShare) -> dict[str, Any]:
    return {
        "format": SHARE_FORMAT,
        "version": VERSION,
        "curve": guardian_set.curve.name,
        "transcript_digest": guardian_set.transcript_digest,
        "guardian": share.guardian,
        "share": point_to_json(share.point),
        "proof": proof_to_json(share.proof),
    }


def decryption_share_from_json(
    guardian_set: GuardianSet, data: JsonDocument, source: str = "decryption share"
) -> DecryptionShare:
    """Parse a guardian's reply; it must be for ``guardian_set`` (curve and transcript digest)."""
    obj = as_object(data, source)
    check_format(obj, SHARE_FORMAT, VERSION, source)
    check_keys(obj, ("format", "version", "curve", "transcript_digest", "guardian", "share", "proof"), source)
    ec = read_curve(obj["curve"], source)
    if ec != guardian_set.curve:
        raise MalformedInputError(f"{source}: curve {ec.name} is not the guardians' {guardian_set.curve.name}")
    if obj["transcript_digest"] != guardian_set.transcript_digest:
        raise MalformedInputError(f"{source}: made for another guardian set (transcript digest differs)")
    return DecryptionShare(
        guardian=read_count(obj["guardian"], 1, guardian_set.guardians, source, "guardian"),
        point=read_point(ec, obj["share"], source, "share"),
        proof=proof_from_json(ec, obj["proof"], source),
    )
