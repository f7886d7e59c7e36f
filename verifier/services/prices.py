"""Oracle keys, signed price reports and epoch price snapshots.

Reports are authenticated by their Ed25519 signature alone (no token): a report is accepted
when ``verifier.oracle.verify_report`` accepts it (registered and unrevoked oracle, valid
signature, known market, price in range, fresh) and it does not contradict a report the same
oracle signed for the same market and instant (equivocation, refused). A snapshot re-verifies
every stored report it uses, so a revoked oracle's reports never count, those stored before its
revocation included; it takes the lower median of 2f + 1 distinct oracles
(``verifier.oracle.snapshot``) and then the circuit breaker's checks (``verifier.oracle.circuit_breaker``).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from circuits.protocol.oracle_report import SignedReport, public_key_bytes
from verifier.db.models import OracleKey, OracleReport, PriceSnapshotRecord, SnapshotPhase
from verifier.db.types import utc_now
from verifier.errors import CircuitBreakerError, EquivocationError, NotFoundError, OracleConfigError
from verifier.oracle import (
    BreakerTrip,
    OracleRegistry,
    PriceSnapshot,
    check_public_key,
    circuit_breaker,
    snapshot,
    verify_report,
)
from verifier.services.context import ServiceContext

log = logging.getLogger("zkmargin.verifier")


def now_seconds() -> int:
    return int(time.time())


def _revocation(key: OracleKey) -> str:
    return f"at {key.revoked_at.isoformat()}: {key.revoked_reason}"


def registry(session: Session) -> OracleRegistry:
    """The oracles whose reports count, and the revoked ones (to say why theirs do not)."""
    keys = list(session.scalars(select(OracleKey)))
    result = OracleRegistry({k.public_key: k.name for k in keys if k.revoked_at is None})
    for key in keys:
        if key.revoked_at is not None:
            result.revoke(key.public_key, key.name, _revocation(key))
    return result


def oracle_view(key: OracleKey) -> dict[str, Any]:
    return {"public_key": key.public_key, "name": key.name, "registered_at": key.created_at,
            "revoked_at": key.revoked_at, "revoked_reason": key.revoked_reason}


def list_oracles(session: Session) -> list[dict[str, Any]]:
    return [oracle_view(k) for k in session.scalars(select(OracleKey).order_by(OracleKey.name))]


def register_oracle(session: Session, public_key: str, name: str) -> tuple[dict[str, Any], bool]:
    """Register an oracle key; registering the same (key, name) again changes nothing.

    Refuses non-canonical and small-order keys (InvalidOracleKeyError) and revoked keys."""
    check_public_key(public_key_bytes(public_key))  # OracleFormatError unless 64 lower-case hex
    existing = session.get(OracleKey, public_key)
    if existing is not None:
        if existing.revoked_at is not None:
            raise OracleConfigError(f"oracle {public_key} ({existing.name!r}) was revoked {_revocation(existing)}; "
                                    "a revoked key is never trusted again: give the oracle a new key")
        if existing.name != name:
            raise OracleConfigError(f"oracle {public_key} is already registered as {existing.name!r}")
        return oracle_view(existing), False
    if session.scalar(select(OracleKey).where(OracleKey.name == name)) is not None:
        raise OracleConfigError(f"another oracle is already named {name!r}")
    key = OracleKey(public_key=public_key, name=name, created_at=utc_now())
    session.add(key)
    session.flush()
    return oracle_view(key), True


def revoke_oracle(session: Session, public_key: str, reason: str) -> tuple[dict[str, Any], bool]:
    """Revoke an oracle key (the row stays as history); revoking it again changes nothing.

    Its reports are refused from now on, and no snapshot counts any of them, those it signed
    before included. Never refused for leaving too few oracles: a compromised key must go at
    once; epochs then wait (``oracle_configuration``) until another oracle is registered."""
    key = session.get(OracleKey, public_key_bytes(public_key).hex(), with_for_update=True)
    if key is None:
        raise NotFoundError(f"oracle {public_key} is not registered")
    if key.revoked_at is not None:
        return oracle_view(key), False
    key.revoked_at, key.revoked_reason = utc_now(), reason
    session.flush()
    log.warning("oracle %s (%s) revoked by the operator: %s", key.name, public_key, reason,
                extra={"event": "oracle_revoked", "oracle": public_key, "oracle_name": key.name})
    return oracle_view(key), True


def report_view(row: OracleReport) -> dict[str, Any]:
    return {"digest": row.digest, "oracle": row.oracle, "market": row.market, "price": row.price,
            "timestamp": row.timestamp, "received_at": row.received_at}


def _insert_report(session: Session, values: dict[str, Any]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING (on the digest and on (oracle, market, timestamp)); True
    if the row was inserted. Of two racing inserts the second waits for the first to commit and
    inserts nothing, so it can then read what won."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(OracleReport).values(**values).on_conflict_do_nothing().returning(OracleReport.id)
    return session.scalar(statement) is not None


def submit_report(session: Session, ctx: ServiceContext, report: SignedReport) -> tuple[dict[str, Any], bool]:
    """Verify and keep a signed report; the same signed statement again is recorded once, a
    different price signed for the same market and instant is refused (EquivocationError)."""
    settings = ctx.runtime.settings
    verify_report(report, registry(session), markets=ctx.markets, now=now_seconds(),
                  skew=settings.oracle_skew_seconds, staleness=settings.oracle_staleness_seconds)
    digest = report.digest().hex()
    values = dict(digest=digest, oracle=report.oracle_id, market=report.market, price=report.price,
                  timestamp=report.timestamp, signature=report.signature.hex(), received_at=utc_now())
    created = _insert_report(session, values)
    stored = session.scalar(select(OracleReport).where(
        OracleReport.oracle == report.oracle_id, OracleReport.market == report.market,
        OracleReport.timestamp == report.timestamp))
    if stored is None:  # cannot happen: the insert either stored it or met the row that blocks it
        raise EquivocationError(f"the report of oracle {report.oracle_id} could not be stored; retry")
    if stored.digest != digest:
        log.warning("oracle %s equivocated: market %s at %s, price %s stored, %s refused", report.oracle_id,
                    report.market, report.timestamp, stored.price, report.price,
                    extra={"event": "oracle_equivocation", "oracle": report.oracle_id})
        raise EquivocationError(
            f"oracle {report.oracle_id} already signed price {stored.price} for market {report.market} at "
            f"timestamp {report.timestamp}; a different price ({report.price}) for the same instant is equivocation")
    return report_view(stored), created


def _fresh_reports(session: Session, ctx: ServiceContext, now: int) -> list[SignedReport]:
    settings = ctx.runtime.settings
    rows = session.scalars(select(OracleReport).where(
        OracleReport.timestamp >= now - settings.oracle_staleness_seconds,
        OracleReport.timestamp <= now + settings.oracle_skew_seconds,
        OracleReport.market < ctx.markets))
    return [SignedReport(bytes.fromhex(r.oracle), r.market, r.price, r.timestamp, bytes.fromhex(r.signature))
            for r in rows]


def latest_snapshot(session: Session) -> PriceSnapshot | None:
    """The most recent stored snapshot: the newest epoch's settlement snapshot, else its mark one."""
    rows = session.scalars(select(PriceSnapshotRecord).order_by(PriceSnapshotRecord.epoch_id.desc()).limit(2)).all()
    newest = [r for r in rows if r.epoch_id == rows[0].epoch_id] if rows else []
    if not newest:
        return None
    row = next((r for r in newest if r.phase is SnapshotPhase.SETTLEMENT), newest[0])
    return PriceSnapshot.from_json(row.document)


