"""Accounts: opening at the genesis commitment the service computes, and owner authentication.

The trader reveals the genesis salt: the empty state (nonce 0, no collateral, no positions)
has nothing to hide, and computing the genesis commitment here means no client can register a
commitment to a state it never had (say, with collateral it never deposited). Every later state
takes a fresh private salt. Because the genesis state is public, the account's owner receives a
bearer token at opening; only its holder may submit proofs for the account.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from circuits.protocol.fill_delivery import load_public_key
from circuits.state import AccountState
from verifier.db import ledger, records
from verifier.db.models import Account, AccountCredential, PendingItem, PendingKind
from verifier.db.types import utc_now
from verifier.errors import NotFoundError
from verifier.services import liquidations
from verifier.services.context import ServiceContext, same_secret, token_hash
from verifier.services.errors import AuthenticationError


def open_account(
    session: Session, ctx: ServiceContext, genesis_salt: int, encryption_public_key: str,
) -> dict[str, Any]:
    key = load_public_key(encryption_public_key).public_bytes_raw()  # FillFormatError (400) unless 32-byte hex
    account_id = records.next_account_id(session)  # concurrent openings take turns: ids never collide
    state = AccountState.genesis(account_id, ctx.markets, salt=genesis_salt)
    commitment = state.commitment(ctx.curve)  # BoundError (400) unless the salt is below r
    records.open_account(session, account_id, commitment, key)
    token = secrets.token_urlsafe(32)
    session.add(AccountCredential(account_id=account_id, token_hash=token_hash(token), created_at=utc_now()))
    session.flush()
    return {"account_id": account_id, "genesis_commitment": str(commitment), "markets": ctx.markets,
            "curve": ctx.curve, "account_token": token}


async def open_new_account(ctx: ServiceContext, address: str | None, genesis_salt: int,
                           encryption_public_key: str) -> dict[str, Any]:
    """``open_account`` in a unit of work, after the per-address rate limit (before any database work)."""
    ctx.account_openings.check(address)
    for attempt in range(5):  # openings take turns for the next id; this only covers an unexpected clash
        try:
            return await ctx.write(open_account, ctx, genesis_salt, encryption_public_key)
        except IntegrityError:
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


def authenticate(session: Session, account_id: int, token: str | None) -> Account:
    """The account, if ``token`` is its owner's (AuthenticationError, HTTP 401, otherwise)."""
    row = session.execute(select(Account, AccountCredential.token_hash)
                          .outerjoin(AccountCredential, AccountCredential.account_id == Account.id)
                          .where(Account.id == account_id)).first()
    if row is None:
        raise NotFoundError(f"account {account_id} does not exist")
    account, stored_hash = row
    check_token(account_id, token, stored_hash)
    return account


def check_token(account_id: int, token: str | None, stored_hash: str | None) -> None:
    if token is None:
        raise AuthenticationError("this endpoint needs the account's token: Authorization: Bearer <account_token>")
    if stored_hash is None or not same_secret(token_hash(token), stored_hash):
        raise AuthenticationError(f"the bearer token is not account {account_id}'s token")


def account_view(session: Session, account: Account, owner: bool = False) -> dict[str, Any]:
    """The account's public record; ``owner``: the caller holds its token (sees a successor's opening)."""
    pending = session.scalars(select(PendingItem).where(PendingItem.account_id == account.id,
                                                        PendingItem.consumed_by.is_(None)).order_by(PendingItem.id))
    deposits, fills = [], []
    for item in pending:
        if item.kind is PendingKind.DEPOSIT:
            deposits.append({"deposit_id": item.id, "amount": str(item.amount), "reference": item.reference,
                             "created_at": item.created_at})
        else:
            fills.append({"fill_id": item.id, "fill_commitment": str(item.fill_commitment), "epoch_id": item.epoch_id,
                          "deadline": item.deadline})
    default = records.default_of(session, account.id)
    return {
        "account_id": account.id,
        "genesis_commitment": str(account.genesis_commitment),
        "current_commitment": str(account.current_commitment),
        "sequence": account.sequence,
        "state_epoch": account.state_epoch,
        "holds_position": account.holds_position,
        "escrowed": records.current_escrow(session, account) is not None,
        "in_default": None if default is None else {"epoch_id": default.epoch_id, "reason": default.reason,
                                                     "declared_at": default.created_at},
        "encryption_public_key": account.encryption_public_key.hex() if account.encryption_public_key else None,
        "opened_at": account.opened_at,
        "pending_deposits": deposits,
        "pending_fills": fills,
        "balances": {
            "deposits": str(ledger.balance(session, ledger.trader_deposits(account.id))),
            "collateral": str(ledger.balance(session, ledger.trader_collateral(account.id))),
            "payouts": str(ledger.balance(session, ledger.trader_payouts(account.id))),
        },
        "liquidation": liquidations.account_liquidation(session, account.id, owner),
    }


def get_account_view(session: Session, account_id: int, token: str | None, operator: bool) -> dict[str, Any]:
    account = records.get_account(session, account_id) if operator else authenticate(session, account_id, token)
    return account_view(session, account, owner=not operator)
