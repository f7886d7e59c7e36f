"""Portfolio margin end to end: a real local HTTP server in portfolio mode, real proofs, the trader's CLI.

The service lists a BTC perpetual and a call on BTC struck at 40 000 (M = 2), with
``ZKMARGIN_MARGIN_MODE=portfolio``; three oracles sign BTC's implied volatility and the epoch opens
with its risk record. Two traders open accounts, deposit and apply fills with ``zkmargin`` commands
(the transitions keep the flat initial-margin rule, at the option market's oracle price):

- a hedged book, short the call and long the perpetual on 2 000 of collateral, attests with
  ``zkmargin attest`` (the portfolio statement, verified by the service against the epoch's
  digest), although the flat maintenance rule at the same marks asks about 4 000 of it; ``zkmargin
  status`` shows its scenario P&L, worst scenario, requirement, surplus and Greeks, checked against
  sums the test makes from the served arrays;
- a naked short call on 4 000 of collateral: ``zkmargin fills`` refuses the fill locally, naming
  scenario 10 (price +1 x range, vol up) and the exact shortfall at the initial factor; nothing
  reaches the service.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from circuits import get_circuit
from circuits.portfolio import risk_arrays_from_json
from circuits.protocol.fill_delivery import TraderKeyPair
from circuits.protocol.risk.scenarios import equity_at_marks, flat_rate_requirement
from circuits.protocol.vol_report import sign_vol_report
from circuits.state import BoundError
from prover import statefile
from prover.cli import app as zkmargin_app
from prover.trader.wallet import Wallet
from tests.verifier.conftest import API_CURVE, ServiceHarness
from tests.verifier.live_service import LocalServer, trader_folder, zkmargin
from verifier.core.config import MarketConfig, OptionConfig

BTC_PRICE = 60_000
MAINTENANCE, INITIAL = 50_000, 100_000  # 5 % and 10 %
EXPIRY = int(time.time()) + 30 * 86_400
BTC = MarketConfig(name="BTC-USD", kind="perpetual", maintenance_rate=MAINTENANCE, initial_rate=INITIAL)
CALL = MarketConfig(name="BTC-40000-C", maintenance_rate=MAINTENANCE, initial_rate=INITIAL,
                    option=OptionConfig(right="call", strike=40_000, expiry=EXPIRY, underlying=0))
runner = CliRunner()


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """SQLite only: the risk record's storage on PostgreSQL is test_api_vol_reports.py's; here the
    trader's side is under test, and a second real-proof run would only add CI time."""
    return str(request.param)


@pytest.fixture
def service(api_settings, api_keys, portfolio_keys, oracle_private_keys) -> Iterator[Any]:
    import httpx

    settings = api_settings.model_copy(update={"markets": (BTC, CALL), "margin_mode": "portfolio"})
    settings.home.mkdir(parents=True, exist_ok=True)
    server = LocalServer(settings)
    client = httpx.Client(base_url=server.url, timeout=60)
    try:
        yield SimpleNamespace(api=ServiceHarness(client, settings, {**api_keys[1], **portfolio_keys},
                                                 oracle_private_keys), url=server.url)
    finally:
        client.close()
        server.stop()


@pytest.fixture
def trader_home(tmp_path, api_keys) -> Path:
    """The traders' folder; its keys dir is the session's (the portfolio keys included: no downloads)."""
    return trader_folder(tmp_path, api_keys[0])


def open_portfolio_epoch(api: ServiceHarness) -> tuple[int, Any, dict[str, Any]]:
    """Three oracles sign BTC's volatility (60 %); the epoch opens with BTC at 60 000 and the option
    market's oracle price at 1 (the risk model marks the option, not that price)."""
    now = int(time.time())
    for key in api.oracle_keys:
        api.expect(api.client.post("/oracle-vol-reports", json=sign_vol_report(key, 0, 600_000, now).to_dict()), 201)
    epoch_id = api.open_epoch([BTC_PRICE, 1])["epoch_id"]
    record = api.expect(api.client.get(f"/epochs/{epoch_id}/risk"), 200)
    return epoch_id, risk_arrays_from_json(record), record


def open_book(service, state: Path, collateral: int, fills: list[tuple[int, int, int]], *, apply: bool = True) -> int:
    """A trader (through its CLI) who deposited ``collateral`` and applied ``fills`` (market, size, price)."""
    api = service.api
    account_id = zkmargin("account", "new", "--service", service.url, "--state", str(state))[0]["account_id"]
    api.credit(account_id, collateral, f"wire-{account_id}")
    zkmargin("deposit", "--state", str(state))
    keypair = TraderKeyPair.from_private_hex(Wallet.from_document(statefile.load(state)).delivery_key)
    for market, size, price in fills:
        api.post_fill(SimpleNamespace(account_id=account_id, keypair=keypair), market, size, price, 0)
    if apply:
        zkmargin("fills", "--state", str(state))
    return account_id


