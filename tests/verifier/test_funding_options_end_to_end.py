"""Funding and options end to end: a real local HTTP server in portfolio mode, real proofs, the
trader's CLI, two clearing cycles settled and finalized at exactly zero.

The service lists three markets (M = 3): a BTC perpetual, a call on BTC struck at 40 000 and a
put struck at 55 000, both expiring 30 days ahead. Three oracles sign prices, BTC's implied
volatility and the perpetual's funding rates. Two traders on opposite sides deposit 100 000 each
and apply their fills with ``zkmargin`` (the book balances in every market):

- ``long``: long 2 perpetuals, short 1 call, short 1 put;
- ``short``: short 2 perpetuals, long 1 call, long 1 put.

Each of two epochs opens with its risk record (checked against arrays the test computes itself),
both traders attest by portfolio margin (``zkmargin attest``), and it closes with a funding rate
(positive, then negative) and prices that make the funding charge a fraction, so rounding leaves
a remainder R. Both traders settle with ``zkmargin settle``; the epoch finalizes with the settled
pnl plus R summing to exactly zero, R (0 <= R < 2 positions) booked to the insurance fund, and
the ledger verifies (the API and ``zkmargin ledger verify``). Each trader's state file holds
exactly the sizes, cost bases and collateral the test computes from the prices and the funding.

The option markets' oracle prices are plausible option values: fills are made at them. At the close
a live option's settlement price is the risk model's value against BTC's closing price, with the
volatilities taken at the close (docs/protocol.md §10.7), and ``settle`` marks the option to it
like a future; the test recomputes each value from the close's published valuation time.

Helpers are small and named (open, attest, close, settle, check) so that option expiry, portfolio
fills and the ledger's epoch record can extend the cycle.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from circuits.portfolio import risk_arrays_from_json
from circuits.protocol.fill_delivery import TraderKeyPair, seal_fill
from circuits.protocol.funding_report import sign_funding_report
from circuits.protocol.risk import MarketInputs, epoch_risk_arrays, option_value
from circuits.protocol.risk.scenarios import EpochRiskArrays, equity_at_marks
from circuits.protocol.vol_report import sign_vol_report
from circuits.settle import FUNDING_SCALE
from circuits.state import AccountState, Fill, fresh_salt
from prover import statefile
from prover.cli import app as zkmargin_app
from prover.trader.wallet import Wallet
from tests.verifier.conftest import API_CURVE, ServiceHarness
from tests.verifier.live_service import LocalServer, trader_folder, zkmargin
from verifier.core.config import MarketConfig, OptionConfig

MARKETS_M = 3
PERP, CALL, PUT = 0, 1, 2
MAINTENANCE, INITIAL = 50_000, 100_000  # 5 % and 10 % (configured; portfolio mode margins by scenarios)
EXPIRY = int(time.time()) + 30 * 86_400
MARKETS = (
    MarketConfig(name="BTC-PERP", kind="perpetual", maintenance_rate=MAINTENANCE, initial_rate=INITIAL),
    MarketConfig(name="BTC-40000-C", maintenance_rate=MAINTENANCE, initial_rate=INITIAL,
                 option=OptionConfig(right="call", strike=40_000, expiry=EXPIRY, underlying=PERP)),
    MarketConfig(name="BTC-55000-P", maintenance_rate=MAINTENANCE, initial_rate=INITIAL,
                 option=OptionConfig(right="put", strike=55_000, expiry=EXPIRY, underlying=PERP)),
)
COLLATERAL = 100_000
VOL = 600_000  # 60 % a year, every oracle
LONG_BOOK = (2, -1, -1)  # long perpetuals, short the call and the put
SHORT_BOOK = tuple(-b for b in LONG_BOOK)


@dataclass(frozen=True)
class Cycle:
    """One epoch's public figures: prices at the opening (fills are made at them) and the close, the
    perpetual's funding rate (millionths of the closing price; positive: longs pay), and what the
    test expects the long and the short book to pay for it (negative: receive)."""

    open_prices: tuple[int, int, int]
    close_prices: tuple[int, int, int]
    funding_rate: int
    funding: dict[str, int]


# The closing prices make b * dF / 10^6 a fraction, so rounding each charge up leaves R = 1 an epoch:
# epoch 1: dF = 337 x 60 123 = 20 261 451; 2 dF / 10^6 = 40.52..., the long pays 41, the short receives 40;
# epoch 2: dF = -251 x 59 877 = -15 029 127; 2 dF / 10^6 = -30.05..., the long receives 30, the short pays 31.
CYCLES = (
    Cycle(open_prices=(60_000, 20_100, 1_900), close_prices=(60_123, 20_180, 1_870), funding_rate=337,
          funding={"long": 41, "short": -40}),
    Cycle(open_prices=(60_300, 20_350, 1_800), close_prices=(59_877, 19_950, 2_010), funding_rate=-251,
          funding={"long": -30, "short": 31}),
)

runner = CliRunner()


# --- keys: M = 3, made once for this module ------------------------------------------------------


@pytest.fixture(scope="module")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The keys a portfolio-mode service with three markets loads (portfolio-transfer, portfolio-fill,
    settle and the portfolio statement in place of margin), from fixed test seeds; the traders' CLI
    proves with the same files (no downloads)."""
    from circuits.protocol.keystore import statement_circuit, write_keys
    from zkmargin.backends import get_backend
    from zkmargin.groth16 import setup

    directory = tmp_path_factory.mktemp("funding-options-keys")
    backend = get_backend(API_CURVE)
    circuits = [statement_circuit(name, MARKETS_M, portfolio=True) for name in ("transfer", "fill", "settle", "margin")]
    for seed, circuit in enumerate(circuits, start=51):
        pk = setup(circuit.shape(API_CURVE), backend, insecure_test_seed=seed)
        write_keys(pk, directory / f"{circuit.key_name()}-{API_CURVE}", backend)
    return directory


