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

from sqlalchemy import BigInteger, Connection, String, bindparam, exists, insert, or_, select
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
from verifier.errors import (
    ConflictError,
    DuplicateError,
    EpochStateError,
    NotFoundError,
    OutOfOrderError,
    StaleCommitmentError,
)
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
    state_epoch: int | None = None  # the epoch the new state records (a public input)
    holds_position: bool | None = None  # what becomes public about the new state's position
    fills_up_to: int | None = None  # fills of epochs up to this one must be applied first
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


def _first_unapplied_fill(session: Session, account_id: int, up_to_epoch: int) -> PendingItem | None:
    return session.scalar(select(PendingItem).where(
        PendingItem.account_id == account_id, PendingItem.kind == PendingKind.FILL,
        PendingItem.consumed_by.is_(None), PendingItem.epoch_id <= up_to_epoch)
        .order_by(PendingItem.epoch_id, PendingItem.id).limit(1))


def refuse_earlier_fills(session: Session, account_id: int, up_to_epoch: int, action: str) -> None:
    fill = _first_unapplied_fill(session, account_id, up_to_epoch)
    if fill is not None:
        raise OutOfOrderError(f"{action}: apply fill {fill.id} of epoch {fill.epoch_id} first "
                              f"(POST /accounts/{account_id}/fills/{fill.id}/apply)")


def require_clearing_order(session: Session, account: Account, epoch_id: int, action: str, *,
                           fills_up_to: int) -> None:
    """The service's second line behind the circuits' epoch rule, naming the step to take first.

    An account in default is frozen. Fills of epochs up to ``fills_up_to`` are applied first (a
    fill belongs to the positions of its epoch). A state that holds a position is moved only
    inside its own epoch: to act in a later one it settles its epoch first; a state already in a
    later epoch cannot go back (its earlier epochs are settled)."""
    records.refuse_if_in_default(session, account.id)
    refuse_earlier_fills(session, account.id, fills_up_to, action)
    if account.state_epoch > epoch_id:
        raise OutOfOrderError(f"{action}: account {account.id}'s state is already in epoch {account.state_epoch}, "
                              f"after epoch {epoch_id}")
    if account.state_epoch < epoch_id and account.holds_position:
        raise OutOfOrderError(f"{action}: settle epoch {account.state_epoch} first: the account's state holds the "
                              f"positions of that epoch (POST /accounts/{account.id}/settlements)")


def _transfer_plan(session: Session, ctx: ServiceContext, account: Account, epoch_id: int, new_commitment: int,
                   amount: int, action: str, details: dict[str, Any], *, already_applied: bool = False) -> Plan:
    """A deposit (amount > 0) or a withdrawal (amount < 0), proven against the open epoch."""
    _field_element(ctx, "new_commitment", new_commitment)
    prices = epochs.mark_prices(session, ctx, epoch_id, require_open=False)
    transfer = ctx.runtime.keys["transfer"].circuit
    account_id = account.id  # the closure outlives the session (a rebuild after a failed proof)

    def build(old: int) -> Statement:
        return build_statement(ctx, "transfer", transfer.public_inputs(
            account_id, old, new_commitment, amount, epoch_id, prices, ctx.runtime.initial_rates, ctx.curve))

    _refuse_accepted(session, ctx, account_id, new_commitment, build)
    if already_applied:
        raise DuplicateError(f"{action} has already been applied")
    epochs.mark_prices(session, ctx, epoch_id, require_open=True)
    require_clearing_order(session, account, epoch_id, action, fills_up_to=epoch_id - 1)
    return Plan(build(account.current_commitment), StatementKind.TRANSFER, account_id, account.current_commitment,
                new_commitment, epoch_id=epoch_id, state_epoch=epoch_id, fills_up_to=epoch_id - 1, details=details,
                sequence=account.sequence, rebuild=build)


def plan_deposit(session: Session, ctx: ServiceContext, account_id: int, token: str | None, deposit_id: int,
                 epoch_id: int, new_commitment: int) -> Plan:
    account = accounts.authenticate(session, account_id, token)
    item = session.get(PendingItem, deposit_id)
    if item is None or item.account_id != account_id or item.kind is not PendingKind.DEPOSIT:
        raise NotFoundError(f"account {account_id} has no deposit {deposit_id}")
    amount = int(item.amount)
    return _transfer_plan(session, ctx, account, epoch_id, new_commitment, amount, f"deposit {deposit_id}",
                          {"deposit_id": deposit_id, "amount": amount}, already_applied=item.consumed_by is not None)


def plan_withdrawal(session: Session, ctx: ServiceContext, account_id: int, token: str | None, amount: int,
                    epoch_id: int, new_commitment: int) -> Plan:
    account = accounts.authenticate(session, account_id, token)
    if not 0 < amount < ledger.MAX_POSTING:
        raise RequestError(f"a withdrawal amount must lie in (0, 2^96), got {amount}")
    return _transfer_plan(session, ctx, account, epoch_id, new_commitment, -amount, "withdrawal", {"amount": amount})


