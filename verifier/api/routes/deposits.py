"""Deposits: the operator credits one (a pending item); the owner applies it with a transfer proof."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from circuits.protocol.api import AppliedDeposit, AppliedLevy, Deposit
from verifier.api.deps import ContextDep, OperatorDep, TokenDep
from verifier.api.routes.common import AccountId, ItemId
from verifier.api.schemas import ApplyDepositRequest, CreditDepositRequest
from verifier.services import deposits, transitions

router = APIRouter(tags=["deposits"])


@router.post("/accounts/{account_id}/deposits", status_code=201, dependencies=[OperatorDep],
             response_model=Deposit, responses={200: {"model": Deposit, "description": "an identical retry"}},
             summary="Credit a received deposit (operator); a retry with the same reference and terms is a no-op (200)")
async def credit_deposit(ctx: ContextDep, account_id: AccountId, body: CreditDepositRequest,
                         response: Response) -> dict[str, Any]:
    # 201 for the credit that created the item; 200 for every identical retry, concurrent ones included
    view, created = await ctx.write(deposits.credit, account_id, body.amount, body.reference)
    if not created:
        response.status_code = 200
    return view


@router.post("/accounts/{account_id}/deposits/{deposit_id}/apply", status_code=201, response_model=AppliedDeposit,
             summary="Apply a credited deposit with a transfer proof (amount = the deposit)")
async def apply_deposit(ctx: ContextDep, account_id: AccountId, deposit_id: ItemId, body: ApplyDepositRequest,
                        token: TokenDep) -> dict[str, Any]:
    request = transitions.TransitionRequest(account_id, token, body.epoch_id, body.new_commitment, item_id=deposit_id,
                                            escrow=body.escrow)
    return await transitions.submit(ctx, transitions.DEPOSIT, body.proof.as_json(), request)


@router.post("/accounts/{account_id}/levies/{levy_id}/apply", status_code=201, response_model=AppliedLevy,
             summary="Pay a levy (a socialized loss) with a transfer proof debiting its amount, before anything else")
async def apply_levy(ctx: ContextDep, account_id: AccountId, levy_id: ItemId, body: ApplyDepositRequest,
                     token: TokenDep) -> dict[str, Any]:
    request = transitions.TransitionRequest(account_id, token, body.epoch_id, body.new_commitment, item_id=levy_id,
                                            escrow=body.escrow)
    return await transitions.submit(ctx, transitions.LEVY, body.proof.as_json(), request)
