"""Perpetual funding: signed funding-rate reports in, each perpetual market's rate fixed at the close.

A report (``circuits.protocol.funding_report``) is checked like a price report: registered
unrevoked oracle, signature, market (a perpetual one), rate range, freshness. When an epoch
closes, each perpetual market's rate is the lower median of the epoch's reports of at least
2f + 1 distinct oracles (each oracle's report counted once, re-verified), under the circuit
breaker: the counted rates may not spread further than ``funding_breaker_max_spread`` from their
median, nor the median move further than ``funding_breaker_max_move`` from the market's rate in
the previous epoch, unless the operator confirms. A future's rate is 0. The funding-index step
the settle statement takes is rate * settlement price (``funding_step``).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from circuits.protocol.funding_report import SignedFundingReport, check_funding_rate, funding_step
from verifier.db.models import Epoch, EpochPrice, EpochStatus, FundingReport
from verifier.db.types import utc_now
from verifier.errors import (
    BadSignatureError,
    CircuitBreakerError,
    EpochStateError,
    EquivocationError,
    FutureReportError,
    QuorumError,
    StaleReportError,
    UnknownMarketError,
)
from verifier.oracle import OracleRegistry, lower_median, quorum_for
from verifier.services import prices
from verifier.services.context import ServiceContext

log = logging.getLogger(__name__)


def perpetual_markets(ctx: ServiceContext) -> list[int]:
    return [m for m, market in enumerate(ctx.runtime.markets) if market.kind == "perpetual"]


def _check_report(report: SignedFundingReport, registry: OracleRegistry, ctx: ServiceContext, now: int) -> None:
    """Registered oracle and signature first (nothing else is worth reading before), then the rest."""
    if not report.signed_by(registry.public_key(report.oracle)):
        raise BadSignatureError(f"the signature of oracle {registry.name(report.oracle)!r} does not match the funding "
                                f"report (market {report.market}, epoch {report.epoch}, rate {report.rate})")
    if report.market not in perpetual_markets(ctx):
        raise UnknownMarketError(f"market {report.market} is not a perpetual market: it pays no funding")
    check_funding_rate(f"funding rate of market {report.market}", report.rate)
    settings = ctx.runtime.settings
    if report.timestamp > now + settings.oracle_skew_seconds:
        raise FutureReportError(f"funding report for market {report.market} is dated {report.timestamp}, after now "
                                f"({now}) by more than {settings.oracle_skew_seconds} s")
    if report.timestamp < now - settings.oracle_staleness_seconds:
        raise StaleReportError(f"funding report for market {report.market} is dated {report.timestamp}, older than "
                               f"the staleness window of {settings.oracle_staleness_seconds} s")


def report_view(row: FundingReport) -> dict[str, Any]:
    return {"digest": row.digest, "oracle": row.oracle, "market": row.market, "epoch": row.epoch, "rate": row.rate,
            "timestamp": row.timestamp, "received_at": row.received_at}


def submit_funding_report(session: Session, ctx: ServiceContext, report: SignedFundingReport
                          ) -> tuple[dict[str, Any], bool]:
    """Verify and keep a signed funding report for the open epoch; the same report again is kept
    once, another rate of the same oracle for the same market and epoch is refused (equivocation)."""
    _check_report(report, prices.registry(session), ctx, prices.now_seconds())
    epoch = session.get(Epoch, report.epoch)
    if epoch is None or epoch.status is not EpochStatus.OPEN:
        raise EpochStateError(f"funding reports are for the open epoch; epoch {report.epoch} is "
                              f"{'unknown' if epoch is None else epoch.status.value}")
    digest = report.digest().hex()
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    created = session.scalar(dialect.insert(FundingReport).values(
        digest=digest, oracle=report.oracle_id, market=report.market, epoch=report.epoch, rate=report.rate,
        timestamp=report.timestamp, signature=report.signature.hex(), received_at=utc_now(),
    ).on_conflict_do_nothing().returning(FundingReport.id)) is not None
    stored = session.scalar(select(FundingReport).where(
        FundingReport.oracle == report.oracle_id, FundingReport.market == report.market,
        FundingReport.epoch == report.epoch))
    if stored is None or stored.digest != digest:
        shown = "another rate" if stored is None else f"rate {stored.rate}"
        raise EquivocationError(f"oracle {report.oracle_id} already signed {shown} for market {report.market} in "
                                f"epoch {report.epoch}; a different rate ({report.rate}) is equivocation")
    return report_view(stored), created


def _counted_reports(session: Session, ctx: ServiceContext, epoch_id: int, market: int) -> list[SignedFundingReport]:
    """The epoch's stored reports for the market that verify again (the rows are evidence, not trust)."""
    registry = prices.registry(session)
    rows = session.scalars(select(FundingReport).where(FundingReport.epoch == epoch_id,
                                                       FundingReport.market == market))
    counted = []
    for row in rows:
        report = SignedFundingReport(bytes.fromhex(row.oracle), row.market, row.epoch, row.rate, row.timestamp,
                                     bytes.fromhex(row.signature))
        if report.oracle in registry and report.signed_by(registry.public_key(report.oracle)):
            counted.append(report)
    return counted