def wallet_state(state: Path):
    return Wallet.from_document(statefile.load(state)).state


def health(api: ServiceHarness, account_id: int, epoch_id: int) -> dict[str, Any]:
    return api.expect(api.client.get(f"/accounts/{account_id}/health", params={"epoch_id": epoch_id},
                                     headers=api.operator), 200)


def test_a_hedged_book_attests_by_portfolio_and_a_naked_call_is_refused_naming_its_scenario(service, trader_home):
    api = service.api
    epoch_id, risk, record = open_portfolio_epoch(api)
    call_mark = risk.arrays[1].mark

    # the hedge: short the call first, then long; the naked first leg needs its own initial margin, the
    # hedged book far less, and the trader withdraws down to 2 000 (1.25 x its requirement is about 1 580)
    hedged = trader_home / "hedged.json"
    hedged_id = open_book(service, hedged, 20_000, [(1, -1, call_mark), (0, 1, BTC_PRICE)])
    [withdrawn] = zkmargin("withdraw", "18000", "--state", str(hedged))
    assert withdrawn["kind"] == "withdrawal" and withdrawn["amount"] == "18000"
    state = wallet_state(hedged)
    assert state.sizes == (1, -1) and equity_at_marks(state.collateral, state.sizes, state.costs, risk.arrays) == 2_000
    # the flat rule at the same marks (the option a linear contract at its mark) asks about 4 000: no proof
    marks = [a.mark for a in risk.arrays]
    assert flat_rate_requirement(risk.arrays, [1, -1], marks, [MAINTENANCE] * 2) > 2_000
    with pytest.raises(BoundError, match="below maintenance margin"):
        get_circuit("margin", markets=2).assignment(state, epoch_id, marks, [MAINTENANCE] * 2, API_CURVE)

    pnl = [sum(b * a.pnl[s] for b, a in zip(state.sizes, risk.arrays)) for s in range(16)]
    worst = min(range(16), key=lambda s: pnl[s])
    requirement = -min(0, pnl[worst]) + risk.arrays[1].short_charge
    assert 1_000 < requirement < 2_000  # about 1 264 (docs/protocol.md §10.3)

    [attested] = zkmargin("attest", "--state", str(hedged))
    assert attested["kind"] == "attestation" and attested["margin_mode"] == "portfolio"
    assert attested["epoch_id"] == epoch_id and health(api, hedged_id, epoch_id)["attested"]

    figures = zkmargin("status", "--state", str(hedged))["portfolio"]
    assert figures["epoch"] == epoch_id and [row["pnl"] for row in figures["scenarios"]] == pnl
    assert figures["worst_scenario"]["index"] == worst and figures["requirement"] == requirement
    assert figures["equity"] == 2_000 and figures["surplus"] == 2_000 - requirement
    future, call = (p["greeks"] for p in figures["positions"])
    assert future["delta"] == 10**6 and -(10**6) < call["delta"] < 0
    assert figures["greeks_total"]["delta"] == future["delta"] + call["delta"]
    text = runner.invoke(zkmargin_app, ["status", "--state", str(hedged)], catch_exceptions=False).output
    assert "portfolio margin (what `zkmargin attest` proves)" in text
    assert f"requirement            {requirement}" in text and "covers every scenario" in text
    assert f"worst scenario         {figures['worst_scenario']['name']}" in text

    naked = trader_home / "naked.json"
    naked_id = open_book(service, naked, 4_000, [(1, -1, call_mark)], apply=False)
    naked_pnl = [-a for a in risk.arrays[1].pnl]
    naked_requirement = -naked_pnl[10] + risk.arrays[1].short_charge
    factor = api.expect(api.client.get("/config"), 200)["portfolio_initial_factor"]
    shortfall = -((4_000 * 10**6 - factor * naked_requirement) // 10**6)  # rounded up
    assert min(range(16), key=lambda s: naked_pnl[s]) == 10 and naked_requirement > 4_000 and shortfall > 0
    before = naked.read_bytes()
    refused = runner.invoke(zkmargin_app, ["fills", "--state", str(naked)], catch_exceptions=False)
    assert refused.exit_code == 2, refused.output
    said = " ".join(refused.output.split())
    assert ("cannot be applied: the fill would leave the account below initial portfolio margin: scenario 10 "
            f"(price +1 x range, vol up) short by {shortfall} collateral units at the initial factor {factor}") in said
    assert naked.read_bytes() == before
    view = api.expect(api.client.get(f"/accounts/{naked_id}", headers=api.operator), 200)
    assert view["sequence"] == 1 and len(view["pending_fills"]) == 1  # the deposit only: nothing else was sent
    assert record["digest"] == str(risk.digest(API_CURVE))
