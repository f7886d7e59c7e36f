"""Oracle keys, signed price reports and epoch price snapshots.

Reports are authenticated by their Ed25519 signature alone (no token): a report is accepted
when ``verifier.oracle.verify_report`` accepts it (registered oracle, valid signature, known
market, price in range, fresh). A snapshot re-verifies every stored report it uses and takes
the quorum lower median (``verifier.oracle.snapshot``).
"""

from __future__ import annotations

import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from verifier.db.models import OracleKey, OracleReport, PriceSnapshotRecord, SnapshotPhase
from verifier.db.types import utc_now
from verifier.errors import OracleConfigError
from verifier.oracle import OracleRegistry, PriceSnapshot, SignedReport, public_key_bytes, snapshot, verify_report
from verifier.services.context import ServiceContext


def now_seconds() -> int:
    return int(time.time())


def registry(session: Session) -> OracleRegistry:
    return OracleRegistry({k.public_key: k.name for k in session.scalars(select(OracleKey))})


def oracle_view(key: OracleKey) -> dict[str, Any]:
    return {"public_key": key.public_key, "name": key.name, "registered_at": key.created_at}


def list_oracles(session: Session) -> list[dict[str, Any]]:
    return [oracle_view(k) for k in session.scalars(select(OracleKey).order_by(OracleKey.name))]


def register_oracle(session: Session, public_key: str, name: str) -> tuple[dict[str, Any], bool]:
    """Register an oracle key; registering the same (key, name) again changes nothing."""
    raw = public_key_bytes(public_key)  # OracleFormatError unless 64 lower-case hex
    try:
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise OracleConfigError(f"{public_key} is not an Ed25519 public key: {exc}") from None
    existing = session.get(OracleKey, public_key)
    if existing is not None:
        if existing.name != name:
            raise OracleConfigError(f"oracle {public_key} is already registered as {existing.name!r}")
        return oracle_view(existing), False
    if session.scalar(select(OracleKey).where(OracleKey.name == name)) is not None:
        raise OracleConfigError(f"another oracle is already named {name!r}")
    key = OracleKey(public_key=public_key, name=name, created_at=utc_now())
    session.add(key)
    session.flush()
    return oracle_view(key), True


def report_view(row: OracleReport) -> dict[str, Any]:
    return {"digest": row.digest, "oracle": row.oracle, "market": row.market, "price": row.price,
            "timestamp": row.timestamp, "received_at": row.received_at}


def submit_report(session: Session, ctx: ServiceContext, report: SignedReport) -> tuple[dict[str, Any], bool]:
    """Verify and keep a signed report; the same signed statement again is recorded once."""
    settings = ctx.runtime.settings
    verify_report(report, registry(session), markets=ctx.markets, now=now_seconds(),
                  skew=settings.oracle_skew_seconds, staleness=settings.oracle_staleness_seconds)
    digest = report.digest().hex()
    existing = session.scalar(select(OracleReport).where(OracleReport.digest == digest))
    if existing is not None:
        return report_view(existing), False
    row = OracleReport(digest=digest, oracle=report.oracle_id, market=report.market, price=report.price,
                       timestamp=report.timestamp, signature=report.signature.hex(), received_at=utc_now())
    session.add(row)
    session.flush()
    return report_view(row), True


def take_snapshot(session: Session, ctx: ServiceContext, epoch_id: int) -> PriceSnapshot:
    """The quorum lower median of the fresh reports now (QuorumError, HTTP 409, if short)."""
    settings = ctx.runtime.settings
    now = now_seconds()
    rows = session.scalars(select(OracleReport).where(
        OracleReport.timestamp >= now - settings.oracle_staleness_seconds,
        OracleReport.timestamp <= now + settings.oracle_skew_seconds,
        OracleReport.market < ctx.markets))
    reports = [SignedReport(bytes.fromhex(r.oracle), r.market, r.price, r.timestamp, bytes.fromhex(r.signature))
               for r in rows]
    return snapshot(reports, registry=registry(session), markets=ctx.markets, epoch=epoch_id, now=now,
                    quorum=ctx.runtime.oracle_quorum, staleness=settings.oracle_staleness_seconds,
                    skew=settings.oracle_skew_seconds)


def store_snapshot(session: Session, epoch_id: int, phase: SnapshotPhase, taken: PriceSnapshot) -> None:
    session.add(PriceSnapshotRecord(epoch_id=epoch_id, phase=phase, taken_at=taken.taken_at,
                                    digest=taken.digest().hex(), document=taken.to_json()))
    session.flush()


def stored_snapshot(session: Session, epoch_id: int, phase: SnapshotPhase) -> PriceSnapshot | None:
    row = session.get(PriceSnapshotRecord, (epoch_id, phase))
    return None if row is None else PriceSnapshot.from_json(row.document)  # refuses a changed document
