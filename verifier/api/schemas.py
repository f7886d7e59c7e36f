"""Request bodies: strict, so a client can never send private state by mistake.

Every model forbids unknown fields (``extra="forbid"``): a body carrying, say, a ``state`` or a
``salt`` field is refused with 422 naming the field, instead of being silently ignored. Integers
are JSON integers or canonical decimal strings (field elements exceed 2^53, which JavaScript
cannot hold as a number); floats and booleans are refused.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

_DECIMAL = re.compile(r"-?(0|[1-9][0-9]{0,99})")


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected an integer, not a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _DECIMAL.fullmatch(value) and value != "-0":
        return int(value)
    raise ValueError("expected an integer or a canonical decimal string (no sign for zero, no leading zeros)")


def _natural(value: Any) -> int:
    number = _integer(value)
    if number < 0:
        raise ValueError("expected a non-negative integer")
    return number


_INTEGER_SCHEMA = {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": "^-?(0|[1-9][0-9]{0,99})$"}]}
_NATURAL_SCHEMA = {"anyOf": [{"type": "integer", "minimum": 0},
                             {"type": "string", "pattern": "^(0|[1-9][0-9]{0,99})$"}]}

Integer = Annotated[int, BeforeValidator(_integer), WithJsonSchema(_INTEGER_SCHEMA)]
Natural = Annotated[int, BeforeValidator(_natural), WithJsonSchema(_NATURAL_SCHEMA)]
Id = Annotated[int, Field(ge=0, lt=1 << 63, strict=True)]
Hex32 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="32 bytes, lower-case hex")]
Reference = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProofJson(Strict):
    """A Groth16 proof in snarkjs's ``proof.json`` format (coordinates as decimal strings)."""

    pi_a: list[Any] = Field(max_length=3)
    pi_b: list[Any] = Field(max_length=3)
    pi_c: list[Any] = Field(max_length=3)
    protocol: str = Field(max_length=16)
    curve: str | None = Field(default=None, max_length=16)

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


EscrowJson = Annotated[dict[str, Any] | None, Field(
    description="the escrow of the new state the proof sealed to the guardians' key (zkmargin.escrow JSON): required "
    "when the service has a guardian set (GET /guardians), refused when it has none")]


class OpenAccountRequest(Strict):
    genesis_salt: Natural = Field(description="the salt of the genesis state (revealed: the empty state hides nothing)")
    encryption_public_key: Hex32 = Field(description="X25519 public key the venue seals fills to")


class CreditDepositRequest(Strict):
    amount: Natural
    reference: Reference = Field(description="the operator's own reference (idempotency key)")


class ApplyDepositRequest(Strict):
    epoch_id: Id = Field(description="the open epoch whose mark prices the proof used")
    new_commitment: Natural
    proof: ProofJson
    escrow: EscrowJson = None


class WithdrawalRequest(Strict):
    epoch_id: Id
    amount: Natural = Field(description="the amount to withdraw (the transfer statement's amount is its negative)")
    new_commitment: Natural
    proof: ProofJson
    escrow: EscrowJson = None


class PostFillRequest(Strict):
    account_id: Id
    fill_commitment: Natural
    ciphertext: str = Field(pattern=r"^([0-9a-f]{2})*$", max_length=4096, description="sealed fill, hex")
    reference: Reference = Field(description="the venue's fill id (idempotency key)")
    deadline: AwareDatetime | None = None
    epoch_id: Id | None = Field(default=None, description="the epoch of the trade (default: the open epoch); both "
                                "sides of a trade belong to one epoch, so a side posted after the close names it")
    market: int | None = Field(default=None, ge=0, description="the market traded (optional; the venue knows it): "
                               "an option market past its expiry is refused, 422 market_expired")


class ApplyFillRequest(Strict):
    epoch_id: Id = Field(description="the fill's epoch (the one open when the venue posted it): its mark prices")
    new_commitment: Natural
    proof: ProofJson
    escrow: EscrowJson = None


class AttestationRequest(Strict):
    epoch_id: Id
    proof: ProofJson


class SettlementRequest(Strict):
    epoch_id: Id
    pnl: Integer
    holds_position: bool = Field(strict=True, description="whether the settled state still has a size in some "
                                 "market (a public input the proof binds; a flat account is not asked to settle "
                                 "later epochs)")
    new_commitment: Natural
    proof: ProofJson
    escrow: EscrowJson = None


class OracleRegistration(Strict):
    public_key: Hex32
    name: str = Field(min_length=1, max_length=64)


class SignedReportJson(Strict):
    """``circuits.protocol.oracle_report.SignedReport.to_json``: authenticated by the Ed25519 signature."""

    oracle: Hex32
    market: int = Field(ge=0, lt=1 << 32, strict=True)
    price: int = Field(ge=0, lt=1 << 64, strict=True)
    timestamp: int = Field(ge=0, lt=1 << 64, strict=True)
    signature: str = Field(pattern=r"^[0-9a-f]{128}$")


class SignedFundingReportJson(Strict):
    """``circuits.protocol.funding_report.SignedFundingReport.to_json``: authenticated by the signature."""

    oracle: Hex32
    market: int = Field(ge=0, lt=1 << 32, strict=True)
    epoch: int = Field(ge=0, lt=1 << 64, strict=True)
    rate: int = Field(ge=-(1 << 63), lt=1 << 63, strict=True)
    timestamp: int = Field(ge=0, lt=1 << 64, strict=True)
    signature: str = Field(pattern=r"^[0-9a-f]{128}$")


class SignedVolReportJson(Strict):
    """``circuits.protocol.vol_report.SignedVolReport.to_json``: authenticated by the Ed25519 signature."""

    oracle: Hex32
    market: int = Field(ge=0, lt=1 << 32, strict=True)
    vol: int = Field(ge=0, lt=1 << 64, strict=True)
    timestamp: int = Field(ge=0, lt=1 << 64, strict=True)
    signature: str = Field(pattern=r"^[0-9a-f]{128}$")


def _confirm_breaker() -> Any:
    return Field(default=False, strict=True, description=(
        "open or close even though the circuit breaker holds the prices back (409 circuit_breaker names the "
        "markets and figures); what was confirmed is recorded with the snapshot"))


class OpenEpochRequest(Strict):
    attestation_deadline: AwareDatetime | None = None
    confirm_circuit_breaker: bool = _confirm_breaker()


class CloseEpochRequest(Strict):
    settlement_deadline: AwareDatetime | None = None
    confirm_circuit_breaker: bool = _confirm_breaker()


class OracleRevocation(Strict):
    reason: str = Field(min_length=1, max_length=200, description="why the key is revoked (kept with it)")


class DefaultRequest(Strict):
    account_id: Id
    reason: str = Field(min_length=1, max_length=200)


class PayoutPaidRequest(Strict):
    payment_reference: Reference


class LiquidationRequestBody(Strict):
    account_id: int = Field(ge=0, lt=1 << 63)
    reason: Literal["margin_call", "settlement", "fill_deadline"]
    epoch_id: int = Field(ge=0, lt=1 << 63)


class ShareSubmission(Strict):
    guardian: int = Field(ge=1, lt=1 << 31, description="the guardian's index j (1..n)")
    share: dict[str, Any] = Field(description="the decryption share as zkmargin.threshold's codec writes it "
                                              "(format zkmargin-decryption-share: point and DLEQ proof)")
