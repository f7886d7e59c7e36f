from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from circuits.protocol.api import Payout
from verifier.api.deps import ContextDep, OperatorDep
from verifier.api.routes.common import ItemId
from verifier.api.schemas import PayoutPaidRequest
from verifier.services import payouts

router = APIRouter(tags=["payouts"], dependencies=[OperatorDep])


@router.get("/payouts", response_model=list[Payout], summary="Payouts (operator)")
async def list_payouts(ctx: ContextDep,
                       status: Annotated[Literal["pending", "paid"] | None, Query()] = None) -> list[dict[str, Any]]:
    return await ctx.read(payouts.list_payouts, status)


@router.post("/payouts/{payout_id}/paid", response_model=Payout,
             summary="Record that a payout was paid (operator; idempotent)")
async def mark_paid(ctx: ContextDep, payout_id: ItemId, body: PayoutPaidRequest) -> dict[str, Any]:
    return await ctx.write(payouts.mark_paid, payout_id, body.payment_reference)
