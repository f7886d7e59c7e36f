from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from verifier.api.deps import ContextDep
from verifier.db.models import Market

router = APIRouter(tags=["markets"])


@router.get("/markets", summary="The configured markets (index = position in every price vector)")
async def list_markets(ctx: ContextDep) -> list[dict[str, Any]]:
    def read(session) -> list[dict[str, Any]]:
        return [{"market": m.id, "name": m.name, "price_scale": m.price_scale,
                 "maintenance_rate": m.maintenance_rate, "initial_rate": m.initial_rate}
                for m in session.scalars(select(Market).order_by(Market.id))]
    return await ctx.read(read)
