"""The verifier's HTTP responses, as typed models: the service declares them on its routes
(OpenAPI shows every response schema) and the trader's client parses answers into them.

What travels is unchanged by them: large integers (commitments, amounts, pnl, balances) are
decimal strings, because field elements exceed what a JSON number holds exactly in most
readers; timestamps are ISO 8601 in UTC (``...Z``). Models ignore fields
they do not know, so a client keeps working against a service that answers with more.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


# ISO 8601 in UTC, written by pydantic (``2026-01-02T03:04:05.678901Z``)
Timestamp = datetime
DecimalString = Annotated[str, Field(pattern=r"^-?[0-9]+$", description="an integer as a decimal string")]
EpochStatusName = Literal["open", "closed", "finalized"]
HealthStatus = Literal["healthy", "margin_call", "default"]


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# --- the system -----------------------------------------------------------------------------


class Liveness(ApiModel):
    status: Literal["ok"]
    worker: int = Field(description="the process id of the worker that answered")


class OptionSpec(ApiModel):
    right: Literal["call", "put"]
    strike: int
    expiry: int = Field(description="Unix seconds")
    underlying: int = Field(description="the index of the underlying market")


class Market(ApiModel):
    market: int = Field(description="the index of the market in every price vector")
    name: str
    price_scale: int
    maintenance_rate: int
    initial_rate: int
    kind: Literal["future", "perpetual"] = Field(default="future", description="a perpetual pays funding each epoch")
    option: OptionSpec | None = Field(default=None, description="an option market's terms (absent: a future)")


class StatementKey(ApiModel):
    circuit: str
    circuit_id: str
    public_inputs: int


class CircuitBreakerLimits(ApiModel):
    max_spread_millionths: int
    max_move_millionths: int


class ServiceConfig(ApiModel):
    curve: str
    markets: list[Market]
    statements: dict[str, StatementKey]
    oracle_quorum: int
    oracle_faults: int
    oracle_staleness_seconds: int
    circuit_breaker: CircuitBreakerLimits
    margin_mode: Literal["flat", "portfolio"] = "flat"
    liquidation_penalty_rate: int | None = Field(
        default=None, description="the close-out penalty, millionths of the closed maintenance requirement: the "
                                  "trader's CLI checks a close-out's penalty against it")
    portfolio_initial_factor: int | None = Field(
        default=None, description="portfolio mode: the factor (millionths) scaling every scenario's loss and the "
                                  "short charge for withdrawals, fills and a close-out's target (initial margin)")


EdwardsPoint = Annotated[list[DecimalString], Field(min_length=2, max_length=2,
                                                  description="(x, y) on the embedded curve, decimal strings")]


class GuardianSetJson(ApiModel):
    """The liquidation key's public side, as ``zkmargin guardian dkg finish`` wrote it
    (format ``zkmargin-guardian-set``): anyone can check it against the guardians' own copies."""

    format: Literal["zkmargin-guardian-set"]
    version: int
    curve: Literal["babyjubjub", "jubjub"] = Field(description="the curve embedded in the proof system's field")
    threshold: int = Field(description="t: this many guardians together can open an escrow")
    guardians: int = Field(description="n: guardians holding a share")
    group_key: EdwardsPoint
    verification_keys: list[EdwardsPoint] = Field(description="VK_j = s_j·B of guardian j = 1..n")
    transcript_digest: str = Field(description="SHA-256 of the key generation's transcript")


class VerificationKeyJson(ApiModel):
    """snarkjs's ``verification_key.json`` (coordinates as decimal strings)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    protocol: str
    curve: str
    nPublic: int
    vk_alpha_1: list[Any]
    vk_beta_2: list[Any]
    vk_gamma_2: list[Any]
    vk_delta_2: list[Any]
    vk_alphabeta_12: list[Any]
    IC: list[Any]


# --- oracles --------------------------------------------------------------------------------


class Oracle(ApiModel):
    public_key: str
    name: str
    registered_at: Timestamp
    revoked_at: Timestamp | None
    revoked_reason: str | None


class OracleReportReceipt(ApiModel):
    digest: str
    oracle: str
    market: int
    price: int
    timestamp: int
    received_at: Timestamp


class FundingReportReceipt(ApiModel):
    digest: str
    oracle: str
    market: int
    epoch: int
    rate: int
    timestamp: int
    received_at: Timestamp


class VolReportReceipt(ApiModel):
    digest: str
    oracle: str
    market: int
    vol: int
    timestamp: int
    received_at: Timestamp


class TakenVol(ApiModel):
    market: int
    vol: int
    oracles: int


class CurrentVols(ApiModel):
    taken_at: int
    vols: list[TakenVol]


class RiskMarketInputs(ApiModel):
    market: int
    price: int
    vol: int | None = Field(description="implied volatility (millionths); null: no option on this market")
    rate: int


class RiskArrayJson(ApiModel):
    instrument: dict[str, Any]
    mark: int
    short_charge: int
    pnl: list[int]
    expired: bool = Field(default=False, description="an option past its expiry: mark = intrinsic value, P&L 0, "
                          "no short charge; it settles at the coming close")


class EpochRisk(ApiModel):
    """The ``risk`` input of ``zkmargin prove portfolio`` (circuits/portfolio.py)."""

    epoch: int
    valued_at: int
    parameters: dict[str, int]
    markets: list[RiskMarketInputs]
    arrays: list[RiskArrayJson]
    digest: str = Field(description="EpochRiskArrays.digest: the portfolio circuit's last public input, decimal")
    curve: str
    settlement: dict[str, Any] | None = Field(
        default=None, description="the valuation fixed at the close: {valued_at, markets, prices, expires}; "
        "an expired option at its intrinsic value (expires true), a live one at the model's value")


class JournaledDocument(ApiModel):
    """One of an epoch's record documents (circuits/protocol/epoch_record.py) and the journal entry holding it."""

    document: dict[str, Any] = Field(description="the canonical document; every integer a decimal string")
    sha256: str = Field(description="SHA-256(\"zkmargin/epoch-record/v1\" 0x00 canonical JSON), lower-case hex")
    entry_id: int
    sequence: int | None
    reference: str | None = Field(description="the journal entry's reference: epoch/<E>/<phase>/<sha256>")


