from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from circuits.protocol.api import Attestation
from verifier.api.deps import ContextDep, TokenDep
from verifier.api.routes.common import AccountId
from verifier.api.schemas import AttestationRequest
from verifier.services import transitions

router = APIRouter(tags=["attestations"])


@router.post("/accounts/{account_id}/attestations", status_code=201, response_model=Attestation,
             summary="Attest maintenance margin of the current commitment at the epoch's mark prices")
async def attest(ctx: ContextDep, account_id: AccountId, body: AttestationRequest, token: TokenDep) -> dict[str, Any]:
    return await transitions.submit_attestation(ctx, body.proof.as_json(), account_id, token, body.epoch_id)