# --- the service ----------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Both databases: the finalization with a funding remainder and ``ledger verify`` through a real
    server's connection pool (test_api_funding.py's epoch runs in a TestClient)."""
    return str(request.param)


@pytest.fixture
def service(keys_dir, oracle_private_keys, database_url, tmp_path) -> Iterator[Any]:
    import httpx

    from circuits.protocol.oracle_report import public_key_bytes
    from verifier.core.config import Settings

    settings = Settings(
        home=tmp_path / "home", keys_dir=keys_dir, database_url=database_url, curve=API_CURVE,
        operator_token="operator-secret-token", venue_token="venue-secret-token",
        oracle_keys={public_key_bytes(k).hex(): f"oracle-{i}" for i, k in enumerate(oracle_private_keys)},
        markets=MARKETS, margin_mode="portfolio", generate_keys=False, log_level="WARNING")
    settings.home.mkdir(parents=True, exist_ok=True)
    server = LocalServer(settings)
    client = httpx.Client(base_url=server.url, timeout=60)
    try:
        yield SimpleNamespace(api=ServiceHarness(client, settings, {}, oracle_private_keys), url=server.url,
                              database_url=database_url)
    finally:
        client.close()
        server.stop()


@pytest.fixture
def trader_home(tmp_path, keys_dir) -> Path:
    return trader_folder(tmp_path, keys_dir)


# --- the operator, the oracles and the venue --------------------------------------------------------


def open_epoch(api: ServiceHarness, cycle: Cycle) -> tuple[int, EpochRiskArrays]:
    """The oracles sign BTC's volatility, then the prices; the epoch opens with its risk record,
    which must be exactly the arrays the risk model gives for those inputs (computed here)."""
    stamp = api.timestamp()
    for key in api.oracle_keys:
        api.expect(api.client.post("/oracle-vol-reports", json=sign_vol_report(key, PERP, VOL, stamp).to_dict()), 201)
    epoch_id = api.open_epoch(list(cycle.open_prices))["epoch_id"]
    record = api.expect(api.client.get(f"/epochs/{epoch_id}/risk"), 200)
    expected = epoch_risk_arrays(epoch_id, [m.instrument(i) for i, m in enumerate(MARKETS)],
                                 {PERP: MarketInputs(cycle.open_prices[PERP], VOL)}, record["valued_at"])
    assert risk_arrays_from_json(record) == expected
    assert record["digest"] == str(expected.digest(API_CURVE))
    assert record["markets"] == [{"market": PERP, "price": cycle.open_prices[PERP], "vol": VOL, "rate": 0}]
    return epoch_id, expected


def post_funding_rate(api: ServiceHarness, epoch_id: int, rate: int) -> None:
    stamp = int(time.time())
    for key in api.oracle_keys:
        api.expect(api.client.post("/funding-reports", json=sign_funding_report(
            key, PERP, epoch_id, rate, stamp).to_dict()), 201)


def close_epoch(api: ServiceHarness, epoch_id: int, cycle: Cycle) -> tuple[list[int], tuple[int, ...]]:
    """The oracles sign the perpetual's funding rate and the closing prices; the close fixes them.
    Returns the funding steps the settle proofs take (rate * price for the perpetual, 0 else) and
    the settlement prices: the perpetual's closing price, each live option at the model's value."""
    post_funding_rate(api, epoch_id, cycle.funding_rate)
    closed = api.close_epoch(epoch_id, list(cycle.close_prices))
    steps = funding_steps(cycle)
    assert closed["funding_rates"] == [cycle.funding_rate, 0, 0]
    assert closed["funding_steps"] == [str(step) for step in steps]
    valued_at = api.expect(api.client.get(f"/epochs/{epoch_id}/risk"), 200)["settlement"]["valued_at"]
    btc = cycle.close_prices[PERP]
    prices = (btc, *(option_value(m.instrument(i), btc, VOL, valued_at) for i, m in enumerate(MARKETS) if i != PERP))
    assert closed["settlement_prices"] == list(prices) and closed["settlement_expires"] == [False] * 3
    return steps, prices


def post_fill(api: ServiceHarness, account_id: int, keypair: TraderKeyPair, market: int, size: int,
              price: int) -> None:
    """The venue posts a fill (no fee), sealed to the trader's delivery key for a state of M = 3."""
    api._fill_ids += 1
    fill = Fill(account_id, api._fill_ids, market, size, price, 0, fresh_salt(API_CURVE))
    body = {"account_id": account_id, "fill_commitment": str(fill.commitment(API_CURVE)),
            "ciphertext": seal_fill(fill, keypair.public_key, API_CURVE, markets=MARKETS_M).hex(),
            "reference": f"venue-fill-{api._fill_ids}"}
    api.expect(api.client.post("/fills", headers=api.venue, json=body), 201)


