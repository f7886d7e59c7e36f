"""The verifier's records, as typed SQLAlchemy 2 declarative models.

What the operator keeps is deliberately small: commitments, never states. An account is its
genesis and current commitment plus a ``sequence`` (how many transitions it has accepted),
which is the version that optimistic concurrency compares. Money columns are ``ExactInteger``
(never floats); identifiers the protocol bounds below 2^64 are stored as signed 64-bit
integers, so the service hands out account and epoch ids below 2^63.

The ledger tables (``journal_entries``, ``ledger_postings``, ``ledger_head``) are append-only;
the database refuses updates and deletes of entries and postings (triggers created by the
initial migration), and ``verifier.db.ledger.verify_ledger`` detects anything that bypasses that.

Keep ``verifier/db/migrations/versions`` in step with this file: a test compares the migrated
schema with these models.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from verifier.db.types import ExactInteger, FieldElementText, IdentityKey, UtcDateTime, utc_now

RATE_SCALE = 1_000_000
HASH_HEX_LENGTH = 64  # SHA-256 digests, lower-case hex
LEDGER_ACCOUNT_LENGTH = 64
REFERENCE_LENGTH = 128

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with deterministic constraint names, so migrations can refer to them."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    """A portable enum: VARCHAR plus a CHECK constraint, the same on SQLite and PostgreSQL."""
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class StatementKind(enum.StrEnum):
    """What moved an account's commitment: the genesis record or one of the transition circuits."""

    GENESIS = "genesis"
    TRANSFER = "transfer"
    FILL = "fill"
    SETTLE = "settle"
    LIQUIDATION = "liquidation"  # the public successor the service wrote after a close-out (no proof)


class PendingKind(enum.StrEnum):
    """Items credited by the operator or the venue that a trader's proof must consume once."""

    DEPOSIT = "deposit"
    FILL = "fill"
    LEVY = "levy"  # a socialized loss a winner applies with a transfer proof as a debit (migration 0006)


class PayoutStatus(enum.StrEnum):
    PENDING = "pending"
    PAID = "paid"


class EpochStatus(enum.StrEnum):
    """open: accepting prices; closed: the snapshot is fixed, settlement runs; finalized: done."""

    OPEN = "open"
    CLOSED = "closed"
    FINALIZED = "finalized"


class EntryKind(enum.StrEnum):
    """Every kind of journal entry the ledger knows; see ``verifier.db.ledger`` for their postings."""

    DEPOSIT_CREDITED = "deposit_credited"
    DEPOSIT_APPLIED = "deposit_applied"
    WITHDRAWAL = "withdrawal"
    PAYOUT = "payout"
    SETTLEMENT = "settlement"
    LIQUIDATION_REQUEST = "liquidation_request"  # a record, no postings: its reference names the signed request
    LIQUIDATION = "liquidation"  # a close-out's money: penalty, realized pnl, the loss waterfall
    EPOCH_RECORD = "epoch_record"  # a record, no postings: an epoch's open or close document (migration 0009)


