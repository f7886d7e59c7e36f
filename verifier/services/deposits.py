"""Deposits: the operator credits one it received (a pending item and its ledger entry); the
owner brings it into the private state with a transfer proof, which consumes the item once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from verifier.db.ledger import EXTERNAL, Posting, append_entry, check_amount, trader_collateral, trader_deposits
from verifier.db.models import AccountCommitment, EntryKind, JournalEntry, PendingItem, PendingKind, StatementKind
from verifier.db.records import consume_pending_item, get_account, lock_pending_item
from verifier.db.types import require_aware, require_int, utc_now
from verifier.errors import DuplicateError, VerifierError


def credit_deposit(session: Session, *, account_id: int, amount: int, reference: str,
                   deadline: datetime | None = None) -> PendingItem:
    """The operator received ``amount`` for an account: a pending deposit and its ledger entry.

    ``reference`` is the operator's own (e.g. the bank transfer's); a retry with the same
    reference and terms returns the existing item instead of crediting twice (see
    ``credit_deposit_once``).
    """
    return credit_deposit_once(session, account_id=account_id, amount=amount, reference=reference,
                               deadline=deadline)[0]


def credit_deposit_once(session: Session, *, account_id: int, amount: int, reference: str,
                        deadline: datetime | None = None) -> tuple[PendingItem, bool]:
    """``credit_deposit``, and whether this call created the item (False: an identical retry).

    Concurrent identical credits are decided by the reference's unique index: on PostgreSQL the
    loser's insert waits for the winner's commit and fails; it then re-reads the winner's item
    (in a savepoint, so its transaction goes on) and returns it, or refuses if the terms
    differ. On SQLite the write lock serializes them and the loser finds the item at once.
    """
    amount = check_amount(amount, "a deposit")
    require_aware(deadline, "a deposit's deadline")
    get_account(session, account_id)
    existing = _credited_deposit(session, reference, account_id, amount)
    if existing is not None:
        return existing, False
    item = PendingItem(kind=PendingKind.DEPOSIT, account_id=account_id, reference=reference, amount=amount,
                       deadline=deadline, created_at=utc_now())
    try:
        with session.begin_nested():
            session.add(item)
            session.flush()
    except IntegrityError:  # a concurrent credit took the reference first
        existing = _credited_deposit(session, reference, account_id, amount)
        if existing is None:
            raise
        return existing, False
    append_entry(session, EntryKind.DEPOSIT_CREDITED,
                 [Posting(EXTERNAL, -amount), Posting(trader_deposits(account_id), amount)],
                 reference=f"deposit-credited/{item.id}", account_id=account_id)
    return item, True


def _credited_deposit(session: Session, reference: str, account_id: int, amount: int) -> PendingItem | None:
    """The item already recorded under ``reference`` if its terms are these (``DuplicateError`` if
    they are not), or None."""
    existing = session.scalar(select(PendingItem).where(PendingItem.reference == reference)
                              .execution_options(populate_existing=True))
    if existing is None:
        return None
    if (existing.kind, existing.account_id, existing.amount) == (PendingKind.DEPOSIT, account_id, amount):
        return existing
    raise DuplicateError(f"reference {reference!r} was already used for another item")


def deposit_view(item: PendingItem) -> dict[str, Any]:
    return {"deposit_id": item.id, "account_id": item.account_id, "amount": str(item.amount),
            "reference": item.reference, "applied": item.consumed_by is not None}


def credit(session: Session, account_id: int, amount: int, reference: str) -> tuple[dict[str, Any], bool]:
    """The operator's credit as the API shows it, and whether it created the item (False: a retry)."""
    item, created = credit_deposit_once(session, account_id=account_id, amount=amount, reference=reference)
    return deposit_view(item), created


def apply_deposit(session: Session, *, pending_item_id: int, transition: AccountCommitment) -> JournalEntry:
    """A verified transfer proof brought a credited deposit into the private state.

    The caller checked the proof's public amount equals the item's; the item is consumed once.
    """
    if transition.kind is not StatementKind.TRANSFER:
        raise VerifierError("a deposit is applied by a transfer transition")
    item = consume_pending_item(session, lock_pending_item(session, pending_item_id), transition,
                                PendingKind.DEPOSIT)
    amount = require_int(item.amount, "a deposit")
    return append_entry(session, EntryKind.DEPOSIT_APPLIED,
                        [Posting(trader_deposits(item.account_id), -amount),
                         Posting(trader_collateral(item.account_id), amount)],
                        reference=f"deposit-applied/{item.id}", account_id=item.account_id)
