"""Proof intake: deposits, withdrawals, fills, settlements (transitions) and margin attestations.

Every submission runs in three steps:

1. **plan** (reading committed data): authenticate the owner, find the referenced records, and build
   the public inputs with the circuit's ``public_inputs(...)`` from *our* records — the
   account's current commitment as the old commitment, the epoch's prices, the market rates,
   the pending deposit's amount, the stored fill commitment. The client supplies only the new
   commitment, the withdrawal amount or the pnl, and references. A statement (or a new
   commitment) accepted before is refused here with 409, before any pairing. Each transition
   is declared once (``TransitionSpec``: ``DEPOSIT``, ``WITHDRAWAL``, ``FILL``, ``SETTLEMENT``)
   and planned by ``plan_transition``.
2. **verify** the proof (batched with concurrent submissions).
3. **commit** (one unit of work): compare-and-swap the account's commitment from the one the
   statement was built on, plus the ledger effect (deposit applied, payout recorded, fill
   consumed, settlement posted). Of two racing transitions exactly one commits; the other gets
   409 (stale commitment) and nothing of it is written.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import BigInteger, Connection, String, bindparam, exists, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from circuits.portfolio import PortfolioMargin, risk_arrays_from_json
from circuits.protocol.risk.scenarios import EpochRiskArrays
from circuits.state import BoundError
from verifier.batching import Announcement
from verifier.db import records
from verifier.db.ledger import MAX_POSTING
from verifier.db.models import (
    Account,
    AccountCommitment,
    AccountCredential,
    Attestation,
    Epoch,
    EpochStatus,
    PendingItem,
    PendingKind,
    Settlement,
    StatementKind,
)
from verifier.db.types import FieldElementText, UtcDateTime, utc_now
from verifier.errors import (
    AccountLiquidatingError,
    ConflictError,
    DuplicateError,
    EpochStateError,
    NotFoundError,
    OutOfOrderError,
    StaleCommitmentError,
)
from verifier.services import accounts, deposits, epochs, funding, liquidations, payouts, risk, settlements
from verifier.services.context import ServiceContext
from verifier.services.errors import AlreadyAcceptedError, ProofRejectedError, RequestError
from verifier.services.statements import Statement, build_statement, parse_proof, verify_statement
from zkmargin.curves import get_curve
from zkmargin.errors import MalformedInputError
from zkmargin.escrow import Escrow
from zkmargin.field import require_field_element

log = logging.getLogger("zkmargin.verifier")


Effect = Callable[[Session, AccountCommitment, "Plan"], dict[str, Any]]


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
    effect: Effect | None = None  # what accepting a transition writes besides the commitment
    escrow: str | None = None  # the escrow JSON kept beside the new commitment (with a guardian set)


def _field_element(ctx: ServiceContext, name: str, value: int) -> int:
    """The core's below-r check, refused as the service's RequestError (400 bad_request) in these words."""
    try:
        return require_field_element(value, get_curve(ctx.curve).r, name)
    except MalformedInputError:
        raise RequestError(f"{name} must be a field element: an integer in [0, r) for {ctx.curve}") from None


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


def refuse_pending_levies(session: Session, account_id: int, action: str) -> None:
    """A levy (a socialized loss) is applied before anything else the account does."""
    levy = session.scalar(select(PendingItem).where(
        PendingItem.account_id == account_id, PendingItem.kind == PendingKind.LEVY,
        PendingItem.consumed_by.is_(None)).order_by(PendingItem.id).limit(1))
    if levy is not None:
        raise OutOfOrderError(f"{action}: apply levy {levy.id} first "
                              f"(POST /accounts/{account_id}/levies/{levy.id}/apply)")


def require_clearing_order(session: Session, account: Account, epoch_id: int, action: str, *,
                           fills_up_to: int, levies_first: bool = True) -> None:
    """The service's second line behind the circuits' epoch rule, naming the step to take first.

    An account in default is frozen. Fills of epochs up to ``fills_up_to`` are applied first (a
    fill belongs to the positions of its epoch). A state that holds a position is moved only
    inside its own epoch: to act in a later one it settles its epoch first; a state already in a
    later epoch cannot go back (its earlier epochs are settled)."""
    records.refuse_if_in_default(session, account.id)
    records.refuse_if_liquidating(session, account.id)
    if levies_first:
        refuse_pending_levies(session, account.id, action)
    refuse_earlier_fills(session, account.id, fills_up_to, action)
    if account.state_epoch > epoch_id:
        raise OutOfOrderError(f"{action}: account {account.id}'s state is already in epoch {account.state_epoch}, "
                              f"after epoch {epoch_id}")
    if account.state_epoch < epoch_id and account.holds_position:
        raise OutOfOrderError(f"{action}: settle epoch {account.state_epoch} first: the account's state holds the "
                              f"positions of that epoch (POST /accounts/{account.id}/settlements)")


@dataclass(frozen=True)
class TransitionRequest:
    """What a client's submission names; everything else comes from our records."""

    account_id: int
    token: str | None
    epoch_id: int
    new_commitment: int
    item_id: int | None = None  # the deposit or fill applied
    amount: int | None = None  # a withdrawal's amount (positive)
    pnl: int | None = None
    holds_position: bool | None = None
    escrow: Any = None  # the escrow JSON the body carries (checked by ``parse_escrow``)


