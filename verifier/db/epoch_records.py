"""The epoch's record in the journal, read back: documents rebuilt from the rows, and their check.

An epoch's open and close documents (``circuits.protocol.epoch_record``) are built from what the
database holds for the epoch (``rebuild_document``): the price snapshots, the settlement prices
and funding rates (``epoch_prices``), the risk record (``epoch_risk``). The writer
(``verifier.services.epoch_records``) journals exactly these; ``verify_ledger`` rebuilds them again
(``epoch_record_problem``) and compares with the documents the journal's hashes name, so a price,
a funding rate or a risk record changed after the fact names its epoch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from circuits.protocol.epoch_record import (
    EpochRecordError,
    canonical_bytes,
    close_document,
    open_document,
    parse_document,
    parse_reference,
    record_sha256,
)
from circuits.protocol.epoch_record import settlement_valuation_sha256 as valuation_sha256
from circuits.protocol.errors import OracleError
from circuits.protocol.funding_report import funding_step
from verifier.db.models import (
    EntryKind,
    Epoch,
    EpochPrice,
    EpochRecord,
    EpochRiskRecord,
    EpochStatus,
    JournalEntry,
    PriceSnapshotRecord,
    SnapshotPhase,
)
from verifier.errors import LedgerIntegrityError, NotFoundError
from verifier.oracle import PriceSnapshot


class RecordRebuildError(LedgerIntegrityError):
    """The rows an epoch's document is built from cannot be read (a snapshot altered, a row missing)."""


# --- rebuilding the documents from the rows ---------------------------------------------------


def settlement_valuation_sha256(session: Session, epoch_id: int) -> str | None:
    """The hash of the epoch's option settlement valuation document (``epoch_risk.settlement``,
    fixed at a portfolio-mode close; docs/protocol.md §10.7), None if it closed without one: the one
    place the close document takes it from, for the writer and ``ledger verify`` alike."""
    row = session.get(EpochRiskRecord, epoch_id)
    if row is None or row.settlement is None:
        return None
    try:
        valuation = json.loads(row.settlement)
    except ValueError:
        raise RecordRebuildError("its settlement valuation is not JSON (altered)") from None
    if not isinstance(valuation, dict):
        raise RecordRebuildError("its settlement valuation is not a JSON object (altered)")
    return valuation_sha256(valuation)


def _snapshot(session: Session, epoch_id: int, phase: SnapshotPhase) -> PriceSnapshot:
    row = session.get(PriceSnapshotRecord, (epoch_id, phase))
    if row is None:
        raise RecordRebuildError(f"its {phase.value} price snapshot is missing")
    try:
        taken = PriceSnapshot.from_json(row.document)
    except OracleError as exc:
        raise RecordRebuildError(f"its {phase.value} price snapshot was altered ({exc})") from None
    if taken.digest().hex() != row.digest or taken.epoch != epoch_id:
        raise RecordRebuildError(f"its {phase.value} price snapshot does not match its digest column or epoch")
    return taken


def _risk_record(session: Session, epoch_id: int) -> dict[str, Any] | None:
    row = session.get(EpochRiskRecord, epoch_id)
    if row is None:
        return None
    try:
        document = json.loads(row.document)
    except ValueError:
        raise RecordRebuildError("its risk record is not JSON (altered)") from None
    if not isinstance(document, dict) or document.get("digest") != row.digest:
        raise RecordRebuildError("its risk record's digest is not its digest column (altered)")
    return document


def _open(session: Session, epoch: Epoch) -> dict[str, Any]:
    mark = _snapshot(session, epoch.id, SnapshotPhase.MARK)
    return open_document(epoch.id, mark.prices, mark.digest().hex(), _risk_record(session, epoch.id))


def _close(session: Session, epoch: Epoch) -> dict[str, Any]:
    settlement = _snapshot(session, epoch.id, SnapshotPhase.SETTLEMENT)
    rows = list(session.scalars(select(EpochPrice).where(EpochPrice.epoch_id == epoch.id)
                                .order_by(EpochPrice.market_id)))
    if not rows:
        raise RecordRebuildError("its settlement prices are missing")
    return close_document(epoch.id, [r.price for r in rows], settlement.digest().hex(),
                          [r.funding_rate for r in rows], [funding_step(r.funding_rate, r.price) for r in rows],
                          settlement_valuation_sha256(session, epoch.id))


def rebuild_document(session: Session, epoch: Epoch, phase: str) -> dict[str, Any]:
    """The epoch's ``phase`` document as its rows say now; ``RecordRebuildError`` if they cannot be read."""
    try:
        return _open(session, epoch) if phase == "open" else _close(session, epoch)
    except EpochRecordError as exc:
        raise RecordRebuildError(str(exc)) from None


# --- reading back ---------------------------------------------------------------------------


def epoch_records(session: Session, epoch_id: int) -> list[EpochRecord]:
    """The epoch's journaled documents, open first (none for an epoch opened before migration 0009)."""
    rows = session.scalars(select(EpochRecord).where(EpochRecord.epoch_id == epoch_id))
    return sorted(rows, key=lambda row: row.phase != "open")


def record_view(session: Session, epoch_id: int) -> dict[str, Any]:
    """``GET /epochs/{id}/record``: each document, its hash, and its journal entry (id, sequence, reference)."""
    if session.get(Epoch, epoch_id) is None:
        raise NotFoundError(f"epoch {epoch_id} does not exist")
    view: dict[str, Any] = {"epoch_id": epoch_id, "open": None, "close": None}
    for row in epoch_records(session, epoch_id):
        entry = session.get(JournalEntry, row.entry_id)
        view[row.phase] = {"document": json.loads(row.document), "sha256": row.sha256, "entry_id": row.entry_id,
                           "sequence": entry.sequence if entry else None,
                           "reference": entry.reference if entry else None}
    return view


