"""The epoch's record in the signed ledger: the open and close documents, journaled.

Opening an epoch appends its **open** document (mark prices and snapshot, the margin mode, in
portfolio mode the risk record's hash and Poseidon digest) and closing it the **close** document
(settlement prices and snapshot, funding rates and steps, the option settlement valuation's hash
if any), each as an ``epoch_record`` journal entry without postings, in the same transaction as
the rows it describes (docs/protocol.md §10.6). The documents are built from the rows just
written (``verifier.db.epoch_records.rebuild_document``), as ``ledger verify`` rebuilds them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from circuits.protocol.epoch_record import canonical_bytes, record_reference, record_sha256
from verifier.db.epoch_records import RecordRebuildError, rebuild_document, record_view
from verifier.db.ledger import append_entry
from verifier.db.models import EntryKind, Epoch, EpochRecord
from verifier.errors import VerifierError


def record_epoch(session: Session, epoch: Epoch, phase: str) -> EpochRecord:
    """Journal the epoch's ``phase`` document and keep it beside the entry (call after the rows are flushed)."""
    try:
        document = rebuild_document(session, epoch, phase)
    except RecordRebuildError as exc:
        raise VerifierError(f"epoch {epoch.id}'s {phase} record cannot be built: {exc}") from None
    sha256 = record_sha256(document)
    entry = append_entry(session, EntryKind.EPOCH_RECORD, [], reference=record_reference(epoch.id, phase, sha256),
                         epoch_id=epoch.id)
    row = EpochRecord(epoch_id=epoch.id, phase=phase, document=canonical_bytes(document).decode(), sha256=sha256,
                      entry_id=entry.id)
    session.add(row)
    session.flush()
    return row


def record_close(session: Session, epoch: Epoch) -> EpochRecord | None:
    """The close document, for an epoch whose opening was recorded (one opened before the record
    existed stays unrecorded: ``ledger verify`` counts it apart)."""
    if session.get(EpochRecord, (epoch.id, "open")) is None:
        return None
    return record_epoch(session, epoch, "close")


def epoch_record_view(session: Session, epoch_id: int) -> dict[str, Any]:
    """``GET /epochs/{id}/record`` (404 for an unknown epoch; ``open``/``close`` None when not recorded)."""
    return record_view(session, epoch_id)