@dataclass(frozen=True)
class Records:
    """What a transition's statement takes from our records besides the account."""

    prices: list[int]
    details: dict[str, Any]  # what accepting it writes (see the specs' ``effect``)
    already_applied: str | None = None  # why it cannot be accepted again (a consumed item, a settled epoch)
    escrow: dict[str, Any] = field(default_factory=dict)  # escrow_key and escrow, for the escrow variants
    risk: EpochRiskArrays | None = None  # portfolio mode: the epoch's stored risk arrays (marks, digest)


Gather = Callable[[Session, ServiceContext, TransitionRequest], Records]
PublicInputs = Callable[[Any, ServiceContext, TransitionRequest, Records, int], list[int]]
Check = Callable[[Session, ServiceContext, TransitionRequest], None]


@dataclass(frozen=True)
class TransitionSpec:
    """One transition, declared: its statement, where each public input comes from, which checks
    run before the pairing, and what accepting it writes.

    ``submit(ctx, spec, proof, request)`` plans every transition the same way: authenticate the
    owner; ``gather`` the referenced records (item, amount, prices); check the new commitment
    is a field element; answer 'already accepted' for a statement accepted before, else refuse
    what was ``already_applied``; run ``checks``; require the clearing order; build the statement
    from the account's current commitment with ``public_inputs``.
    """

    statement: str  # margin, transfer, fill, settle: the key in ``Runtime.keys``
    kind: StatementKind
    action: Callable[[TransitionRequest], str]  # what the refusals call it
    gather: Gather
    public_inputs: PublicInputs  # (circuit, ctx, request, records, old commitment) -> the public inputs
    checks: tuple[Check, ...]
    effect: Effect
    next_state_epoch: Callable[[int], int]  # the epoch the new state records
    fills_up_to: Callable[[int], int]  # fills of epochs up to this one are applied first
    holds_position: Callable[[TransitionRequest], bool | None] = lambda request: None  # None: unchanged
    # what a pending levy does not hold back: the levy itself, and a deposit, which only adds collateral
    # and may be what makes the levy payable (docs/protocol.md §12, "Collecting a levy")
    passes_levies: bool = False


def parse_escrow(ctx: ServiceContext, request: TransitionRequest) -> Escrow | None:
    """The body's escrow: required exactly when the service has a guardian set (its statements are
    the escrow variants), on this deployment's curve, of a state at its market count."""
    if ctx.runtime.guardians is None:
        if request.escrow is not None:
            raise RequestError("this service has no guardian set (GET /guardians is 404): a transition carries no "
                               "escrow")
        return None
    if request.escrow is None:
        raise RequestError("an escrow is required: this service escrows every new state to its guardians' key "
                           "(GET /guardians); prove the escrow variant and send the escrow it sealed")
    try:
        escrow = Escrow.from_json(request.escrow, ctx.curve)
    except MalformedInputError as exc:
        raise RequestError(f"escrow: {exc}") from None
    expected = 4 + ctx.runtime.market_count
    if escrow.length != expected:
        raise RequestError(f"escrow: it seals {escrow.length} values, a state at {ctx.runtime.market_count} markets "
                           f"has {expected}")
    return escrow


