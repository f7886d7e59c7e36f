"""Epochs (operator): open with a mark-price snapshot, close with the settlement snapshot,
finalize; health listing and defaults."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query

from circuits.protocol.api import Default, Epoch, EpochChange, EpochRecordView, EpochRisk, Finalization, Health
from verifier.api.deps import ContextDep, OperatorDep
from verifier.api.routes.common import EpochId
from verifier.api.schemas import CloseEpochRequest, DefaultRequest, OpenEpochRequest
from verifier.services import defaults, epoch_records, epochs, health, risk, settlements

router = APIRouter(tags=["epochs"])


@router.post("/epochs", status_code=201, dependencies=[OperatorDep], response_model=EpochChange,
             summary="Open the next epoch: its mark prices are the oracle quorum's median now")
async def open_epoch(ctx: ContextDep, body: Annotated[OpenEpochRequest | None, Body()] = None) -> dict[str, Any]:
    body = body or OpenEpochRequest()
    return await ctx.write(epochs.open_epoch, ctx, body.attestation_deadline, body.confirm_circuit_breaker)


@router.get("/epochs", response_model=list[Epoch], summary="Recent epochs, newest first")
async def list_epochs(ctx: ContextDep, limit: Annotated[int, Query(ge=1, le=500)] = 20) -> list[dict[str, Any]]:
    return await ctx.read(epochs.list_epochs, limit)


@router.get("/epochs/current", response_model=Epoch, summary="The open epoch (its mark prices are what proofs use now)")
async def current_epoch(ctx: ContextDep) -> dict[str, Any]:
    return await ctx.read(epochs.current_epoch_view)


@router.get("/epochs/{epoch_id}", response_model=Epoch, summary="One epoch")
async def get_epoch(ctx: ContextDep, epoch_id: EpochId) -> dict[str, Any]:
    return await ctx.read(epochs.get_epoch_view, epoch_id)


@router.get("/epochs/{epoch_id}/risk", response_model=EpochRisk,
            summary="Portfolio mode: the epoch's risk record (market inputs, risk arrays, their Poseidon digest)")
async def get_epoch_risk(ctx: ContextDep, epoch_id: EpochId) -> dict[str, Any]:
    return await ctx.read(risk.epoch_risk, epoch_id)


@router.get("/epochs/{epoch_id}/record", response_model=EpochRecordView,
            summary="The epoch's record in the journal: its open and close documents, hashes and entries")
async def get_epoch_record(ctx: ContextDep, epoch_id: EpochId) -> dict[str, Any]:
    return await ctx.read(epoch_records.epoch_record_view, epoch_id)


@router.post("/epochs/{epoch_id}/close", dependencies=[OperatorDep], response_model=EpochChange,
             summary="Close the epoch: fix its settlement prices (never changed afterwards)")
async def close_epoch(ctx: ContextDep, epoch_id: EpochId,
                      body: Annotated[CloseEpochRequest | None, Body()] = None) -> dict[str, Any]:
    body = body or CloseEpochRequest()
    return await ctx.write(epochs.close_epoch, ctx, epoch_id, body.settlement_deadline, body.confirm_circuit_breaker)


@router.post("/epochs/{epoch_id}/finalize", dependencies=[OperatorDep], response_model=Finalization,
             summary="Finalize: every account settled or in default, pnl sums to zero (idempotent)")
async def finalize_epoch(ctx: ContextDep, epoch_id: EpochId) -> dict[str, Any]:
    return await ctx.write(settlements.finalize, epoch_id)


@router.get("/epochs/{epoch_id}/health", dependencies=[OperatorDep], response_model=list[Health],
            summary="Every account's health in the epoch (operator)")
async def epoch_health(
    ctx: ContextDep, epoch_id: EpochId,
    status: Annotated[Literal["healthy", "margin_call", "default"] | None, Query()] = None,
) -> list[dict[str, Any]]:
    return await ctx.read(health.epoch_health, epoch_id, status, ctx.runtime.settings.liquidation_grace_seconds)


@router.post("/epochs/{epoch_id}/defaults", status_code=201, dependencies=[OperatorDep], response_model=Default,
             summary="Declare an account in default for a closed epoch (operator)")
async def mark_default(ctx: ContextDep, epoch_id: EpochId, body: DefaultRequest) -> dict[str, Any]:
    return await ctx.write(defaults.declare_default, body.account_id, epoch_id, body.reason)
