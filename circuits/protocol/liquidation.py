"""Liquidation requests: what the operator signs, and the time/evidence rule both sides apply.

When an account has failed its obligations, the operator asks the guardians to open its current
state. The request names the account, the rule it broke, the evidence the rule used and the
commitment it pins; the service signs it with its **operator signing key** (Ed25519) and records
it in the hash-chained journal. Each guardian checks the signature, this module's
:func:`check_rules`, the service's public records and the proof before returning a decryption
share; the share's DLEQ proof binds :func:`share_context` of the request, so a share made for
one request opens nothing else.

Reasons (``LiquidationRequest.reason``)
----------------------------------------
- ``margin_call``: no margin attestation for ``epoch_id``, an epoch in which the account may hold
  a position, by its attestation deadline (``deadline``), and the grace period after it
  (``grace_seconds``) has passed too;
- ``settlement``: no settlement of the closed epoch ``epoch_id`` by its settlement deadline
  (``deadline``), or declared in default for it;
- ``fill_deadline``: fills (``overdue_fills``, their ids) not applied by their deadlines;
  ``deadline`` is the latest of them.

The grace period is the margin call's only; the other two rules hold from their deadline.

What is opened
--------------
Normally the state a trader proved: ``circuit`` and ``public_inputs`` are that proof's statement,
and the guardians decrypt its escrow. A state the service itself wrote in an earlier close-out
(an account left partly closed out that failed again before proving anything) has no escrow:
the service knows its opening. Its request names ``circuit`` ``closeout/<earlier liquidation
id>``, ``public_inputs`` just the commitment and ``escrow_digest`` 0; no guardian is asked.

Encoding
--------
JSON (``LiquidationRequest.to_json``): integers that are field elements (``commitment``,
``escrow_digest``, ``public_inputs``) are canonical decimal strings; ids, ``grace_seconds`` and
``overdue_fills`` are JSON integers; times are ISO 8601 UTC with microseconds
(``2026-12-03T19:00:00.000000Z``). Parsing is strict: unknown, missing or duplicate fields,
floats, booleans and non-canonical spellings are refused, so a parsed request re-encodes to the
same bytes. The **signed bytes** are ``b"zkmargin/liquidation-request/v1"`` followed by the
canonical JSON (sorted keys, no spaces, ASCII).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from circuits.protocol.errors import LiquidationFormatError, LiquidationRefused
from zkmargin.formats.snarkjs import reject_duplicate_keys

REQUEST_DOMAIN = b"zkmargin/liquidation-request/v1"
SHARE_DOMAIN = b"zkmargin/liquidation-share/v1"
REASONS = ("margin_call", "settlement", "fill_deadline")
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64
# a request dated this far ahead of the checker's clock is refused (clocks of two machines differ)
MAX_CLOCK_SKEW = timedelta(seconds=300)
MAX_ID = 1 << 63  # the service's ids are signed 64-bit
MAX_GRACE_SECONDS = 1 << 32
MAX_FIELD_ELEMENT = 1 << 256  # no supported curve's scalar field is wider
MAX_PUBLIC_INPUTS = 4096

_FIELDS = ("liquidation_id", "account_id", "reason", "epoch_id", "deadline", "grace_seconds",
           "overdue_fills", "commitment", "escrow_digest", "circuit", "public_inputs", "requested_at")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_CIRCUIT_ID = re.compile(r"[A-Za-z0-9_./:-]{1,128}")
KNOWN_STATE_CIRCUIT = "closeout/"  # + the liquidation id whose close-out wrote the pinned state


def known_state_circuit(liquidation_id: int) -> str:
    """The ``circuit`` of a request pinning a state the close-out of ``liquidation_id`` wrote."""
    return f"{KNOWN_STATE_CIRCUIT}{_integer('liquidation_id', liquidation_id, 1, MAX_ID)}"


def opens_known_state(request: LiquidationRequest) -> bool:
    """Whether the request pins a service-written state (opened from the record, not by guardians)."""
    return request.circuit.startswith(KNOWN_STATE_CIRCUIT)


# --- values ---------------------------------------------------------------------------------

def format_timestamp(moment: datetime) -> str:
    """The one spelling of an instant in a request: UTC, microseconds, ``Z``."""
    if moment.tzinfo is None:
        raise LiquidationFormatError("a request's times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(name: str, value: Any) -> datetime:
    if not isinstance(value, str) or not _TIMESTAMP.fullmatch(value):
        raise LiquidationFormatError(f"{name} must be an ISO 8601 UTC time like 2026-12-03T19:00:00.000000Z")
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        raise LiquidationFormatError(f"{name} = {value!r} is not a valid time") from None


def _integer(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise LiquidationFormatError(f"{name} must be an integer, got {type(value).__name__}")
    if not low <= value < high:
        raise LiquidationFormatError(f"{name} = {value} is outside [{low}, {high})")
    return value


def _decimal(name: str, value: Any) -> int:
    """A canonical decimal string of a field element (no sign, spaces or leading zeros)."""
    if not isinstance(value, str) or not _DECIMAL.fullmatch(value) or len(value) > 78:
        raise LiquidationFormatError(f"{name} must be a canonical decimal string")
    number = int(value)
    if number >= MAX_FIELD_ELEMENT:
        raise LiquidationFormatError(f"{name} is not a field element")
    return number


def _reject_float(text: str) -> Any:
    raise LiquidationFormatError(f"floats are not accepted, got {text}")


def _reject_constant(text: str) -> Any:
    raise LiquidationFormatError(f"{text} is not a JSON value")


_UNIQUE_KEYS = reject_duplicate_keys(lambda key: LiquidationFormatError(f"duplicate field {key!r}"))


def load_request_json(text: str | bytes) -> Any:
    """json.loads that refuses floats, NaN/Infinity and duplicate keys."""
    try:
        return json.loads(text, parse_float=_reject_float, parse_constant=_reject_constant,
                          object_pairs_hook=_UNIQUE_KEYS)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LiquidationFormatError(f"liquidation request is not valid JSON: {exc}") from None


# --- the request ----------------------------------------------------------------------------

@dataclass(frozen=True)
class LiquidationRequest:
    """The operator's signed request to open one account's pinned state (see the module docstring)."""

    liquidation_id: int
    account_id: int
    reason: str
    epoch_id: int
    deadline: datetime
    grace_seconds: int
    commitment: int  # the account's current commitment: the state the guardians open
    escrow_digest: int  # the digest the proof of that commitment bound
    circuit: str  # the circuit id of that proof's statement
    public_inputs: tuple[int, ...]  # that statement's public vector
    requested_at: datetime
    overdue_fills: tuple[int, ...] = field(default=())

    def __post_init__(self) -> None:
        _integer("liquidation_id", self.liquidation_id, 1, MAX_ID)
        _integer("account_id", self.account_id, 0, MAX_ID)
        _integer("epoch_id", self.epoch_id, 0, MAX_ID)
        _integer("grace_seconds", self.grace_seconds, 0, MAX_GRACE_SECONDS)
        if self.reason not in REASONS:
            raise LiquidationFormatError(f"reason must be one of {', '.join(REASONS)}, got {self.reason!r}")
        for name in ("deadline", "requested_at"):
            value = getattr(self, name)
            if not isinstance(value, datetime) or value.tzinfo is None:
                raise LiquidationFormatError(f"{name} must be a timezone-aware datetime")
            object.__setattr__(self, name, value.astimezone(UTC))
        _integer("commitment", self.commitment, 0, MAX_FIELD_ELEMENT)
        _integer("escrow_digest", self.escrow_digest, 0, MAX_FIELD_ELEMENT)
        if not isinstance(self.circuit, str) or not _CIRCUIT_ID.fullmatch(self.circuit):
            raise LiquidationFormatError("circuit must be a circuit id (1..128 of A-Z a-z 0-9 _ . / : -)")
        inputs = tuple(self.public_inputs)
        if not 1 <= len(inputs) <= MAX_PUBLIC_INPUTS:
            raise LiquidationFormatError(f"public_inputs must hold 1..{MAX_PUBLIC_INPUTS} values")
        for value in inputs:
            _integer("public input", value, 0, MAX_FIELD_ELEMENT)
        object.__setattr__(self, "public_inputs", inputs)
        fills = tuple(self.overdue_fills)
        for fill_id in fills:
            _integer("overdue fill id", fill_id, 1, MAX_ID)
        if list(fills) != sorted(set(fills)):
            raise LiquidationFormatError("overdue_fills must be distinct ids in increasing order")
        object.__setattr__(self, "overdue_fills", fills)

    def to_dict(self) -> dict[str, Any]:
        return {
            "liquidation_id": self.liquidation_id,
            "account_id": self.account_id,
            "reason": self.reason,
            "epoch_id": self.epoch_id,
            "deadline": format_timestamp(self.deadline),
            "grace_seconds": self.grace_seconds,
            "overdue_fills": list(self.overdue_fills),
            "commitment": str(self.commitment),
            "escrow_digest": str(self.escrow_digest),
            "circuit": self.circuit,
            "public_inputs": [str(v) for v in self.public_inputs],
            "requested_at": format_timestamp(self.requested_at),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def canonical_bytes(self) -> bytes:
        """What the operator signs: the domain tag, then the canonical JSON."""
        return REQUEST_DOMAIN + self.to_json().encode("ascii")

    def digest(self) -> str:
        """SHA-256 of the signed bytes (hex): names this exact request."""
        return hashlib.sha256(self.canonical_bytes()).hexdigest()

    @classmethod
    def from_dict(cls, data: Any) -> LiquidationRequest:
        """Strict: exactly the request's fields, each in its one spelling."""
        _require_exact_fields(data)
        fills = data["overdue_fills"]
        inputs = data["public_inputs"]
        if not isinstance(fills, list):
            raise LiquidationFormatError("overdue_fills must be a list of fill ids")
        if not isinstance(inputs, list):
            raise LiquidationFormatError("public_inputs must be a list of decimal strings")
        if not isinstance(data["reason"], str) or not isinstance(data["circuit"], str):
            raise LiquidationFormatError("reason and circuit must be strings")
        return cls(
            liquidation_id=_integer("liquidation_id", data["liquidation_id"], 1, MAX_ID),
            account_id=_integer("account_id", data["account_id"], 0, MAX_ID),
            reason=data["reason"],
            epoch_id=_integer("epoch_id", data["epoch_id"], 0, MAX_ID),
            deadline=parse_timestamp("deadline", data["deadline"]),
            grace_seconds=_integer("grace_seconds", data["grace_seconds"], 0, MAX_GRACE_SECONDS),
            commitment=_decimal("commitment", data["commitment"]),
            escrow_digest=_decimal("escrow_digest", data["escrow_digest"]),
            circuit=data["circuit"],
            public_inputs=tuple(_decimal("public input", v) for v in inputs),
            requested_at=parse_timestamp("requested_at", data["requested_at"]),
            overdue_fills=tuple(_integer("overdue fill id", v, 1, MAX_ID) for v in fills),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> LiquidationRequest:
        return cls.from_dict(load_request_json(text))


def _require_exact_fields(data: Any) -> None:
    if not isinstance(data, dict):
        raise LiquidationFormatError(f"a liquidation request is a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise LiquidationFormatError(f"liquidation request has unknown field(s) {', '.join(map(repr, unknown))}")
    missing = [name for name in _FIELDS if name not in data]
    if missing:
        raise LiquidationFormatError(f"liquidation request is missing field(s) {', '.join(map(repr, missing))}")


def share_context(request: LiquidationRequest) -> bytes:
    """The ``context`` every guardian's decryption share for this request binds (DLEQ proof)."""
    return SHARE_DOMAIN + bytes.fromhex(request.digest())


# --- signatures -----------------------------------------------------------------------------

def sign_request(private_key: Ed25519PrivateKey, request: LiquidationRequest) -> str:
    """The operator's Ed25519 signature over the request's canonical bytes (128 hex)."""
    return private_key.sign(request.canonical_bytes()).hex()


def operator_public_key(key: Ed25519PrivateKey | Ed25519PublicKey | str) -> Ed25519PublicKey:
    """The operator's public key from its private key, its public key or 64 lower-case hex."""
    if isinstance(key, Ed25519PrivateKey):
        return key.public_key()
    if isinstance(key, Ed25519PublicKey):
        return key
    return Ed25519PublicKey.from_public_bytes(_hex_bytes("operator signing key", key, PUBLIC_KEY_BYTES))


def operator_key_hex(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The public key as ``GET /operator`` publishes it: 64 lower-case hex."""
    return operator_public_key(key).public_bytes_raw().hex()


def signature_valid(public_key: Ed25519PublicKey | str, request: LiquidationRequest, signature: str) -> bool:
    """Whether ``signature`` (128 hex) is the operator's over exactly this request.

    A malformed signature or key raises LiquidationFormatError; a wrong one is False.
    """
    raw = _hex_bytes("signature", signature, SIGNATURE_BYTES)
    try:
        operator_public_key(public_key).verify(raw, request.canonical_bytes())
    except InvalidSignature:
        return False
    return True


def _hex_bytes(name: str, value: Any, length: int) -> bytes:
    if not isinstance(value, str) or not re.fullmatch(f"[0-9a-f]{{{2 * length}}}", value):
        raise LiquidationFormatError(f"{name} must be {2 * length} lower-case hex characters")
    return bytes.fromhex(value)


# --- the rule -------------------------------------------------------------------------------

def check_rules(request: LiquidationRequest, now: datetime, grace_seconds: int) -> None:
    """Refuse (LiquidationRefused naming the rule) a request the time and evidence rule does not allow.

    ``grace_seconds`` is the checker's own policy: a request claiming a shorter grace period is
    refused. The rule must hold at ``requested_at``, and ``requested_at`` may not be later than
    ``now`` (beyond MAX_CLOCK_SKEW). What this cannot see — that the records show the breach,
    that the pinned commitment is current and proven — the service and each guardian check.
    """
    if now.tzinfo is None:
        raise LiquidationFormatError("now must be timezone-aware")
    _check_evidence(request)
    if request.grace_seconds < grace_seconds:
        raise LiquidationRefused("grace_period", f"the request allows {request.grace_seconds} s of grace, "
                                                 f"the policy is {grace_seconds} s")
    if request.requested_at > now + MAX_CLOCK_SKEW:
        raise LiquidationRefused("requested_in_future",
                                 f"requested at {format_timestamp(request.requested_at)}, after now "
                                 f"({format_timestamp(now)})")
    cure_ends = rule_deadline(request)
    if request.requested_at <= cure_ends:
        rule = "grace_not_over" if request.reason == "margin_call" else "deadline_not_passed"
        raise LiquidationRefused(rule, f"{request.reason}: requested at {format_timestamp(request.requested_at)}, "
                                       f"not after {format_timestamp(cure_ends)}")


def rule_deadline(request: LiquidationRequest) -> datetime:
    """The last instant the account could still cure: the deadline, plus the grace for a margin call."""
    if request.reason == "margin_call":
        return request.deadline + timedelta(seconds=request.grace_seconds)
    return request.deadline


def _check_evidence(request: LiquidationRequest) -> None:
    if request.reason == "fill_deadline" and not request.overdue_fills:
        raise LiquidationRefused("evidence", "a fill_deadline request names the overdue fills")
    if request.reason != "fill_deadline" and request.overdue_fills:
        raise LiquidationRefused("evidence", f"a {request.reason} request names no overdue fills")
    if opens_known_state(request):
        _check_known_state_evidence(request)
        return
    _require_in_public_inputs(request.public_inputs, request.commitment, "the pinned commitment")
    _require_in_public_inputs(request.public_inputs, request.escrow_digest, "the escrow digest")


def _check_known_state_evidence(request: LiquidationRequest) -> None:
    """A service-written state: no escrow, no proof; the statement is the commitment alone."""
    suffix = request.circuit.removeprefix(KNOWN_STATE_CIRCUIT)
    if not _DECIMAL.fullmatch(suffix) or not 1 <= int(suffix) < request.liquidation_id:
        raise LiquidationRefused("evidence", f"{request.circuit!r} does not name an earlier liquidation")
    if request.escrow_digest != 0 or request.public_inputs != (request.commitment,):
        raise LiquidationRefused("evidence", "a service-written state has no escrow: escrow_digest 0 and the "
                                             "commitment as the only public input")


def _require_in_public_inputs(public_inputs: Sequence[int], value: int, what: str) -> None:
    if value not in public_inputs:
        raise LiquidationRefused("evidence", f"{what} is not among the statement's public inputs")
