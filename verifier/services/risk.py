"""The epoch's risk record in portfolio mode (docs/protocol.md §10.6).

When an epoch opens with ``ZKMARGIN_MARGIN_MODE=portfolio``, the risk model
(``circuits.protocol.risk``) values every configured instrument at the epoch's mark prices and
the oracles' implied volatilities (``verifier.services.vols``, 2f + 1 quorum and breaker,
against the previous record's volatilities), at the snapshot's time. The record — the market
inputs, the scenario parameters and the arrays — is stored with the epoch with its Poseidon
digest (``EpochRiskArrays.digest``, what the portfolio circuit recomputes) and published at
``GET /epochs/{id}/risk``; it is exactly the ``risk`` input of ``zkmargin prove portfolio`` and
``zkmargin portfolio status``.

When such an epoch closes, ``fix_settlement`` values every option market for settlement against
its underlying's closing price (docs/protocol.md §10.7): an option expired by the close at its
intrinsic value, flagged ``expires`` (the settle statement closes the position), a live one at the
model's value with fresh volatilities; the valuation is stored with the record (``settlement``).

A market that is no option's underlying needs no volatility; the model is given ``VOL_MIN``
for it (a future's array does not depend on it) and the record shows ``vol`` null.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from circuits.protocol.risk import (
    EpochRiskArrays,
    MarketInputs,
    RiskModelError,
    RiskParameters,
    SettlementValue,
    epoch_risk_arrays,
    is_expired,
    settlement_values,
)
from circuits.protocol.risk.black_scholes import VOL_MIN
from circuits.protocol.risk.instruments import Instrument, Option, instrument_to_dict
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
    # an option past its expiry is published at intrinsic value: only live ones need a volatility
    taken_vols = vols.take_vols(session, ctx, markets=live_underlyings(instruments, taken.taken_at))
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
    """The record as published: the opening's document, and ``settlement`` once the epoch closed."""
    row = session.get(EpochRiskRecord, epoch_id)
    if row is None:
        raise NotFoundError(f"epoch {epoch_id} has no risk record (it did not open in portfolio mode)")
    document: dict[str, Any] = json.loads(row.document)
    document["settlement"] = json.loads(row.settlement) if row.settlement is not None else None
    return document


# --- the close: settlement values (docs/protocol.md §10.7) -----------------------------------


def live_underlyings(instruments: list[Instrument], at: int) -> list[int]:
    """The underlyings of the options still live at ``at``: the only ones the close needs a volatility for."""
    return sorted({i.market for i in instruments if isinstance(i, Option) and not is_expired(i, at)})


def settlement_document(values: list[SettlementValue], valued_at: int, closing: list[int],
                        taken_vols: dict[int, int]) -> dict[str, Any]:
    return {
        "valued_at": valued_at,
        "markets": [{"market": m, "price": closing[m], "vol": v} for m, v in sorted(taken_vols.items())],
        "prices": [v.price for v in values],
        "expires": [v.expires for v in values],
    }


def fix_settlement(session: Session, ctx: ServiceContext, taken: PriceSnapshot,
                   confirm_circuit_breaker: bool = False) -> list[int]:
    """The closing epoch's settlement prices: the snapshot's, with each option market's replaced by
    its settlement value (portfolio mode; the snapshot's prices unchanged otherwise). The valuation
    is stored with the epoch's risk record; its ``expires`` flags are the settle statement's."""
    if ctx.runtime.settings.margin_mode != "portfolio":
        return list(taken.prices)
    row = session.get(EpochRiskRecord, taken.epoch)
    if row is None:
        raise RiskRecordError(f"epoch {taken.epoch} did not open in portfolio mode: it cannot be valued for "
                              "settlement in portfolio mode")
    instruments = [m.instrument(i) for i, m in enumerate(ctx.runtime.markets)]
    live = live_underlyings(instruments, taken.taken_at)
    taken_vols = vols.take_vols(session, ctx, markets=live, confirm_circuit_breaker=confirm_circuit_breaker) \
        if live else {}
    try:
        values = settlement_values(instruments, list(taken.prices), taken_vols, taken.taken_at)
    except RiskModelError as exc:
        raise RiskRecordError(f"epoch {taken.epoch} cannot be valued for settlement: {exc}") from None
    document = settlement_document(values, taken.taken_at, list(taken.prices), taken_vols)
    row.settlement = json.dumps(document, separators=(",", ":"))
    return [v.price for v in values]


def settlement_expires(session: Session, epoch_id: int) -> list[bool] | None:
    """The settle statement's public expires flags for a closed epoch (None: no valuation, nothing expires)."""
    row = session.get(EpochRiskRecord, epoch_id)
    if row is None or row.settlement is None:
        return None
    flags: list[bool] = json.loads(row.settlement)["expires"]
    return flags

