"""Liquidations: the operator's request and views, the guardians' shares, and resuming after a crash."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from circuits.protocol.api import LiquidationJson, OperatorKey
from verifier.api.deps import ContextDep, OperatorDep
from verifier.api.schemas import LiquidationRequestBody, ShareSubmission
from verifier.errors import OpeningMismatchError
from verifier.services import liquidations

router = APIRouter(tags=["liquidations"])
LiquidationId = Annotated[int, Path(ge=1, lt=1 << 63)]


def _answer(result: tuple[dict[str, Any], str | None]) -> dict[str, Any]:
    """The view, or 409 once a failed opening is committed (the record keeps why)."""
    view, failure = result
    if failure is not None:
        raise OpeningMismatchError(failure)
    return view


@router.get("/operator", response_model=OperatorKey,
            summary="The operator's Ed25519 public key: it signs liquidation requests (guardians pin it)")
async def operator(ctx: ContextDep) -> dict[str, Any]:
    return liquidations.operator_view(ctx)


@router.post("/liquidations", status_code=201, response_model=LiquidationJson, dependencies=[OperatorDep],
             summary="Request a liquidation: checked against the rules, signed, recorded; freezes the account",
             responses={409: {"description": "not_liquidatable (the unmet rule named), no escrow, already open"}})
async def request_liquidation(ctx: ContextDep, body: LiquidationRequestBody) -> dict[str, Any]:
    return await ctx.write(liquidations.request_liquidation, ctx, body.account_id, body.reason, body.epoch_id)


@router.get("/liquidations", response_model=list[LiquidationJson], summary="Liquidations, optionally of one status")
async def list_liquidations(
    ctx: ContextDep,
    status: Annotated[Literal["requested", "opened", "closed", "failed"] | None, Query()] = None,
) -> list[dict[str, Any]]:
    return await ctx.read(liquidations.list_liquidations, ctx, status)


@router.get("/liquidations/{liquidation_id}", response_model=LiquidationJson, summary="One liquidation")
async def get_liquidation(ctx: ContextDep, liquidation_id: LiquidationId) -> dict[str, Any]:
    return await ctx.read(liquidations.get_liquidation, ctx, liquidation_id)


@router.post("/liquidations/{liquidation_id}/shares", response_model=LiquidationJson,
             summary="A guardian's decryption share (its DLEQ proof authenticates it); the t-th opens and closes out",
             responses={422: {"description": "bad_share: malformed, or its DLEQ proof fails (the guardian named)"},
                        409: {"description": "a second share of a guardian, a liquidation no longer requested, or "
                                             "an opening that does not match the pinned commitment"}})
async def submit_share(ctx: ContextDep, liquidation_id: LiquidationId, body: ShareSubmission) -> dict[str, Any]:
    # the share is kept in one transaction, the opening and close-out run in the next: a crash
    # between them leaves t shares stored, which resume (or any later share) completes
    if await ctx.write(liquidations.submit_share, ctx, liquidation_id, body.guardian, body.share):
        return _answer(await ctx.write(liquidations.open_pending, ctx, liquidation_id))
    return await ctx.read(liquidations.get_liquidation, ctx, liquidation_id)


@router.post("/liquidations/{liquidation_id}/resume", response_model=LiquidationJson, dependencies=[OperatorDep],
             summary="Re-run the opening and close-out of a liquidation whose t shares are stored (after a crash)")
async def resume(ctx: ContextDep, liquidation_id: LiquidationId) -> dict[str, Any]:
    return _answer(await ctx.write(liquidations.resume, ctx, liquidation_id))
