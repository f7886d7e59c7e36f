"""Signed implied-volatility reports and the volatilities the risk model takes from them.

A vol report (``circuits.protocol.vol_report``) is accepted as a price report is: signed by a
registered, unrevoked oracle key, for a known market, in range, fresh; a different volatility
signed by the same oracle for the same market and instant is equivocation. ``current_vols``
re-verifies every stored report it counts (so a revoked oracle's never count), takes the lower
median of 2f + 1 distinct oracles per underlying market of the option markets, and checks the
breaker (``ZKMARGIN_VOL_BREAKER_*``). Opening an epoch in portfolio mode is what will use it
(docs/protocol.md §10.6).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from circuits.protocol.vol_report import (
    SignedVolReport,
    VolBreakerError,
    verify_vol_report,
    vol_breaker,
    vol_quorum,
)
from verifier.db.models import EpochRiskRecord, OracleKey, VolReport
from verifier.db.types import utc_now
from verifier.errors import EquivocationError
from verifier.services.context import ServiceContext
from verifier.services.prices import now_seconds

log = logging.getLogger("zkmargin.verifier")


def trusted_keys(session: Session) -> dict[bytes, Ed25519PublicKey]:
    """The registered oracle keys not revoked: the only signers whose reports count."""
    return {bytes.fromhex(k.public_key): Ed25519PublicKey.from_public_bytes(bytes.fromhex(k.public_key))
            for k in session.scalars(select(OracleKey)) if k.revoked_at is None}


def vol_report_view(row: VolReport) -> dict[str, Any]:
    return {"digest": row.digest, "oracle": row.oracle, "market": row.market, "vol": row.vol,
            "timestamp": row.timestamp, "received_at": row.received_at}


def _insert(session: Session, values: dict[str, Any]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING, as for price reports: True if the row was inserted."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(VolReport).values(**values).on_conflict_do_nothing().returning(VolReport.id)
    return session.scalar(statement) is not None


def submit_vol_report(session: Session, ctx: ServiceContext, report: SignedVolReport) -> tuple[dict[str, Any], bool]:
    settings = ctx.runtime.settings
    verify_vol_report(report, trusted_keys(session), markets=ctx.markets, now=now_seconds(),
                      skew=settings.oracle_skew_seconds, staleness=settings.oracle_staleness_seconds)
    digest = report.digest().hex()
    created = _insert(session, dict(digest=digest, oracle=report.oracle.hex(), market=report.market, vol=report.vol,
                                    timestamp=report.timestamp, signature=report.signature.hex(),
                                    received_at=utc_now()))
    stored = session.scalar(select(VolReport).where(
        VolReport.oracle == report.oracle.hex(), VolReport.market == report.market,
        VolReport.timestamp == report.timestamp))
    if stored is None or stored.digest != digest:
        raise EquivocationError(
            f"oracle {report.oracle.hex()} already signed another volatility for market {report.market} at "
            f"timestamp {report.timestamp}; a different one ({report.vol}) for the same instant is equivocation")
    return vol_report_view(stored), created


async def receive_vol_report(ctx: ServiceContext, report: SignedVolReport) -> tuple[dict[str, Any], bool]:
    return await ctx.write(submit_vol_report, ctx, report)


def underlyings(ctx: ServiceContext) -> list[int]:
    """The markets whose volatility the risk model needs: the option markets' underlyings."""
    return sorted({m.option.underlying for m in ctx.runtime.markets if m.option is not None})


def previous_vols(session: Session) -> dict[int, int] | None:
    """The volatilities the newest epoch's risk record used (None before the first one)."""
    row = session.scalar(select(EpochRiskRecord).order_by(EpochRiskRecord.epoch_id.desc()).limit(1))
    if row is None:
        return None
    return {m["market"]: m["vol"] for m in json.loads(row.document)["markets"] if m["vol"] is not None}


def take_vols(session: Session, ctx: ServiceContext, *, markets: list[int] | None = None,
              confirm_circuit_breaker: bool = False) -> dict[int, int]:
    """The volatility per underlying now (``markets``: only these underlyings, e.g. those of the
    options still live at a close): VolQuorumError or VolBreakerError (409) if none can be taken;
    ``confirm_circuit_breaker``: the operator accepts the breaker's trips (they are logged)."""
    return _take(session, ctx, markets, confirm_circuit_breaker)[0]


def current_vols(session: Session, ctx: ServiceContext) -> dict[str, Any]:
    taken, counted, now = _take(session, ctx)
    return {"taken_at": now, "vols": [{"market": m, "vol": v, "oracles": counted[m]} for m, v in taken.items()]}


def _take(session: Session, ctx: ServiceContext, markets: list[int] | None = None,
          confirm_circuit_breaker: bool = False) -> tuple[dict[int, int], dict[int, int], int]:
    settings = ctx.runtime.settings
    now = now_seconds()
    rows = session.scalars(select(VolReport).where(
        VolReport.timestamp >= now - settings.oracle_staleness_seconds,
        VolReport.timestamp <= now + settings.oracle_skew_seconds))
    reports = [SignedVolReport(bytes.fromhex(r.oracle), r.market, r.vol, r.timestamp, bytes.fromhex(r.signature))
               for r in rows]
    wanted = underlyings(ctx) if markets is None else markets
    taken = vol_quorum(reports, trusted_keys(session), markets=ctx.markets, underlyings=wanted, now=now,
                       faults=ctx.runtime.oracle_faults, skew=settings.oracle_skew_seconds,
                       staleness=settings.oracle_staleness_seconds)
    try:
        vol_breaker(taken, previous_vols(session), max_spread=settings.vol_breaker_max_spread,
                    max_move=settings.vol_breaker_max_move)
    except VolBreakerError as trips:
        if not confirm_circuit_breaker:
            raise
        log.warning("volatility circuit breaker confirmed by the operator: %s", trips)
    return taken.vols, {m: len(used) for m, used in taken.counted.items()}, now
