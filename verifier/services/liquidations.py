"""Liquidation: the operator's signed request, the guardians' shares, the opening and the close-out.

Three units of work, each one database transaction, so nothing is lost on a crash:

1. **request** (``request_liquidation``): under the account row's lock, the rule is checked
   against our records (``_evidence``), the request is signed with the operator's key, stored,
   recorded in the journal (a ``liquidation_request`` entry whose reference carries the request's
   digest) and the account is frozen (``accounts.liquidation_id``): every later transition and
   attestation is refused, and a margin attestation racing the request loses or wins as a whole.
2. **share** (``submit_share``): a guardian's decryption share is kept once its DLEQ proof
   verifies against the guardian's verification key for this request's context.
3. **opening and close-out** (``open_pending``), in a transaction of its own right after the
   t-th share's (or of ``resume``, or of a later share, after a crash in between): combine,
   decrypt, decode, compare with the pinned commitment, plan the close-out
   (``circuits.protocol.closeout``) and apply it: the backstop's fills, the successor
   commitment, the penalty and the loss waterfall as balanced journal entries.

docs/protocol.md "Liquidation" states the rules and the accounting.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from circuits.inputs import state_from_json, state_to_json
from circuits.portfolio import risk_arrays_from_json
from circuits.protocol.closeout import (
    CloseoutError,
    CloseoutPlan,
    CloseoutRule,
    FlatRule,
    PortfolioRule,
    Waterfall,
    risk_marks,
)
from circuits.protocol.errors import LiquidationRefused
from circuits.protocol.fill_delivery import seal_fill
from circuits.protocol.liquidation import (
    KNOWN_STATE_CIRCUIT,
    LiquidationRequest,
    check_rules,
    known_state_circuit,
    opens_known_state,
    operator_key_hex,
    share_context,
    sign_request,
)
from circuits.state import AccountState, BoundError, Fill, fresh_salt
from verifier.db import records
from verifier.db.ledger import (
    CLEARING,
    DEFAULT_FUND,
    Posting,
    append_entry,
    balance,
    trader_collateral,
    trader_levies,
)
from verifier.db.models import (
    Account,
    AccountCommitment,
    Attestation,
    EntryKind,
    Epoch,
    JournalEntry,
    EpochStatus,
    Liquidation,
    LiquidationShare,
    LiquidationStatus,
    PendingItem,
    PendingKind,
    Settlement,
    StatementKind,
)
from verifier.db.types import utc_now
from verifier.errors import (
    BadShareError,
    ConflictError,
    DuplicateError,
    NotFoundError,
    NotLiquidatableError,
    OpeningMismatchError,
)
from verifier.services import epochs, risk
from verifier.services.context import ServiceContext
from verifier.services.settlements import settlement_obligations
from zkmargin.errors import MalformedInputError
from zkmargin.escrow import Escrow, open_with_shared_point
from zkmargin.threshold import DecryptionShare, combine_decryption_shares, verify_decryption_share
from zkmargin.threshold.decryption import decryption_share_from_json, decryption_share_to_json
from zkmargin.threshold.guardians import GuardianSet

REASONS = ("margin_call", "settlement", "fill_deadline")
BACKSTOP_FILL_TAG = 1 << 62  # backstop fill ids: this bit, the liquidation id, the market (below 64)


# --- views ------------------------------------------------------------------------------------


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def liquidation_view(row: Liquidation, threshold: int) -> dict[str, Any]:
    commitment = row.pinned
    return {
        "id": row.id, "account_id": row.account_id, "status": row.status.value,
        "request": json.loads(row.request), "signature": row.signature,
        "escrow": _json(commitment.escrow), "proof": _json(commitment.proof),
        "shares": [{"guardian": share.guardian, "accepted_at": share.accepted_at} for share in row.shares],
        "threshold": threshold, "revealed_state": _json(row.revealed_state), "closeout": _json(row.closeout),
        "failure": row.failure,
    }


def liquidation_summary(row: Liquidation, owner: bool) -> dict[str, Any]:
    """What an account view shows; the successor's opening only to the account's owner."""
    return {"id": row.id, "status": row.status.value, "reason": row.reason, "epoch_id": row.epoch_id,
            "requested_at": row.created_at, "closed_at": row.closed_at,
            "successor_state": _json(row.successor_state) if owner else None}


def latest_liquidation(session: Session, account_id: int) -> Liquidation | None:
    return session.scalar(select(Liquidation).where(Liquidation.account_id == account_id)
                          .order_by(Liquidation.id.desc()).limit(1))


def _threshold(ctx: ServiceContext) -> int:
    return ctx.runtime.guardians.threshold if ctx.runtime.guardians is not None else 0


def get_liquidation(session: Session, ctx: ServiceContext, liquidation_id: int) -> dict[str, Any]:
    return liquidation_view(_liquidation(session, liquidation_id), _threshold(ctx))


def list_liquidations(session: Session, ctx: ServiceContext, status: str | None) -> list[dict[str, Any]]:
    query = select(Liquidation).order_by(Liquidation.id)
    if status is not None:
        query = query.where(Liquidation.status == LiquidationStatus(status))
    return [liquidation_view(row, _threshold(ctx)) for row in session.scalars(query)]


def operator_view(ctx: ServiceContext) -> dict[str, Any]:
    assert ctx.runtime.operator_key is not None
    return {"signing_key": operator_key_hex(ctx.runtime.operator_key)}


def _liquidation(session: Session, liquidation_id: int, *, lock: bool = False) -> Liquidation:
    query = select(Liquidation).where(Liquidation.id == liquidation_id)
    if lock:
        query = query.with_for_update(of=Liquidation).execution_options(populate_existing=True)
    row = session.scalar(query)
    if row is None:
        raise NotFoundError(f"liquidation {liquidation_id} does not exist")
    return row


# --- 1. the request ---------------------------------------------------------------------------


def request_liquidation(session: Session, ctx: ServiceContext, account_id: int, reason: str,
                        epoch_id: int) -> dict[str, Any]:
    """Check the rule against our records, sign and record the request, freeze the account."""
    guardians = _require_guardians(ctx)
    account = records.lock_account(session, account_id)  # the lock every transition and attestation takes
    if account.liquidation_id is not None:
        raise DuplicateError(f"account {account_id} already has liquidation {account.liquidation_id} open")
    _require_backstop(session, ctx, account)
    pinned, writer = _pinned_commitment(session, account)
    default = records.default_of(session, account_id)
    if default is not None:
        raise NotLiquidatableError("declared_in_default", f"account {account_id} was declared in default in epoch "
                                   f"{default.epoch_id}: its pnl goes to the default fund at finalization")
    now = utc_now()
    grace = ctx.runtime.settings.liquidation_grace_seconds
    deadline, overdue = _evidence(session, account, reason, epoch_id, now, grace)
    row = Liquidation(account_id=account_id, epoch_id=epoch_id, reason=reason, status=LiquidationStatus.REQUESTED,
                      request="", request_digest="", signature="", commitment_id=pinned.id, created_at=now)
    session.add(row)
    session.flush()  # the id the request signs
    request = LiquidationRequest(
        liquidation_id=row.id, account_id=account_id, reason=reason, epoch_id=epoch_id, deadline=deadline,
        grace_seconds=grace if reason == "margin_call" else 0, commitment=pinned.commitment,
        **_pinned_statement(ctx, pinned, writer), requested_at=now, overdue_fills=tuple(overdue))
    try:
        check_rules(request, now, grace if reason == "margin_call" else 0)  # the rule the guardians apply
    except LiquidationRefused as exc:
        raise NotLiquidatableError(exc.rule, str(exc)) from None
    assert ctx.runtime.operator_key is not None
    row.request, row.request_digest = request.to_json(), request.digest()
    row.signature = sign_request(ctx.runtime.operator_key, request)
    account.liquidation_id = row.id
    append_entry(session, EntryKind.LIQUIDATION_REQUEST, [], account_id=account_id, epoch_id=epoch_id,
                 reference=f"liquidation/{row.id}/request/{row.request_digest}")
    session.flush()
    if writer is not None:  # nothing to decrypt: open and close out in the request's transaction
        open_and_close(session, ctx, row)
    return liquidation_view(row, guardians.threshold)


def _require_guardians(ctx: ServiceContext) -> GuardianSet:
    if ctx.runtime.guardians is None:
        raise ConflictError("this service has no guardian set (ZKMARGIN_GUARDIAN_SET): no state can be opened")
    return ctx.runtime.guardians


def _pinned_commitment(session: Session, account: Account) -> tuple[AccountCommitment, Liquidation | None]:
    """The account's current commitment, and the liquidation whose close-out wrote it, if one did.

    A state a trader proved must carry an escrow and the statement proving it; a state an earlier
    close-out wrote has neither, and needs neither: the service holds its opening.
    """
    row = session.scalar(select(AccountCommitment).where(AccountCommitment.account_id == account.id,
                                                         AccountCommitment.commitment == account.current_commitment))
    assert row is not None
    if row.kind is StatementKind.LIQUIDATION:
        writer = session.scalar(select(Liquidation).where(Liquidation.request_digest == row.statement_digest))
        assert writer is not None and writer.successor_state is not None, "a close-out records its successor"
        return row, writer
    if row.escrow is None or row.proof is None:
        raise ConflictError(f"account {account.id}'s current commitment (sequence {row.sequence}, {row.kind.value}) "
                            "has no escrow: nothing the guardians could open")
    if row.circuit is None or row.public_inputs is None:
        raise ConflictError(f"account {account.id}'s current commitment has no recorded statement (circuit and "
                            "public inputs) for the guardians to re-verify its proof against")
    return row, None


def _pinned_statement(ctx: ServiceContext, pinned: AccountCommitment, writer: Liquidation | None) -> dict[str, Any]:
    """The request's evidence of what it pins: the proven statement and its escrow's digest, or, for
    a service-written state, the close-out that wrote it (``circuits.protocol.liquidation``)."""
    if writer is not None:
        return {"escrow_digest": 0, "circuit": known_state_circuit(writer.id), "public_inputs": (pinned.commitment,)}
    return {"escrow_digest": Escrow.from_json(json.loads(pinned.escrow or "null"), ctx.curve).digest(),
            "circuit": pinned.circuit or "",
            "public_inputs": tuple(int(v) for v in json.loads(pinned.public_inputs or "[]"))}


def _require_backstop(session: Session, ctx: ServiceContext, account: Account) -> Account:
    """The backstop takes the positions: configured, a different account, one fills can be sealed to,
    and not moved past the epoch the positions are closed in."""
    backstop_id = ctx.runtime.settings.backstop_account
    if backstop_id is None:
        raise ConflictError("no backstop account is configured (ZKMARGIN_BACKSTOP_ACCOUNT): nobody could take "
                            "the positions")
    if backstop_id == account.id:
        raise NotLiquidatableError("backstop", f"account {account.id} is the backstop account")
    backstop = session.get(Account, backstop_id)
    if backstop is None or backstop.encryption_public_key is None:
        raise ConflictError(f"the backstop account {backstop_id} does not exist or has no encryption key to receive "
                            "its fills")
    if backstop.state_epoch > account.state_epoch and account.holds_position:
        raise NotLiquidatableError("backstop", f"the backstop's state is in epoch {backstop.state_epoch}, past epoch "
                                   f"{account.state_epoch} of the positions: it could not apply their fills")
    return backstop


def _evidence(session: Session, account: Account, reason: str, epoch_id: int, now: datetime,
              grace: int) -> tuple[datetime, list[int]]:
    """The deadline (and overdue fills) the rule rests on, from our records; NotLiquidatableError names
    the rule our records do not show broken."""
    if reason == "fill_deadline":
        return _overdue_fills(session, account.id, now)
    if reason not in REASONS:
        raise NotLiquidatableError("reason", f"reason must be one of {', '.join(REASONS)}, got {reason!r}")
    epoch = records.get_epoch(session, epoch_id)
    obligations = settlement_obligations(session, epoch_id)
    if account.id not in obligations.required:
        raise NotLiquidatableError("no_position", f"account {account.id} holds no position in epoch {epoch_id}")
    if reason == "margin_call":
        return _margin_call(session, account.id, epoch, now, grace), []
    return _settlement_missed(account.id, epoch, obligations.settled, now), []


def _margin_call(session: Session, account_id: int, epoch: Epoch, now: datetime, grace: int) -> datetime:
    deadline = epoch.attestation_deadline
    if deadline is None:
        raise NotLiquidatableError("no_deadline", f"epoch {epoch.id} has no attestation deadline")
    cure_ends = deadline + timedelta(seconds=grace)
    attested = session.scalar(select(func.count()).select_from(Attestation).where(
        Attestation.account_id == account_id, Attestation.epoch_id == epoch.id, Attestation.created_at <= cure_ends))
    if attested:
        raise NotLiquidatableError("attested", f"account {account_id} attested margin for epoch {epoch.id} in time")
    if now <= cure_ends:
        raise NotLiquidatableError("grace_not_over", f"account {account_id} may still cure until "
                                   f"{cure_ends.isoformat()} (attestation deadline + {grace} s grace)")
    return deadline


def _settlement_missed(account_id: int, epoch: Epoch, settled: dict[int, int], now: datetime) -> datetime:
    if epoch.status is not EpochStatus.CLOSED:
        raise NotLiquidatableError("epoch_not_closed", f"epoch {epoch.id} is {epoch.status.value}, not closed")
    if account_id in settled:
        raise NotLiquidatableError("settled", f"account {account_id} settled epoch {epoch.id}")
    deadline = epoch.settlement_deadline
    if deadline is None:
        raise NotLiquidatableError("no_deadline", f"epoch {epoch.id} has no settlement deadline")
    if now <= deadline:
        raise NotLiquidatableError("deadline_not_passed", f"epoch {epoch.id} may be settled until "
                                   f"{deadline.isoformat()}")
    return deadline


def _overdue_fills(session: Session, account_id: int, now: datetime) -> tuple[datetime, list[int]]:
    """The account's fills and levies not applied by their deadlines."""
    overdue = list(session.scalars(select(PendingItem).where(
        PendingItem.account_id == account_id, PendingItem.kind.in_((PendingKind.FILL, PendingKind.LEVY)),
        PendingItem.consumed_by.is_(None), PendingItem.deadline.is_not(None), PendingItem.deadline < now)
        .order_by(PendingItem.id)))
    if not overdue:
        raise NotLiquidatableError("no_overdue_fill", f"account {account_id} has no fill or levy past its deadline")
    deadline = max(item.deadline for item in overdue if item.deadline is not None)
    return deadline, [item.id for item in overdue]