def escrow_json(escrow: Escrow | None) -> str | None:
    return None if escrow is None else json.dumps(escrow.to_json(), separators=(",", ":"), sort_keys=True)


def plan_transition(session: Session, ctx: ServiceContext, spec: TransitionSpec, request: TransitionRequest) -> Plan:
    """The statement ``spec`` declares, built from our records, and what accepting it writes. With a
    guardian set, the statement's key inputs are our own set's group key and its digest input
    is the digest of the escrow we will store."""
    account = accounts.authenticate(session, request.account_id, request.token)
    escrow = parse_escrow(ctx, request)
    found = spec.gather(session, ctx, request)
    if escrow is not None:
        assert ctx.runtime.guardians is not None
        found = replace(found, escrow={"escrow_key": ctx.runtime.guardians.group_key, "escrow": escrow})
    _field_element(ctx, "new_commitment", request.new_commitment)
    circuit = ctx.runtime.keys[spec.statement].circuit

    def build(old: int) -> Statement:
        return build_statement(ctx, spec.statement, spec.public_inputs(circuit, ctx, request, found, old))

    _refuse_accepted(session, ctx, request.account_id, request.new_commitment, build)
    if found.already_applied is not None:
        raise DuplicateError(found.already_applied)
    for check in spec.checks:
        check(session, ctx, request)
    fills_up_to = spec.fills_up_to(request.epoch_id)
    require_clearing_order(session, account, request.epoch_id, spec.action(request), fills_up_to=fills_up_to,
                           levies_first=not spec.passes_levies)
    return Plan(build(account.current_commitment), spec.kind, request.account_id, account.current_commitment,
                request.new_commitment, epoch_id=request.epoch_id, state_epoch=spec.next_state_epoch(request.epoch_id),
                holds_position=spec.holds_position(request), fills_up_to=fills_up_to, details=found.details,
                sequence=account.sequence, rebuild=build, effect=spec.effect, escrow=escrow_json(escrow))


# --- what each transition takes from our records ---------------------------------------------


def _pending_item(session: Session, request: TransitionRequest, kind: PendingKind) -> PendingItem:
    item = session.get(PendingItem, request.item_id)
    if item is None or item.account_id != request.account_id or item.kind is not kind:
        raise NotFoundError(f"account {request.account_id} has no {kind.value} {request.item_id}")
    return item


def _mark_prices(session: Session, ctx: ServiceContext, request: TransitionRequest) -> list[int]:
    return epochs.mark_prices(session, ctx, request.epoch_id, require_open=False)


def _transition_risk(session: Session, ctx: ServiceContext, request: TransitionRequest) -> EpochRiskArrays | None:
    """Portfolio mode: the risk arrays stored when the epoch opened, whose marks and digest the
    portfolio variants of transfer and fill take as public inputs; None in flat mode."""
    if ctx.runtime.settings.margin_mode != "portfolio":
        return None
    return risk_arrays_from_json(risk.epoch_risk(session, request.epoch_id), "the epoch's risk record")


def _deposit_records(session: Session, ctx: ServiceContext, request: TransitionRequest) -> Records:
    item = _pending_item(session, request, PendingKind.DEPOSIT)
    amount = int(item.amount)
    applied = f"deposit {request.item_id} has already been applied" if item.consumed_by is not None else None
    return Records(_mark_prices(session, ctx, request), {"deposit_id": request.item_id, "amount": amount}, applied,
                   risk=_transition_risk(session, ctx, request))


def _levy_records(session: Session, ctx: ServiceContext, request: TransitionRequest) -> Records:
    item = _pending_item(session, request, PendingKind.LEVY)
    applied = f"levy {request.item_id} has already been applied" if item.consumed_by is not None else None
    return Records(_mark_prices(session, ctx, request), {"levy_id": request.item_id, "amount": int(item.amount)},
                   applied, risk=_transition_risk(session, ctx, request))


