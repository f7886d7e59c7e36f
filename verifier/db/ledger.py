"""The settlement ledger's primitives: append-only, double-entry, and hash-chained.

**Double entry.** Every journal entry has at least two postings, each a non-zero signed integer
amount on a ledger account, and the amounts sum to exactly zero. A ledger account's balance is
the sum of its postings: what it holds. The chart of accounts:

==========================  ===============================================================
``external``                money outside the system: negative by what the operator holds
``trader/<id>/deposits``    deposits credited by the operator, not yet proven into the state
``trader/<id>/collateral``  what the trader's proofs moved into (or out of) the private state
``trader/<id>/payouts``     withdrawals proven, not yet paid out
``clearing``                the counterparty of all variation margin; per epoch it nets to 0
``default-fund``            absorbs what defaulted accounts did not settle (see below); the
                            insurance fund of liquidations (penalties in, shortfalls out)
``trader/<id>/levies``      socialized losses levied on a winner, not yet applied to its state
==========================  ===============================================================

The entries: deposit credited (external -> deposits), deposit applied (deposits -> collateral,
when the trader's transfer proof consumes it), withdrawal (collateral -> payouts), payout
(payouts -> external) and settlement (clearing -> collateral, by the public pnl). The
operations that post them live in ``verifier.services`` (``deposits``, ``payouts``,
``settlements``). Fees of fills are private to the state, so ``trader/<id>/collateral`` is an
upper bound of the committed collateral, not the collateral itself.

**Hash chain.** Entries carry sequence numbers 1, 2, 3, ... and
``entry_hash = SHA-256(previous_hash || canonical encoding of the entry and its postings)``
with ``previous_hash`` of entry 1 the genesis hash. The single ``ledger_head`` row holds the
last sequence and hash; ``verify_ledger`` recomputes everything, so a changed amount, a
deleted, inserted or reordered entry is reported with the first broken sequence number. (An
attacker who rewrites the whole chain *and* the head is caught only against a copy of the
head hash kept elsewhere: publish ``LedgerReport.head_hash``.) Liquidation entries must name
their liquidation and step, and every stored liquidation request must hash to the digest its
``liquidation_request`` record carries in the chain. Each epoch since migration 0009 has an
``epoch_record`` entry when it opens and one when it closes (``circuits.protocol.epoch_record``):
``verify_ledger`` rebuilds both documents from the epoch's rows (``verifier.db.epoch_records``), so
a price, funding rate or risk record changed after the fact is reported naming its epoch.

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
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import groupby

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from circuits.state import COLLATERAL_BITS
from verifier.db.engine import is_reader
from verifier.db.epoch_records import check_epoch_records
from verifier.db.models import EntryKind, Epoch, EpochStatus, JournalEntry, LedgerHead, LedgerPosting, Liquidation
from verifier.db.types import require_int, utc_now
from verifier.errors import DuplicateError, LedgerIntegrityError, UnbalancedEntryError, VerifierError

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


def trader_levies(account_id: int) -> str:
    return f"trader/{account_id}/levies"


# --- postings and their checks ------------------------------------------------------------


@dataclass(frozen=True)
class Posting:
    """One leg of an entry: ``amount`` (a signed integer, never a float) on ``ledger_account``."""

    ledger_account: str
    amount: int


# entries that record a fact without moving money: no postings (the ledger-head guard lets them through)
RECORD_KINDS = frozenset({EntryKind.LIQUIDATION_REQUEST, EntryKind.EPOCH_RECORD})


def check_postings(postings: Iterable[Posting], kind: EntryKind | str | None = None) -> tuple[Posting, ...]:
    """Refuse, with the reason, anything that is not a balanced set of at least two legs
    (or, for a record kind, no legs at all)."""
    legs = tuple(postings)
    if kind is not None and EntryKind(kind) in RECORD_KINDS:
        if legs:
            raise UnbalancedEntryError(f"a {EntryKind(kind).value} entry records a fact: it has no postings")
        return legs
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
    legs = check_postings(postings, kind)
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
    epochs_recorded: int = 0  # epochs whose open/close documents the journal holds and their rows still build
    epochs_unrecorded: int = 0  # epochs opened before the record existed (migration 0009)

    def verdict(self) -> str:
        if self.ok:
            unrecorded = f", {self.epochs_unrecorded} unrecorded" if self.epochs_unrecorded else ""
            return (f"ledger OK: {self.entries_checked} entries, {self.epochs_recorded} epochs recorded{unrecorded}, "
                    f"head {self.head_hash}")
        where = f"at entry {self.broken_sequence}" if self.broken_sequence is not None else "beside the chain"
        return f"ledger BROKEN {where}: {self.problem}"


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
        check_postings(entry.postings, entry.kind)
    except UnbalancedEntryError as exc:
        return f"it is not a balanced entry: {exc}"
    if chain_hash(previous_hash, entry.content()) != entry.entry_hash:
        return "its content does not match its hash (the entry or a posting was altered)"
    return _liquidation_reference_problem(entry)


_LIQUIDATION_REFERENCES = {
    EntryKind.LIQUIDATION_REQUEST: re.compile(r"liquidation/[1-9][0-9]*/request/[0-9a-f]{64}"),
    EntryKind.LIQUIDATION: re.compile(
        r"liquidation/[1-9][0-9]*/(penalty|pnl|collateral|insurance|socialized|levy/[0-9]+/applied)"),
    EntryKind.EPOCH_RECORD: re.compile(r"epoch/(0|[1-9][0-9]*)/(open|close)/[0-9a-f]{64}"),
}


def _liquidation_reference_problem(entry: _StoredEntry) -> str | None:
    """A liquidation's entries name it and their step (docs/protocol.md "Liquidation"); an epoch
    record names its epoch, phase and document hash."""
    pattern = _LIQUIDATION_REFERENCES.get(EntryKind(entry.kind))
    if pattern is not None and not pattern.fullmatch(entry.reference):
        return f"a {EntryKind(entry.kind).value} entry with the reference {entry.reference!r}, which names no step"
    return None


def _liquidation_request_problem(session: Session) -> str | None:
    """Every stored liquidation request is the one its journal record names: the request's bytes
    hash to its digest and ``liquidation/<id>/request/<digest>`` is in the chain (else where and why)."""
    from circuits.protocol.liquidation import REQUEST_DOMAIN

    records = {entry.reference: entry.sequence for entry in session.execute(
        select(JournalEntry.reference, JournalEntry.sequence).where(
            JournalEntry.kind == EntryKind.LIQUIDATION_REQUEST))}
    for liquidation_id, request, digest in session.execute(
            select(Liquidation.id, Liquidation.request, Liquidation.request_digest).order_by(Liquidation.id)):
        if hashlib.sha256(REQUEST_DOMAIN + request.encode()).hexdigest() != digest:
            return f"liquidation {liquidation_id}'s stored request does not hash to its digest (altered)"
        if f"liquidation/{liquidation_id}/request/{digest}" not in records:
            return f"liquidation {liquidation_id}'s request is not recorded in the journal"
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
    report = _check_head(session, head, checked, previous_hash)
    if report.ok:
        epochs = check_epoch_records(session)
        problem = (_liquidation_request_problem(session) or epochs.problem
                   or _finalized_clearing_problem(session))
        return replace(report, ok=problem is None, problem=problem, epochs_recorded=epochs.recorded,
                       epochs_unrecorded=epochs.unrecorded)
    return report


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


def _finalized_clearing_problem(session: Session) -> str | None:
    """Every finalized epoch nets to exactly zero on ``clearing``: its settlements, the funding
    remainder and any default allocation together (``verifier.services.settlements``)."""
    rows = session.execute(
        select(JournalEntry.epoch_id, LedgerPosting.amount)
        .join(LedgerPosting, LedgerPosting.entry_id == JournalEntry.id)
        .join(Epoch, Epoch.id == JournalEntry.epoch_id)
        .where(LedgerPosting.ledger_account == CLEARING, Epoch.status == EpochStatus.FINALIZED)
        .order_by(JournalEntry.epoch_id))
    for epoch_id, postings in groupby(rows, key=lambda row: row[0]):
        total = sum((int(amount) for _epoch, amount in postings), 0)
        if total != 0:
            return f"finalized epoch {epoch_id} leaves {total} on the clearing account, not 0"
    return None


def balance(session: Session, ledger_account: str, *, epoch_id: int | None = None) -> int:
    """The sum of a ledger account's postings (only the epoch's entries, if ``epoch_id`` is given).

    Summed in Python: SQLite stores amounts as text and could not add them exactly.
    """
    query = select(LedgerPosting.amount).where(LedgerPosting.ledger_account == ledger_account)
    if epoch_id is not None:
        query = query.join(JournalEntry, JournalEntry.id == LedgerPosting.entry_id).where(
            JournalEntry.epoch_id == epoch_id)
    return sum(session.scalars(query), 0)


def check_amount(amount: object, what: str) -> int:
    """A public amount that moves money one way: an integer in (0, 2^96)."""
    value = require_int(amount, what)
    if not 0 < value < MAX_POSTING:
        raise VerifierError(f"{what} must lie in (0, 2^96), got {value}")
    return value


__all__ = [
    "CLEARING", "DEFAULT_FUND", "EXTERNAL", "GENESIS_HASH", "MAX_POSTING", "EntryContent", "LedgerReport", "Posting",
    "append_entry", "balance", "canonical_encoding", "chain_hash", "check_amount", "check_postings",
    "lock_ledger_head", "trader_collateral", "trader_levies", "trader_deposits", "trader_payouts", "verify_ledger",
]