# --- 2. shares --------------------------------------------------------------------------------


def submit_share(session: Session, ctx: ServiceContext, liquidation_id: int, guardian: int,
                 share: Any) -> bool:
    """Keep a guardian's verified share (one transaction); whether the opening is due now (t shares
    stored, not yet closed): then ``open_pending`` runs it, in a transaction of its own."""
    guardians = _require_guardians(ctx)
    row = _locked_for_work(session, liquidation_id)
    if row.status is not LiquidationStatus.REQUESTED:
        raise ConflictError(f"liquidation {liquidation_id} is {row.status.value}: it takes no more shares")
    if not 1 <= guardian <= guardians.guardians:
        raise BadShareError(guardian, f"guardian {guardian} is not one of the {guardians.guardians} guardians")
    if any(kept.guardian == guardian for kept in row.shares):
        raise DuplicateError(f"guardian {guardian} already gave its share for liquidation {liquidation_id}")
    parsed = _verified_share(ctx, guardians, row, guardian, share)
    session.add(LiquidationShare(liquidation_id=row.id, guardian=guardian, accepted_at=utc_now(),
                                 share=json.dumps(decryption_share_to_json(guardians, parsed))))
    session.flush()
    return len(row.shares) + 1 >= guardians.threshold


def open_pending(session: Session, ctx: ServiceContext, liquidation_id: int) -> tuple[dict[str, Any], str | None]:
    """Open and close out a liquidation with t shares stored and still requested (else just its view).

    Returns the view and, if the opening failed (the liquidation is then marked failed, and that
    is committed), why: the caller answers 409 after the commit.
    """
    guardians = _require_guardians(ctx)
    row = _locked_for_work(session, liquidation_id)
    failure = None
    if row.status is LiquidationStatus.REQUESTED and len(row.shares) >= guardians.threshold:
        failure = open_and_close(session, ctx, row)
    return liquidation_view(row, guardians.threshold), failure