def _breaker_message(ctx: ServiceContext, epoch_id: int, action: str, trips: list[BreakerTrip]) -> str:
    names = [m.name for m in ctx.runtime.markets]
    found = "; ".join(t.describe(names[t.market] if t.market < len(names) else None) for t in trips)
    return (f"circuit breaker: epoch {epoch_id} does not {action}: {found}. Check the oracles; to {action} at "
            'these prices anyway, repeat the request with {"confirm_circuit_breaker": true}')


def take_snapshot(session: Session, ctx: ServiceContext, epoch_id: int, *, action: str = "open",
                  confirm_circuit_breaker: bool = False) -> tuple[PriceSnapshot, list[BreakerTrip]]:
    """The lower median of 2f + 1 distinct oracles' fresh reports now (QuorumError, HTTP 409, if
    short), checked by the circuit breaker against the previous stored snapshot.

    Returns the snapshot and the breaker's trips, which the operator confirmed if there are any;
    unconfirmed trips raise CircuitBreakerError (HTTP 409) naming the markets and figures.
    """
    settings = ctx.runtime.settings
    now = now_seconds()
    reports = _fresh_reports(session, ctx, now)
    taken = snapshot(reports, registry=registry(session), markets=ctx.markets, epoch=epoch_id, now=now,
                     faults=ctx.runtime.oracle_faults, staleness=settings.oracle_staleness_seconds,
                     skew=settings.oracle_skew_seconds)
    trips = circuit_breaker(taken, reports, latest_snapshot(session), max_spread=settings.circuit_breaker_max_spread,
                            max_move=settings.circuit_breaker_max_move)
    if trips and not confirm_circuit_breaker:
        raise CircuitBreakerError(_breaker_message(ctx, epoch_id, action, trips), trips)
    if trips:
        log.warning("epoch %s: the operator confirmed prices the circuit breaker held back: %s", epoch_id,
                    "; ".join(t.describe() for t in trips), extra={"event": "circuit_breaker_override"})
    return taken, trips


def store_snapshot(session: Session, epoch_id: int, phase: SnapshotPhase, taken: PriceSnapshot,
                   overridden: list[BreakerTrip] | None = None) -> None:
    """Keep the snapshot, with the circuit-breaker trips the operator confirmed (if any)."""
    override = json.dumps([t.to_dict() for t in overridden], separators=(",", ":")) if overridden else None
    session.add(PriceSnapshotRecord(epoch_id=epoch_id, phase=phase, taken_at=taken.taken_at,
                                    digest=taken.digest().hex(), document=taken.to_json(),
                                    circuit_breaker_override=override))
    session.flush()


def stored_snapshot(session: Session, epoch_id: int, phase: SnapshotPhase) -> PriceSnapshot | None:
    row = session.get(PriceSnapshotRecord, (epoch_id, phase))
    return None if row is None else PriceSnapshot.from_json(row.document)  # refuses a changed document


def breaker_override(session: Session, epoch_id: int, phase: SnapshotPhase) -> list[dict[str, Any]] | None:
    """The circuit-breaker trips the operator confirmed for this snapshot (None: it did not trip)."""
    row = session.get(PriceSnapshotRecord, (epoch_id, phase))
    return None if row is None or row.circuit_breaker_override is None else json.loads(row.circuit_breaker_override)
