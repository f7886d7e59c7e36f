"""Clearing an epoch: who must settle it, settlements of the public pnl, and finalization.

**Who settles.** ``settlement_obligations`` names the accounts that held a position at an
epoch's close, from public facts only (the epoch each state is in, whether it may hold a
position, unapplied fills); docs/protocol.md §4.5–4.6 shows why their settled pnl sums to zero.

**Defaults.** A defaulted account's pnl is private: nobody but its owner can compute it. What
the operator does know is that an epoch's variation margin is zero-sum, so the defaulted
accounts' pnl together is exactly minus what the settled accounts' pnl sums to. Finalization
posts that residual between ``clearing`` and ``default-fund`` (a settlement entry referenced
``default-allocation/<epoch>``), so winners are paid in full: a negative ``default-fund`` is a
loss the operator's default resources cover and pursue from the defaulters (whose collateral
stays frozen behind their last commitment). A defaulted account is frozen for every transition
and counts as defaulted in every later epoch it still holds a position in. With no default,
the settled pnl must sum to zero, up to the funding remainder.

**Funding remainder.** Each settle proof charges funding rounded up (q = ceil(b dF / 10^6)), so
when everyone settles the pnl sums to -R with 0 <= R < (settled accounts) x (perpetual markets
whose index moved) (docs/protocol.md, "Perpetual funding"). Finalization books R from
``clearing`` to ``default-fund`` (the insurance fund) as its own balanced settlement entry
``funding-remainder/<epoch>``, so the clearing account still nets to exactly zero for the epoch.
A sum outside that range is refused (EpochNotBalancedError), as any other non-zero sum.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from verifier.db.ledger import CLEARING, DEFAULT_FUND, MAX_POSTING, Posting, append_entry, balance, trader_collateral
from verifier.db.models import (
    Account,
    AccountCommitment,
    AccountDefault,
    EntryKind,
    Epoch,
    EpochStatus,
    JournalEntry,
    LedgerPosting,
    PendingItem,
    PendingKind,
    Settlement,
    StatementKind,
)
from verifier.db.records import lock_epoch
from verifier.db.types import require_int, utc_now
from verifier.errors import (
    DuplicateError,
    EpochIncompleteError,
    EpochNotBalancedError,
    EpochStateError,
    LedgerIntegrityError,
    VerifierError,
)


def require_closed(epoch: Epoch) -> Epoch:
    """``epoch`` if it is closed: settlement prices fixed, not finalized (EpochStateError otherwise)."""
    if epoch.status is EpochStatus.OPEN:
        raise EpochStateError(f"epoch {epoch.id} is still open: its settlement prices are not fixed yet")
    if epoch.status is EpochStatus.FINALIZED:
        raise EpochStateError(f"epoch {epoch.id} is already finalized")
    return epoch


def lock_closed_epoch(session: Session, epoch_id: int, *, shared: bool) -> Epoch:
    return require_closed(lock_epoch(session, epoch_id, shared=shared))


def refuse_second_outcome(session: Session, account_id: int, epoch_id: int) -> None:
    """An account ends an epoch settled or in default, once, never both."""
    for model, what in ((Settlement, "settled"), (AccountDefault, "been marked in default")):
        if session.scalar(select(exists().where(model.account_id == account_id, model.epoch_id == epoch_id))):
            raise DuplicateError(f"account {account_id} has already {what} in epoch {epoch_id}")


def record_settlement(session: Session, *, transition: AccountCommitment, pnl: int,
                      holds_position: bool = True) -> Settlement:
    """Post a verified settle proof's public pnl against the clearing account.

    The epoch must be closed (prices fixed) and not finalized; each account settles once per
    epoch, and never after a default (the transition's row lock orders this against
    ``mark_default``). A zero pnl is recorded but moves no money (no journal entry).
    """
    if transition.kind is not StatementKind.SETTLE or transition.epoch_id is None:
        raise VerifierError("a settlement is recorded for a settle transition of an epoch")
    pnl = require_int(pnl, "pnl")
    if abs(pnl) >= MAX_POSTING:
        raise VerifierError(f"pnl must lie in (-2^96, 2^96), got {pnl}")
    account_id, epoch_id = transition.account_id, transition.epoch_id
    lock_closed_epoch(session, epoch_id, shared=True)
    refuse_second_outcome(session, account_id, epoch_id)
    entry = None
    if pnl != 0:
        entry = append_entry(session, EntryKind.SETTLEMENT,
                             [Posting(trader_collateral(account_id), pnl), Posting(CLEARING, -pnl)],
                             reference=f"settlement/{epoch_id}/{account_id}", account_id=account_id,
                             epoch_id=epoch_id)
    settlement = Settlement(account_id=account_id, epoch_id=epoch_id, pnl=pnl, transition_id=transition.id,
                            journal_entry_id=entry.id if entry else None, holds_position=holds_position,
                            created_at=utc_now())
    session.add(settlement)
    session.flush()
    return settlement


@dataclass(frozen=True)
class Obligations:
    """Who must settle an epoch, who has, and who is in default by then (see settlement_obligations)."""

    epoch_id: int
    required: frozenset[int]
    settled: dict[int, int]  # account -> pnl
    defaulted: frozenset[int]

    @property
    def missing(self) -> list[int]:
        return sorted(self.required - self.settled.keys() - self.defaulted)


def settlement_obligations(session: Session, epoch_id: int) -> Obligations:
    """The accounts that held a position at the close of epoch N, from public records only.

    The state's epoch is public (every transition proves it), and so is whether it may hold a
    position (false at genesis, true after a fill, the settle proof's bit after a settlement).
    Transitions keep a state holding a position inside its epoch until it settles, so the
    accounts that must settle N are: those whose current state holds a position in epoch N or
    earlier, those with a fill of epoch N or earlier still to apply (applying it puts them in
    N), and those that settled N already. An account in default is frozen where it stands: it
    counts as defaulted in every epoch it still owes, including epochs before the one the default
    was declared in (it can no longer settle them), its pnl allocated at finalization.
    """
    holding = session.scalars(select(Account.id).where(Account.holds_position.is_(True),
                                                       Account.state_epoch <= epoch_id))
    unapplied = session.scalars(select(PendingItem.account_id).where(
        PendingItem.kind == PendingKind.FILL, PendingItem.consumed_by.is_(None), PendingItem.epoch_id <= epoch_id))
    settled = {account_id: pnl for account_id, pnl in session.execute(
        select(Settlement.account_id, Settlement.pnl).where(Settlement.epoch_id == epoch_id))}
    defaulted = session.scalars(select(AccountDefault.account_id))  # frozen for good, whichever epoch declared it
    return Obligations(epoch_id, frozenset({*holding, *unapplied, *settled}), settled, frozenset(defaulted))


@dataclass(frozen=True)
class FinalizationResult:
    """What finalization found; a repeated ``finalize_epoch`` returns the same values."""

    epoch_id: int
    settled_accounts: int
    defaulted_accounts: int
    total_pnl: int
    finalized_at: datetime
    default_allocation: int = 0  # the settled pnl's sum, moved from default-fund to clearing
    funding_remainder: int = 0  # R, what rounding funding up collected, moved from clearing to default-fund


def default_allocation_reference(epoch_id: int) -> str:
    return f"default-allocation/{epoch_id}"


def funding_remainder_reference(epoch_id: int) -> str:
    return f"funding-remainder/{epoch_id}"


def _clearing_posting(session: Session, reference: str) -> int:
    """The clearing account's posting of the entry ``reference`` (0 if there is none)."""
    amount = session.scalar(
        select(LedgerPosting.amount).join(JournalEntry, LedgerPosting.entry_id == JournalEntry.id)
        .where(JournalEntry.reference == reference, LedgerPosting.ledger_account == CLEARING))
    return int(amount or 0)


def _result_of(session: Session, epoch: Epoch) -> FinalizationResult:
    assert epoch.finalized_at is not None and epoch.settled_accounts is not None
    return FinalizationResult(epoch.id, epoch.settled_accounts, epoch.defaulted_accounts or 0, 0, epoch.finalized_at,
                              _clearing_posting(session, default_allocation_reference(epoch.id)),
                              -_clearing_posting(session, funding_remainder_reference(epoch.id)))


def funding_remainder_bound(epoch: Epoch, settled_accounts: int) -> int:
    """R < this: each settled account rounds up by less than one unit in each market whose index moved."""
    moved = sum(1 for p in epoch.prices if p.funding_rate != 0)
    return settled_accounts * moved


def finalize_epoch(session: Session, epoch_id: int) -> FinalizationResult:
    """Finalize a closed epoch: every account that must settle has settled or defaulted, and the
    settled pnl sums to exactly zero (so does the clearing account's balance for the epoch) or,
    with defaults, its sum is allocated to the default fund (see the module docstring).

    Idempotent: a finalized epoch returns its recorded result. Refusals change nothing:
    ``EpochIncompleteError`` names missing accounts, ``EpochNotBalancedError`` the non-zero sum.
    """
    epoch = lock_epoch(session, epoch_id)
    if epoch.status is EpochStatus.FINALIZED:
        return _result_of(session, epoch)
    if epoch.status is EpochStatus.OPEN:
        raise EpochStateError(f"epoch {epoch_id} is still open: close it (fix its prices) first")
    obligations = settlement_obligations(session, epoch_id)
    pnl_by_account, defaulted = obligations.settled, obligations.defaulted & obligations.required
    missing = obligations.missing
    if missing:
        raise EpochIncompleteError(epoch_id, missing)
    total = sum(pnl_by_account.values(), 0)
    if not defaulted and -funding_remainder_bound(epoch, len(pnl_by_account)) < total < 0:
        # the funding rounded up: book R = -total to the insurance fund, clearing nets to zero
        append_entry(session, EntryKind.SETTLEMENT, [Posting(CLEARING, total), Posting(DEFAULT_FUND, -total)],
                     reference=funding_remainder_reference(epoch_id), epoch_id=epoch_id)
        total = 0
    if total != 0 and not defaulted:
        raise EpochNotBalancedError(epoch_id, total)
    if total != 0:
        append_entry(session, EntryKind.SETTLEMENT, [Posting(CLEARING, total), Posting(DEFAULT_FUND, -total)],
                     reference=default_allocation_reference(epoch_id), epoch_id=epoch_id)
    clearing = balance(session, CLEARING, epoch_id=epoch_id)
    if clearing != 0:
        raise LedgerIntegrityError(f"epoch {epoch_id}: settlements sum to 0 but the clearing account holds {clearing}")
    epoch.status, epoch.finalized_at = EpochStatus.FINALIZED, utc_now()
    epoch.settled_accounts, epoch.defaulted_accounts = len(pnl_by_account), len(defaulted)
    session.flush()
    return _result_of(session, epoch)


def finalization_view(result: FinalizationResult) -> dict[str, Any]:
    return {"epoch_id": result.epoch_id, "status": "finalized", "settled_accounts": result.settled_accounts,
            "defaulted_accounts": result.defaulted_accounts, "total_pnl": result.total_pnl,
            "default_allocation": str(result.default_allocation),
            "funding_remainder": str(result.funding_remainder), "finalized_at": result.finalized_at}


def finalize(session: Session, epoch_id: int) -> dict[str, Any]:
    """``finalize_epoch`` as the API shows it."""
    return finalization_view(finalize_epoch(session, epoch_id))
