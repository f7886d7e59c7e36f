"""Signed funding-rate reports of perpetual markets (authenticated by their Ed25519 signature)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from circuits.protocol.api import FundingReportReceipt
from circuits.protocol.funding_report import SignedFundingReport
from verifier.api.deps import ContextDep
from verifier.api.schemas import SignedFundingReportJson
from verifier.services import funding

router = APIRouter(tags=["funding"])


@router.post("/funding-reports", status_code=201, response_model=FundingReportReceipt,
             responses={200: {"model": FundingReportReceipt, "description": "the same signed report again"}},
             summary="Submit a signed funding-rate report for a perpetual market and the open epoch")
async def submit_funding_report(ctx: ContextDep, body: SignedFundingReportJson, response: Response) -> dict[str, Any]:
    report = SignedFundingReport.from_dict(body.model_dump())
    view, created = await ctx.write(funding.submit_funding_report, ctx, report)
    if not created:
        response.status_code = 200
    return view
