"""Epochs: open (mark-price snapshot), close (settlement-price snapshot), finalize.

At most one epoch is open at a time: its mark prices are what margin attestations, deposits,
withdrawals and fills are proven against during the epoch. Closing fixes the settlement prices
(never changed afterwards); settle proofs use those. Finalization is ``verifier.services.settlements``'.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from verifier.db import records
from verifier.db.models import Epoch, EpochStatus, SnapshotPhase
from verifier.db.types import utc_now
from verifier.errors import EpochStateError, NotFoundError
from verifier.services import epoch_records, funding, prices, risk, settlements
from verifier.services.context import ServiceContext
from verifier.services.errors import NoOpenEpochError


def epoch_view(session: Session, epoch: Epoch) -> dict[str, Any]:
    mark = prices.stored_snapshot(session, epoch.id, SnapshotPhase.MARK)
    settlement = prices.stored_snapshot(session, epoch.id, SnapshotPhase.SETTLEMENT)
    return {
        "epoch_id": epoch.id,
        "status": epoch.status.value,
        "opened_at": epoch.opened_at,
        "closed_at": epoch.closed_at,
        "finalized_at": epoch.finalized_at,
        "attestation_deadline": epoch.attestation_deadline,
        "settlement_deadline": epoch.settlement_deadline,
        "mark_prices": list(mark.prices) if mark else None,
        "mark_snapshot_digest": mark.digest().hex() if mark else None,
        "settlement_prices": [p.price for p in epoch.prices] or None,
        "settlement_snapshot_digest": settlement.digest().hex() if settlement else None,
        "funding_rates": [p.funding_rate for p in epoch.prices] or None,
        "funding_steps": [str(step) for step in funding.funding_steps(epoch)] or None,
        "settlement_expires": risk.settlement_expires(session, epoch.id),
        "settled_accounts": epoch.settled_accounts,
        "defaulted_accounts": epoch.defaulted_accounts,
        "circuit_breaker_overrides": {
            phase.value: trips for phase in SnapshotPhase
            if (trips := prices.breaker_override(session, epoch.id, phase)) is not None},
    }


def get_epoch_view(session: Session, epoch_id: int) -> dict[str, Any]:
    return epoch_view(session, records.get_epoch(session, epoch_id))


def current_epoch(session: Session) -> Epoch | None:
    return session.scalar(select(Epoch).where(Epoch.status == EpochStatus.OPEN).order_by(Epoch.id.desc()).limit(1))


def current_epoch_view(session: Session) -> dict[str, Any]:
    epoch = current_epoch(session)
    if epoch is None:
        raise NoOpenEpochError("no epoch is open")
    return epoch_view(session, epoch)


def list_epochs(session: Session, limit: int) -> list[dict[str, Any]]:
    return [epoch_view(session, e) for e in session.scalars(select(Epoch).order_by(Epoch.id.desc()).limit(limit))]


def open_epoch(session: Session, ctx: ServiceContext, attestation_deadline: datetime | None,
               confirm_circuit_breaker: bool = False) -> dict[str, Any]:
    """Open the next epoch with a mark-price snapshot of the fresh oracle reports.

    The circuit breaker (``prices.take_snapshot``) refuses prices that spread or moved too far
    unless ``confirm_circuit_breaker``; what the operator confirmed is kept with the snapshot."""
    open_one = current_epoch(session)
    if open_one is not None:
        raise EpochStateError(f"epoch {open_one.id} is still open: close it before opening another")
    epoch_id = (session.scalar(select(func.max(Epoch.id))) or 0) + 1
    taken, trips = prices.take_snapshot(session, ctx, epoch_id, action="open",
                                        confirm_circuit_breaker=confirm_circuit_breaker)
    deadline = attestation_deadline or utc_now() + timedelta(seconds=ctx.runtime.settings.attestation_window_seconds)
    epoch = records.open_epoch(session, epoch_id, attestation_deadline=deadline)
    prices.store_snapshot(session, epoch_id, SnapshotPhase.MARK, taken, overridden=trips)
    risk.fix_epoch_risk(session, ctx, taken)  # portfolio mode: the arrays, fixed with the mark prices
    epoch_records.record_epoch(session, epoch, "open")  # last: the journal names the rows above
    return {**epoch_view(session, epoch), "circuit_breaker_override": [t.to_dict() for t in trips] or None}


def close_epoch(session: Session, ctx: ServiceContext, epoch_id: int,
                settlement_deadline: datetime | None, confirm_circuit_breaker: bool = False) -> dict[str, Any]:
    """Fix the settlement prices (a snapshot of the fresh reports now; in portfolio mode each option
    market at its settlement value, ``risk.fix_settlement``) and each perpetual market's funding rate
    (``funding.fix_funding_rates``); they never change after.

    The circuit breaker applies as in ``open_epoch``, to the prices and the funding rates."""
    epoch = records.lock_epoch(session, epoch_id)
    if epoch.status is not EpochStatus.OPEN:
        raise EpochStateError(f"epoch {epoch_id} is already {epoch.status.value}")
    taken, trips = prices.take_snapshot(session, ctx, epoch_id, action="close",
                                        confirm_circuit_breaker=confirm_circuit_breaker)
    rates = funding.fix_funding_rates(session, ctx, epoch_id, confirm_circuit_breaker=confirm_circuit_breaker)
    # portfolio mode: option markets settle at their value (intrinsic once expired)
    settled = risk.fix_settlement(session, ctx, taken, confirm_circuit_breaker=confirm_circuit_breaker)
    epoch = records.close_epoch(session, epoch_id, settled)
    for row, rate in zip(epoch.prices, rates, strict=True):
        row.funding_rate = rate
    epoch.settlement_deadline = settlement_deadline or utc_now() + timedelta(
        seconds=ctx.runtime.settings.settlement_window_seconds)
    prices.store_snapshot(session, epoch_id, SnapshotPhase.SETTLEMENT, taken, overridden=trips)
    session.flush()
    epoch_records.record_close(session, epoch)  # last: the journal names the rows above
    return {**epoch_view(session, epoch), "circuit_breaker_override": [t.to_dict() for t in trips] or None}


def epoch_status(session: Session, epoch_id: int) -> EpochStatus:
    """One column, one round trip (the epoch row and its prices are not loaded)."""
    status = session.scalar(select(Epoch.status).where(Epoch.id == epoch_id))
    if status is None:
        raise NotFoundError(f"epoch {epoch_id} does not exist")
    return status


def mark_prices(session: Session, ctx: ServiceContext, epoch_id: int, *, require_open: bool) -> list[int]:
    """The epoch's mark prices; ``require_open``: transitions prove against the open epoch only."""
    cached = ctx.mark_prices.get(epoch_id)
    if cached is not None and not require_open:
        return cached
    status = epoch_status(session, epoch_id)
    if require_open and status is not EpochStatus.OPEN:
        current = current_epoch(session)
        hint = f"prove against the open epoch {current.id}" if current else "no epoch is open"
        raise EpochStateError(f"epoch {epoch_id} is {status.value}: {hint}")
    if cached is not None:
        return cached
    taken = prices.stored_snapshot(session, epoch_id, SnapshotPhase.MARK)
    if taken is None:
        raise NotFoundError(f"epoch {epoch_id} has no mark-price snapshot")
    ctx.mark_prices[epoch_id] = list(taken.prices)
    return ctx.mark_prices[epoch_id]


def settlement_funding_steps(session: Session, epoch_id: int) -> list[int]:
    """The closed epoch's funding-index steps (rate * price; 0 for a future), for its settle proofs."""
    return funding.funding_steps(settlements.require_closed(records.get_epoch(session, epoch_id)))


def settlement_prices(session: Session, ctx: ServiceContext, epoch_id: int) -> list[int]:
    """The closed epoch's settlement prices (EpochStateError while it is open or once finalized)."""
    epoch = settlements.require_closed(records.get_epoch(session, epoch_id))
    cached = ctx.settlement_prices.get(epoch_id)
    if cached is None:
        cached = ctx.settlement_prices[epoch_id] = [p.price for p in epoch.prices]
    return cached