def _withdrawal_records(session: Session, ctx: ServiceContext, request: TransitionRequest) -> Records:
    amount = request.amount
    if amount is None or not 0 < amount < MAX_POSTING:
        raise RequestError(f"a withdrawal amount must lie in (0, 2^96), got {amount}")
    return Records(_mark_prices(session, ctx, request), {"amount": amount},
                   risk=_transition_risk(session, ctx, request))


def _fill_records(session: Session, ctx: ServiceContext, request: TransitionRequest) -> Records:
    """A fill is proven against its own epoch (the one open when the venue posted it), which may
    be closed by now: its positions are settled with that epoch."""
    item = _pending_item(session, request, PendingKind.FILL)
    if item.epoch_id != request.epoch_id:
        raise RequestError(f"fill {request.item_id} belongs to epoch {item.epoch_id}: prove it against that epoch's "
                           f"mark prices, with epoch_id {item.epoch_id}")
    applied = f"fill {request.item_id} has already been applied" if item.consumed_by is not None else None
    return Records(_mark_prices(session, ctx, request),
                   {"fill_id": request.item_id, "fill_commitment": int(item.fill_commitment)}, applied,
                   risk=_transition_risk(session, ctx, request))


def _settlement_records(session: Session, ctx: ServiceContext, request: TransitionRequest) -> Records:
    account_id, epoch_id = request.account_id, request.epoch_id
    epoch = records.get_epoch(session, epoch_id)
    if epoch.status is EpochStatus.OPEN:
        raise EpochStateError(f"epoch {epoch_id} is still open: settle after it closes")
    settled = session.scalar(select(exists().where(Settlement.account_id == account_id,
                                                   Settlement.epoch_id == epoch_id)))
    return Records([p.price for p in epoch.prices], {"pnl": request.pnl, "holds_position": request.holds_position,
                                                     "funding_steps": funding.funding_steps(epoch),
                                                     "expires": risk.settlement_expires(session, epoch_id)},
                   f"account {account_id} has already settled epoch {epoch_id}" if settled else None)


# --- the checks before the pairing -----------------------------------------------------------


def _epoch_open(session: Session, ctx: ServiceContext, request: TransitionRequest) -> None:
    """Deposits and withdrawals are proven against the open epoch only."""
    epochs.mark_prices(session, ctx, request.epoch_id, require_open=True)


def _fill_epoch_not_finalized(session: Session, ctx: ServiceContext, request: TransitionRequest) -> None:
    if epochs.epoch_status(session, request.epoch_id) is EpochStatus.FINALIZED:
        raise EpochStateError(f"fill {request.item_id}'s epoch {request.epoch_id} is finalized: it can no longer be "
                              "applied")


def _epoch_settling(session: Session, ctx: ServiceContext, request: TransitionRequest) -> None:
    epochs.settlement_prices(session, ctx, request.epoch_id)  # refuses a finalized epoch


# --- what accepting each writes, besides the commitment --------------------------------------


def _apply_deposit(session: Session, transition: AccountCommitment, plan: Plan) -> dict[str, Any]:
    deposit_id, amount = plan.details["deposit_id"], plan.details["amount"]
    entry = deposits.apply_deposit(session, pending_item_id=deposit_id, transition=transition)
    return {"deposit_id": deposit_id, "amount": str(amount), "ledger_entry": entry.sequence}


def _apply_levy(session: Session, transition: AccountCommitment, plan: Plan) -> dict[str, Any]:
    levy_id, amount = plan.details["levy_id"], plan.details["amount"]
    entry = liquidations.apply_levy(session, levy_id=levy_id, transition=transition)
    return {"levy_id": levy_id, "amount": str(amount), "ledger_entry": entry.sequence}


def _record_withdrawal(session: Session, transition: AccountCommitment, plan: Plan) -> dict[str, Any]:
    amount = plan.details["amount"]
    payout = payouts.record_withdrawal(session, transition=transition, amount=amount)
    return {"payout_id": payout.id, "amount": str(amount), "status": payout.status.value}


