"""Venue fills: the venue posts a fill commitment and the opening sealed to the trader's X25519
key (``circuits.protocol.fill_delivery``); the service stores and serves the ciphertext only."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from circuits.protocol.errors import FillFormatError
from circuits.protocol.fill_delivery import CIPHERTEXT_BYTES, VERSION
from circuits.protocol.risk.expiry import is_expired
from circuits.protocol.risk.instruments import Option
from verifier.db import records
from verifier.db.models import Account, Epoch, EpochStatus, PendingItem, PendingKind
from verifier.db.types import utc_now
from verifier.errors import ConflictError, EpochStateError, OutOfOrderError, UnknownMarketError
from verifier.services import accounts
from verifier.services.context import ServiceContext
from verifier.services.errors import MarketExpiredError, NoOpenEpochError
from verifier.services.prices import now_seconds
from zkmargin.curves import get_curve
from zkmargin.errors import MalformedInputError
from zkmargin.field import require_field_element


def fill_view(item: PendingItem, with_ciphertext: bool) -> dict[str, Any]:
    view = {"fill_id": item.id, "account_id": item.account_id, "reference": item.reference,
            "fill_commitment": str(item.fill_commitment), "epoch_id": item.epoch_id, "deadline": item.deadline,
            "posted_at": item.created_at,
            "applied": item.consumed_by is not None, "applied_at": item.consumed_at}
    if with_ciphertext:
        view["ciphertext"] = item.fill_ciphertext.hex() if item.fill_ciphertext else None
    return view


def post_fill(session: Session, ctx: ServiceContext, account_id: int, fill_commitment: int, ciphertext: bytes,
              reference: str, deadline: datetime | None, epoch_id: int | None = None,
              market: int | None = None) -> tuple[dict[str, Any], bool]:
    _require_fill_commitment(ctx, fill_commitment)
    if market is not None:
        refuse_expired_market(ctx, market, now_seconds())
    if len(ciphertext) != CIPHERTEXT_BYTES or ciphertext[0] != VERSION:
        raise FillFormatError(f"a sealed fill is {CIPHERTEXT_BYTES} bytes starting with version byte {VERSION}; "
                              f"got {len(ciphertext)} bytes")
    # the account row's lock orders this against the account's transitions (see _refuse_if_moved_past)
    account = records.lock_account(session, account_id)
    if account.encryption_public_key is None:
        raise ConflictError(f"account {account_id} has no encryption key to deliver fills to")
    existing = session.scalar(select(PendingItem).where(PendingItem.reference == reference))
    if existing is not None:
        epoch_id = existing.epoch_id
    elif epoch_id is None:
        epoch_id = _open_epoch_id(session)
    else:
        _require_unfinalized(session, epoch_id)
    if existing is None:
        _refuse_if_moved_past(account, epoch_id)
    deadline = deadline or utc_now() + timedelta(seconds=ctx.runtime.settings.fill_window_seconds)
    item = records.record_fill(session, account_id=account_id, fill_commitment=fill_commitment, reference=reference,
                               epoch_id=epoch_id, ciphertext=ciphertext, deadline=deadline)
    return fill_view(item, False), existing is None


def refuse_expired_market(ctx: ServiceContext, market: int, now: int) -> None:
    """A trade in an option past its expiry would open a position the close extinguishes at a
    payoff already fixed: MarketExpiredError (422 market_expired); an unknown market is 422 too."""
    configured = ctx.runtime.markets
    if not 0 <= market < len(configured):
        raise UnknownMarketError(f"market {market} is not configured (markets 0..{len(configured) - 1})")
    instrument = configured[market].instrument(market)
    if is_expired(instrument, now):
        assert isinstance(instrument, Option)
        raise MarketExpiredError(f"market {market} ({configured[market].name}) is an option that expired at "
                                 f"{instrument.expiry}: it can no longer be traded")


def _require_fill_commitment(ctx: ServiceContext, fill_commitment: int) -> None:
    """The core's below-r check, refused as before: FillFormatError (400 malformed_input) in these words."""
    try:
        require_field_element(fill_commitment, get_curve(ctx.curve).r, "fill_commitment")
    except MalformedInputError:
        raise FillFormatError(f"fill_commitment must be an integer in [0, r) for {ctx.curve}") from None


def _open_epoch_id(session: Session) -> int:
    """A trade happens in the open epoch: the fill belongs to it (and is applied against it)."""
    epoch_id = session.scalar(select(Epoch.id).where(Epoch.status == EpochStatus.OPEN))
    if epoch_id is None:
        raise NoOpenEpochError("no epoch is open: fills are posted while an epoch is open (they belong to it)")
    return epoch_id


def _require_unfinalized(session: Session, epoch_id: int) -> None:
    """A trade's late side may join a closed epoch; a finalized one is settled for good."""
    if records.get_epoch(session, epoch_id).status is EpochStatus.FINALIZED:
        raise EpochStateError(f"epoch {epoch_id} is finalized: no fill can join it")


def _refuse_if_moved_past(account: Account, epoch_id: int) -> None:
    """A fill of epoch N can only be applied to a state in N (or flat and behind): an account
    whose state moved past N could never apply it, and N would be left one side short."""
    if account.state_epoch > epoch_id:
        raise OutOfOrderError(f"account {account.id}'s state has moved past epoch {epoch_id} (it is in epoch "
                              f"{account.state_epoch}): a fill of epoch {epoch_id} could never be applied to it; post "
                              "both sides of the trade in one epoch")


def list_fills(session: Session, account_id: int, token: str | None, pending_only: bool) -> list[dict[str, Any]]:
    accounts.authenticate(session, account_id, token)
    query = select(PendingItem).where(PendingItem.account_id == account_id, PendingItem.kind == PendingKind.FILL)
    if pending_only:
        query = query.where(PendingItem.consumed_by.is_(None))
    return [fill_view(item, True) for item in session.scalars(query.order_by(PendingItem.id))]
