from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from circuits.protocol.api import SettledEpoch
from verifier.api.deps import ContextDep, TokenDep
from verifier.api.routes.common import AccountId
from verifier.api.schemas import SettlementRequest
from verifier.services import transitions

router = APIRouter(tags=["settlements"])


@router.post("/accounts/{account_id}/settlements", status_code=201, response_model=SettledEpoch,
             summary="Settle a closed epoch at its settlement prices; the pnl posts against clearing")
async def settle(ctx: ContextDep, account_id: AccountId, body: SettlementRequest, token: TokenDep) -> dict[str, Any]:
    request = transitions.TransitionRequest(account_id, token, body.epoch_id, body.new_commitment, pnl=body.pnl,
                                            holds_position=body.holds_position, escrow=body.escrow)
    return await transitions.submit(ctx, transitions.SETTLEMENT, body.proof.as_json(), request)
