"""The trader's library settles a perpetual at the epoch's published funding step: a short
receives ceil(b dF / 10^6) rounded toward the payer, and the service accepts the proof (it builds
the public step from its own fixed rate). Through the HTTP API (the service in-process), real proofs."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from circuits.protocol.fill_delivery import TraderKeyPair
from tests.verifier.conftest import wire_unchanged_by_response_models
from tests.verifier.test_api_funding import PERPETUAL, close, perp_api, post_rates

__all__ = ["perp_api", "wire_unchanged_by_response_models"]


@pytest.fixture
def trader_account(perp_api, api_keys, tmp_path):
    from prover.trader.account import TraderAccount

    wallets = tmp_path / "wallets"
    wallets.mkdir()
    (wallets / "keys").symlink_to(api_keys[0], target_is_directory=True)
    account = TraderAccount.open(wallets / "trader.json", "http://testserver", transport=perp_api.client._transport,
                                 insecure=True)
    yield account
    account.close()


def test_the_trader_settles_a_perpetual_at_the_published_step(perp_api, trader_account):
    api, trader = perp_api, trader_account
    account_id = trader.wallet.account_id
    epoch_id = api.open_epoch([50_000, 3_000])["epoch_id"]
    api.credit(account_id, 10**9, "wire-1")
    trader.deposit()
    venue_view = SimpleNamespace(account_id=account_id,
                                 keypair=TraderKeyPair.from_private_hex(trader.wallet.delivery_key))
    api.post_fill(venue_view, PERPETUAL, -4, 3_000, 5)
    trader.apply_fills()
    collateral = trader.wallet.state.collateral
    post_rates(api, epoch_id, [1_234, 1_234, 1_234])
    assert close(api, epoch_id, [50_000, 3_000])["funding_steps"] == ["0", str(1_234 * 3_000)]
    [settled] = trader.settle()
    # b dF / 10^6 = -4 x 3 702 000 / 10^6 = -14.808: the short receives 14 (rounded toward the payer)
    assert settled.data["pnl"] == "14"
    assert trader.wallet.state.collateral == collateral + 14