def ledger_balance(api: ServiceHarness, account: str) -> int:
    return int(api.expect(api.client.get(f"/ledger/balances/{account}", headers=api.operator), 200)["balance"])


# --- the traders (their CLI) ---------------------------------------------------------------------------


@dataclass
class Trader:
    name: str
    state: Path
    account_id: int
    book: tuple[int, ...]


def open_trader(service, home: Path, name: str, book: tuple[int, ...], cycle: Cycle) -> Trader:
    """``zkmargin account new`` and ``deposit`` of COLLATERAL, then the book's fills at the opening
    prices applied with ``zkmargin fills``."""
    api, state = service.api, home / f"{name}.json"
    account_id = zkmargin("account", "new", "--service", service.url, "--state", str(state))[0]["account_id"]
    api.credit(account_id, COLLATERAL, f"wire-{name}")
    zkmargin("deposit", "--state", str(state))
    keypair = TraderKeyPair.from_private_hex(Wallet.from_document(statefile.load(state)).delivery_key)
    for market, size in enumerate(book):
        post_fill(api, account_id, keypair, market, size, cycle.open_prices[market])
    zkmargin("fills", "--state", str(state))
    return Trader(name, state, account_id, book)


def wallet_state(trader: Trader) -> AccountState:
    return Wallet.from_document(statefile.load(trader.state)).state


