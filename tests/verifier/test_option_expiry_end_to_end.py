"""Option expiry end to end with the trader's CLI: a real local HTTP server in portfolio mode, real proofs.

A call on BTC (M = 2) is live when the epoch opens; two traders (``zkmargin`` commands) deposit and
take opposite sides of it; it expires before the close. ``zkmargin settle`` checks the epoch's
published expires flags against the configured expiry and the epoch's times
(``prover/trader/expiry.py``), proves the settlement with them, and both books come out flat:
the long gains exactly what the short loses at the intrinsic value, and the epoch finalizes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from circuits.protocol.fill_delivery import TraderKeyPair
from circuits.protocol.vol_report import sign_vol_report
from prover import statefile
from prover.trader.wallet import Wallet
from tests.verifier.conftest import ServiceHarness
from tests.verifier.live_service import LocalServer, trader_folder, zkmargin
from verifier.core.config import MarketConfig, OptionConfig

STRIKE = 40_000
LIVE_FOR = 12  # seconds from the fixture to the expiry: the open, two deposits and the fills fit in it


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """SQLite only: the storage on PostgreSQL is test_api_option_expiry.py's; here the trader's side is under test."""
    return str(request.param)


@pytest.fixture
def service(api_settings, api_keys, portfolio_keys, oracle_private_keys) -> Iterator[Any]:
    import httpx

    expiry = int(time.time()) + LIVE_FOR
    btc = MarketConfig(name="BTC-USD", maintenance_rate=50_000, initial_rate=100_000)
    call = MarketConfig(name="BTC-40000-C", maintenance_rate=50_000, initial_rate=100_000,
                        option=OptionConfig(right="call", strike=STRIKE, expiry=expiry, underlying=0))
    settings = api_settings.model_copy(update={"markets": (btc, call), "margin_mode": "portfolio"})
    settings.home.mkdir(parents=True, exist_ok=True)
    server = LocalServer(settings)
    client = httpx.Client(base_url=server.url, timeout=60)
    try:
        yield SimpleNamespace(api=ServiceHarness(client, settings, {**api_keys[1], **portfolio_keys},
                                                 oracle_private_keys), url=server.url, expiry=expiry)
    finally:
        client.close()
        server.stop()


@pytest.fixture
def trader_home(tmp_path, api_keys) -> Path:
    return trader_folder(tmp_path, api_keys[0])


def new_account(service, state: Path, collateral: int) -> int:
    account_id = zkmargin("account", "new", "--service", service.url, "--state", str(state))[0]["account_id"]
    service.api.credit(account_id, collateral, f"wire-{account_id}")
    return account_id


def post_fill(service, state: Path, account_id: int, size: int, price: int) -> None:
    keypair = TraderKeyPair.from_private_hex(Wallet.from_document(statefile.load(state)).delivery_key)
    service.api.post_fill(SimpleNamespace(account_id=account_id, keypair=keypair), 1, size, price, 0)


def wallet_state(state: Path):
    return Wallet.from_document(statefile.load(state)).state


def test_both_holders_settle_an_expired_call_at_intrinsic_value_with_the_cli(service, trader_home):
    api = service.api
    long_state, short_state = trader_home / "long.json", trader_home / "short.json"
    long_id, short_id = new_account(service, long_state, 100_000), new_account(service, short_state, 100_000)
    now = int(time.time())
    for key in api.oracle_keys:
        api.expect(api.client.post("/oracle-vol-reports", json=sign_vol_report(key, 0, 600_000, now).to_dict()), 201)
    epoch_id = api.open_epoch([60_000, 1_000])["epoch_id"]
    for state in (long_state, short_state):
        zkmargin("deposit", "--state", str(state))
    post_fill(service, long_state, long_id, 2, 19_000)
    post_fill(service, short_state, short_id, -2, 19_000)
    assert time.time() < service.expiry, "the machine was too slow for this test's window"
    for state in (long_state, short_state):
        zkmargin("fills", "--state", str(state))
    assert wallet_state(long_state).sizes == (0, 2) and wallet_state(short_state).sizes == (0, -2)

    time.sleep(max(0.0, service.expiry + 1 - time.time()))
    closed = api.close_epoch(epoch_id, [61_000, 1_000])
    assert closed["settlement_expires"] == [False, True] and closed["settlement_prices"][1] == 61_000 - STRIKE

    [gain] = zkmargin("settle", "--state", str(long_state))
    [loss] = zkmargin("settle", "--state", str(short_state))
    assert (gain["pnl"], loss["pnl"]) == ("4000", "-4000")
    for state, collateral in ((long_state, 104_000), (short_state, 96_000)):
        settled = wallet_state(state)
        assert settled.sizes == (0, 0) and settled.costs == (0, 0) and settled.collateral == collateral
        assert settled.epoch == epoch_id + 1
    assert api.expect(api.client.get(f"/epochs/{epoch_id}"), 200)["status"] == "finalized"
    assert api.expect(api.client.get("/ledger/verify", headers=api.operator), 200)["ok"]