def _locked_for_work(session: Session, liquidation_id: int) -> Liquidation:
    """The liquidation, with its account's row locked first (the lock order every transition uses)."""
    account_id = _liquidation(session, liquidation_id).account_id
    records.lock_account(session, account_id)
    return _liquidation(session, liquidation_id, lock=True)


def _verified_share(ctx: ServiceContext, guardians: GuardianSet, row: Liquidation, guardian: int,
                    share: Any) -> DecryptionShare:
    try:
        parsed = decryption_share_from_json(guardians, share, source=f"guardian {guardian}'s share")
    except MalformedInputError as exc:
        raise BadShareError(guardian, f"guardian {guardian}'s share is malformed: {exc}") from None
    if parsed.guardian != guardian:
        raise BadShareError(guardian, f"the share is guardian {parsed.guardian}'s, submitted as guardian {guardian}'s")
    escrow = _escrow(ctx, row)
    context = share_context(LiquidationRequest.from_json(row.request))
    if not verify_decryption_share(guardians, escrow.ephemeral_key, parsed, context=context):
        raise BadShareError(guardian, f"guardian {guardian}'s share: its DLEQ proof does not verify against its "
                            "verification key for this liquidation")
    return parsed


def _escrow(ctx: ServiceContext, row: Liquidation) -> Escrow:
    return Escrow.from_json(json.loads(row.pinned.escrow or "null"), ctx.curve)


