"""The settlement ledger: append-only, double-entry, and hash-chained.

**Double entry.** Every journal entry has at least two postings, each a non-zero signed integer
amount on a ledger account, and the amounts sum to exactly zero. A ledger account's balance is
the sum of its postings: what it holds. The chart of accounts:

==========================  ===============================================================
``external``                money outside the system: negative by what the operator holds
``trader/<id>/deposits``    deposits credited by the operator, not yet proven into the state
``trader/<id>/collateral``  what the trader's proofs moved into (or out of) the private state
``trader/<id>/payouts``     withdrawals proven, not yet paid out
``clearing``                the counterparty of all variation margin; per epoch it nets to 0
``default-fund``            absorbs what defaulted accounts did not settle (see below)
==========================  ===============================================================

The entries: deposit credited (external -> deposits), deposit applied (deposits -> collateral,
when the trader's transfer proof consumes it), withdrawal (collateral -> payouts), payout
(payouts -> external) and settlement (clearing -> collateral, by the public pnl). Fees of
fills are private to the state, so ``trader/<id>/collateral`` is an upper bound of the
committed collateral, not the collateral itself.

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
the settled pnl must sum to zero.

**Hash chain.** Entries carry sequence numbers 1, 2, 3, ... and
``entry_hash = SHA-256(previous_hash || canonical encoding of the entry and its postings)``
with ``previous_hash`` of entry 1 the genesis hash. The single ``ledger_head`` row holds the
last sequence and hash; ``verify_ledger`` recomputes everything, so a changed amount, a
deleted, inserted or reordered entry is reported with the first broken sequence number. (An
attacker who rewrites the whole chain *and* the head is caught only against a copy of the
head hash kept elsewhere: publish ``LedgerReport.head_hash``.)

**Serialized appends.** Every append first locks the head row (``SELECT ... FOR UPDATE`` on
PostgreSQL; on SQLite the write transaction's ``BEGIN IMMEDIATE`` already holds the database
write lock), so concurrent writers, threads or processes, extend one chain and never fork it.
The database also guards the chain (triggers from the initial migration): entries and postings
cannot be updated or deleted, and the head advances only to a chained entry (whose postings sum
to zero, on PostgreSQL). Appends do not commit: they are part of the caller's unit of work.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from circuits.state import COLLATERAL_BITS
from verifier.db.engine import is_reader
from verifier.db.models import (
    Account,
    AccountCommitment,
    AccountDefault,
    EntryKind,
    Epoch,
    EpochStatus,
    JournalEntry,
    LedgerHead,
    LedgerPosting,
    Payout,
    PayoutStatus,
    PendingItem,
    PendingKind,
    Settlement,
    StatementKind,
)
from verifier.db.records import (
    consume_pending_item,
    default_of,
    get_account,
    lock_account,
    lock_epoch,
    lock_pending_item,
)
from verifier.db.types import require_aware, require_int, utc_now
from verifier.errors import (
    ConflictError,
    DuplicateError,
    EpochIncompleteError,
    EpochNotBalancedError,
    EpochStateError,
    LedgerIntegrityError,
    NotFoundError,
    UnbalancedEntryError,
    VerifierError,
)
from zkmargin.errors import ZkMarginError

LEDGER_DOMAIN = "zkm/ledger1"
GENESIS_HASH = hashlib.sha256(f"{LEDGER_DOMAIN}/genesis".encode()).hexdigest()
MAX_POSTING = 1 << COLLATERAL_BITS  # |amount| < 2^96: every public amount of the protocol fits
EXTERNAL = "external"
CLEARING = "clearing"
DEFAULT_FUND = "default-fund"
_LEDGER_ACCOUNT_PATTERN = re.compile(r"[a-z][a-z0-9_/-]{0,63}")


def trader_deposits(account_id: int) -> str:
    return f"trader/{account_id}/deposits"


def trader_collateral(account_id: int) -> str:
    return f"trader/{account_id}/collateral"


def trader_payouts(account_id: int) -> str:
    return f"trader/{account_id}/payouts"


# --- postings and their checks ------------------------------------------------------------


@dataclass(frozen=True)
class Posting:
    """One leg of an entry: ``amount`` (a signed integer, never a float) on ``ledger_account``."""

    ledger_account: str
    amount: int


def check_postings(postings: Iterable[Posting]) -> tuple[Posting, ...]:
    """Refuse, with the reason, anything that is not a balanced set of at least two legs."""
    legs = tuple(postings)
    if len(legs) < 2:
        raise UnbalancedEntryError(f"a journal entry needs at least two postings, got {len(legs)}")
    for leg in legs:
        if not isinstance(leg.ledger_account, str) or not _LEDGER_ACCOUNT_PATTERN.fullmatch(leg.ledger_account):
            raise UnbalancedEntryError(f"{leg.ledger_account!r} is not a ledger account code")
        if not isinstance(leg.amount, int) or isinstance(leg.amount, bool):
            raise UnbalancedEntryError(
                f"posting amounts are integers, got {type(leg.amount).__name__} on {leg.ledger_account}"
            )
        if leg.amount == 0 or abs(leg.amount) >= MAX_POSTING:
            raise UnbalancedEntryError(f"posting amount {leg.amount} on {leg.ledger_account} is not in "
                                       "(-2^96, 0) or (0, 2^96)")
    total = sum(leg.amount for leg in legs)
    if total != 0:
        raise UnbalancedEntryError(f"postings sum to {total}, not 0")
    return legs


# --- the hash chain -----------------------------------------------------------------------


@dataclass(frozen=True)
class EntryContent:
    """Everything an entry's hash covers, in the form both the writer and the verifier build."""

    sequence: int
    kind: str
    reference: str
    account_id: int | None
    epoch_id: int | None
    created_at: datetime
    postings: tuple[Posting, ...]


