"""Oracle keys (operator: register, revoke) and signed price reports (authenticated by their signature)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from circuits.protocol.api import CurrentVols, Oracle, OracleReportReceipt, VolReportReceipt
from circuits.protocol.oracle_report import SignedReport
from circuits.protocol.vol_report import SignedVolReport
from verifier.api.deps import ContextDep, OperatorDep
from verifier.api.schemas import OracleRegistration, OracleRevocation, SignedReportJson, SignedVolReportJson
from verifier.services import prices, vols

router = APIRouter(tags=["oracles"])
OracleKeyHex = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="the oracle's public key, lower-case hex")]


@router.get("/oracles", response_model=list[Oracle], summary="Registered oracle keys")
async def list_oracles(ctx: ContextDep) -> list[dict[str, Any]]:
    return await ctx.read(prices.list_oracles)


@router.post("/oracles", status_code=201, dependencies=[OperatorDep], response_model=Oracle,
             responses={200: {"model": Oracle, "description": "already registered"}},
             summary="Register an oracle key (operator)")
async def register_oracle(ctx: ContextDep, body: OracleRegistration, response: Response) -> dict[str, Any]:
    view, created = await ctx.write(prices.register_oracle, body.public_key, body.name)
    if not created:
        response.status_code = 200
    return view


@router.post("/oracles/{public_key}/revoke", dependencies=[OperatorDep], response_model=Oracle,
             summary="Revoke an oracle key (operator): its reports, past ones included, never count again")
async def revoke_oracle(ctx: ContextDep, public_key: OracleKeyHex, body: OracleRevocation) -> dict[str, Any]:
    view, _ = await ctx.write(prices.revoke_oracle, public_key, body.reason)
    return view


@router.post("/oracle-reports", status_code=201, response_model=OracleReportReceipt,
             responses={200: {"model": OracleReportReceipt, "description": "the same signed report again"}},
             summary="Submit a signed price report (Ed25519-authenticated)")
async def submit_report(ctx: ContextDep, body: SignedReportJson, response: Response) -> dict[str, Any]:
    report = SignedReport.from_dict(body.model_dump())
    view, created = await prices.receive_report(ctx, report)
    if not created:
        response.status_code = 200
    return view


@router.post("/oracle-vol-reports", status_code=201, response_model=VolReportReceipt,
             responses={200: {"model": VolReportReceipt, "description": "the same signed report again"}},
             summary="Submit a signed implied-volatility report (Ed25519-authenticated)")
async def submit_vol_report(ctx: ContextDep, body: SignedVolReportJson, response: Response) -> dict[str, Any]:
    view, created = await vols.receive_vol_report(ctx, SignedVolReport.from_dict(body.model_dump()))
    if not created:
        response.status_code = 200
    return view


@router.get("/oracle-vols", response_model=CurrentVols,
            summary="The implied volatility per underlying now: the lower median of 2f + 1 oracles (409 if none)")
async def current_vols(ctx: ContextDep) -> dict[str, Any]:
    return await ctx.read(vols.current_vols, ctx)