def resume(session: Session, ctx: ServiceContext, liquidation_id: int) -> tuple[dict[str, Any], str | None]:
    """Re-run the opening and close-out of a liquidation whose t shares are stored (after a crash)."""
    guardians = _require_guardians(ctx)
    row = _locked_for_work(session, liquidation_id)
    if row.status is not LiquidationStatus.REQUESTED:
        raise ConflictError(f"liquidation {liquidation_id} is {row.status.value}: nothing to resume")
    if len(row.shares) < guardians.threshold:
        raise ConflictError(f"liquidation {liquidation_id} has {len(row.shares)} of the {guardians.threshold} shares "
                            "it needs: nothing to resume yet")
    return open_pending(session, ctx, liquidation_id)


# --- 3. opening and close-out -----------------------------------------------------------------


def open_and_close(session: Session, ctx: ServiceContext, row: Liquidation) -> str | None:
    """Open the pinned state (from the stored shares, or from the close-out that wrote it) and apply
    its close-out; the failure, if any."""
    request = LiquidationRequest.from_json(row.request)
    try:
        state = _known_state(session, ctx, row, request) if opens_known_state(request) else \
            _decrypted_state(ctx, row, request)
    except OpeningMismatchError as exc:
        row.status, row.failure = LiquidationStatus.FAILED, str(exc)[:500]
        session.flush()
        return str(exc)
    row.revealed_state = json.dumps(state_to_json(state))
    row.status = LiquidationStatus.OPENED
    session.flush()
    apply_closeout(session, ctx, row, state)
    return None