def canonical_encoding(content: EntryContent) -> bytes:
    """Sorted-key compact JSON, amounts as decimal strings, time as UTC ISO 8601 with microseconds."""
    document = {
        "domain": LEDGER_DOMAIN,
        "sequence": content.sequence,
        "kind": content.kind,
        "reference": content.reference,
        "account": content.account_id,
        "epoch": content.epoch_id,
        "created_at": content.created_at.isoformat(timespec="microseconds"),
        "postings": [[leg.ledger_account, str(leg.amount)] for leg in content.postings],
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def chain_hash(previous_hash: str, content: EntryContent) -> str:
    """SHA-256(previous_hash || canonical encoding), both hashes as lower-case hex."""
    return hashlib.sha256(bytes.fromhex(previous_hash) + canonical_encoding(content)).hexdigest()


# --- appending ----------------------------------------------------------------------------


def lock_ledger_head(session: Session) -> LedgerHead:
    """The head row, locked until the caller's transaction ends: the point where appends queue."""
    if is_reader(session):
        raise VerifierError("the ledger is written only inside a unit of work, not a read snapshot")
    head = session.scalar(
        select(LedgerHead).where(LedgerHead.id == 1).with_for_update().execution_options(populate_existing=True)
    )
    if head is None:
        raise LedgerIntegrityError("the ledger head row is missing: was the database migrated?")
    return head


def append_entry(session: Session, kind: EntryKind, postings: Iterable[Posting], *, reference: str,
                 account_id: int | None = None, epoch_id: int | None = None) -> JournalEntry:
    """Append one balanced entry to the chain, in the caller's transaction.

    ``reference`` is an idempotency key: unique across the ledger, so a retried operation can
    never post twice (``DuplicateError``).
    """
    legs = check_postings(postings)
    head = lock_ledger_head(session)
    if session.scalar(select(exists().where(JournalEntry.reference == reference))):
        raise DuplicateError(f"the ledger already has an entry {reference!r}")
    content = EntryContent(head.sequence + 1, EntryKind(kind).value, reference, account_id, epoch_id, utc_now(), legs)
    entry = JournalEntry(sequence=content.sequence, kind=EntryKind(kind), reference=reference,
                         account_id=account_id, epoch_id=epoch_id, created_at=content.created_at,
                         previous_hash=head.entry_hash, entry_hash=chain_hash(head.entry_hash, content))
    session.add(entry)
    session.flush()
    session.add_all(LedgerPosting(entry_id=entry.id, position=i, ledger_account=leg.ledger_account, amount=leg.amount)
                    for i, leg in enumerate(legs))
    session.flush()  # entry and postings exist before the head moves: the database checks the move
    head.sequence, head.entry_hash = entry.sequence, entry.entry_hash
    session.flush()
    return entry


# --- verification -------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerReport:
    """What ``verify_ledger`` found: ``ok``, or the first broken sequence number and why."""

    ok: bool
    entries_checked: int
    head_sequence: int
    head_hash: str
    broken_sequence: int | None = None
    problem: str | None = None

    def verdict(self) -> str:
        if self.ok:
            return f"ledger OK: {self.entries_checked} entries, head {self.head_hash}"
        return f"ledger BROKEN at entry {self.broken_sequence}: {self.problem}"


@dataclass(frozen=True)
class _StoredEntry:
    """An entry as read back for verification (plain values, no ORM state)."""

    sequence: int
    kind: EntryKind
    reference: str
    account_id: int | None
    epoch_id: int | None
    created_at: datetime
    previous_hash: str
    entry_hash: str
    positions: tuple[int, ...]
    postings: tuple[Posting, ...]

    def content(self) -> EntryContent:
        return EntryContent(self.sequence, EntryKind(self.kind).value, self.reference, self.account_id,
                            self.epoch_id, self.created_at, self.postings)


_ENTRY_COLUMNS = (JournalEntry.id, JournalEntry.sequence, JournalEntry.kind, JournalEntry.reference,
                  JournalEntry.account_id, JournalEntry.epoch_id, JournalEntry.created_at,
                  JournalEntry.previous_hash, JournalEntry.entry_hash)


def _stored_entries(session: Session, up_to: int) -> Iterator[_StoredEntry]:
    """Entries up to sequence ``up_to`` in order, each with its postings, streamed in batches."""
    rows = session.execute(
        select(*_ENTRY_COLUMNS, LedgerPosting.position, LedgerPosting.ledger_account, LedgerPosting.amount)
        .outerjoin(LedgerPosting, LedgerPosting.entry_id == JournalEntry.id)
        .where(JournalEntry.sequence <= up_to)
        .order_by(JournalEntry.sequence, LedgerPosting.position)
        .execution_options(yield_per=1000)
    )
    for _, group in groupby(rows, key=lambda row: row.id):
        legs = [row for row in group]
        first = legs[0]
        present = [row for row in legs if row.position is not None]
        yield _StoredEntry(first.sequence, first.kind, first.reference, first.account_id, first.epoch_id,
                           first.created_at, first.previous_hash, first.entry_hash,
                           tuple(row.position for row in present),
                           tuple(Posting(row.ledger_account, row.amount) for row in present))


def _entry_problem(entry: _StoredEntry, expected_sequence: int, previous_hash: str) -> str | None:
    """Why this stored entry does not continue the chain at ``expected_sequence``, or None."""
    if entry.sequence != expected_sequence:
        return f"expected entry {expected_sequence} next, found entry {entry.sequence} (an entry is missing)"
    if entry.previous_hash != previous_hash:
        return "its previous_hash is not the hash of the entry before it (entries reordered or removed)"
    if list(entry.positions) != list(range(len(entry.positions))):
        return "its postings are not numbered 0..n-1 (a posting was removed or added)"
    try:
        check_postings(entry.postings)
    except UnbalancedEntryError as exc:
        return f"it is not a balanced entry: {exc}"
    if chain_hash(previous_hash, entry.content()) != entry.entry_hash:
        return "its content does not match its hash (the entry or a posting was altered)"
    return None


def verify_ledger(session: Session) -> LedgerReport:
    """Recompute the whole chain and every entry's balance; report the first broken entry.

    Pass a ``Database.reader()`` session: it reads one snapshot, so appends that commit while
    the check runs are not mistaken for entries beyond the head.
    """
    head = session.get(LedgerHead, 1)
    if head is None:
        return LedgerReport(False, 0, 0, "", 0, "the ledger head row is missing")
    previous_hash, checked = GENESIS_HASH, 0
    for entry in _stored_entries(session, head.sequence):
        problem = _entry_problem(entry, checked + 1, previous_hash)
        if problem is not None:
            return LedgerReport(False, checked, head.sequence, head.entry_hash, checked + 1, problem)
        previous_hash, checked = entry.entry_hash, checked + 1
    return _check_head(session, head, checked, previous_hash)


def _check_head(session: Session, head: LedgerHead, checked: int, last_hash: str) -> LedgerReport:
    """The head must name the last entry and its hash, and nothing may lie beyond it."""
    def broken(problem: str) -> LedgerReport:
        return LedgerReport(False, checked, head.sequence, head.entry_hash, checked + 1, problem)

    if checked != head.sequence:
        return broken(f"the head says {head.sequence} entries, the chain has {checked} (entries were removed)")
    if last_hash != head.entry_hash:
        return broken("the head hash is not the hash of the last entry")
    if session.scalar(select(exists().where(JournalEntry.sequence > head.sequence))):
        return broken("entries exist beyond the head (written without advancing the head)")
    orphans = select(LedgerPosting.id).outerjoin(JournalEntry, JournalEntry.id == LedgerPosting.entry_id)
    if session.scalar(select(exists(orphans.where(JournalEntry.id.is_(None))))):
        return broken("postings exist that belong to no entry")
    return LedgerReport(True, checked, head.sequence, head.entry_hash)


def balance(session: Session, ledger_account: str, *, epoch_id: int | None = None) -> int:
    """The sum of a ledger account's postings (only the epoch's entries, if ``epoch_id`` is given).

    Summed in Python: SQLite stores amounts as text and could not add them exactly.
    """
    query = select(LedgerPosting.amount).where(LedgerPosting.ledger_account == ledger_account)
    if epoch_id is not None:
        query = query.join(JournalEntry, JournalEntry.id == LedgerPosting.entry_id).where(
            JournalEntry.epoch_id == epoch_id)
    return sum(session.scalars(query), 0)


# --- deposits and withdrawals -------------------------------------------------------------


def _check_amount(amount: object, what: str) -> int:
    value = require_int(amount, what)
    if not 0 < value < MAX_POSTING:
        raise VerifierError(f"{what} must lie in (0, 2^96), got {value}")
    return value


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
    amount = _check_amount(amount, "a deposit")
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


def record_withdrawal(session: Session, *, transition: AccountCommitment, amount: int) -> Payout:
    """A verified transfer proof took ``amount`` out of the state: a payout owed to the trader."""
    amount = _check_amount(amount, "a withdrawal")
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


# --- settlement ---------------------------------------------------------------------------


def _lock_closed_epoch(session: Session, epoch_id: int, *, shared: bool) -> Epoch:
    epoch = lock_epoch(session, epoch_id, shared=shared)
    if epoch.status is EpochStatus.OPEN:
        raise EpochStateError(f"epoch {epoch_id} is still open: its settlement prices are not fixed")
    if epoch.status is EpochStatus.FINALIZED:
        raise EpochStateError(f"epoch {epoch_id} is already finalized")
    return epoch


def _refuse_second_outcome(session: Session, account_id: int, epoch_id: int) -> None:
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
    _lock_closed_epoch(session, epoch_id, shared=True)
    _refuse_second_outcome(session, account_id, epoch_id)
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


def mark_default(session: Session, *, account_id: int, epoch_id: int, reason: str) -> AccountDefault:
    """Declare an account in default for a closed epoch it had to settle and did not.

    The account row is locked first (the lock every transition's compare-and-swap takes), so a
    settlement and a default of the same account and epoch cannot both commit. From then on the
    account is frozen (``records.refuse_if_in_default``) and counts as defaulted in every later
    epoch, its pnl there allocated to the default fund at finalization.
    """
    lock_account(session, account_id)
    _lock_closed_epoch(session, epoch_id, shared=True)
    _refuse_second_outcome(session, account_id, epoch_id)
    earlier = default_of(session, account_id)
    if earlier is not None:
        raise DuplicateError(f"account {account_id} is already in default since epoch {earlier.epoch_id}")
    if account_id not in settlement_obligations(session, epoch_id).required:
        raise ConflictError(f"account {account_id} held no position at the close of epoch {epoch_id} and has no "
                            "fill of it to apply: it has nothing to settle there, so it cannot default on it")
    default = AccountDefault(account_id=account_id, epoch_id=epoch_id, reason=reason[:200], created_at=utc_now())
    session.add(default)
    session.flush()
    return default


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


def default_allocation_reference(epoch_id: int) -> str:
    return f"default-allocation/{epoch_id}"


def _allocated_to_default_fund(session: Session, epoch_id: int) -> int:
    """What finalization moved from ``default-fund`` to ``clearing`` for the epoch (0 if nothing)."""
    amount = session.scalar(
        select(LedgerPosting.amount).join(JournalEntry, LedgerPosting.entry_id == JournalEntry.id)
        .where(JournalEntry.reference == default_allocation_reference(epoch_id),
               LedgerPosting.ledger_account == CLEARING))
    return int(amount or 0)


def _result_of(session: Session, epoch: Epoch) -> FinalizationResult:
    assert epoch.finalized_at is not None and epoch.settled_accounts is not None
    return FinalizationResult(epoch.id, epoch.settled_accounts, epoch.defaulted_accounts or 0, 0, epoch.finalized_at,
                              _allocated_to_default_fund(session, epoch.id))


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


# --- the CLI hook -------------------------------------------------------------------------


def ledger_verify_command(database_url: str | None = None) -> int:
    """``zkmargin ledger verify``: print a one-line verdict; exit 0 intact, 1 broken, 2 error.

    The exit codes are the CLI's (``ExitCode``: OK, INVALID for a broken ledger, ERROR).
    """
    import sys

    from sqlalchemy.exc import SQLAlchemyError

    from circuits.protocol.exit_codes import ExitCode
    from verifier.db.engine import Database
    from verifier.db.migrate import require_current_schema

    try:
        database = Database.connect(database_url)
    except ZkMarginError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return ExitCode.ERROR
    try:
        require_current_schema(database.engine)
        with database.reader() as session:
            report = verify_ledger(session)
    except (ZkMarginError, SQLAlchemyError) as exc:
        print(f"error: cannot verify the ledger at {database.url}: {_one_line(exc)}", file=sys.stderr)
        return ExitCode.ERROR
    finally:
        database.dispose()
    print(report.verdict(), file=sys.stdout if report.ok else sys.stderr)
    return ExitCode.OK if report.ok else ExitCode.INVALID


def _one_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


__all__ = [
    "CLEARING", "EXTERNAL", "GENESIS_HASH", "EntryContent", "FinalizationResult", "LedgerReport", "Posting",
    "Obligations", "append_entry", "apply_deposit", "balance", "canonical_encoding", "chain_hash",
    "check_postings", "credit_deposit", "credit_deposit_once", "finalize_epoch", "ledger_verify_command",
    "lock_ledger_head", "mark_default", "pay_payout", "record_settlement", "record_withdrawal",
    "settlement_obligations", "trader_collateral",
    "trader_deposits", "trader_payouts", "verify_ledger",
]
