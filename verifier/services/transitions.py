"""Proof intake: deposits, withdrawals, fills, settlements (transitions) and margin attestations.

Every submission runs in three steps:

1. **plan** (a read snapshot): authenticate the owner, find the referenced records, and build
   the public inputs with the circuit's ``public_inputs(...)`` from *our* records — the
   account's current commitment as the old commitment, the epoch's prices, the market rates,
   the pending deposit's amount, the stored fill commitment. The client supplies only the new
   commitment, the withdrawal amount or the pnl, and references. A statement (or a new
   commitment) accepted before is refused here with 409, before any pairing.
2. **verify** the proof (batched with concurrent submissions).
3. **commit** (one unit of work): compare-and-swap the account's commitment from the one the
   statement was built on, plus the ledger effect (deposit applied, payout recorded, fill
   consumed, settlement posted). Of two racing transitions exactly one commits; the other gets
   409 (stale commitment) and nothing of it is written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, Connection, String, bindparam, exists, insert, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from circuits.state import BoundError
from verifier import ledger
from verifier.batching import Announcement
from verifier.db import records
from verifier.db.models import (
    Account,
    AccountCommitment,
    AccountCredential,
    Epoch,
    Attestation,
    EpochStatus,
    PendingItem,
    PendingKind,
    Settlement,
    StatementKind,
)
from verifier.db.types import FieldElementText, UtcDateTime, utc_now
from verifier.errors import ConflictError, DuplicateError, EpochStateError, NotFoundError, StaleCommitmentError
from verifier.services import accounts, epochs
from verifier.services.context import ServiceContext
from verifier.services.errors import AlreadyAcceptedError, ProofRejectedError, RequestError
from verifier.services.statements import Statement, build_statement, parse_proof, verify_statement
from zkmargin.errors import MalformedInputError
from zkmargin.curves import get_curve

log = logging.getLogger("zkmargin.verifier")


@dataclass
class Plan:
    """A statement built from our records, and what accepting it writes."""

    statement: Statement
    kind: StatementKind | None  # None: a margin attestation (no transition)
    account_id: int
    old_commitment: int
    new_commitment: int | None = None
    epoch_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    sequence: int = 0  # the account's sequence the statement was built on
    rebuild: Callable[[int], Statement] | None = None  # the same statement from another old commitment


def _field_element(ctx: ServiceContext, name: str, value: int) -> int:
    r = get_curve(ctx.curve).r
    if not 0 <= value < r:
        raise RequestError(f"{name} must be a field element: an integer in [0, r) for {ctx.curve}")
    return value


def _transition_view(row: AccountCommitment) -> dict[str, Any]:
    return {"account_id": row.account_id, "sequence": row.sequence, "commitment": str(row.commitment),
            "kind": row.kind.value, "statement_digest": row.statement_digest, "epoch_id": row.epoch_id,
            "accepted_at": row.created_at}


def _refuse_accepted(session: Session, ctx: ServiceContext, account_id: int, new_commitment: int,
                     rebuild: Callable[[int], Statement]) -> None:
    """409 if ``new_commitment`` was entered before: 'already accepted' when it was this same
    statement (a replay, a retry, a re-randomized proof), else 'commitment already used'."""
    row = session.scalar(select(AccountCommitment).where(AccountCommitment.commitment == new_commitment))
    if row is None:
        return
    if row.account_id == account_id and row.sequence > 0:
        previous = session.scalar(select(AccountCommitment.commitment).where(
            AccountCommitment.account_id == account_id, AccountCommitment.sequence == row.sequence - 1))
        try:
            digest = rebuild(previous).digest
        except (BoundError, ConflictError, NotFoundError):
            digest = None
        if digest == row.statement_digest:
            raise AlreadyAcceptedError(
                f"this {row.kind.value} statement was already accepted (account {account_id}, sequence "
                f"{row.sequence}); a replayed or re-randomized proof is not accepted twice",
                accepted=_transition_view(row))
    raise DuplicateError("the new commitment has already been used: every new state takes a fresh salt")


# --- plans ----------------------------------------------------------------------------------


def plan_deposit(session: Session, ctx: ServiceContext, account_id: int, token: str | None, deposit_id: int,
                 epoch_id: int, new_commitment: int) -> Plan:
    account = accounts.authenticate(session, account_id, token)
    _field_element(ctx, "new_commitment", new_commitment)
    item = session.get(PendingItem, deposit_id)
    if item is None or item.account_id != account_id or item.kind is not PendingKind.DEPOSIT:
        raise NotFoundError(f"account {account_id} has no deposit {deposit_id}")
    amount = int(item.amount)
    prices = epochs.mark_prices(session, ctx, epoch_id, require_open=False)
    transfer = ctx.runtime.keys["transfer"].circuit

    def build(old: int) -> Statement:
        return build_statement(ctx, "transfer", transfer.public_inputs(
            account_id, old, new_commitment, amount, prices, ctx.runtime.initial_rates, ctx.curve))

    _refuse_accepted(session, ctx, account_id, new_commitment, build)
    if item.consumed_by is not None:
        raise DuplicateError(f"deposit {deposit_id} has already been applied")
    epochs.mark_prices(session, ctx, epoch_id, require_open=True)
    return Plan(build(account.current_commitment), StatementKind.TRANSFER, account_id, account.current_commitment,
                new_commitment, details={"deposit_id": deposit_id, "amount": amount}, sequence=account.sequence,
                rebuild=build)


def plan_withdrawal(session: Session, ctx: ServiceContext, account_id: int, token: str | None, amount: int,
                    epoch_id: int, new_commitment: int) -> Plan:
    account = accounts.authenticate(session, account_id, token)
    _field_element(ctx, "new_commitment", new_commitment)
    if not 0 < amount < ledger.MAX_POSTING:
        raise RequestError(f"a withdrawal amount must lie in (0, 2^96), got {amount}")
    prices = epochs.mark_prices(session, ctx, epoch_id, require_open=False)
    transfer = ctx.runtime.keys["transfer"].circuit

    def build(old: int) -> Statement:
        return build_statement(ctx, "transfer", transfer.public_inputs(
            account_id, old, new_commitment, -amount, prices, ctx.runtime.initial_rates, ctx.curve))

    _refuse_accepted(session, ctx, account_id, new_commitment, build)
    epochs.mark_prices(session, ctx, epoch_id, require_open=True)
    return Plan(build(account.current_commitment), StatementKind.TRANSFER, account_id, account.current_commitment,
                new_commitment, details={"amount": amount}, sequence=account.sequence, rebuild=build)


def plan_fill(session: Session, ctx: ServiceContext, account_id: int, token: str | None, fill_id: int,
              epoch_id: int, new_commitment: int) -> Plan:
    account = accounts.authenticate(session, account_id, token)
    _field_element(ctx, "new_commitment", new_commitment)
    item = session.get(PendingItem, fill_id)
    if item is None or item.account_id != account_id or item.kind is not PendingKind.FILL:
        raise NotFoundError(f"account {account_id} has no fill {fill_id}")
    prices = epochs.mark_prices(session, ctx, epoch_id, require_open=False)
    circuit = ctx.runtime.keys["fill"].circuit
    fill_commitment = int(item.fill_commitment)

    def build(old: int) -> Statement:
        return build_statement(ctx, "fill", circuit.public_inputs(
            account_id, old, new_commitment, fill_commitment, prices, ctx.runtime.initial_rates, ctx.curve))

    _refuse_accepted(session, ctx, account_id, new_commitment, build)
    if item.consumed_by is not None:
        raise DuplicateError(f"fill {fill_id} has already been applied")
    epochs.mark_prices(session, ctx, epoch_id, require_open=True)
    return Plan(build(account.current_commitment), StatementKind.FILL, account_id, account.current_commitment,
                new_commitment, details={"fill_id": fill_id, "fill_commitment": fill_commitment},
                sequence=account.sequence, rebuild=build)


def plan_settlement(session: Session, ctx: ServiceContext, account_id: int, token: str | None, epoch_id: int,
                    pnl: int, new_commitment: int) -> Plan:
    account = accounts.authenticate(session, account_id, token)
    _field_element(ctx, "new_commitment", new_commitment)
    epoch = records.get_epoch(session, epoch_id)
    if epoch.status is EpochStatus.OPEN:
        raise EpochStateError(f"epoch {epoch_id} is still open: settle after it closes")
    prices = [p.price for p in epoch.prices]
    circuit = ctx.runtime.keys["settle"].circuit

    def build(old: int) -> Statement:
        return build_statement(ctx, "settle", circuit.public_inputs(
            account_id, old, new_commitment, epoch_id, prices, pnl, ctx.curve))

    _refuse_accepted(session, ctx, account_id, new_commitment, build)
    if session.scalar(select(exists().where(Settlement.account_id == account_id, Settlement.epoch_id == epoch_id))):
        raise DuplicateError(f"account {account_id} has already settled epoch {epoch_id}")
    epochs.settlement_prices(session, ctx, epoch_id)  # refuses a finalized epoch
    return Plan(build(account.current_commitment), StatementKind.SETTLE, account_id, account.current_commitment,
                new_commitment, epoch_id=epoch_id, details={"pnl": pnl}, sequence=account.sequence, rebuild=build)


# The hot path's one read: the account's commitment, its token hash, and whether that commitment
# is already attested for the epoch (same account, epoch and commitment: the same statement).
# Built once: building a select per request costs more CPU than running it.
_ATTESTATION_PLAN = (
    select(Account.current_commitment, Account.sequence, AccountCredential.token_hash,
           select(Attestation.id).where(Attestation.account_id == Account.id,
                                        Attestation.epoch_id == bindparam("epoch_id"),
                                        Attestation.commitment == Account.current_commitment)
           .limit(1).scalar_subquery())
    .outerjoin(AccountCredential, AccountCredential.account_id == Account.id)
    .where(Account.id == bindparam("account_id"))
)


@contextmanager
def _orm(db: Session | Connection) -> Iterator[Session]:
    """An ORM session on ``db`` (itself if it is one): for the paths off the hot one."""
    if isinstance(db, Session):
        yield db
    else:
        with Session(bind=db, autoflush=False) as session:
            yield session


def plan_attestation(db: Session | Connection, ctx: ServiceContext, account_id: int, token: str | None,
                     epoch_id: int) -> Plan:
    """One query on the hot path (``_ATTESTATION_PLAN``), on a session or a Core connection; an
    attestation already accepted for this statement is answered 'already accepted' here, before
    any pairing."""
    row = db.execute(_ATTESTATION_PLAN, {"account_id": account_id, "epoch_id": epoch_id}).first()
    if row is None:
        raise NotFoundError(f"account {account_id} does not exist")
    current, sequence, stored_hash, seen_id = row
    accounts.check_token(account_id, token, stored_hash)
    prices = ctx.mark_prices.get(epoch_id)  # immutable once the epoch is open: cached after the first
    if prices is None:
        with _orm(db) as session:
            prices = epochs.mark_prices(session, ctx, epoch_id, require_open=False)
    circuit = ctx.runtime.keys["margin"].circuit

    def build(commitment: int) -> Statement:
        return build_statement(ctx, "margin", circuit.public_inputs(
            account_id, commitment, epoch_id, prices, ctx.runtime.maintenance_rates, ctx.curve))

    statement = build(current)
    if seen_id is not None:
        with _orm(db) as session:
            seen = session.get(Attestation, seen_id)
        raise AlreadyAcceptedError("this margin attestation was already accepted; a replayed or re-randomized proof "
                                   "is not accepted twice", accepted=_attestation_view(seen))
    return Plan(statement, None, account_id, current, epoch_id=epoch_id, sequence=sequence, rebuild=build)


def _attestation_view(row: Attestation) -> dict[str, Any]:
    return {"attestation_id": row.id, "account_id": row.account_id, "epoch_id": row.epoch_id,
            "commitment": str(row.commitment), "statement_digest": row.statement_digest, "accepted_at": row.created_at}


# --- commits --------------------------------------------------------------------------------


def commit_transition(session: Session, plan: Plan) -> dict[str, Any]:
    """Everything one accepted transition writes, in the caller's unit of work."""
    assert plan.kind is not None and plan.new_commitment is not None
    transition = records.advance_commitment(
        session, plan.account_id, expected_commitment=plan.old_commitment, new_commitment=plan.new_commitment,
        kind=plan.kind, statement_digest=plan.statement.digest, epoch_id=plan.epoch_id)
    result = {"transition": _transition_view(transition)}
    details = plan.details
    if "deposit_id" in details:
        entry = ledger.apply_deposit(session, pending_item_id=details["deposit_id"], transition=transition)
        result.update(deposit_id=details["deposit_id"], amount=str(details["amount"]), ledger_entry=entry.sequence)
    elif plan.kind is StatementKind.TRANSFER:
        payout = ledger.record_withdrawal(session, transition=transition, amount=details["amount"])
        result.update(payout_id=payout.id, amount=str(details["amount"]), status=payout.status.value)
    elif plan.kind is StatementKind.FILL:
        records.consume_fill(session, fill_commitment=details["fill_commitment"], transition=transition)
        result.update(fill_id=details["fill_id"])
    elif plan.kind is StatementKind.SETTLE:
        settlement = ledger.record_settlement(session, transition=transition, pnl=details["pnl"])
        result.update(epoch_id=plan.epoch_id, pnl=str(settlement.pnl), settlement_id=settlement.id)
    return result


