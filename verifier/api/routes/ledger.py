from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from verifier import ledger
from verifier.api.deps import ContextDep, OperatorDep

router = APIRouter(tags=["ledger"], dependencies=[OperatorDep])


@router.get("/ledger/verify", summary="Recompute the hash chain and every entry's balance (operator)")
async def verify(ctx: ContextDep) -> dict[str, Any]:
    report = await ctx.read(ledger.verify_ledger)
    return {"ok": report.ok, "entries_checked": report.entries_checked, "head_sequence": report.head_sequence,
            "head_hash": report.head_hash, "broken_sequence": report.broken_sequence, "problem": report.problem,
            "verdict": report.verdict()}


@router.get("/ledger/balances/{ledger_account:path}", summary="A ledger account's balance (operator)")
async def balance(ctx: ContextDep, ledger_account: Annotated[str, Path(max_length=64)]) -> dict[str, Any]:
    return {"ledger_account": ledger_account, "balance": str(await ctx.read(ledger.balance, ledger_account))}