class EpochRecordView(ApiModel):
    """``GET /epochs/{id}/record``: the open and close documents (None: not recorded, or not closed yet)."""

    epoch_id: int
    open: JournaledDocument | None
    close: JournaledDocument | None


# --- epochs ---------------------------------------------------------------------------------


class Epoch(ApiModel):
    epoch_id: int
    status: EpochStatusName
    opened_at: Timestamp
    closed_at: Timestamp | None
    finalized_at: Timestamp | None
    attestation_deadline: Timestamp | None
    settlement_deadline: Timestamp | None
    mark_prices: list[int] | None
    mark_snapshot_digest: str | None
    settlement_prices: list[int] | None
    settlement_snapshot_digest: str | None
    funding_rates: list[int] | None = Field(
        default=None, description="per market, the funding rate fixed at the close (millionths of the price)")
    funding_steps: list[DecimalString] | None = Field(
        default=None, description="per market, the funding-index step rate * price the settle statement takes")
    settlement_expires: list[bool] | None = Field(
        default=None, description="per market, the settle statement's expires flag (an option expired by the "
        "close: closed at its intrinsic value); null outside portfolio mode")
    settled_accounts: int | None
    defaulted_accounts: int | None
    circuit_breaker_overrides: dict[str, list[dict[str, Any]]] = Field(
        description="per phase (mark, settlement), the circuit breaker's trips the operator confirmed")


class EpochChange(Epoch):
    """An epoch just opened or closed, with the trips confirmed for it (None: none)."""

    circuit_breaker_override: list[dict[str, Any]] | None


class Finalization(ApiModel):
    epoch_id: int
    status: Literal["finalized"]
    settled_accounts: int
    defaulted_accounts: int
    total_pnl: int
    default_allocation: DecimalString
    funding_remainder: DecimalString = Field(
        default="0", description="R: what rounding funding up collected, booked to the insurance (default) fund")
    finalized_at: Timestamp


class Default(ApiModel):
    account_id: int
    epoch_id: int
    reason: str
    declared_at: Timestamp


class Health(ApiModel):
    account_id: int
    epoch_id: int
    status: HealthStatus
    attested: bool
    settled: bool
    may_hold_position: bool
    overdue_fills: list[int]
    reasons: list[str]
    cured: bool = Field(default=False, description="attested only in the grace period after the deadline: a "
                                                   "margin call cured")


# --- accounts -------------------------------------------------------------------------------


class OpenedAccount(ApiModel):
    account_id: int
    genesis_commitment: DecimalString
    markets: int
    curve: str
    account_token: str = Field(description="the owner's bearer token: shown once, never again")


class PendingDeposit(ApiModel):
    deposit_id: int
    amount: DecimalString
    reference: str
    created_at: Timestamp


class PendingFill(ApiModel):
    fill_id: int
    fill_commitment: DecimalString
    epoch_id: int | None
    deadline: Timestamp | None


class DefaultState(ApiModel):
    epoch_id: int
    reason: str
    declared_at: Timestamp


class PendingLevy(ApiModel):
    """A socialized loss the account owes: applied with a transfer proof as a debit of ``amount``."""

    levy_id: int
    amount: DecimalString
    reference: str
    epoch_id: int | None
    deadline: Timestamp | None


class AccountBalances(ApiModel):
    deposits: DecimalString
    collateral: DecimalString
    payouts: DecimalString
    levies: DecimalString = Field(default="0", description="negative by the levies owed, not yet applied")


LiquidationStatus = Literal["requested", "opened", "closed", "failed"]