# --- the check ``verify_ledger`` runs -------------------------------------------------------


@dataclass(frozen=True)
class EpochRecordCheck:
    """Epochs whose documents the journal holds and match their rows, those without (opened before
    migration 0009), and the first problem (naming the epoch) or None."""

    recorded: int
    unrecorded: int
    problem: str | None = None


@dataclass(frozen=True)
class _Journaled:
    epoch: int
    phase: str
    sha256: str
    entry_id: int
    sequence: int


def _journaled(session: Session) -> tuple[dict[tuple[int, str], _Journaled], str | None]:
    rows = session.execute(select(JournalEntry.id, JournalEntry.sequence, JournalEntry.reference,
                                  JournalEntry.epoch_id).where(JournalEntry.kind == EntryKind.EPOCH_RECORD)
                           .order_by(JournalEntry.sequence))
    found: dict[tuple[int, str], _Journaled] = {}
    for entry_id, sequence, reference, epoch_id in rows:
        epoch, phase, sha = parse_reference(reference)  # the chain check already refused a bad one
        if epoch != epoch_id:
            return found, f"journal entry {sequence} records epoch {epoch} but is filed under epoch {epoch_id}"
        if (epoch, phase) in found:
            return found, f"epoch {epoch} has two {phase} records in the journal (entries " \
                          f"{found[(epoch, phase)].sequence} and {sequence})"
        found[(epoch, phase)] = _Journaled(epoch, phase, sha, entry_id, sequence)
    return found, None


def _differing_fields(stored: dict[str, Any], rebuilt: dict[str, Any]) -> str:
    keys = sorted(k for k in stored.keys() | rebuilt.keys() if stored.get(k) != rebuilt.get(k))
    return ", ".join(keys)


def _document_problem(session: Session, epoch: Epoch, journaled: _Journaled, row: EpochRecord | None) -> str | None:
    """The stored document is the journaled one, and the rows still build it."""
    where = f"epoch {epoch.id}'s {journaled.phase} record"
    if row is None:
        return f"{where} (journal entry {journaled.sequence}) is missing from epoch_records"
    try:
        stored = parse_document(row.document)
    except EpochRecordError as exc:
        return f"{where} does not parse ({exc})"
    if row.entry_id != journaled.entry_id or row.sha256 != journaled.sha256 \
            or canonical_bytes(stored).decode() != row.document or record_sha256(stored) != journaled.sha256:
        return f"{where} does not hash to what journal entry {journaled.sequence} holds (altered)"
    try:
        rebuilt = rebuild_document(session, epoch, journaled.phase)
    except RecordRebuildError as exc:
        return f"{where} cannot be rebuilt from the database: {exc}"
    if rebuilt != stored:
        return (f"{where} (journal entry {journaled.sequence}) no longer matches the database: "
                f"{_differing_fields(stored, rebuilt)} changed (a price or risk record was altered)")
    return None


def _phases_expected(epoch: Epoch) -> tuple[str, ...]:
    return ("open",) if epoch.status is EpochStatus.OPEN else ("open", "close")


def _epoch_problem(session: Session, epoch: Epoch, journal: dict[tuple[int, str], _Journaled],
                   rows: dict[tuple[int, str], EpochRecord]) -> str | None:
    if epoch.status is EpochStatus.OPEN and (epoch.id, "close") in journal:
        return f"epoch {epoch.id} is open but the journal records its close (its status was altered)"
    for phase in _phases_expected(epoch):
        journaled = journal.get((epoch.id, phase))
        if journaled is None:
            return f"epoch {epoch.id} is {epoch.status.value} but the journal holds no {phase} record"
        problem = _document_problem(session, epoch, journaled, rows.get((epoch.id, phase)))
        if problem is not None:
            return problem
    return None


def check_epoch_records(session: Session) -> EpochRecordCheck:
    """Every epoch since the first recorded one has its documents journaled, stored unchanged and
    still built by its rows; earlier epochs (opened before the record existed) are counted apart."""
    journal, problem = _journaled(session)
    rows = {(r.epoch_id, r.phase): r for r in session.scalars(select(EpochRecord))}
    epochs = list(session.scalars(select(Epoch).order_by(Epoch.id)))
    if problem is None:
        problem = _orphan_problem(rows.keys(), journal, {e.id for e in epochs})
    first = min((epoch for epoch, phase in journal if phase == "open"), default=None)
    recorded = unrecorded = 0
    for epoch in epochs:
        if first is None or epoch.id < first:
            unrecorded += 1
            continue
        problem = problem or _epoch_problem(session, epoch, journal, rows)
        recorded += 1
    return EpochRecordCheck(recorded, unrecorded, problem)


def _orphan_problem(stored: Iterable[tuple[int, str]], journal: dict[tuple[int, str], _Journaled],
                    epochs: set[int]) -> str | None:
    for epoch, phase in sorted(stored):
        if (epoch, phase) not in journal:
            return f"epoch {epoch}'s {phase} record is not in the journal (inserted beside the chain)"
    for epoch, phase in sorted(journal):
        if epoch not in epochs:
            return f"the journal records epoch {epoch}'s {phase}, but the epoch does not exist (deleted)"
    return None


__all__ = ["EpochRecordCheck", "RecordRebuildError", "check_epoch_records", "epoch_records", "rebuild_document",
           "record_view", "settlement_valuation_sha256"]