def attest_all(service, traders: list[Trader], epoch_id: int, risk: EpochRiskArrays) -> None:
    """Every book attests by portfolio margin (``zkmargin attest``), and ``zkmargin status`` shows the
    figures the test sums from the served arrays; the books are opposite, so their Greeks cancel."""
    totals = []
    for trader in traders:
        [attested] = zkmargin("attest", "--state", str(trader.state))
        assert attested["margin_mode"] == "portfolio" and attested["epoch_id"] == epoch_id
        figures = zkmargin("status", "--state", str(trader.state))["portfolio"]
        assert_portfolio_figures(figures, wallet_state(trader), epoch_id, risk)
        health = service.api.expect(service.api.client.get(
            f"/accounts/{trader.account_id}/health", params={"epoch_id": epoch_id}, headers=service.api.operator), 200)
        assert health["attested"]
        totals.append(figures["greeks_total"])
    assert {greek: sum(total[greek] for total in totals) for greek in totals[0]} == dict.fromkeys(totals[0], 0)


def assert_portfolio_figures(figures: dict[str, Any], state: AccountState, epoch_id: int,
                             risk: EpochRiskArrays) -> None:
    """The status figures are the sums of the state against the arrays: scenario P&L, requirement
    (worst loss plus short-option charges), equity at the marks (costs at the last settlement's
    prices), a positive surplus; the put's delta negative, the call's positive."""
    pnl = [sum(b * a.pnl[s] for b, a in zip(state.sizes, risk.arrays)) for s in range(16)]
    charge = sum(-b * a.short_charge for b, a in zip(state.sizes, risk.arrays) if b < 0)
    equity = equity_at_marks(state.collateral, state.sizes, state.costs, risk.arrays)
    assert figures["epoch"] == epoch_id and [row["pnl"] for row in figures["scenarios"]] == pnl
    assert figures["short_option_charge"] == charge and figures["requirement"] == -min(0, *pnl) + charge
    assert figures["equity"] == equity and figures["surplus"] == equity - figures["requirement"] > 0
    assert [p["mark"] for p in figures["positions"]] == [a.mark for a in risk.arrays]
    _, call, put = ((p["size"], p["greeks"]["delta"]) for p in figures["positions"])
    assert call[0] * call[1] > 0 > put[0] * put[1]


def settle_all(traders: list[Trader], epoch_id: int) -> dict[str, dict[str, Any]]:
    """Every trader settles the closed epoch with ``zkmargin settle``; the last one finalizes it."""
    settled = {}
    for trader in traders:
        [result] = zkmargin("settle", "--state", str(trader.state))
        assert result["epoch_id"] == epoch_id
        settled[trader.name] = result
    return settled


# --- what the test computes itself ------------------------------------------------------------------


def funding_steps(cycle: Cycle) -> list[int]:
    """dF = rate * P for the perpetual (the index is kept at 10^6 per unit of price), 0 for options."""
    return [cycle.funding_rate * cycle.close_prices[PERP], 0, 0]