def _consume_fill(session: Session, transition: AccountCommitment, plan: Plan) -> dict[str, Any]:
    assert plan.epoch_id is not None
    # shared with settlements, exclusive for finalization: a fill is never applied to a finalized epoch
    if records.lock_epoch(session, plan.epoch_id, shared=True).status is EpochStatus.FINALIZED:
        raise EpochStateError(f"epoch {plan.epoch_id} was finalized while the fill was verified")
    records.consume_fill(session, fill_commitment=plan.details["fill_commitment"], transition=transition)
    return {"fill_id": plan.details["fill_id"]}


def _record_settlement(session: Session, transition: AccountCommitment, plan: Plan) -> dict[str, Any]:
    settlement = settlements.record_settlement(session, transition=transition, pnl=plan.details["pnl"],
                                               holds_position=plan.details["holds_position"])
    return {"epoch_id": plan.epoch_id, "pnl": str(settlement.pnl), "settlement_id": settlement.id}


# --- the four transitions --------------------------------------------------------------------


def _transfer_inputs(circuit: Any, ctx: ServiceContext, request: TransitionRequest, found: Records, old: int,
                     amount: int) -> list[int]:
    if found.risk is not None:  # portfolio-transfer: the epoch's marks and risk digest, our initial factor
        return circuit.public_inputs(request.account_id, old, request.new_commitment, amount, found.risk,
                                     ctx.runtime.settings.portfolio_initial_factor, ctx.curve, **found.escrow)
    return circuit.public_inputs(request.account_id, old, request.new_commitment, amount, request.epoch_id,
                                 found.prices, ctx.runtime.initial_rates, ctx.curve, **found.escrow)


def _deposit_inputs(circuit: Any, ctx: ServiceContext, request: TransitionRequest, found: Records,
                    old: int) -> list[int]:
    return _transfer_inputs(circuit, ctx, request, found, old, found.details["amount"])


def _levy_inputs(circuit: Any, ctx: ServiceContext, request: TransitionRequest, found: Records,
                 old: int) -> list[int]:
    return _transfer_inputs(circuit, ctx, request, found, old, -found.details["amount"])  # a debit, as a withdrawal


def _withdrawal_inputs(circuit: Any, ctx: ServiceContext, request: TransitionRequest, found: Records,
                       old: int) -> list[int]:
    return _transfer_inputs(circuit, ctx, request, found, old, -found.details["amount"])


def _fill_inputs(circuit: Any, ctx: ServiceContext, request: TransitionRequest, found: Records,
                 old: int) -> list[int]:
    if found.risk is not None:  # portfolio-fill: the fill's epoch's marks and risk digest, our initial factor
        return circuit.public_inputs(request.account_id, old, request.new_commitment,
                                     found.details["fill_commitment"], found.risk,
                                     ctx.runtime.settings.portfolio_initial_factor, ctx.curve, **found.escrow)
    return circuit.public_inputs(request.account_id, old, request.new_commitment, found.details["fill_commitment"],
                                 request.epoch_id, found.prices, ctx.runtime.initial_rates,
                                 ctx.runtime.maintenance_rates, ctx.curve, **found.escrow)


def _settle_inputs(circuit: Any, ctx: ServiceContext, request: TransitionRequest, found: Records,
                   old: int) -> list[int]:
    return circuit.public_inputs(request.account_id, old, request.new_commitment, request.epoch_id, found.prices,
                                 request.pnl, request.holds_position, ctx.curve,
                                 funding_steps=found.details["funding_steps"], expires=found.details["expires"],
                                 **found.escrow)


def _same_epoch(epoch_id: int) -> int:
    return epoch_id


def _epoch_before(epoch_id: int) -> int:
    return epoch_id - 1


def _epoch_after(epoch_id: int) -> int:
    return epoch_id + 1


DEPOSIT = TransitionSpec(
    "transfer", StatementKind.TRANSFER, lambda r: f"deposit {r.item_id}", _deposit_records, _deposit_inputs,
    checks=(_epoch_open,), effect=_apply_deposit, next_state_epoch=_same_epoch, fills_up_to=_epoch_before,
    passes_levies=True)