def plan_fill(session: Session, ctx: ServiceContext, account_id: int, token: str | None, fill_id: int,
              epoch_id: int, new_commitment: int) -> Plan:
    """A fill is proven against its own epoch (the one open when the venue posted it), which may
    be closed by now: its positions are settled with that epoch."""
    account = accounts.authenticate(session, account_id, token)
    _field_element(ctx, "new_commitment", new_commitment)
    item = session.get(PendingItem, fill_id)
    if item is None or item.account_id != account_id or item.kind is not PendingKind.FILL:
        raise NotFoundError(f"account {account_id} has no fill {fill_id}")
    if item.epoch_id != epoch_id:
        raise RequestError(f"fill {fill_id} belongs to epoch {item.epoch_id}: prove it against that epoch's mark "
                           f"prices, with epoch_id {item.epoch_id}")
    prices = epochs.mark_prices(session, ctx, epoch_id, require_open=False)
    circuit = ctx.runtime.keys["fill"].circuit
    fill_commitment = int(item.fill_commitment)

    def build(old: int) -> Statement:
        return build_statement(ctx, "fill", circuit.public_inputs(
            account_id, old, new_commitment, fill_commitment, epoch_id, prices, ctx.runtime.initial_rates,
            ctx.runtime.maintenance_rates, ctx.curve))

    _refuse_accepted(session, ctx, account_id, new_commitment, build)
    if item.consumed_by is not None:
        raise DuplicateError(f"fill {fill_id} has already been applied")
    if epochs.epoch_status(session, epoch_id) is EpochStatus.FINALIZED:
        raise EpochStateError(f"fill {fill_id}'s epoch {epoch_id} is finalized: it can no longer be applied")
    require_clearing_order(session, account, epoch_id, f"fill {fill_id}", fills_up_to=epoch_id - 1)
    return Plan(build(account.current_commitment), StatementKind.FILL, account_id, account.current_commitment,
                new_commitment, epoch_id=epoch_id, state_epoch=epoch_id, holds_position=True, fills_up_to=epoch_id - 1,
                details={"fill_id": fill_id, "fill_commitment": fill_commitment},
                sequence=account.sequence, rebuild=build)


def plan_settlement(session: Session, ctx: ServiceContext, account_id: int, token: str | None, epoch_id: int,
                    pnl: int, new_commitment: int, holds_position: bool) -> Plan:
    account = accounts.authenticate(session, account_id, token)
    _field_element(ctx, "new_commitment", new_commitment)
    epoch = records.get_epoch(session, epoch_id)
    if epoch.status is EpochStatus.OPEN:
        raise EpochStateError(f"epoch {epoch_id} is still open: settle after it closes")
    prices = [p.price for p in epoch.prices]
    circuit = ctx.runtime.keys["settle"].circuit

    def build(old: int) -> Statement:
        return build_statement(ctx, "settle", circuit.public_inputs(
            account_id, old, new_commitment, epoch_id, prices, pnl, holds_position, ctx.curve))

    _refuse_accepted(session, ctx, account_id, new_commitment, build)
    if session.scalar(select(exists().where(Settlement.account_id == account_id, Settlement.epoch_id == epoch_id))):
        raise DuplicateError(f"account {account_id} has already settled epoch {epoch_id}")
    epochs.settlement_prices(session, ctx, epoch_id)  # refuses a finalized epoch
    require_clearing_order(session, account, epoch_id, f"settling epoch {epoch_id}", fills_up_to=epoch_id)
    return Plan(build(account.current_commitment), StatementKind.SETTLE, account_id, account.current_commitment,
                new_commitment, epoch_id=epoch_id, state_epoch=epoch_id + 1, holds_position=holds_position,
                fills_up_to=epoch_id, details={"pnl": pnl, "holds_position": holds_position}, sequence=account.sequence, rebuild=build)


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
    _require_timely(db, ctx, epoch_id)
    return Plan(statement, None, account_id, current, epoch_id=epoch_id, sequence=sequence, rebuild=build)


def _require_timely(db: Session | Connection, ctx: ServiceContext, epoch_id: int) -> None:
    """An attestation counts only while its epoch is open and by its deadline: refused here,
    before any pairing, and checked again where it is kept (the epoch may close meanwhile)."""
    if epoch_id not in ctx.attestation_deadlines:
        with _orm(db) as session:
            epoch = records.get_epoch(session, epoch_id)
            status, deadline = epoch.status, epoch.attestation_deadline
        if status is not EpochStatus.OPEN:
            raise EpochStateError(f"epoch {epoch_id} is {status.value}: margin attestations count only while the "
                                  "epoch is open")
        ctx.attestation_deadlines[epoch_id] = deadline  # immutable; the status is checked again on insert
    _refuse_late(epoch_id, ctx.attestation_deadlines[epoch_id], utc_now())


