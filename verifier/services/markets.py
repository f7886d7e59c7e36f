"""The configured markets, as the database holds them (index = position in every price vector)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from verifier.db.models import Market


def list_markets(session: Session, kinds: Sequence[str] = ()) -> list[dict[str, Any]]:
    """``kinds``: each market's configured kind (future or perpetual; not in the database)."""
    return [{"market": m.id, "name": m.name, "price_scale": m.price_scale,
             "maintenance_rate": m.maintenance_rate, "initial_rate": m.initial_rate,
             "kind": kinds[m.id] if m.id < len(kinds) else "future"}
            for m in session.scalars(select(Market).order_by(Market.id))]