def commit_attestation(session: Session, plan: Plan) -> dict[str, Any]:
    """Keep the attestation if the account is still at the attested commitment (row locked).

    What ``records.record_attestation`` checks, in two statements of a unit of work: the account
    row (locked, and still at the attested commitment), the epoch not finalized, and the
    statement's uniqueness (the unique index on the digest decides a race). On PostgreSQL the
    hot path is ``insert_attestation`` (the same checks in one statement); this function then
    only runs when that inserted nothing, to say why.
    """
    status = select(Epoch.status).where(Epoch.id == plan.epoch_id).scalar_subquery()
    row = session.execute(select(Account.current_commitment, status).where(Account.id == plan.account_id)
                          .with_for_update(of=Account)).first()
    if row is None or row[0] != plan.old_commitment:
        raise StaleCommitmentError(f"account {plan.account_id} moved to a new commitment while the attestation "
                                   "was verified: attest the current state")
    if row[1] is None:
        raise NotFoundError(f"epoch {plan.epoch_id} does not exist")
    if EpochStatus(row[1]) is EpochStatus.FINALIZED:
        raise EpochStateError(f"epoch {plan.epoch_id} is finalized")
    now = utc_now()
    try:
        attestation_id = session.scalar(insert(Attestation).values(
            account_id=plan.account_id, epoch_id=plan.epoch_id, commitment=plan.old_commitment,
            statement_digest=plan.statement.digest, created_at=now).returning(Attestation.id))
    except IntegrityError:  # the unit of work rolls back as the error leaves it
        raise AlreadyAcceptedError("this margin attestation was already accepted; a replayed or re-randomized "
                                   "proof is not accepted twice") from None
    return {"attestation_id": attestation_id, "account_id": plan.account_id, "epoch_id": plan.epoch_id,
            "commitment": str(plan.old_commitment), "statement_digest": plan.statement.digest, "accepted_at": now}


