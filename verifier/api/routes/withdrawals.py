from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from circuits.protocol.api import Withdrawal
from verifier.api.deps import ContextDep, TokenDep
from verifier.api.routes.common import AccountId
from verifier.api.schemas import WithdrawalRequest
from verifier.services import transitions

router = APIRouter(tags=["withdrawals"])


@router.post("/accounts/{account_id}/withdrawals", status_code=201, response_model=Withdrawal,
             summary="Withdraw with a transfer proof of amount -amount; creates a payout record")
async def withdraw(ctx: ContextDep, account_id: AccountId, body: WithdrawalRequest, token: TokenDep) -> dict[str, Any]:
    request = transitions.TransitionRequest(account_id, token, body.epoch_id, body.new_commitment, amount=body.amount,
                                            escrow=body.escrow)
    return await transitions.submit(ctx, transitions.WITHDRAWAL, body.proof.as_json(), request)
