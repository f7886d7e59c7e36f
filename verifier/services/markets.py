"""The configured markets, as the database holds them (index = position in every price vector),
with an option market's terms from the configuration (None for a future)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from verifier.core.config import MarketConfig
from verifier.db.models import Market


def _option(configured: tuple[MarketConfig, ...], index: int) -> dict[str, Any] | None:
    option = configured[index].option if index < len(configured) else None
    return None if option is None else option.model_dump()


def list_markets(session: Session, configured: tuple[MarketConfig, ...] = ()) -> list[dict[str, Any]]:
    return [{"market": m.id, "name": m.name, "price_scale": m.price_scale,
             "maintenance_rate": m.maintenance_rate, "initial_rate": m.initial_rate,
             "kind": configured[m.id].kind if m.id < len(configured) else "future",
             "option": _option(configured, m.id)}
            for m in session.scalars(select(Market).order_by(Market.id))]