class Market(Base):
    """Operator configuration of one market; ``id`` is the market index m in the circuits."""

    __tablename__ = "markets"
    __table_args__ = (
        CheckConstraint("id >= 0 AND id < 64", name="index_range"),
        CheckConstraint("price_scale > 0", name="price_scale_positive"),
        CheckConstraint(f"maintenance_rate >= 0 AND maintenance_rate <= initial_rate AND initial_rate <= {RATE_SCALE}",
                        name="rates_ordered"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    price_scale: Mapped[int] = mapped_column(BigInteger)
    maintenance_rate: Mapped[int] = mapped_column(Integer)
    initial_rate: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class Account(Base):
    """One trader account: only commitments, and the version optimistic concurrency compares."""

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("id >= 0", name="id_non_negative"),
        CheckConstraint("sequence >= 0", name="sequence_non_negative"),
        CheckConstraint("state_epoch >= 0", name="state_epoch_non_negative"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    genesis_commitment: Mapped[int] = mapped_column(FieldElementText, unique=True)
    current_commitment: Mapped[int] = mapped_column(FieldElementText, unique=True)
    sequence: Mapped[int] = mapped_column(BigInteger, default=0)
    encryption_public_key: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    # public facts about the current state (migration 0003): the epoch it records, and whether it
    # may hold a position (false at genesis, true after a fill, the settle proof's bit after one)
    state_epoch: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    holds_position: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # the liquidation that froze the account (migration 0006): set by the request, under the row
    # lock every transition and attestation takes, cleared when the close-out is applied
    liquidation_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class AccountCommitment(Base):
    """The history of an account's commitments; sequence 0 is the genesis commitment.

    ``(account_id, sequence)`` is unique, so two racing transitions from the same version cannot
    both be recorded; ``commitment`` is unique, so no state can be entered twice.
    """

    __tablename__ = "account_commitments"
    __table_args__ = (
        UniqueConstraint("account_id", "sequence"),
        CheckConstraint("sequence >= 0", name="sequence_non_negative"),
        CheckConstraint("(kind = 'genesis') = (sequence = 0)", name="genesis_first"),
        CheckConstraint("(kind = 'genesis') = (statement_digest IS NULL)", name="digest_unless_genesis"),
    )

    id: Mapped[int] = mapped_column(IdentityKey, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    sequence: Mapped[int] = mapped_column(BigInteger)
    commitment: Mapped[int] = mapped_column(FieldElementText, unique=True)
    kind: Mapped[StatementKind] = mapped_column(_enum(StatementKind, "statement_kind"))
    statement_digest: Mapped[str | None] = mapped_column(String(HASH_HEX_LENGTH), unique=True)
    epoch_id: Mapped[int | None] = mapped_column(ForeignKey("epochs.id"))
    state_epoch: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")  # recorded in the state
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    # the escrow the proof sealed (zkmargin.escrow JSON; NULL without a guardian set) and the proof itself
    escrow: Mapped[str | None] = mapped_column(Text, nullable=True)
    proof: Mapped[str | None] = mapped_column(Text, nullable=True)
    # the statement that proof is for (migration 0006): its circuit id and public vector (JSON list
    # of decimal strings), which a liquidation request pins for the guardians to re-verify
    circuit: Mapped[str | None] = mapped_column(String(128), nullable=True)
    public_inputs: Mapped[str | None] = mapped_column(Text, nullable=True)


class PendingItem(Base):
    """A credited deposit or a venue fill, waiting for the trader's proof to consume it once.

    ``reference`` is the crediting party's own identifier (a bank reference, the venue's fill
    id), unique so a retried credit is recognised instead of counted twice.
    """

    __tablename__ = "pending_items"
    __table_args__ = (
        CheckConstraint(
            "(kind IN ('deposit', 'levy') AND amount IS NOT NULL AND fill_commitment IS NULL)"
            " OR (kind = 'fill' AND amount IS NULL AND fill_commitment IS NOT NULL)",
            name="kind_fields",
        ),
        CheckConstraint("(consumed_by IS NULL) = (consumed_at IS NULL)", name="consumed_together"),
        CheckConstraint("kind = 'deposit' OR epoch_id IS NOT NULL", name="fill_has_epoch"),
        Index(None, "account_id", "consumed_by"),
    )

    id: Mapped[int] = mapped_column(IdentityKey, primary_key=True)
    kind: Mapped[PendingKind] = mapped_column(_enum(PendingKind, "pending_kind"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    reference: Mapped[str] = mapped_column(String(REFERENCE_LENGTH), unique=True)
    amount: Mapped[int | None] = mapped_column(ExactInteger)
    fill_commitment: Mapped[int | None] = mapped_column(FieldElementText, unique=True)
    fill_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    deadline: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    consumed_by: Mapped[int | None] = mapped_column(ForeignKey("account_commitments.id"), unique=True)
    consumed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # a fill's epoch (migration 0003): the one open when the venue posted it; applied against it
    epoch_id: Mapped[int | None] = mapped_column(ForeignKey("epochs.id"), index=True)


class Payout(Base):
    """A withdrawal the trader proved, to be paid out by the operator."""

    __tablename__ = "payouts"
    __table_args__ = (
        CheckConstraint("(status = 'paid') = (paid_at IS NOT NULL)", name="paid_at_when_paid"),
    )

    id: Mapped[int] = mapped_column(IdentityKey, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    amount: Mapped[int] = mapped_column(ExactInteger)
    transition_id: Mapped[int] = mapped_column(ForeignKey("account_commitments.id"), unique=True)
    status: Mapped[PayoutStatus] = mapped_column(_enum(PayoutStatus, "payout_status"))
    payment_reference: Mapped[str | None] = mapped_column(String(REFERENCE_LENGTH), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Epoch(Base):
    """A price epoch: its lifecycle, deadlines, and (once finalized) what finalization found."""

    __tablename__ = "epochs"
    __table_args__ = (
        CheckConstraint("id >= 0", name="id_non_negative"),
        CheckConstraint("(status = 'open') = (closed_at IS NULL)", name="closed_at_when_closed"),
        CheckConstraint("(status = 'finalized') = (finalized_at IS NOT NULL)", name="finalized_at_when_finalized"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    status: Mapped[EpochStatus] = mapped_column(_enum(EpochStatus, "epoch_status"))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    attestation_deadline: Mapped[datetime | None] = mapped_column(UtcDateTime)
    settlement_deadline: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finalized_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    settled_accounts: Mapped[int | None] = mapped_column(Integer)
    defaulted_accounts: Mapped[int | None] = mapped_column(Integer)

    prices: Mapped[list[EpochPrice]] = relationship(order_by="EpochPrice.market_id", lazy="selectin")


class EpochPrice(Base):
    """One market's settlement price in an epoch: the median of the oracle quorum, or for an option
    market in portfolio mode its settlement value (0 for an option expiring worthless; migration 0010)."""

    __tablename__ = "epoch_prices"
    __table_args__ = (CheckConstraint("price >= 0", name="price_not_negative"),)

    epoch_id: Mapped[int] = mapped_column(ForeignKey("epochs.id"), primary_key=True)
    market_id: Mapped[int] = mapped_column(ForeignKey("markets.id"), primary_key=True)
    price: Mapped[int] = mapped_column(BigInteger)
    # the quorum median of the signed funding rates (millionths of the price; 0 for a future), fixed
    # with the price when the epoch closes: the funding-index step is rate * price (migration 0007)
    funding_rate: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Attestation(Base):
    """An accepted margin attestation; the statement digest is unique (dedup on the statement)."""

    __tablename__ = "attestations"
    __table_args__ = (Index(None, "account_id", "epoch_id"),)

    id: Mapped[int] = mapped_column(IdentityKey, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    epoch_id: Mapped[int] = mapped_column(ForeignKey("epochs.id"))
    commitment: Mapped[int] = mapped_column(FieldElementText)
    statement_digest: Mapped[str] = mapped_column(String(HASH_HEX_LENGTH), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class Settlement(Base):
    """An account's settled pnl for an epoch: at most one per account and epoch.

    ``journal_entry_id`` is NULL exactly when pnl is zero: a zero pnl moves no money.
    """

    __tablename__ = "settlements"
    __table_args__ = (
        UniqueConstraint("account_id", "epoch_id"),
        Index(None, "epoch_id"),
    )

    id: Mapped[int] = mapped_column(IdentityKey, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    epoch_id: Mapped[int] = mapped_column(ForeignKey("epochs.id"))
    pnl: Mapped[int] = mapped_column(ExactInteger)
    transition_id: Mapped[int] = mapped_column(ForeignKey("account_commitments.id"), unique=True)
    journal_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    holds_position: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())  # the proof's bit


class AccountDefault(Base):
    """An account the operator declared in default for an epoch (unapplied fills, no settlement)."""

    __tablename__ = "account_defaults"
    __table_args__ = (UniqueConstraint("account_id", "epoch_id"),)

    id: Mapped[int] = mapped_column(IdentityKey, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    epoch_id: Mapped[int] = mapped_column(ForeignKey("epochs.id"), index=True)
    reason: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class JournalEntry(Base):
    """One append-only, hash-chained ledger entry; its postings sum to exactly zero.

    ``sequence`` runs 1, 2, 3, ... without gaps; ``entry_hash`` = SHA-256(previous_hash ||
    canonical encoding), see ``verifier.db.ledger``. ``reference`` is an idempotency key.
    """

    __tablename__ = "journal_entries"
    __table_args__ = (CheckConstraint("sequence >= 1", name="sequence_positive"),)

    id: Mapped[int] = mapped_column(IdentityKey, primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger, unique=True)
    kind: Mapped[EntryKind] = mapped_column(_enum(EntryKind, "entry_kind"))
    reference: Mapped[str] = mapped_column(String(REFERENCE_LENGTH), unique=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    epoch_id: Mapped[int | None] = mapped_column(ForeignKey("epochs.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    previous_hash: Mapped[str] = mapped_column(String(HASH_HEX_LENGTH))
    entry_hash: Mapped[str] = mapped_column(String(HASH_HEX_LENGTH), unique=True)

    postings: Mapped[list[LedgerPosting]] = relationship(
        order_by="LedgerPosting.position", lazy="selectin", back_populates="entry"
    )


class LedgerPosting(Base):
    """One leg of a journal entry: a signed amount on a ledger account (see the chart in ledger.py)."""

    __tablename__ = "ledger_postings"
    __table_args__ = (
        UniqueConstraint("entry_id", "position"),
        CheckConstraint("position >= 0", name="position_non_negative"),
    )

    id: Mapped[int] = mapped_column(IdentityKey, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"))
    position: Mapped[int] = mapped_column(Integer)
    ledger_account: Mapped[str] = mapped_column(String(LEDGER_ACCOUNT_LENGTH), index=True)
    amount: Mapped[int] = mapped_column(ExactInteger)

    entry: Mapped[JournalEntry] = relationship(back_populates="postings")


class LedgerHead(Base):
    """The single row every append locks: the last sequence number and hash of the chain."""

    __tablename__ = "ledger_head"
    __table_args__ = (
        CheckConstraint("id = 1", name="single_row"),
        CheckConstraint("sequence >= 0", name="sequence_non_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sequence: Mapped[int] = mapped_column(BigInteger)
    entry_hash: Mapped[str] = mapped_column(String(HASH_HEX_LENGTH))


# --- the service's own records (migration 0002) ----------------------------------------------


class AccountCredential(Base):
    """The hash of the bearer token an account's owner received when opening it.

    The genesis state is public (its salt is revealed so the service can compute the genesis
    commitment itself), so anyone could prove a transition from it; the token is what makes
    only the owner able to submit proofs for the account. Only SHA-256(token) is stored.
    """

    __tablename__ = "account_credentials"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True, autoincrement=False)
    token_hash: Mapped[str] = mapped_column(String(HASH_HEX_LENGTH), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class OracleKey(Base):
    """A registered oracle: its raw Ed25519 public key (hex) and a unique human name.

    A revoked key (``revoked_at`` set, by the operator or because it left the configuration) is
    kept as history only: none of its reports is accepted or counted again, and it is never
    registered again.
    """

    __tablename__ = "oracle_keys"
    __table_args__ = (
        CheckConstraint("(revoked_at IS NULL) = (revoked_reason IS NULL)", name="revoked_with_reason"),
    )

    public_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(String(200))


class OracleReport(Base):
    """A signed price report that passed ``verifier.oracle.verify_report`` when it arrived.

    ``digest`` (SHA-256 of the signed bytes, hex) is unique: a resubmitted report is the same one.
    (oracle, market, timestamp) is unique too: an oracle states one price per market and instant,
    so of two different reports racing in, one is stored and the other refused (equivocation).
    Snapshots re-verify every report they use, so a row is evidence, never trusted as such.
    """

    __tablename__ = "oracle_reports"
    __table_args__ = (
        Index(None, "market", "timestamp"),
        UniqueConstraint("oracle", "market", "timestamp"),
    )

    id: Mapped[int] = mapped_column(IdentityKey, primary_key=True)
    digest: Mapped[str] = mapped_column(String(HASH_HEX_LENGTH), unique=True)
    oracle: Mapped[str] = mapped_column(ForeignKey("oracle_keys.public_key"))
    market: Mapped[int] = mapped_column(Integer)
    price: Mapped[int] = mapped_column(BigInteger)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class VolReport(Base):
    """A signed implied-volatility report (``circuits.protocol.vol_report``) that passed
    ``verify_vol_report`` when it arrived; unique as an ``OracleReport`` is (digest; oracle,
    market and instant), and re-verified whenever a quorum counts it."""

    __tablename__ = "vol_reports"
    __table_args__ = (
        Index(None, "market", "timestamp"),
        UniqueConstraint("oracle", "market", "timestamp"),
    )

    id: Mapped[int] = mapped_column(IdentityKey, primary_key=True)
    digest: Mapped[str] = mapped_column(String(HASH_HEX_LENGTH), unique=True)
    oracle: Mapped[str] = mapped_column(ForeignKey("oracle_keys.public_key"))
    market: Mapped[int] = mapped_column(Integer)
    vol: Mapped[int] = mapped_column(BigInteger)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class SnapshotPhase(enum.StrEnum):
    """``mark``: taken when an epoch opens (margin and initial-margin checks during the epoch);
    ``settlement``: taken when it closes (the settlement prices, also in ``epoch_prices``)."""

    MARK = "mark"
    SETTLEMENT = "settlement"


class PriceSnapshotRecord(Base):
    """An epoch's price snapshot as ``verifier.oracle.PriceSnapshot.to_json`` wrote it; never changes."""

    __tablename__ = "price_snapshots"

    epoch_id: Mapped[int] = mapped_column(ForeignKey("epochs.id"), primary_key=True)
    phase: Mapped[SnapshotPhase] = mapped_column(_enum(SnapshotPhase, "snapshot_phase"), primary_key=True)
    taken_at: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(String(HASH_HEX_LENGTH))
    document: Mapped[str] = mapped_column(Text)
    # the circuit-breaker trips the operator confirmed (JSON list of ``BreakerTrip.to_dict``);
    # NULL when the breaker did not trip
    circuit_breaker_override: Mapped[str | None] = mapped_column(Text)


class EpochRiskRecord(Base):
    """An epoch's risk record in portfolio mode (``verifier.services.risk``): the market inputs,
    the risk arrays and their Poseidon digest, fixed when the epoch opened; never changes."""

    __tablename__ = "epoch_risk"

    epoch_id: Mapped[int] = mapped_column(ForeignKey("epochs.id"), primary_key=True)
    digest: Mapped[str] = mapped_column(String(80))  # the field element, decimal
    document: Mapped[str] = mapped_column(Text)
    # the settlement valuation fixed at the close (expired options at intrinsic value; migration 0010)
    settlement: Mapped[str | None] = mapped_column(Text, nullable=True)


class EpochRecord(Base):
    """An epoch's open or close document (``circuits.protocol.epoch_record``) as journaled: the
    canonical JSON, its hash and the ``epoch_record`` journal entry that carries it (migration 0009)."""

    __tablename__ = "epoch_records"
    __table_args__ = (CheckConstraint("phase IN ('open', 'close')", name="phase_known"),)

    epoch_id: Mapped[int] = mapped_column(ForeignKey("epochs.id"), primary_key=True)
    phase: Mapped[str] = mapped_column(String(8), primary_key=True)
    document: Mapped[str] = mapped_column(Text)  # the canonical bytes, as hashed
    sha256: Mapped[str] = mapped_column(String(HASH_HEX_LENGTH))
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"), unique=True)


# --- liquidation (migration 0006) -------------------------------------------------------------


class LiquidationStatus(enum.StrEnum):
    """requested: signed and frozen, collecting shares; opened: the state is revealed; closed: the
    close-out is applied; failed: the opening did not match the pinned commitment, or the account
    was declared in default before it opened."""

    REQUESTED = "requested"
    OPENED = "opened"
    CLOSED = "closed"
    FAILED = "failed"


class Liquidation(Base):
    """The operator's signed request to open one account's pinned state, and what came of it."""

    __tablename__ = "liquidations"
    __table_args__ = (
        CheckConstraint("(status = 'closed') = (closed_at IS NOT NULL)", name="closed_at_when_closed"),
        CheckConstraint("(status = 'failed') = (failure IS NOT NULL)", name="failure_when_failed"),
        Index(None, "account_id"),
    )

    id: Mapped[int] = mapped_column(IdentityKey, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    epoch_id: Mapped[int] = mapped_column(ForeignKey("epochs.id"))
    reason: Mapped[str] = mapped_column(String(32))
    status: Mapped[LiquidationStatus] = mapped_column(_enum(LiquidationStatus, "liquidation_status"))
    request: Mapped[str] = mapped_column(Text)  # the request's canonical JSON, as signed
    request_digest: Mapped[str] = mapped_column(String(HASH_HEX_LENGTH), unique=True)
    signature: Mapped[str] = mapped_column(String(128))
    commitment_id: Mapped[int] = mapped_column(ForeignKey("account_commitments.id"))  # the pinned commitment
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    revealed_state: Mapped[str | None] = mapped_column(Text)  # circuits.inputs.state_to_json, once opened
    closeout: Mapped[str | None] = mapped_column(Text)  # what the close-out did (JSON), once closed
    successor_state: Mapped[str | None] = mapped_column(Text)  # the opening the account continues from
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    failure: Mapped[str | None] = mapped_column(String(500))

    shares: Mapped[list[LiquidationShare]] = relationship(order_by="LiquidationShare.guardian", lazy="selectin")
    pinned: Mapped[AccountCommitment] = relationship(lazy="joined")


class LiquidationShare(Base):
    """A guardian's decryption share for a liquidation, kept once its DLEQ proof verified."""

    __tablename__ = "liquidation_shares"
    __table_args__ = (
        UniqueConstraint("liquidation_id", "guardian"),
        CheckConstraint("guardian >= 1", name="guardian_positive"),
    )

    id: Mapped[int] = mapped_column(IdentityKey, primary_key=True)
    liquidation_id: Mapped[int] = mapped_column(ForeignKey("liquidations.id"))
    guardian: Mapped[int] = mapped_column(Integer)
    share: Mapped[str] = mapped_column(Text)  # the share JSON as zkmargin.threshold's codec wrote it
    accepted_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


# --- perpetual funding (migration 0007) --------------------------------------------------------


class FundingReport(Base):
    """A signed funding-rate report that passed ``verifier.services.funding`` when it arrived.

    The digest is unique (a resubmission is the same report); (oracle, market, epoch) is unique
    too: an oracle states one rate per market and epoch, a different one is equivocation. The
    epoch close re-verifies every report it counts, so a row is evidence, never trusted as such.
    """

    __tablename__ = "funding_reports"
    __table_args__ = (
        UniqueConstraint("oracle", "market", "epoch"),
        CheckConstraint("rate >= -1000000 AND rate <= 1000000", name="rate_range"),
    )

    id: Mapped[int] = mapped_column(IdentityKey, primary_key=True)
    digest: Mapped[str] = mapped_column(String(HASH_HEX_LENGTH), unique=True)
    oracle: Mapped[str] = mapped_column(ForeignKey("oracle_keys.public_key"))
    market: Mapped[int] = mapped_column(Integer)
    epoch: Mapped[int] = mapped_column(BigInteger)
    rate: Mapped[int] = mapped_column(Integer)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