# What ``commit_attestation`` checks, as one statement that commits on its own (PostgreSQL): insert
# the attestation only if the account row, locked, is still at the attested commitment, the epoch
# is not finalized and the statement is new (ON CONFLICT on the unique digest: of two racing
# inserts of one statement, the second waits for the first and inserts nothing). One round trip
# instead of BEGIN, SELECT ... FOR UPDATE, INSERT, COMMIT.
_ATTESTATION_INSERT = (
    postgresql.insert(Attestation)
    .from_select(
        ["account_id", "epoch_id", "commitment", "statement_digest", "created_at"],
        select(Account.id, Epoch.id, Account.current_commitment, bindparam("digest", type_=String()),
               bindparam("created_at", type_=UtcDateTime()))
        .select_from(Account).join(Epoch, Epoch.id == bindparam("epoch_id", type_=BigInteger()))
        .where(Account.id == bindparam("account_id", type_=BigInteger()),
               Account.current_commitment == bindparam("commitment", type_=FieldElementText()),
               Epoch.status != EpochStatus.FINALIZED)
        .with_for_update(of=Account))
    .on_conflict_do_nothing(index_elements=[Attestation.statement_digest])
    .returning(Attestation.id)
)


def insert_attestation(connection: Connection, plan: Plan) -> dict[str, Any] | None:
    """``commit_attestation`` in one autocommitted statement (PostgreSQL), or None when nothing
    was inserted: then ``commit_attestation`` says why (moved, finalized, already accepted)."""
    now = utc_now()
    attestation_id = connection.execute(_ATTESTATION_INSERT, {
        "account_id": plan.account_id, "epoch_id": plan.epoch_id, "commitment": plan.old_commitment,
        "digest": plan.statement.digest, "created_at": now}).scalar()
    if attestation_id is None:
        return None
    return {"attestation_id": attestation_id, "account_id": plan.account_id, "epoch_id": plan.epoch_id,
            "commitment": str(plan.old_commitment), "statement_digest": plan.statement.digest, "accepted_at": now}