def _decrypted_state(ctx: ServiceContext, row: Liquidation, request: LiquidationRequest) -> AccountState:
    guardians = _require_guardians(ctx)
    shares = [decryption_share_from_json(guardians, json.loads(kept.share)) for kept in row.shares]
    escrow = _escrow(ctx, row)
    combined = combine_decryption_shares(guardians, escrow.ephemeral_key, shares, context=share_context(request))
    try:
        values = open_with_shared_point(escrow, combined.shared_point)
        state = AccountState.from_commitment_inputs(values, ctx.curve)
    except (MalformedInputError, BoundError) as exc:
        raise OpeningMismatchError(f"the escrow of liquidation {row.id} does not open to a state: {exc}") from None
    if state.commitment(ctx.curve) != request.commitment or state.account_id != row.account_id:
        raise OpeningMismatchError(f"the escrow of liquidation {row.id} opens to a state that is not account "
                                   f"{row.account_id}'s pinned commitment: a broken escrow")
    return state


def _known_state(session: Session, ctx: ServiceContext, row: Liquidation, request: LiquidationRequest) -> AccountState:
    """The successor an earlier close-out wrote, from its record, checked against the pinned commitment."""
    writer = _liquidation(session, int(request.circuit.removeprefix(KNOWN_STATE_CIRCUIT)))
    state = state_from_json(json.loads(writer.successor_state or "null"), f"liquidation {writer.id}'s successor")
    if state.commitment(ctx.curve) != request.commitment or state.account_id != row.account_id:
        raise OpeningMismatchError(f"liquidation {writer.id}'s recorded successor is not account {row.account_id}'s "
                                   f"pinned commitment: the service's records disagree")
    return state


