"""Payouts: a verified withdrawal owes the trader a payout; the operator records paying it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from verifier.db.ledger import EXTERNAL, Posting, append_entry, check_amount, trader_collateral, trader_payouts
from verifier.db.models import AccountCommitment, EntryKind, Payout, PayoutStatus, StatementKind
from verifier.db.types import utc_now
from verifier.errors import DuplicateError, NotFoundError, VerifierError


def record_withdrawal(session: Session, *, transition: AccountCommitment, amount: int) -> Payout:
    """A verified transfer proof took ``amount`` out of the state: a payout owed to the trader."""
    amount = check_amount(amount, "a withdrawal")
    if transition.kind is not StatementKind.TRANSFER:
        raise VerifierError("a withdrawal is a transfer transition")
    account_id = transition.account_id
    payout = Payout(account_id=account_id, amount=amount, transition_id=transition.id,
                    status=PayoutStatus.PENDING, created_at=utc_now())
    session.add(payout)
    session.flush()
    append_entry(session, EntryKind.WITHDRAWAL,
                 [Posting(trader_collateral(account_id), -amount), Posting(trader_payouts(account_id), amount)],
                 reference=f"withdrawal/{payout.id}", account_id=account_id)
    return payout


def pay_payout(session: Session, *, payout_id: int, payment_reference: str) -> Payout:
    """The operator paid a payout out; repeating it with the same payment reference is a no-op."""
    payout = session.scalar(select(Payout).where(Payout.id == payout_id).with_for_update()
                            .execution_options(populate_existing=True))
    if payout is None:
        raise NotFoundError(f"payout {payout_id} does not exist")
    if payout.status is PayoutStatus.PAID:
        if payout.payment_reference == payment_reference:
            return payout
        raise DuplicateError(f"payout {payout_id} was already paid under another reference")
    payout.status, payout.payment_reference, payout.paid_at = PayoutStatus.PAID, payment_reference, utc_now()
    session.flush()
    append_entry(session, EntryKind.PAYOUT,
                 [Posting(trader_payouts(payout.account_id), -payout.amount), Posting(EXTERNAL, payout.amount)],
                 reference=f"payout/{payout.id}", account_id=payout.account_id)
    return payout


def payout_view(payout: Payout) -> dict[str, Any]:
    return {"payout_id": payout.id, "account_id": payout.account_id, "amount": str(payout.amount),
            "status": payout.status.value, "payment_reference": payout.payment_reference,
            "created_at": payout.created_at, "paid_at": payout.paid_at}


def list_payouts(session: Session, status: str | None) -> list[dict[str, Any]]:
    """Every payout in order, or those of one status (``pending``, ``paid``)."""
    query = select(Payout).order_by(Payout.id)
    if status is not None:
        query = query.where(Payout.status == PayoutStatus(status))
    return [payout_view(p) for p in session.scalars(query)]


def mark_paid(session: Session, payout_id: int, payment_reference: str) -> dict[str, Any]:
    """``pay_payout`` as the API shows it."""
    return payout_view(pay_payout(session, payout_id=payout_id, payment_reference=payment_reference))