def funding_paid(size: int, step: int) -> int:
    """ceil(b dF / 10^6), the payer rounding up (negative: received), computed without circuits.settle."""
    return -((-size * step) // FUNDING_SCALE)


def variation_margin(book: tuple[int, ...], costs: tuple[int, ...], prices: tuple[int, ...]) -> int:
    return sum(b * p - k for b, k, p in zip(book, costs, prices))


@dataclass
class Books:
    """What the test expects each trader's private state to hold: cost bases and collateral."""

    costs: dict[str, tuple[int, ...]]
    collateral: dict[str, int]

    @classmethod
    def opened(cls, traders: list[Trader], prices: tuple[int, ...]) -> Books:
        return cls({t.name: tuple(b * p for b, p in zip(t.book, prices)) for t in traders},
                   {t.name: COLLATERAL for t in traders})

    def settle(self, trader: Trader, prices: tuple[int, ...], steps: list[int]) -> tuple[int, int]:
        """(funding paid, pnl) of ``trader``'s settlement of ``cycle``; the books move to it."""
        funding = sum(funding_paid(b, step) for b, step in zip(trader.book, steps))
        pnl = variation_margin(trader.book, self.costs[trader.name], prices) - funding
        self.collateral[trader.name] += pnl
        self.costs[trader.name] = tuple(b * p for b, p in zip(trader.book, prices))
        return funding, pnl


def assert_state(trader: Trader, books: Books, epoch_id: int) -> None:
    """The state file holds the book's sizes, the expected cost bases and collateral, in epoch_id."""
    state = wallet_state(trader)
    assert state.sizes == trader.book
    assert state.costs == books.costs[trader.name]
    assert state.collateral == books.collateral[trader.name]
    assert state.epoch == epoch_id


def assert_trader_view(trader: Trader, books: Books) -> None:
    """``zkmargin status``: the state file's collateral, in step with the service's commitment, and
    the service's ledger balance of the account the same amount."""
    status = zkmargin("status", "--state", str(trader.state))
    assert status["in_sync"] and status["collateral"] == str(books.collateral[trader.name])
    assert status["service_view"]["ledger_balances"]["collateral"] == str(books.collateral[trader.name])


def assert_finalized_at_zero(service, epoch_id: int, pnl: dict[str, int], remainder: int) -> None:
    """Settled pnl plus the funding remainder R sum to exactly 0; R went to the insurance fund; the
    clearing account is empty; the ledger verifies through the API and ``zkmargin ledger verify``."""
    api = service.api
    finalized = api.expect(api.client.post(f"/epochs/{epoch_id}/finalize", headers=api.operator), 200)
    assert sum(pnl.values()) + remainder == 0 and 0 <= remainder < len(pnl)
    # total_pnl is what the clearing account nets to once R is booked: exactly 0
    assert finalized["total_pnl"] == 0 and finalized["funding_remainder"] == str(remainder)
    assert finalized["settled_accounts"] == len(pnl) and finalized["defaulted_accounts"] == 0
    assert ledger_balance(api, "clearing") == 0
    assert api.expect(api.client.get("/ledger/verify", headers=api.operator), 200)["ok"]
    verified = runner.invoke(zkmargin_app, ["ledger", "verify", "--database-url", service.database_url],
                             catch_exceptions=False)
    assert verified.exit_code == 0, verified.output


def run_cycle(service, traders: list[Trader], books: Books, epoch_id: int, risk: EpochRiskArrays,
              cycle: Cycle) -> int:
    """Attest, close with funding, settle everyone, finalize: returns the funding remainder R."""
    api = service.api
    attest_all(service, traders, epoch_id, risk)
    steps, prices = close_epoch(api, epoch_id, cycle)
    before = {t.name: ledger_balance(api, f"trader/{t.account_id}/collateral") for t in traders}
    settled = settle_all(traders, epoch_id)
    pnl = {}
    for trader in traders:
        funding, pnl[trader.name] = books.settle(trader, prices, steps)
        assert funding == cycle.funding[trader.name]
        # the ledger books the settled pnl: the variation margin less the funding paid (or plus received)
        assert int(settled[trader.name]["pnl"]) == pnl[trader.name]
        assert ledger_balance(api, f"trader/{trader.account_id}/collateral") - before[trader.name] == pnl[trader.name]
        assert_state(trader, books, epoch_id + 1)
    remainder = sum(cycle.funding.values())
    assert_finalized_at_zero(service, epoch_id, pnl, remainder)
    return remainder


# --- the test ------------------------------------------------------------------------------------------


def test_two_epochs_with_funding_and_options_settle_and_finalize_at_zero(service, trader_home):
    api = service.api
    epoch_id, risk = open_epoch(api, CYCLES[0])
    traders = [open_trader(service, trader_home, name, book, CYCLES[0])
               for name, book in (("long", LONG_BOOK), ("short", SHORT_BOOK))]
    books = Books.opened(traders, CYCLES[0].open_prices)
    for trader in traders:
        assert_state(trader, books, epoch_id)

    insurance = 0
    for number, cycle in enumerate(CYCLES):
        if number:
            epoch_id, risk = open_epoch(api, cycle)
        remainder = run_cycle(service, traders, books, epoch_id, risk, cycle)
        assert remainder == 1  # both charges were fractions: rounding up collected one unit
        insurance += remainder
        assert ledger_balance(api, "default-fund") == insurance

    # opposite books: what one gains the other loses, less the remainders R the insurance fund took
    assert sum(books.collateral.values()) + insurance == len(traders) * COLLATERAL
    for trader in traders:
        assert_trader_view(trader, books)
    # nothing created or lost: the traders' collateral and the insurance fund hold what was deposited
    assert sum(books.collateral.values()) + insurance == len(traders) * COLLATERAL