def _breaker_trips(ctx: ServiceContext, market: int, median: int, rates: list[int], previous: int | None
                   ) -> list[str]:
    settings = ctx.runtime.settings
    trips = []
    spread = max(abs(r - median) for r in rates)
    if spread > settings.funding_breaker_max_spread:
        trips.append(f"market {market}: the funding rates range from {min(rates)} to {max(rates)}, {spread} "
                     f"millionths around their median {median} (limit {settings.funding_breaker_max_spread})")
    if previous is not None and abs(median - previous) > settings.funding_breaker_max_move:
        trips.append(f"market {market}: the funding rate {median} moved {abs(median - previous)} millionths from the "
                     f"previous epoch's {previous} (limit {settings.funding_breaker_max_move})")
    return trips


def _previous_rate(session: Session, epoch_id: int, market: int) -> int | None:
    return session.scalar(select(EpochPrice.funding_rate).where(EpochPrice.epoch_id < epoch_id,
                                                                EpochPrice.market_id == market)
                          .order_by(EpochPrice.epoch_id.desc()).limit(1))


def fix_funding_rates(session: Session, ctx: ServiceContext, epoch_id: int, *,
                      confirm_circuit_breaker: bool = False) -> list[int]:
    """Each market's funding rate for the closing epoch: 0 for a future, the quorum's lower median
    for a perpetual (QuorumError if short, CircuitBreakerError if held back and not confirmed)."""
    quorum = quorum_for(ctx.runtime.oracle_faults)
    rates, short, trips = [0] * ctx.markets, {}, []
    for market in perpetual_markets(ctx):
        counted = {r.oracle: r.rate for r in _counted_reports(session, ctx, epoch_id, market)}
        if len(counted) < quorum:
            short[market] = len(counted)
            continue
        rates[market] = lower_median(counted.values())
        trips += _breaker_trips(ctx, market, rates[market], list(counted.values()),
                                _previous_rate(session, epoch_id, market))
    if short:
        raise QuorumError(f"epoch {epoch_id}: no funding quorum ({quorum} distinct oracles needed): " + "; ".join(
            f"market {m} had {n} signed funding report(s)" for m, n in short.items()), short)
    if trips and not confirm_circuit_breaker:
        raise CircuitBreakerError(f"circuit breaker: epoch {epoch_id} does not close: {'; '.join(trips)}. Check the "
                                  'oracles; to close anyway, repeat the request with {"confirm_circuit_breaker": true}')
    if trips:
        log.warning("epoch %s: the operator confirmed funding rates the circuit breaker held back: %s", epoch_id,
                    "; ".join(trips), extra={"event": "circuit_breaker_override"})
    return rates


def funding_steps(epoch: Epoch) -> list[int]:
    """The closed epoch's funding-index step per market: rate * settlement price (0 for a future)."""
    return [funding_step(p.funding_rate, p.price) for p in epoch.prices]