def _closeout_prices(session: Session, ctx: ServiceContext, epoch_id: int) -> list[int]:
    """The prices positions are closed at: the settlement prices of the state's epoch once it closed,
    its mark prices while it is open."""
    epoch = _closeable_epoch(session, epoch_id)
    if epoch.status is EpochStatus.CLOSED:
        return [price.price for price in epoch.prices]
    return epochs.mark_prices(session, ctx, epoch_id, require_open=False)


def _closeable_epoch(session: Session, epoch_id: int) -> Epoch:
    epoch = records.get_epoch(session, epoch_id)
    if epoch.status is EpochStatus.FINALIZED:
        raise ConflictError(f"the state's epoch {epoch_id} is finalized: its positions can no longer be closed in it")
    return epoch


def closeout_rule(session: Session, ctx: ServiceContext, epoch_id: int) -> CloseoutRule:
    """The rule of the deployment's margin mode (docs/protocol.md §11). Flat: the market rates at the
    epoch's prices. Portfolio: the epoch's risk record and the initial-margin factor, trading at the
    record's marks while the epoch is open (an option at the model's value), at its settlement
    prices once it closed (what every other position of the epoch settles at)."""
    settings = ctx.runtime.settings
    if settings.margin_mode != "portfolio":
        return FlatRule(tuple(_closeout_prices(session, ctx, epoch_id)), tuple(ctx.runtime.maintenance_rates),
                        tuple(ctx.runtime.initial_rates))
    epoch = _closeable_epoch(session, epoch_id)
    try:
        record = risk.epoch_risk(session, epoch_id)
    except NotFoundError as exc:
        raise ConflictError(f"portfolio mode closes out against the epoch's risk record: {exc}") from None
    arrays = risk_arrays_from_json(record, f"epoch {epoch_id}'s risk record").arrays
    prices = [price.price for price in epoch.prices] if epoch.status is EpochStatus.CLOSED else risk_marks(arrays)
    return PortfolioRule(arrays, tuple(prices), settings.portfolio_initial_factor)


def plan_closeout(session: Session, ctx: ServiceContext, state: AccountState, reason: str) -> CloseoutPlan:
    """The least close-out restoring initial margin, except for a missed settlement: that closes out in
    full, because a partial successor would still owe the settlement it already failed to make, and
    the epoch could not finalize without it. In portfolio mode a plan that would close an option
    valued at 0 is refused (``UnclosablePositionError``, 409 ``unclosable_position``): no fill carries
    a price below 1."""
    rule = closeout_rule(session, ctx, state.epoch)
    return rule.plan(state, ctx.runtime.settings.liquidation_penalty_rate, salt=fresh_salt(ctx.curve),
                     full=reason == "settlement", curve=ctx.curve)


def apply_closeout(session: Session, ctx: ServiceContext, row: Liquidation, state: AccountState) -> None:
    """The close-out, applied: backstop fills, the successor commitment, penalty, pnl and waterfall."""
    plan = plan_closeout(session, ctx, state, row.reason)
    epoch_id = state.epoch
    # a full close-out settles the state's epoch at the prices (its pnl is booked as the epoch's
    # settlement), so the successor moves on to the next epoch, as a settle proof's would
    successor = replace(plan.successor, epoch=epoch_id + 1) if plan.full else plan.successor
    account = records.lock_account(session, row.account_id)
    backstop_fills = _post_backstop_fills(session, ctx, row, plan, epoch_id)
    transition = _write_successor(session, ctx, account, row, successor)
    entries = _book_penalty(session, row, plan, epoch_id)
    waterfall = None
    if plan.full:
        waterfall, more = _book_realized_pnl(session, ctx, row, plan, epoch_id, transition)
        entries += more
    row.successor_state = json.dumps(state_to_json(successor))
    row.closeout = json.dumps({**_public_plan(plan), "successor_commitment": str(successor.commitment(ctx.curve)),
                               "backstop_account": ctx.runtime.settings.backstop_account,
                               "backstop_fills": backstop_fills, "waterfall": waterfall, "journal_entries": entries})
    row.status, row.closed_at = LiquidationStatus.CLOSED, utc_now()
    account.liquidation_id = None
    session.flush()