class LiquidationSummary(ApiModel):
    """An account's liquidation as its account view shows it."""

    id: int
    status: LiquidationStatus
    reason: str
    epoch_id: int
    requested_at: Timestamp
    closed_at: Timestamp | None
    successor_state: dict[str, Any] | None = Field(
        default=None,
        description="for the account's owner only, once closed: the opening of the state the account continues "
                    "from (JSON as circuits.inputs.state_from_json reads it)")


class AccountView(ApiModel):
    account_id: int
    genesis_commitment: DecimalString
    current_commitment: DecimalString
    sequence: int
    state_epoch: int
    holds_position: bool
    escrowed: bool = Field(description="whether the current commitment's proof sealed an escrow of the state to the "
                           "guardians (false for the genesis and without a guardian set)")
    in_default: DefaultState | None
    encryption_public_key: str | None
    opened_at: Timestamp
    pending_deposits: list[PendingDeposit]
    pending_fills: list[PendingFill]
    pending_levies: list[PendingLevy] = []
    balances: AccountBalances
    liquidation: LiquidationSummary | None = None


# --- deposits, fills, payouts ---------------------------------------------------------------


class Deposit(ApiModel):
    deposit_id: int
    account_id: int
    amount: DecimalString
    reference: str
    applied: bool


class Fill(ApiModel):
    fill_id: int
    account_id: int
    reference: str
    fill_commitment: DecimalString
    epoch_id: int | None
    deadline: Timestamp | None
    posted_at: Timestamp
    applied: bool
    applied_at: Timestamp | None


class SealedFill(Fill):
    """A fill with its opening sealed to the account's X25519 key (hex), for its owner."""

    ciphertext: str | None


class Payout(ApiModel):
    payout_id: int
    account_id: int
    amount: DecimalString
    status: Literal["pending", "paid"]
    payment_reference: str | None
    created_at: Timestamp
    paid_at: Timestamp | None


# --- accepted proofs ------------------------------------------------------------------------


class Transition(ApiModel):
    account_id: int
    sequence: int
    commitment: DecimalString
    kind: str
    statement_digest: str | None
    epoch_id: int | None
    accepted_at: Timestamp


class AppliedDeposit(ApiModel):
    transition: Transition
    deposit_id: int
    amount: DecimalString
    ledger_entry: int


class Withdrawal(ApiModel):
    transition: Transition
    payout_id: int
    amount: DecimalString
    status: Literal["pending", "paid"]


class AppliedLevy(ApiModel):
    transition: Transition
    levy_id: int
    amount: DecimalString
    ledger_entry: int


class AppliedFill(ApiModel):
    transition: Transition
    fill_id: int


class SettledEpoch(ApiModel):
    transition: Transition
    epoch_id: int
    pnl: DecimalString
    settlement_id: int
    epoch_finalized: bool = Field(description="whether this settlement completed the epoch and it was finalized")


class Attestation(ApiModel):
    attestation_id: int
    account_id: int
    epoch_id: int
    commitment: DecimalString
    statement_digest: str
    accepted_at: Timestamp


# --- the ledger -----------------------------------------------------------------------------


class LedgerVerification(ApiModel):
    ok: bool
    entries_checked: int
    head_sequence: int
    head_hash: str
    broken_sequence: int | None
    problem: str | None
    verdict: str
    epochs_recorded: int = Field(default=0, description="epochs whose journaled documents their rows still build")
    epochs_unrecorded: int = Field(default=0, description="epochs opened before the record existed (0009)")


class LedgerBalance(ApiModel):
    ledger_account: str
    balance: DecimalString


# --- liquidation ----------------------------------------------------------------------------


class OperatorKey(ApiModel):
    signing_key: str = Field(description="the operator's Ed25519 public key (64 hex): it signs liquidation requests")


class AcceptedShare(ApiModel):
    guardian: int
    accepted_at: Timestamp


class LiquidationJson(ApiModel):
    """A liquidation: the signed request, what the guardians open, and once closed what was done."""

    id: int
    account_id: int
    status: LiquidationStatus
    request: dict[str, Any] = Field(description="circuits.protocol.liquidation.LiquidationRequest JSON")
    signature: str = Field(description="the operator's Ed25519 signature over the request's canonical bytes (128 hex)")
    escrow: dict[str, Any] | None = Field(description="the pinned commitment's escrow (zkmargin.escrow JSON); "
                                          "none for a state an earlier close-out wrote")
    proof: dict[str, Any] | None = Field(description="the proof that produced the pinned commitment (snarkjs JSON)")
    shares: list[AcceptedShare]
    threshold: int
    revealed_state: dict[str, Any] | None = Field(description="the opened state, once t shares combined")
    closeout: dict[str, Any] | None = Field(description="the close-out applied, once closed")
    failure: str | None = Field(default=None, description="why the liquidation failed (status failed)")
