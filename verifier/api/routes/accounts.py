"""Accounts: opening (anyone; returns the owner's token), reading, health."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from circuits.protocol.api import AccountView, Health, OpenedAccount
from verifier.api.deps import ContextDep, IsOperatorDep, TokenDep
from verifier.api.routes.common import AccountId
from verifier.api.schemas import OpenAccountRequest
from verifier.services import accounts, health

router = APIRouter(tags=["accounts"])


@router.post("/accounts", status_code=201, response_model=OpenedAccount,
             summary="Open an account at the genesis state (salt revealed); returns the account token once",
             responses={429: {"description": "too many openings from this address (Retry-After says when to retry)"}})
async def open_account(ctx: ContextDep, body: OpenAccountRequest, request: Request) -> dict[str, Any]:
    # the client's address: uvicorn puts a trusted proxy's X-Forwarded-For here
    address = request.client.host if request.client else None
    return await accounts.open_new_account(ctx, address, body.genesis_salt, body.encryption_public_key)


@router.get("/accounts/{account_id}", response_model=AccountView,
            summary="The account's commitments, pending items and ledger balances")
async def get_account(
    ctx: ContextDep, account_id: AccountId, token: TokenDep, operator: IsOperatorDep,
) -> dict[str, Any]:
    return await ctx.read(accounts.get_account_view, account_id, token, operator)


@router.get("/accounts/{account_id}/health", response_model=Health, summary="The account's health in an epoch")
async def account_health(ctx: ContextDep, account_id: AccountId, token: TokenDep, operator: IsOperatorDep,
                         epoch_id: Annotated[int, Query(ge=0, lt=1 << 63)]) -> dict[str, Any]:
    return await ctx.read(health.account_health, account_id, epoch_id, token, operator,
                          ctx.runtime.settings.liquidation_grace_seconds)
