from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from circuits.protocol.api import Market
from verifier.api.deps import ContextDep
from verifier.services import markets

router = APIRouter(tags=["markets"])


@router.get("/markets", response_model=list[Market],
            summary="The configured markets (index = position in every price vector)")
async def list_markets(ctx: ContextDep) -> list[dict[str, Any]]:
    return await ctx.read(markets.list_markets, ctx.runtime.markets)