STALE_LOOKBACK = 2  # older commitments tried when a proof fails (a client that lost a race)


def _previous_commitments(session: Session, account_id: int, sequence: int) -> list[tuple[int, int]]:
    rows = session.execute(select(AccountCommitment.sequence, AccountCommitment.commitment).where(
        AccountCommitment.account_id == account_id, AccountCommitment.sequence < sequence,
        AccountCommitment.sequence >= sequence - STALE_LOOKBACK).order_by(AccountCommitment.sequence.desc()))
    return [(row.sequence, row.commitment) for row in rows]


async def _refuse_if_stale(ctx: ServiceContext, plan: Plan, proof: Any) -> None:
    """A proof that fails against the current commitment but holds for one of the last few is a
    transition that lost a race (or a client behind by a step): say so (409), not 'invalid'."""
    if plan.rebuild is None or plan.sequence == 0:
        return
    for sequence, commitment in await ctx.read(_previous_commitments, plan.account_id, plan.sequence):
        try:
            await verify_statement(ctx, plan.rebuild(commitment), proof, count=False)
        except (ProofRejectedError, BoundError):
            continue
        raise StaleCommitmentError(
            f"account {plan.account_id} is at sequence {plan.sequence}: the proof starts from its commitment at "
            f"sequence {sequence}, which is no longer current")