def _refuse_late(epoch_id: int, deadline: Any, now: Any) -> None:
    if deadline is not None and now > deadline:
        raise EpochStateError(f"the attestation deadline of epoch {epoch_id} passed at {deadline.isoformat()}: "
                              "attestations after it do not count")


def _attestation_view(row: Attestation) -> dict[str, Any]:
    return {"attestation_id": row.id, "account_id": row.account_id, "epoch_id": row.epoch_id,
            "commitment": str(row.commitment), "statement_digest": row.statement_digest, "accepted_at": row.created_at}


# --- commits --------------------------------------------------------------------------------


def commit_transition(session: Session, plan: Plan) -> dict[str, Any]:
    """Everything one accepted transition writes, in the caller's unit of work."""
    assert plan.kind is not None and plan.new_commitment is not None
    assert plan.epoch_id is not None and plan.state_epoch is not None
    transition = records.advance_commitment(
        session, plan.account_id, expected_commitment=plan.old_commitment, new_commitment=plan.new_commitment,
        kind=plan.kind, statement_digest=plan.statement.digest, epoch_id=plan.epoch_id,
        state_epoch=plan.state_epoch, holds_position=plan.holds_position)
    if plan.fills_up_to is not None:
        # again under the account row's lock (the update holds it; a late fill's posting takes it
        # too): a fill that arrived while the proof was verified is applied first, never stranded
        refuse_earlier_fills(session, plan.account_id, plan.fills_up_to,
                             f"{plan.statement.name} (a fill arrived while the proof was verified)")
    result = {"transition": _transition_view(transition)}
    details = plan.details
    if "deposit_id" in details:
        entry = ledger.apply_deposit(session, pending_item_id=details["deposit_id"], transition=transition)
        result.update(deposit_id=details["deposit_id"], amount=str(details["amount"]), ledger_entry=entry.sequence)
    elif plan.kind is StatementKind.TRANSFER:
        payout = ledger.record_withdrawal(session, transition=transition, amount=details["amount"])
        result.update(payout_id=payout.id, amount=str(details["amount"]), status=payout.status.value)
    elif plan.kind is StatementKind.FILL:
        # shared with settlements, exclusive for finalization: a fill is never applied to a finalized epoch
        if records.lock_epoch(session, plan.epoch_id, shared=True).status is EpochStatus.FINALIZED:
            raise EpochStateError(f"epoch {plan.epoch_id} was finalized while the fill was verified")
        records.consume_fill(session, fill_commitment=details["fill_commitment"], transition=transition)
        result.update(fill_id=details["fill_id"])
    elif plan.kind is StatementKind.SETTLE:
        settlement = ledger.record_settlement(session, transition=transition, pnl=details["pnl"],
                                              holds_position=details["holds_position"])
        result.update(epoch_id=plan.epoch_id, pnl=str(settlement.pnl), settlement_id=settlement.id)
    return result


def commit_attestation(session: Session, plan: Plan) -> dict[str, Any]:
    """Keep the attestation if the account is still at the attested commitment (row locked).

    In two statements of a unit of work: the account row (locked, and still at the attested
    commitment), the epoch open and its attestation deadline not passed, and the
    statement's uniqueness (the unique index on the digest decides a race). On PostgreSQL the
    hot path is ``insert_attestation`` (the same checks in one statement); this function then
    only runs when that inserted nothing, to say why.
    """
    status = select(Epoch.status).where(Epoch.id == plan.epoch_id).scalar_subquery()
    deadline = select(Epoch.attestation_deadline).where(Epoch.id == plan.epoch_id).scalar_subquery()
    row = session.execute(select(Account.current_commitment, status, deadline).where(Account.id == plan.account_id)
                          .with_for_update(of=Account)).first()
    if row is None or row[0] != plan.old_commitment:
        raise StaleCommitmentError(f"account {plan.account_id} moved to a new commitment while the attestation "
                                   "was verified: attest the current state")
    if row[1] is None:
        raise NotFoundError(f"epoch {plan.epoch_id} does not exist")
    if EpochStatus(row[1]) is not EpochStatus.OPEN:
        raise EpochStateError(f"epoch {plan.epoch_id} is {EpochStatus(row[1]).value}: margin attestations count "
                              "only while the epoch is open")
    now = utc_now()
    _refuse_late(plan.epoch_id, row[2], now)
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
# is open and its attestation deadline not passed, and the statement is new (ON CONFLICT on the unique digest: of two racing
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
               Epoch.status == EpochStatus.OPEN,
               or_(Epoch.attestation_deadline.is_(None),
                   Epoch.attestation_deadline >= bindparam("created_at", type_=UtcDateTime())))
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


STALE_LOOKBACK = 1  # the commitment before the current one: a rejected proof costs at most one more pairing


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
