"""Deposits: the operator credits one (a pending item); the owner applies it with a transfer proof."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from verifier import ledger
from verifier.api.deps import ContextDep, OperatorDep, TokenDep
from verifier.api.routes.common import AccountId, ItemId
from verifier.api.schemas import ApplyDepositRequest, CreditDepositRequest
from verifier.services import transitions

router = APIRouter(tags=["deposits"])


@router.post("/accounts/{account_id}/deposits", status_code=201, dependencies=[OperatorDep],
             summary="Credit a received deposit (operator); a retry with the same reference and terms is a no-op (200)")
async def credit_deposit(ctx: ContextDep, account_id: AccountId, body: CreditDepositRequest,
                         response: Response) -> dict[str, Any]:
    def write(session) -> tuple[dict[str, Any], bool]:
        item, created = ledger.credit_deposit_once(session, account_id=account_id, amount=body.amount,
                                                   reference=body.reference)
        return {"deposit_id": item.id, "account_id": item.account_id, "amount": str(item.amount),
                "reference": item.reference, "applied": item.consumed_by is not None}, created
    # 201 for the credit that created the item; 200 for every identical retry, concurrent ones included
    view, created = await ctx.write(write)
    if not created:
        response.status_code = 200
    return view


@router.post("/accounts/{account_id}/deposits/{deposit_id}/apply", status_code=201,
             summary="Apply a credited deposit with a transfer proof (amount = the deposit)")
async def apply_deposit(ctx: ContextDep, account_id: AccountId, deposit_id: ItemId, body: ApplyDepositRequest,
                        token: TokenDep) -> dict[str, Any]:
    return await transitions.submit(ctx, transitions.plan_deposit, body.proof.as_json(), account_id, token,
                                    deposit_id, body.epoch_id, body.new_commitment)