WITHDRAWAL = TransitionSpec(
    "transfer", StatementKind.TRANSFER, lambda r: "withdrawal", _withdrawal_records, _withdrawal_inputs,
    checks=(_epoch_open,), effect=_record_withdrawal, next_state_epoch=_same_epoch, fills_up_to=_epoch_before)
LEVY = TransitionSpec(
    "transfer", StatementKind.TRANSFER, lambda r: f"levy {r.item_id}", _levy_records, _levy_inputs,
    checks=(_epoch_open,), effect=_apply_levy, next_state_epoch=_same_epoch, fills_up_to=_epoch_before,
    passes_levies=True)
FILL = TransitionSpec(
    "fill", StatementKind.FILL, lambda r: f"fill {r.item_id}", _fill_records, _fill_inputs,
    checks=(_fill_epoch_not_finalized,), effect=_consume_fill, next_state_epoch=_same_epoch,
    fills_up_to=_epoch_before, holds_position=lambda r: True)
SETTLEMENT = TransitionSpec(
    "settle", StatementKind.SETTLE, lambda r: f"settling epoch {r.epoch_id}", _settlement_records, _settle_inputs,
    checks=(_epoch_settling,), effect=_record_settlement, next_state_epoch=_epoch_after, fills_up_to=_same_epoch,
    holds_position=lambda r: r.holds_position)