async def _verify_plan(ctx: ServiceContext, plan: Plan, proof: Any, parsed: Any,
                       announcement: Announcement | None = None) -> None:
    try:
        await verify_statement(ctx, plan.statement, proof, parsed=parsed, announcement=announcement)
    except ProofRejectedError:
        await _refuse_if_stale(ctx, plan, proof)
        raise


def _parsed(ctx: ServiceContext, plan: Plan, proof: Any) -> Any:
    try:  # parsed in the planning thread: one hop to a worker thread instead of two
        return parse_proof(ctx, plan.statement.name, proof, plan.statement.public_inputs)
    except MalformedInputError as exc:
        return exc


async def submit_attestation(ctx: ServiceContext, proof: Any, account_id: int, token: str | None,
                             epoch_id: int) -> dict[str, Any]:
    """Plan, verify and keep one margin attestation: the hot path under load.

    On PostgreSQL one autocommitted read plans it and one autocommitted statement keeps it (two
    round trips, no ORM session); a keep that inserts nothing goes through ``commit_attestation``
    in a unit of work, which says why (or keeps it, should the reason have gone meanwhile).
    """
    def plan_and_parse(db: Session | Connection) -> tuple[Plan, Any]:
        planned = plan_attestation(db, ctx, account_id, token, epoch_id)
        return planned, _parsed(ctx, planned, proof)

    with ctx.batchers["margin"].announce() as announcement:  # a batch starting meanwhile may wait for it
        plan, parsed = await ctx.query(plan_and_parse)
        await _verify_plan(ctx, plan, proof, parsed, announcement)
    if ctx.autocommits:
        kept = await ctx.autocommit(insert_attestation, plan)
        if kept is not None:
            return kept
    return await ctx.write(commit_attestation, plan)


async def submit(ctx: ServiceContext, planner: Callable[..., Plan], proof: Any, *args: Any) -> dict[str, Any]:
    """Plan, verify and commit one proof submission."""
    def plan_and_parse(session: Session) -> tuple[Plan, Any]:
        planned = planner(session, ctx, *args)
        return planned, _parsed(ctx, planned, proof)

    plan, parsed = await ctx.plan(plan_and_parse)
    await _verify_plan(ctx, plan, proof, parsed)
    if plan.kind is None:
        return await ctx.write(commit_attestation, plan)
    result = await ctx.write(commit_transition, plan)
    if plan.kind is StatementKind.SETTLE:
        try:
            finalized = await ctx.write(epochs.finalize_epoch, plan.epoch_id)
            result["epoch_finalized"] = True
            log.info("epoch %s finalized", plan.epoch_id, extra={"event": "epoch_finalized", **{
                k: v for k, v in finalized.items() if k in ("epoch_id", "settled_accounts", "defaulted_accounts")}})
        except (EpochStateError, OperationalError):
            result["epoch_finalized"] = False  # not complete yet (or busy): the operator finalizes later
    log.info("accepted %s for account %s", plan.statement.name, plan.account_id,
             extra={"event": "statement_accepted", "statement": plan.statement.name, "account_id": plan.account_id,
                    "digest": plan.statement.digest})
    return result
