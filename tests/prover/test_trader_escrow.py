"""The trader's library against a service with guardians: it fetches GET /guardians, proves the escrow
variants and sends the escrow; deposit, fill and settlement each leave an escrow the guardians can
open to the state the trader holds. Through the HTTP API (the service in-process), real proofs."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from circuits.protocol.fill_delivery import TraderKeyPair
from circuits.state import AccountState
from tests.verifier.conftest import (
    API_CURVE,
    api_escrow_keys,
    escrow_api,
    guardians_2_of_3,
    wire_unchanged_by_response_models,
)
from zkmargin.escrow import Escrow

# fixtures re-exported from the verifier tests (the service, its escrow keys, the guardians)
__all__ = ["api_escrow_keys", "escrow_api", "guardians_2_of_3", "wire_unchanged_by_response_models"]


@pytest.fixture
def trader_account(escrow_api, api_keys, tmp_path):
    """A TraderAccount talking to the in-process service; its keys dir is the session's (no downloads)."""
    from prover.trader.account import TraderAccount

    wallets = tmp_path / "wallets"
    wallets.mkdir()
    (wallets / "keys").symlink_to(api_keys[0], target_is_directory=True)
    account = TraderAccount.open(wallets / "trader.json", "http://testserver", transport=escrow_api.client._transport,
                                 insecure=True)
    yield account
    account.close()


def escrows_of(settings, account_id: int) -> list[tuple[int, str | None]]:
    from verifier.db.engine import Database
    from verifier.db.models import AccountCommitment

    database = Database.connect(settings.database_url)
    try:
        with database.unit_of_work() as session:
            return list(session.execute(select(AccountCommitment.commitment, AccountCommitment.escrow)
                                        .where(AccountCommitment.account_id == account_id)
                                        .order_by(AccountCommitment.sequence)))
    finally:
        database.dispose()


def test_the_trader_escrows_every_transition_to_the_guardians(escrow_api, trader_account):
    api, trader = escrow_api, trader_account
    account_id = trader.wallet.account_id
    epoch = api.open_epoch([50_000, 3_000])
    api.credit(account_id, 10**9, "wire-1")
    trader.deposit()
    venue_view = SimpleNamespace(account_id=account_id,
                                 keypair=TraderKeyPair.from_private_hex(trader.wallet.delivery_key))
    api.post_fill(venue_view, 1, -4, 3_000, 5)
    trader.apply_fills()
    api.close_epoch(epoch["epoch_id"], [50_000, 2_900])
    [settled] = trader.settle()
    assert settled.data["kind"] == "settlement"
    assert trader.escrow_key() == api.guardians.group_key
    assert "escrow_scalar" not in json.dumps(trader.wallet.to_document())  # nothing new kept secret

    rows = escrows_of(api.settings, account_id)
    assert len(rows) == 4 and rows[0].escrow is None
    for row in rows[1:]:
        escrow = Escrow.from_json(json.loads(row.escrow), API_CURVE)
        opened = AccountState.from_commitment_inputs(api.guardians.open_escrow(escrow, (2, 3)), API_CURVE)
        assert opened.commitment(API_CURVE) == int(row.commitment)
    assert opened == trader.wallet.state
