from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from circuits.protocol.api import LedgerBalance, LedgerVerification
from verifier.api.deps import ContextDep, OperatorDep
from verifier.services import audit

router = APIRouter(tags=["ledger"], dependencies=[OperatorDep])


@router.get("/ledger/verify", response_model=LedgerVerification,
            summary="Recompute the hash chain and every entry's balance (operator)")
async def verify(ctx: ContextDep) -> dict[str, Any]:
    return await ctx.read(audit.ledger_verification)


@router.get("/ledger/balances/{ledger_account:path}", response_model=LedgerBalance,
            summary="A ledger account's balance (operator)")
async def balance(ctx: ContextDep, ledger_account: Annotated[str, Path(max_length=64)]) -> dict[str, Any]:
    return await ctx.read(audit.ledger_balance, ledger_account)
