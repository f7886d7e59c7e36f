from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from sqlalchemy import select

from verifier import ledger
from verifier.api.deps import ContextDep, OperatorDep
from verifier.api.routes.common import ItemId
from verifier.api.schemas import PayoutPaidRequest
from verifier.db.models import Payout, PayoutStatus

router = APIRouter(tags=["payouts"], dependencies=[OperatorDep])


def _view(payout: Payout) -> dict[str, Any]:
    return {"payout_id": payout.id, "account_id": payout.account_id, "amount": str(payout.amount),
            "status": payout.status.value, "payment_reference": payout.payment_reference,
            "created_at": payout.created_at, "paid_at": payout.paid_at}


@router.get("/payouts", summary="Payouts (operator)")
async def list_payouts(ctx: ContextDep,
                       status: Annotated[Literal["pending", "paid"] | None, Query()] = None) -> list[dict[str, Any]]:
    def read(session) -> list[dict[str, Any]]:
        query = select(Payout).order_by(Payout.id)
        if status is not None:
            query = query.where(Payout.status == PayoutStatus(status))
        return [_view(p) for p in session.scalars(query)]
    return await ctx.read(read)


@router.post("/payouts/{payout_id}/paid", summary="Record that a payout was paid (operator; idempotent)")
async def mark_paid(ctx: ContextDep, payout_id: ItemId, body: PayoutPaidRequest) -> dict[str, Any]:
    def write(session) -> dict[str, Any]:
        return _view(ledger.pay_payout(session, payout_id=payout_id, payment_reference=body.payment_reference))
    return await ctx.write(write)
