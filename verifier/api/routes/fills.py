"""Fills: the venue posts a commitment and the sealed opening; the owner downloads and applies it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from circuits.protocol.api import AppliedFill, Fill, SealedFill
from verifier.api.deps import ContextDep, TokenDep, VenueDep
from verifier.api.routes.common import AccountId, ItemId
from verifier.api.schemas import ApplyFillRequest, PostFillRequest
from verifier.services import fills, transitions

router = APIRouter(tags=["fills"])


@router.post("/fills", status_code=201, dependencies=[VenueDep], response_model=Fill,
             responses={200: {"model": Fill, "description": "an identical retry"}},
             summary="Post a fill: commitment + opening sealed to the trader (venue); idempotent on reference")
async def post_fill(ctx: ContextDep, body: PostFillRequest, response: Response) -> dict[str, Any]:
    view, created = await ctx.write(fills.post_fill, ctx, body.account_id, body.fill_commitment,
                                    bytes.fromhex(body.ciphertext), body.reference, body.deadline,
                                    body.epoch_id, body.market)
    if not created:
        response.status_code = 200
    return view


@router.get("/accounts/{account_id}/fills", response_model=list[SealedFill],
            summary="The account's fills with their sealed openings (owner)")
async def list_fills(ctx: ContextDep, account_id: AccountId, token: TokenDep,
                     pending: Annotated[bool, Query()] = True) -> list[dict[str, Any]]:
    return await ctx.read(fills.list_fills, account_id, token, pending)


@router.post("/accounts/{account_id}/fills/{fill_id}/apply", status_code=201, response_model=AppliedFill,
             summary="Apply a fill with a fill proof (each fill once)")
async def apply_fill(ctx: ContextDep, account_id: AccountId, fill_id: ItemId, body: ApplyFillRequest,
                     token: TokenDep) -> dict[str, Any]:
    request = transitions.TransitionRequest(account_id, token, body.epoch_id, body.new_commitment, item_id=fill_id,
                                            escrow=body.escrow)
    return await transitions.submit(ctx, transitions.FILL, body.proof.as_json(), request)
