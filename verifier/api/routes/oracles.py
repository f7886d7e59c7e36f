"""Oracle keys (operator: register, revoke) and signed price reports (authenticated by their signature)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from circuits.protocol.oracle_report import SignedReport
from verifier.api.deps import ContextDep, OperatorDep
from verifier.api.schemas import OracleRegistration, OracleRevocation, SignedReportJson
from verifier.services import prices

router = APIRouter(tags=["oracles"])
OracleKeyHex = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="the oracle's public key, lower-case hex")]


@router.get("/oracles", summary="Registered oracle keys")
async def list_oracles(ctx: ContextDep) -> list[dict[str, Any]]:
    return await ctx.read(prices.list_oracles)


@router.post("/oracles", status_code=201, dependencies=[OperatorDep], summary="Register an oracle key (operator)")
async def register_oracle(ctx: ContextDep, body: OracleRegistration, response: Response) -> dict[str, Any]:
    view, created = await ctx.write(prices.register_oracle, body.public_key, body.name)
    if not created:
        response.status_code = 200
    return view


@router.post("/oracles/{public_key}/revoke", dependencies=[OperatorDep],
             summary="Revoke an oracle key (operator): its reports, past ones included, never count again")
async def revoke_oracle(ctx: ContextDep, public_key: OracleKeyHex, body: OracleRevocation) -> dict[str, Any]:
    view, _ = await ctx.write(prices.revoke_oracle, public_key, body.reason)
    return view


@router.post("/oracle-reports", status_code=201, summary="Submit a signed price report (Ed25519-authenticated)")
async def submit_report(ctx: ContextDep, body: SignedReportJson, response: Response) -> dict[str, Any]:
    report = SignedReport.from_dict(body.model_dump())
    try:
        view, created = await ctx.write(prices.submit_report, ctx, report)
    except Exception:
        ctx.metrics.oracle_reports.labels("refused").inc()
        raise
    ctx.metrics.oracle_reports.labels("accepted" if created else "duplicate").inc()
    if not created:
        response.status_code = 200
    return view