# The hot path's one read: the account's commitment, its token hash, and whether that commitment
# is already attested for the epoch (same account, epoch and commitment: the same statement).
# Built once: building a select per request costs more CPU than running it.
_ATTESTATION_PLAN = (
    select(Account.current_commitment, Account.sequence, AccountCredential.token_hash, Account.liquidation_id,
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
    current, sequence, stored_hash, liquidation_id, seen_id = row
    accounts.check_token(account_id, token, stored_hash)
    if liquidation_id is not None:  # refused before any pairing; checked again where it is kept
        raise AccountLiquidatingError(f"account {account_id} is frozen by liquidation {liquidation_id}: no "
                                      "attestation is accepted until its close-out is applied")
    prices = ctx.mark_prices.get(epoch_id)  # immutable once the epoch is open: cached after the first
    if prices is None:
        with _orm(db) as session:
            prices = epochs.mark_prices(session, ctx, epoch_id, require_open=False)
    circuit = ctx.runtime.keys["margin"].circuit
    if isinstance(circuit, PortfolioMargin):  # portfolio mode: the epoch's marks and risk digest
        with _orm(db) as session:
            arrays = risk_arrays_from_json(risk.epoch_risk(session, epoch_id), "the epoch's risk record")
        portfolio = circuit

        def build(commitment: int) -> Statement:
            return build_statement(ctx, "margin", portfolio.public_inputs_for(account_id, commitment, arrays,
                                                                              ctx.curve))
    else:
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
    _refuse_late(epoch_id, ctx.attestation_deadlines[epoch_id], utc_now(), _grace(ctx))


def _grace(ctx: ServiceContext) -> timedelta:
    """How long after the attestation deadline a margin call may still cure (docs/protocol.md "Liquidation")."""
    return timedelta(seconds=ctx.runtime.settings.liquidation_grace_seconds)


def _refuse_late(epoch_id: int, deadline: Any, now: Any, grace: timedelta) -> None:
    if deadline is not None and now > deadline + grace:
        raise EpochStateError(f"the attestation deadline of epoch {epoch_id} passed at {deadline.isoformat()}, and "
                              f"the {int(grace.total_seconds())} s grace period to cure after it too: "
                              "attestations after it do not count")


def _attestation_view(row: Attestation) -> dict[str, Any]:
    return {"attestation_id": row.id, "account_id": row.account_id, "epoch_id": row.epoch_id,
            "commitment": str(row.commitment), "statement_digest": row.statement_digest, "accepted_at": row.created_at}


# --- commits --------------------------------------------------------------------------------


def commit_transition(session: Session, plan: Plan, proof: Any = None) -> dict[str, Any]:
    """Everything one accepted transition writes, in the caller's unit of work: the escrow and the
    proof are kept beside the new commitment (what a liquidation later opens and checks)."""
    assert plan.kind is not None and plan.new_commitment is not None and plan.effect is not None
    assert plan.epoch_id is not None and plan.state_epoch is not None
    transition = records.advance_commitment(
        session, plan.account_id, expected_commitment=plan.old_commitment, new_commitment=plan.new_commitment,
        kind=plan.kind, statement_digest=plan.statement.digest, epoch_id=plan.epoch_id,
        state_epoch=plan.state_epoch, holds_position=plan.holds_position, escrow=plan.escrow,
        proof=None if proof is None else json.dumps(proof, separators=(",", ":"), sort_keys=True),
        circuit=plan.statement.circuit_id or None,
        public_inputs=json.dumps([str(v) for v in plan.statement.public_inputs], separators=(",", ":")))
    if plan.fills_up_to is not None:
        # again under the account row's lock (the update holds it; a late fill's posting takes it
        # too): a fill that arrived while the proof was verified is applied first, never stranded
        refuse_earlier_fills(session, plan.account_id, plan.fills_up_to,
                             f"{plan.statement.name} (a fill arrived while the proof was verified)")
    return {"transition": _transition_view(transition), **plan.effect(session, transition, plan)}


# Accepting a margin attestation, in one statement: insert it only if the account row, locked, is
# still at the attested commitment and not frozen by a liquidation, the epoch is open and its
# attestation deadline not passed (or passed by no more than the grace period: a cure; the
# liquidation request sets the frozen mark under the same row lock, so of the two one wins),
# and the statement is new (ON CONFLICT on the unique digest: of two racing inserts of one
# statement, the second waits for the first and inserts nothing). On PostgreSQL it runs on its
# own in autocommit (one round trip instead of BEGIN, SELECT ... FOR UPDATE, INSERT, COMMIT); on
# SQLite in a unit of work, whose write lock does what the row lock does.
def _attestation_insert(dialect: Any) -> Any:
    return (
        dialect.insert(Attestation)
        .from_select(
            ["account_id", "epoch_id", "commitment", "statement_digest", "created_at"],
            select(Account.id, Epoch.id, Account.current_commitment, bindparam("digest", type_=String()),
                   bindparam("created_at", type_=UtcDateTime()))
            .select_from(Account).join(Epoch, Epoch.id == bindparam("epoch_id", type_=BigInteger()))
            .where(Account.id == bindparam("account_id", type_=BigInteger()),
                   Account.current_commitment == bindparam("commitment", type_=FieldElementText()),
                   Account.liquidation_id.is_(None),
                   Epoch.status == EpochStatus.OPEN,
                   or_(Epoch.attestation_deadline.is_(None),
                       Epoch.attestation_deadline >= bindparam("cure_from", type_=UtcDateTime())))
            .with_for_update(of=Account))
        .on_conflict_do_nothing(index_elements=[Attestation.statement_digest])
        .returning(Attestation.id)
    )


_ATTESTATION_INSERTS = {"postgresql": _attestation_insert(postgresql), "sqlite": _attestation_insert(sqlite)}


def insert_attestation(db: Connection | Session, plan: Plan, grace: timedelta = timedelta(0)) -> dict[str, Any] | None:
    """Keep the attestation ``plan`` describes if it may be kept (see ``_attestation_insert``), or
    None when nothing was inserted: then ``keep_attestation`` says why."""
    now = utc_now()
    connection = db.connection() if isinstance(db, Session) else db  # a Core statement: not the ORM's bulk insert
    attestation_id = connection.execute(_ATTESTATION_INSERTS[connection.dialect.name], {
        "account_id": plan.account_id, "epoch_id": plan.epoch_id, "commitment": plan.old_commitment,
        "digest": plan.statement.digest, "created_at": now, "cure_from": now - grace}).scalar()
    if attestation_id is None:
        return None
    return {"attestation_id": attestation_id, "account_id": plan.account_id, "epoch_id": plan.epoch_id,
            "commitment": str(plan.old_commitment), "statement_digest": plan.statement.digest, "accepted_at": now}


def keep_attestation(session: Session, plan: Plan, grace: timedelta = timedelta(0)) -> dict[str, Any]:
    """Keep a verified margin attestation in the caller's unit of work, or raise why it may not be
    kept: the account moved on (stale) or is frozen by a liquidation, the epoch is missing, not
    open or past its attestation deadline and grace period, or this statement was accepted before."""
    kept = insert_attestation(session, plan, grace)
    if kept is not None:
        return kept
    _refuse_attestation(session, plan, grace)
    # every reason above is for good once it holds (a commitment is never entered again, an epoch never
    # reopens); the insert found one, so this is not reached
    raise ConflictError("the margin attestation could not be kept; submit it again")


def _refuse_attestation(session: Session, plan: Plan, grace: timedelta) -> None:
    """Why ``insert_attestation`` kept nothing (the first reason in the order it checks)."""
    assert plan.epoch_id is not None
    current = session.scalar(select(Account.current_commitment).where(Account.id == plan.account_id))
    records.refuse_if_liquidating(session, plan.account_id)
    if current != plan.old_commitment:
        raise StaleCommitmentError(f"account {plan.account_id} moved to a new commitment while the attestation "
                                   "was verified: attest the current state")
    epoch = session.execute(select(Epoch.status, Epoch.attestation_deadline).where(Epoch.id == plan.epoch_id)).first()
    if epoch is None:
        raise NotFoundError(f"epoch {plan.epoch_id} does not exist")
    if EpochStatus(epoch.status) is not EpochStatus.OPEN:
        raise EpochStateError(f"epoch {plan.epoch_id} is {EpochStatus(epoch.status).value}: margin attestations "
                              "count only while the epoch is open")
    _refuse_late(plan.epoch_id, epoch.attestation_deadline, utc_now(), grace)
    if session.scalar(select(exists().where(Attestation.statement_digest == plan.statement.digest))):
        raise AlreadyAcceptedError("this margin attestation was already accepted; a replayed or re-randomized "
                                   "proof is not accepted twice")


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
    round trips, no ORM session); a keep that inserts nothing is tried again in a unit of work by
    ``keep_attestation``, which says why.
    """
    def plan_and_parse(db: Session | Connection) -> tuple[Plan, Any]:
        planned = plan_attestation(db, ctx, account_id, token, epoch_id)
        return planned, _parsed(ctx, planned, proof)

    with ctx.batchers["margin"].announce() as announcement:  # a batch starting meanwhile may wait for it
        plan, parsed = await ctx.autocommit(plan_and_parse)
        await _verify_plan(ctx, plan, proof, parsed, announcement)
    if ctx.autocommits:
        kept = await ctx.autocommit(insert_attestation, plan, _grace(ctx))
        if kept is not None:
            return kept
    return await ctx.write(keep_attestation, plan, _grace(ctx))


async def submit(ctx: ServiceContext, spec: TransitionSpec, proof: Any, request: TransitionRequest) -> dict[str, Any]:
    """Plan, verify and commit one transition (``spec`` says which)."""
    def plan_and_parse(db: Session | Connection) -> tuple[Plan, Any]:
        with _orm(db) as session:
            planned = plan_transition(session, ctx, spec, request)
        return planned, _parsed(ctx, planned, proof)

    plan, parsed = await ctx.autocommit(plan_and_parse)
    await _verify_plan(ctx, plan, proof, parsed)
    result = await ctx.write(commit_transition, plan, proof)
    if plan.kind is StatementKind.SETTLE:
        try:
            finalized = await ctx.write(settlements.finalize, plan.epoch_id)
            result["epoch_finalized"] = True
            log.info("epoch %s finalized", plan.epoch_id, extra={"event": "epoch_finalized", **{
                k: v for k, v in finalized.items() if k in ("epoch_id", "settled_accounts", "defaulted_accounts")}})
        except (EpochStateError, OperationalError):
            result["epoch_finalized"] = False  # not complete yet (or busy): the operator finalizes later
    log.info("accepted %s for account %s", plan.statement.name, plan.account_id,
             extra={"event": "statement_accepted", "statement": plan.statement.name, "account_id": plan.account_id,
                    "digest": plan.statement.digest})
    return result