def _public_plan(plan: CloseoutPlan) -> dict[str, Any]:
    """The plan without the successor's opening (its salt is the owner's; the commitment is shown)."""
    public = plan.to_json()
    public.pop("successor", None)
    return public


def _post_backstop_fills(session: Session, ctx: ServiceContext, row: Liquidation, plan: CloseoutPlan,
                         epoch_id: int) -> list[dict[str, Any]]:
    """The backstop's side, as venue fills of the epoch sealed to its key: it applies them with its own proofs."""
    backstop_id = ctx.runtime.settings.backstop_account
    assert backstop_id is not None
    backstop = records.get_account(session, backstop_id)
    assert backstop.encryption_public_key is not None
    deadline = utc_now() + timedelta(seconds=ctx.runtime.settings.fill_window_seconds)
    posted = []
    for term in plan.backstop_fills(backstop_id):
        fill = Fill(backstop_id, BACKSTOP_FILL_TAG | (row.id << 6) | term.market, term.market, term.size_delta,
                    term.price, term.fee, fresh_salt(ctx.curve)).validate(ctx.markets, ctx.curve)
        commitment = fill.commitment(ctx.curve)
        item = records.record_fill(session, account_id=backstop_id, fill_commitment=commitment,
                                   reference=f"liquidation/{row.id}/backstop/{term.market}", epoch_id=epoch_id,
                                   ciphertext=seal_fill(fill, backstop.encryption_public_key, ctx.curve),
                                   deadline=deadline)
        posted.append({"fill_id": item.id, "market": term.market, "size_delta": str(term.size_delta),
                       "price": str(term.price), "fill_commitment": str(commitment)})
    return posted


def _write_successor(session: Session, ctx: ServiceContext, account: Account, row: Liquidation,
                     successor: AccountState) -> AccountCommitment:
    """The account continues from the public successor: a ``liquidation`` commitment, no proof."""
    commitment = successor.commitment(ctx.curve)
    account.sequence += 1
    account.current_commitment = commitment
    account.state_epoch = successor.epoch
    account.holds_position = successor.holds_position
    transition = AccountCommitment(account_id=account.id, sequence=account.sequence, commitment=commitment,
                                   kind=StatementKind.LIQUIDATION, statement_digest=row.request_digest,
                                   epoch_id=row.epoch_id, state_epoch=successor.epoch, created_at=utc_now())
    session.add(transition)
    session.flush()
    return transition


def _book_penalty(session: Session, row: Liquidation, plan: CloseoutPlan, epoch_id: int) -> list[int]:
    if plan.penalty == 0:
        return []
    legs = [Posting(trader_collateral(row.account_id), -plan.penalty), Posting(DEFAULT_FUND, plan.penalty)]
    entry = append_entry(session, EntryKind.LIQUIDATION, legs,
                         reference=f"liquidation/{row.id}/penalty", account_id=row.account_id, epoch_id=epoch_id)
    return [entry.sequence]


