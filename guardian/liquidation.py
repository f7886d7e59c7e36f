"""What a guardian checks before it returns a decryption share for a liquidation request.

The service asks the guardians to open one account's pinned state. Each guardian decides on its
own, from what it holds itself (the operator key it pinned, its share and so its guardian set,
its key directory, its clock) and refuses, naming the check, unless ALL hold:

1. the service's published operator key is the pinned one, and the operator's Ed25519
   signature over the request verifies with it;
2. the time and evidence rule (``circuits.protocol.liquidation.check_rules``) allows the
   request at the guardian's own clock, under the guardian's own grace period, and the deadline
   it rests on is the one the epoch's public view shows (the attestation deadline for a margin
   call, the settlement deadline for a missed settlement; a fill's deadline is on the account's
   view, which needs the account's or the operator's token, so it is taken from the signed
   request);
3. the request's ``circuit`` is the circuit id of the escrow variant of a transition
   (``transfer``, ``fill``, ``settle``), as the guardian's own code builds it, and its public
   inputs carry, at the positions that statement's ``public_layout`` names, the account, the
   pinned commitment as the new commitment, this guardian set's group key as the escrow key and
   the request's escrow digest;
4. the escrow served is the one that digest names;
5. the stored proof verifies against that statement's verifying key from the guardian's own key
   directory: so the escrow provably seals the opening of the pinned commitment to this group key.

Only then does the guardian compute ``s_j·R`` for the escrow's ephemeral point with a DLEQ proof
bound to the request (``share_context``): a share made for one request opens nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from circuits.base import Circuit
from circuits.protocol.api import Epoch, LiquidationJson
from circuits.protocol.errors import LiquidationError, LiquidationRefused
from circuits.protocol.keystore import VERIFICATION_KEY_FILE, circuit_id, key_dir, statement_circuit
from circuits.protocol.liquidation import (
    LiquidationRequest,
    check_rules,
    format_timestamp,
    opens_known_state,
    operator_public_key,
    share_context,
    signature_valid,
)
from circuits.state import MAX_MARKETS
from zkmargin.curves import Curve, get_curve
from zkmargin.edwards import embedded_curve, point_to_json
from zkmargin.errors import MalformedInputError, ZkMarginError
from zkmargin.escrow import Escrow
from zkmargin.formats.snarkjs import load_json, proof_from_json, vk_from_json
from zkmargin.groth16 import verify
from zkmargin.threshold.decryption import DecryptionShare, decryption_share
from zkmargin.threshold.guardians import GuardianSet, GuardianShare

# the statements whose escrow variants produce states (portfolio mode: its transfer and fill)
TRANSITIONS = ("transfer", "fill", "settle", "portfolio-transfer", "portfolio-fill")
PROOF_CURVES = ("bn128", "bls12381")
EpochViews = Callable[[int], Epoch]  # an epoch's public view, by id (GET /epochs/{id})


class LiquidationRefusal(ZkMarginError):
    """The guardian will not return a share: one line naming the check that failed."""


class MissingVerifyingKeyError(ZkMarginError):
    """The guardian's key directory lacks the statement's verifying key (a local problem)."""


@dataclass(frozen=True)
class ApprovedRequest:
    """A request every check passed: what the share is computed for, and what was checked."""

    request: LiquidationRequest
    escrow: Escrow
    statement: str  # the statement's key name, e.g. transfer-markets2-escrow
    checks: tuple[str, ...]


def proof_curve_of(guardian_set: GuardianSet) -> Curve:
    """The proof system's curve whose scalar field embeds the guardians' curve."""
    for name in PROOF_CURVES:
        if embedded_curve(get_curve(name)) == guardian_set.curve:
            return get_curve(name)
    raise MalformedInputError(f"no proof system embeds the guardians' curve {guardian_set.curve.name}")


def check_operator_key(pinned: str, served: str) -> str:
    """The pinned key, refused if the service now signs with another."""
    operator_public_key(pinned)  # a malformed pinned key is the caller's mistake: LiquidationFormatError
    if served != pinned:
        raise LiquidationRefusal(f"the service's operator key {served} is not the pinned {pinned}")
    return pinned


def approve(record: LiquidationJson, *, operator_key: str, served_operator_key: str, epochs: EpochViews,
            guardian_set: GuardianSet, keys_dir: Path, now: datetime, grace_seconds: int) -> ApprovedRequest:
    """Every check of the module docstring, in order; LiquidationRefusal names the first that fails."""
    check_operator_key(operator_key, served_operator_key)
    checks = [f"the service publishes the pinned operator key {operator_key}"]
    request = _signed_request(record, operator_key)
    checks.append(f"liquidation {record.id} of account {record.account_id} is signed with it")
    if record.status != "requested":
        raise LiquidationRefusal(f"liquidation {record.id} is {record.status}: shares are taken only while requested")
    if opens_known_state(request):
        raise LiquidationRefusal(f"liquidation {record.id} pins a state the service wrote ({request.circuit}): it has "
                                 "no escrow, and no share opens it")
    try:
        check_rules(request, now, grace_seconds)
    except LiquidationRefused as exc:
        raise LiquidationRefusal(f"the liquidation rule is not met: {exc}") from None
    checks.append(f"rule {request.reason} of epoch {request.epoch_id} holds at our clock (grace {grace_seconds} s)")
    checks.append(_check_public_deadline(request, epochs))
    curve = proof_curve_of(guardian_set)
    circuit = escrow_statement(request, curve)
    checks.append(f"circuit {request.circuit} is our {circuit.key_name()} on {curve.name}")
    _check_public_inputs(circuit, request, guardian_set)
    checks.append("its public inputs pin the account, the commitment, our group key and the escrow digest")
    escrow = _served_escrow(record, request, curve)
    checks.append(f"the escrow served has the request's digest {request.escrow_digest}")
    _check_proof(record, request, circuit, curve, keys_dir)
    checks.append(f"the proof verifies against our {circuit.key_name()} verifying key")
    return ApprovedRequest(request, escrow, circuit.key_name(), tuple(checks))


def _check_public_deadline(request: LiquidationRequest, epochs: EpochViews) -> str:
    if request.reason == "fill_deadline":
        return f"overdue fills {', '.join(map(str, request.overdue_fills))}: deadlines as signed (not public)"
    epoch = epochs(request.epoch_id)
    name, public = (("attestation", epoch.attestation_deadline) if request.reason == "margin_call"
                    else ("settlement", epoch.settlement_deadline))
    if public is None or _utc(public) != request.deadline:
        raise LiquidationRefusal(f"the request's deadline {format_timestamp(request.deadline)} is not epoch "
                                 f"{request.epoch_id}'s public {name} deadline "
                                 f"{'(none)' if public is None else format_timestamp(_utc(public))}")
    return f"the deadline is epoch {request.epoch_id}'s public {name} deadline"


def _utc(moment: datetime) -> datetime:
    """A time from a public view; one without a zone is UTC (the service's clock)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def share_for(approved: ApprovedRequest, share: GuardianShare) -> DecryptionShare:
    """``s_j·R`` for the approved escrow, its DLEQ proof bound to the request."""
    return decryption_share(share, approved.escrow.ephemeral_key, context=share_context(approved.request))


def _signed_request(record: LiquidationJson, operator_key: str) -> LiquidationRequest:
    try:
        request = LiquidationRequest.from_dict(record.request)
        signed = signature_valid(operator_key, request, record.signature)
    except LiquidationError as exc:
        raise LiquidationRefusal(f"liquidation {record.id}: {exc}") from None
    if not signed:
        raise LiquidationRefusal(f"liquidation {record.id}: the operator's signature does not verify with "
                                 f"the pinned key {operator_key}")
    if (request.liquidation_id, request.account_id) != (record.id, record.account_id):
        raise LiquidationRefusal(f"liquidation {record.id} of account {record.account_id} carries the request of "
                                 f"liquidation {request.liquidation_id} of account {request.account_id}")
    return request


def escrow_statement(request: LiquidationRequest, curve: Curve) -> Circuit:
    """The escrowed transition whose circuit id (as our code builds it) is the request's."""
    for circuit in _candidates(len(request.public_inputs)):
        markets = circuit.parameters()["markets"]
        if circuit_id(circuit.name, markets, curve.name, escrow=True) == request.circuit:
            return circuit
    raise LiquidationRefusal(f"circuit {request.circuit} is not the escrow variant of a transition "
                             f"({', '.join(TRANSITIONS)}) with {len(request.public_inputs)} public inputs on "
                             f"{curve.name}")


def _candidates(public_count: int) -> list[Circuit]:
    """Escrowed transitions with that many public inputs (building a circuit object is cheap)."""
    return [circuit for name in TRANSITIONS for markets in range(1, MAX_MARKETS + 1)
            if (circuit := statement_circuit(name, markets, escrow=True)).public_count() == public_count]


def _check_public_inputs(circuit: Circuit, request: LiquidationRequest, guardian_set: GuardianSet) -> None:
    named = circuit.name_public(request.public_inputs)
    expected = (
        ("account", named["account"], request.account_id),
        ("new commitment", named["new_commitment"], request.commitment),
        ("escrow digest", named["escrow_digest"], request.escrow_digest),
    )
    for what, found, wanted in expected:
        if found != wanted:
            raise LiquidationRefusal(f"the statement's {what} is {found}, not the request's {wanted}")
    escrow_key = (named["escrow_key_x"], named["escrow_key_y"])
    if escrow_key != tuple(guardian_set.group_key):
        raise LiquidationRefusal(f"the statement's escrow key {', '.join(map(str, escrow_key))} is not our group key "
                                 f"{', '.join(point_to_json(guardian_set.group_key))}")


def _served_escrow(record: LiquidationJson, request: LiquidationRequest, curve: Curve) -> Escrow:
    try:
        escrow = Escrow.from_json(record.escrow, curve)
    except MalformedInputError as exc:
        raise LiquidationRefusal(f"the escrow served is malformed: {exc}") from None
    if escrow.digest() != request.escrow_digest:
        raise LiquidationRefusal(f"the escrow served has digest {escrow.digest()}, not the request's "
                                 f"{request.escrow_digest}: it is another escrow")
    return escrow


def _check_proof(record: LiquidationJson, request: LiquidationRequest, circuit: Circuit, curve: Curve,
                 keys_dir: Path) -> None:
    vk_path = key_dir(keys_dir, circuit, curve) / VERIFICATION_KEY_FILE
    if not vk_path.exists():
        raise MissingVerifyingKeyError(f"no verifying key for {circuit.key_name()} at {vk_path}: run `zkmargin setup "
                                       f"{circuit.name} --markets {circuit.parameters()['markets']} --escrow "
                                       f"--curve {curve.name}` (or pass --keys-dir)")
    vk = vk_from_json(load_json(vk_path), curve=curve, source=str(vk_path))
    if record.proof is None:
        raise LiquidationRefusal(f"liquidation {record.id} comes without the proof of its commitment")
    try:
        proof = proof_from_json(record.proof, curve=curve, source="the proof served")
        valid = verify(vk, list(request.public_inputs), proof)
    except MalformedInputError as exc:
        raise LiquidationRefusal(f"the proof served is malformed: {exc}") from None
    if not valid:
        raise LiquidationRefusal(f"the proof served does not verify against our {circuit.key_name()} verifying key "
                                 f"for the request's public inputs")
