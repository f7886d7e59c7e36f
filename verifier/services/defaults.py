"""Defaults: the operator declares an account in default for a closed epoch it had to settle
and did not; from then on the account is frozen (see ``verifier.services.settlements``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from verifier.db.models import Account, AccountDefault, Liquidation, LiquidationStatus
from verifier.db.records import default_of, lock_account
from verifier.db.types import utc_now
from verifier.errors import ConflictError, DuplicateError
from verifier.services.settlements import lock_closed_epoch, refuse_second_outcome, settlement_obligations


def mark_default(session: Session, *, account_id: int, epoch_id: int, reason: str) -> AccountDefault:
    """Declare an account in default for a closed epoch it had to settle and did not.

    The account row is locked first (the lock every transition's compare-and-swap takes), so a
    settlement and a default of the same account and epoch cannot both commit. From then on the
    account is frozen (``records.refuse_if_in_default``) and counts as defaulted in every later
    epoch, its pnl there allocated to the default fund at finalization.
    """
    account = lock_account(session, account_id)
    lock_closed_epoch(session, epoch_id, shared=True)
    refuse_second_outcome(session, account_id, epoch_id)
    earlier = default_of(session, account_id)
    if earlier is not None:
        raise DuplicateError(f"account {account_id} is already in default since epoch {earlier.epoch_id}")
    if account_id not in settlement_obligations(session, epoch_id).required:
        raise ConflictError(f"account {account_id} held no position at the close of epoch {epoch_id} and has no "
                            "fill of it to apply: it has nothing to settle there, so it cannot default on it")
    default = AccountDefault(account_id=account_id, epoch_id=epoch_id, reason=reason[:200], created_at=utc_now())
    session.add(default)
    _supersede_liquidation(session, account, epoch_id)
    session.flush()
    return default


def _supersede_liquidation(session: Session, account: Account, epoch_id: int) -> None:
    """A default ends the account's open liquidation (it fails, naming the default): a defaulted
    account is not liquidated, as a request for it is refused. Closing it out afterwards would
    settle the epoch of its default too, two outcomes for one account and epoch."""
    if account.liquidation_id is None:
        return
    liquidation = session.get(Liquidation, account.liquidation_id)
    if liquidation is not None and liquidation.status is LiquidationStatus.REQUESTED:
        liquidation.status = LiquidationStatus.FAILED
        liquidation.failure = (f"account {account.id} was declared in default for epoch {epoch_id} before the "
                               "guardians' shares opened its state: its pnl goes to the default fund at finalization")
    account.liquidation_id = None  # the default freezes it from now on


def declare_default(session: Session, account_id: int, epoch_id: int, reason: str) -> dict[str, Any]:
    """``mark_default`` as the API shows it."""
    row = mark_default(session, account_id=account_id, epoch_id=epoch_id, reason=reason)
    return {"account_id": row.account_id, "epoch_id": row.epoch_id, "reason": row.reason,
            "declared_at": row.created_at}