def _book_realized_pnl(session: Session, ctx: ServiceContext, row: Liquidation, plan: CloseoutPlan, epoch_id: int,
                       transition: AccountCommitment) -> tuple[dict[str, Any] | None, list[int]]:
    """A full close-out's realized pnl as the account's settlement of the epoch; a loss is paid by
    the waterfall, each step one balanced entry against ``clearing``."""
    pnl, account_id = plan.realized_pnl, row.account_id
    entries: list[JournalEntry] = []
    waterfall = None
    if pnl > 0:
        entries.append(append_entry(session, EntryKind.LIQUIDATION,
                                    [Posting(trader_collateral(account_id), pnl), Posting(CLEARING, -pnl)],
                                    reference=f"liquidation/{row.id}/pnl", account_id=account_id, epoch_id=epoch_id))
    elif pnl < 0:
        steps = _waterfall(session, plan, account_id)
        waterfall = steps.to_json()
        legs = {"collateral": [Posting(trader_collateral(account_id), -steps.from_collateral)],
                "insurance": [Posting(DEFAULT_FUND, -steps.from_insurance)],
                "socialized": [Posting(trader_levies(winner), -levy) for winner, levy in steps.socialized.items()]}
        for step, postings in legs.items():
            total = -sum(leg.amount for leg in postings)
            if total:
                entries.append(append_entry(session, EntryKind.LIQUIDATION, [*postings, Posting(CLEARING, total)],
                                            reference=f"liquidation/{row.id}/{step}", account_id=account_id,
                                            epoch_id=epoch_id))
        deadline = utc_now() + timedelta(seconds=ctx.runtime.settings.fill_window_seconds)
        waterfall["levies"] = _post_levies(session, row, steps, epoch_id, deadline)
    session.add(Settlement(account_id=account_id, epoch_id=epoch_id, pnl=pnl, transition_id=transition.id,
                           journal_entry_id=entries[0].id if entries else None, holds_position=False,
                           created_at=utc_now()))
    session.flush()
    return waterfall, [entry.sequence for entry in entries]


def _post_levies(session: Session, row: Liquidation, steps: Waterfall, epoch_id: int,
                 deadline: datetime) -> dict[str, int]:
    """Each winner's levy as a pending item it applies with a transfer proof (a debit), first in its
    clearing order, by the fill window's deadline (overdue, it counts for the ``fill_deadline`` rule)."""
    posted = {}
    for winner, levy in steps.socialized.items():
        item = PendingItem(kind=PendingKind.LEVY, account_id=winner, amount=levy,
                           reference=f"liquidation/{row.id}/levy/{winner}", epoch_id=epoch_id, deadline=deadline,
                           created_at=utc_now())
        session.add(item)
        session.flush()
        posted[str(winner)] = item.id
    return posted


def apply_levy(session: Session, *, levy_id: int, transition: AccountCommitment) -> JournalEntry:
    """A winner's transfer proof paid its levy: consume the item, move the debit from the levies owed
    to its collateral (``trader/<w>/levies +levy``, ``trader/<w>/collateral -levy``)."""
    item = records.lock_pending_item(session, levy_id)
    records.consume_pending_item(session, item, transition, PendingKind.LEVY)
    amount, account_id = int(item.amount), item.account_id
    return append_entry(session, EntryKind.LIQUIDATION,
                        [Posting(trader_levies(account_id), amount), Posting(trader_collateral(account_id), -amount)],
                        reference=f"{item.reference}/applied", account_id=account_id, epoch_id=item.epoch_id)


def _waterfall(session: Session, plan: CloseoutPlan, account_id: int) -> Waterfall:
    """The defaulter's collateral, then the insurance fund (the default fund's positive balance), then
    the winners of the last finalized epoch pro rata; with no winner, the fund carries the rest."""
    insurance = max(0, balance(session, DEFAULT_FUND))
    winners = last_epoch_winners(session, exclude=account_id)
    try:
        return plan.waterfall(insurance, winners)
    except CloseoutError:
        return Waterfall(plan.shortfall, plan.loss_from_collateral, plan.shortfall, {})


def last_epoch_winners(session: Session, *, exclude: int) -> dict[int, int]:
    """The positive settled pnl of the last finalized epoch, per account: the public figures a loss is shared by."""
    epoch_id = session.scalar(select(func.max(Epoch.id)).where(Epoch.status == EpochStatus.FINALIZED))
    if epoch_id is None:
        return {}
    rows = session.execute(select(Settlement.account_id, Settlement.pnl).where(Settlement.epoch_id == epoch_id))
    return {account: int(pnl) for account, pnl in rows if int(pnl) > 0 and account != exclude}


# --- the account view's part ------------------------------------------------------------------


def account_liquidation(session: Session, account_id: int, owner: bool) -> dict[str, Any] | None:
    row = latest_liquidation(session, account_id)
    return None if row is None else liquidation_summary(row, owner)


def check_reason(reason: str) -> str:
    if reason not in REASONS:
        raise NotLiquidatableError("reason", f"reason must be one of {', '.join(REASONS)}, got {reason!r}")
    return reason

