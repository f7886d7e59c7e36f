"""Account health per epoch.

- **default**: the operator declared the account in default (in any epoch: a defaulted account
  stays frozen, so it owes every epoch it has not settled); or it holds a fill not applied by its deadline; or the epoch
  is closed, its settlement deadline has passed, and the account (one that must settle it) has
  not settled.
- **margin_call**: the account may hold a position in the epoch and has no timely margin
  attestation for it (accepted while the epoch was open, by its attestation deadline), and the
  attestation deadline has passed.
- **healthy**: otherwise. An account that attested after the attestation deadline but within the
  liquidation grace period (``ZKMARGIN_LIQUIDATION_GRACE_SECONDS``) *cured* its margin call: it is
  healthy, with ``cured`` true and the reason saying so.

"May hold a position" is ``settlements.settlement_obligations``: what the public records say about
the account's state in that epoch (its epoch and position bit, its fills still to apply).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from verifier.db import records
from verifier.db.models import Account, AccountDefault, Attestation, Epoch, EpochStatus, PendingItem, PendingKind
from verifier.db.types import utc_now
from verifier.services import accounts
from verifier.services.settlements import settlement_obligations


def _health(account_id: int, epoch: Epoch, *, may_hold_position: bool, attested: bool, settled: bool,
            defaulted: str | None, overdue_fills: list[int], now, cured: bool = False) -> dict[str, Any]:
    reasons = []
    if defaulted:
        reasons.append(f"marked in default: {defaulted}")
    if overdue_fills:
        reasons.append(f"fills not applied by their deadline: {', '.join(map(str, overdue_fills))}")
    settlement_overdue = (may_hold_position and not settled and epoch.status is EpochStatus.CLOSED
                          and epoch.settlement_deadline is not None and now > epoch.settlement_deadline)
    if settlement_overdue:
        reasons.append("no settlement by the settlement deadline")
    if reasons:
        status = "default"
    elif (may_hold_position and not attested and epoch.attestation_deadline is not None
          and now > epoch.attestation_deadline):
        status = "margin_call"
        reasons.append("no margin attestation by the attestation deadline")
    else:
        status = "healthy"
        if cured:
            reasons.append("cured: margin attested after the attestation deadline, within the grace period")
    return {"account_id": account_id, "epoch_id": epoch.id, "status": status, "attested": attested,
            "settled": settled, "may_hold_position": may_hold_position, "overdue_fills": overdue_fills,
            "reasons": reasons, "cured": cured and status == "healthy"}


def attested_accounts(session: Session, epoch: Epoch, grace: timedelta) -> tuple[set[int], set[int]]:
    """The accounts with a timely attestation for the epoch, and those that attested only in the
    grace period after its deadline (cures)."""
    rows = session.execute(select(Attestation.account_id, Attestation.created_at)
                           .where(Attestation.epoch_id == epoch.id)).all()
    deadline = epoch.attestation_deadline
    timely = {account for account, at in rows if deadline is None or at <= deadline}
    cured = {account for account, at in rows
             if deadline is not None and deadline < at <= deadline + grace} - timely
    return timely, cured


def epoch_health(session: Session, epoch_id: int, status: str | None = None,
                 grace_seconds: int = 0) -> list[dict[str, Any]]:
    """Every account's health in the epoch (the operator's listing), optionally one status only."""
    epoch = records.get_epoch(session, epoch_id)
    now = utc_now()
    obligations = settlement_obligations(session, epoch_id)
    positions, settled = obligations.required, set(obligations.settled)
    timely, cured = attested_accounts(session, epoch, timedelta(seconds=grace_seconds))
    attested = timely | cured
    # a default counts from the epoch it was declared in, and in any earlier epoch the account still owes
    defaults = {account_id: f"{reason} (epoch {declared_in})" if declared_in != epoch_id else reason
                for account_id, reason, declared_in in session.execute(
                    select(AccountDefault.account_id, AccountDefault.reason, AccountDefault.epoch_id)).all()
                if declared_in <= epoch_id or (account_id in positions and account_id not in settled)}
    overdue: dict[int, list[int]] = {}
    for item in session.scalars(select(PendingItem).where(
            PendingItem.kind == PendingKind.FILL, PendingItem.consumed_by.is_(None),
            PendingItem.deadline.is_not(None), PendingItem.deadline < now)):
        overdue.setdefault(item.account_id, []).append(item.id)
    result = []
    for account_id in session.scalars(select(Account.id).order_by(Account.id)):
        row = _health(account_id, epoch, may_hold_position=account_id in positions, attested=account_id in attested,
                      settled=account_id in settled, defaulted=defaults.get(account_id),
                      overdue_fills=overdue.get(account_id, []), now=now, cured=account_id in cured)
        if status is None or row["status"] == status:
            result.append(row)
    return result


def account_health(
    session: Session, account_id: int, epoch_id: int, token: str | None, operator: bool, grace_seconds: int = 0,
) -> dict[str, Any]:
    if not operator:
        accounts.authenticate(session, account_id, token)
    records.get_account(session, account_id)
    return next(row for row in epoch_health(session, epoch_id, grace_seconds=grace_seconds)
                if row["account_id"] == account_id)
