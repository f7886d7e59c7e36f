"""The epoch's risk record in portfolio mode (docs/protocol.md §10.6).

When an epoch opens with ``ZKMARGIN_MARGIN_MODE=portfolio``, the risk model
(``circuits.protocol.risk``) values every configured instrument at the epoch's mark prices and
the oracles' implied volatilities (``verifier.services.vols``, 2f + 1 quorum and breaker,
against the previous record's volatilities), at the snapshot's time. The record — the market
inputs, the scenario parameters and the arrays — is stored with the epoch with its Poseidon
digest (``EpochRiskArrays.digest``, what the portfolio circuit recomputes) and published at
``GET /epochs/{id}/risk``; it is exactly the ``risk`` input of ``zkmargin prove portfolio`` and
``zkmargin portfolio status``.

A market that is no option's underlying needs no volatility; the model is given ``VOL_MIN``
for it (a future's array does not depend on it) and the record shows ``vol`` null.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from circuits.protocol.risk import EpochRiskArrays, MarketInputs, RiskModelError, RiskParameters, epoch_risk_arrays
from circuits.protocol.risk.black_scholes import VOL_MIN
from circuits.protocol.risk.instruments import instrument_to_dict
from verifier.db.models import EpochRiskRecord
from verifier.errors import ConflictError, NotFoundError
from verifier.oracle import PriceSnapshot
from verifier.services import vols
from verifier.services.context import ServiceContext


class RiskRecordError(ConflictError):
    """The risk model cannot value the configured instruments now (a price or volatility it refuses)."""


def risk_document(risk: EpochRiskArrays, valued_at: int, inputs: dict[int, MarketInputs],
                  taken_vols: dict[int, int], params: RiskParameters, curve: str) -> dict[str, Any]:
    return {
        "epoch": risk.epoch,
        "valued_at": valued_at,
        "parameters": vars(params).copy(),
        "markets": [{"market": m, "price": i.price, "vol": taken_vols.get(m), "rate": i.rate}
                    for m, i in sorted(inputs.items())],
        "arrays": [{"instrument": instrument_to_dict(a.instrument), "mark": a.mark, "short_charge": a.short_charge,
                    "pnl": list(a.pnl), "expired": a.expired} for a in risk.arrays],
        "digest": str(risk.digest(curve)),
        "curve": curve,
    }


def fix_epoch_risk(session: Session, ctx: ServiceContext, taken: PriceSnapshot) -> dict[str, Any] | None:
    """Value the instruments for the epoch ``taken`` opens and store the record (portfolio mode
    only; None otherwise). VolQuorumError / VolBreakerError / RiskRecordError: 409."""
    if ctx.runtime.settings.margin_mode != "portfolio":
        return None
    configured = ctx.runtime.markets
    instruments = [m.instrument(i) for i, m in enumerate(configured)]
    taken_vols = vols.take_vols(session, ctx)
    underlyings = {i.market for i in instruments}
    inputs = {m: MarketInputs(taken.prices[m], taken_vols.get(m, VOL_MIN)) for m in sorted(underlyings)}
    params = RiskParameters()
    try:
        risk = epoch_risk_arrays(taken.epoch, instruments, inputs, taken.taken_at, params)
    except RiskModelError as exc:
        raise RiskRecordError(f"epoch {taken.epoch} cannot open in portfolio mode: {exc}") from None
    document = risk_document(risk, taken.taken_at, inputs, taken_vols, params, ctx.curve)
    session.add(EpochRiskRecord(epoch_id=taken.epoch, digest=document["digest"],
                                document=json.dumps(document, separators=(",", ":"))))
    session.flush()
    return document


def epoch_risk(session: Session, epoch_id: int) -> dict[str, Any]:
    row = session.get(EpochRiskRecord, epoch_id)
    if row is None:
        raise NotFoundError(f"epoch {epoch_id} has no risk record (it did not open in portfolio mode)")
    document: dict[str, Any] = json.loads(row.document)
    return document

