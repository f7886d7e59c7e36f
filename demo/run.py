"""``zkmargin demo``: one epoch of private margin trading, end to end, on embedded defaults.

A real verifier service (uvicorn, SQLite in a temporary directory) runs in this process; three
in-process oracles sign prices; an in-process venue seals fills to the traders. Two traders,
Alice and Bob, use exactly the library the trader CLI uses: they deposit, take opposite sides of
a trade, attest margin; prices move, the epoch closes, both settle, the epoch finalizes with pnl
summing to zero, Bob ends up close to a margin call, and the ledger verifies. The proving keys
are made on first use and cached under ``$ZKMARGIN_HOME/keys``.
"""

from __future__ import annotations

import json
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.markup import escape

from circuits.protocol.exit_codes import ExitCode
from circuits.state import RATE_SCALE, BoundError, Fill, fresh_salt
from prover.trader.account import TraderAccount, UnhealthyError, ratio_text

console = Console(highlight=False)

BTC, ETH = 0, 1
OPENING_PRICES = [30_000, 2_000]
RALLY_PRICES = [33_200, 2_050]
DEPOSIT = 10_000
TRADE_SIZE = 2
FEE = 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _money(value: int | str) -> str:
    return f"{int(value):,}"


def _signed(value: int | str) -> str:
    number = int(value)
    return f"{'+' if number > 0 else ''}{number:,}"


class LocalService:
    """The verifier service on a loopback port, served by uvicorn on a background thread."""

    def __init__(self, settings: Any):
        import uvicorn

        from verifier.main import create_app

        self.app = create_app(settings)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_config=None, access_log=False,
                                lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="zkmargin-demo-service", daemon=True)

    def __enter__(self) -> LocalService:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the demo service did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class Operator:
    """The operator's desk, the venue and the oracle quorum, all talking HTTP to the service."""

    def __init__(self, url: str, credentials: dict[str, Any], curve: str, markets: int):
        from circuits.protocol.oracle_report import private_key_from_hex

        self.http = httpx.Client(base_url=url, timeout=30)
        self.operator = {"Authorization": f"Bearer {credentials['operator_token']}"}
        self.venue = {"Authorization": f"Bearer {credentials['venue_token']}"}
        self.oracles = [private_key_from_hex(o["private_key"]) for o in credentials["oracles"]]
        self.curve, self.markets = curve, markets
        self._stamp = 0
        self._fills = 0

    def _ok(self, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            raise RuntimeError(f"{response.request.method} {response.request.url.path}: {response.status_code} "
                               f"{response.text}")
        return response.json()

    def publish_prices(self, prices: list[int]) -> None:
        from circuits.protocol.oracle_report import sign_report

        self._stamp = max(int(time.time()), self._stamp + 1)  # an oracle signs one price per instant
        for key in self.oracles:
            for market, price in enumerate(prices):
                self._ok(self.http.post("/oracle-reports", json=sign_report(key, market, price, self._stamp).to_dict()))

    def open_epoch(self, prices: list[int]) -> dict[str, Any]:
        self.publish_prices(prices)
        return self._ok(self.http.post("/epochs", headers=self.operator))

    def close_epoch(self, epoch_id: int, prices: list[int]) -> dict[str, Any]:
        self.publish_prices(prices)
        return self._ok(self.http.post(f"/epochs/{epoch_id}/close", headers=self.operator))

    def finalize(self, epoch_id: int) -> dict[str, Any]:
        return self._ok(self.http.post(f"/epochs/{epoch_id}/finalize", headers=self.operator))

    def credit(self, account_id: int, amount: int, reference: str) -> dict[str, Any]:
        return self._ok(self.http.post(f"/accounts/{account_id}/deposits", headers=self.operator,
                                       json={"amount": amount, "reference": reference}))

    def post_fill(self, trader: TraderAccount, market: int, size_delta: int, price: int, fee: int) -> dict[str, Any]:
        """The venue's side: commit to the fill, seal its opening to the trader's delivery key."""
        from circuits.protocol.fill_delivery import TraderKeyPair, seal_fill

        self._fills += 1
        account_id = trader.wallet.account_id
        fill = Fill(account_id, self._fills, market, size_delta, price, fee, fresh_salt(self.curve))
        public_key = TraderKeyPair.from_private_hex(trader.wallet.delivery_key).public_key  # what the venue holds
        sealed = seal_fill(fill, public_key, self.curve, markets=self.markets)
        return self._ok(self.http.post("/fills", headers=self.venue, json={
            "account_id": account_id, "fill_commitment": str(fill.commitment(self.curve)),
            "ciphertext": sealed.hex(), "reference": f"demo-fill-{self._fills}"}))

    def ledger_report(self) -> dict[str, Any]:
        return self._ok(self.http.get("/ledger/verify", headers=self.operator))

    def balance(self, ledger_account: str) -> int:
        return int(self._ok(self.http.get(f"/ledger/balances/{ledger_account}", headers=self.operator))["balance"])

    def close(self) -> None:
        self.http.close()


class Story:
    """Numbered steps and indented facts; collects the figures for the closing summary."""

    def __init__(self) -> None:
        self.step = 0
        self.prove_seconds: list[float] = []
        self.round_trips: list[float] = []

    def chapter(self, text: str) -> None:
        self.step += 1
        console.print(f"\n[bold]{self.step}.[/bold] {escape(text)}")

    def fact(self, text: str) -> None:
        console.print(f"   {escape(text)}")

    def proved(self, who: str, outcome: Any) -> None:
        data = outcome.data
        self.prove_seconds.append(data["prove_seconds"])
        self.round_trips.append(data["round_trip_seconds"])
        self.fact(f"{who:<6} {outcome.summary}")


def _margin_line(trader: TraderAccount, name: str, prices: list[int], rates: list[int]) -> str:
    state = trader.wallet.state
    equity = state.equity(prices)
    requirement = state.requirement(prices, rates)
    return (f"{name:<6} equity {_money(equity)} vs maintenance margin {_money(-(-requirement // RATE_SCALE))} "
            f"(ratio {ratio_text(equity * RATE_SCALE, requirement)}) — computed on {name}'s machine only")


def _prepare_service(home: Path, announce: Callable[[str], None]) -> Any:
    from circuits.protocol.keystore import PROVING_KEY_FILE, default_keys_dir, statement_key_dir
    from verifier.core.bootstrap import prepare_runtime
    from verifier.core.config import DEFAULT_MARKETS, Settings
    from verifier.core.keys import STATEMENTS

    keys_dir = default_keys_dir()
    # the service logs only errors here: the story below says what it uses
    settings = Settings(home=home, keys_dir=keys_dir, log_level="ERROR", log_json=False, generate_keys=True)
    cached = all((statement_key_dir(keys_dir, s, len(DEFAULT_MARKETS), settings.curve) / PROVING_KEY_FILE).exists()
                 for s in STATEMENTS)
    start = time.perf_counter()
    runtime = prepare_runtime(settings)  # migrations, development credentials, keys (made once, then cached)
    how = "loaded from" if cached else f"made in {time.perf_counter() - start:.1f} s (first run) and cached in"
    announce(f"keys      {', '.join(runtime.keys)} ({runtime.market_count} markets, {runtime.curve}): {how} {keys_dir}")
    return settings, runtime


def run_demo() -> ExitCode:
    started = time.perf_counter()
    console.print("[bold]zkmargin demo[/bold]: private margin trading, one epoch from deposits to a zero-sum "
                  "settlement")
    with tempfile.TemporaryDirectory(prefix="zkmargin-demo-") as tmp:
        workdir = Path(tmp)
        with console.status("preparing the service (a first run also makes the proving keys: seconds)"):
            settings, runtime = _prepare_service(workdir / "service", lambda text: console.print(escape(text)))
        with LocalService(settings) as service:
            ok = _play(service.url, runtime, workdir, Story())
    seconds = time.perf_counter() - started
    if ok:
        console.print(f"\n[green]demo complete[/green] in {seconds:.0f} s: the epoch finalized with pnl summing to "
                      "zero and the ledger verifies")
        return ExitCode.OK
    console.print("\n[red]demo failed[/red]: see the lines above")
    return ExitCode.INVALID


def _play(url: str, runtime: Any, workdir: Path, story: Story) -> bool:
    credentials = json.loads(runtime.settings.credentials_file.read_text())
    operator = Operator(url, credentials, runtime.curve, runtime.market_count)
    names = [m.name for m in runtime.markets]
    maintenance = runtime.maintenance_rates
    console.print(escape(f"service   {url}: SQLite in {workdir}, {runtime.curve}, markets "
                  + ", ".join(f"{m.name} (maintenance {m.maintenance_rate * 100 // RATE_SCALE} %, initial "
                              f"{m.initial_rate * 100 // RATE_SCALE} %)" for m in runtime.markets)))
    try:
        story.chapter(f"{len(operator.oracles)} oracles sign prices ({names[BTC]} {_money(OPENING_PRICES[BTC])}, "
                      f"{names[ETH]} {_money(OPENING_PRICES[ETH])}); the operator opens an epoch at their median")
        epoch = operator.open_epoch(OPENING_PRICES)
        epoch_id = epoch["epoch_id"]
        story.fact(f"epoch {epoch_id} is open; its mark prices are what every proof in it uses")

        story.chapter("Alice and Bob open accounts: each registers a commitment to an empty state")
        alice = TraderAccount.open(workdir / "alice" / "state.json", url)
        bob = TraderAccount.open(workdir / "bob" / "state.json", url)
        traders = {"alice": alice, "bob": bob}
        for name, trader in traders.items():
            story.fact(f"{name:<6} account {trader.wallet.account_id}; private state in {trader.path} (mode 0600)")

        story.chapter(f"The operator credits {_money(DEPOSIT)} to each; each proves the deposit into the hidden state")
        for name, trader in traders.items():
            operator.credit(trader.wallet.account_id, DEPOSIT, f"demo-wire-{name}")
            for outcome in trader.deposit(DEPOSIT):
                story.proved(name, outcome)

        story.chapter(f"The venue matches Alice buying {TRADE_SIZE} {names[BTC]} from Bob at "
                      f"{_money(OPENING_PRICES[BTC])} (fee {FEE} each); each fill reaches its trader sealed")
        operator.post_fill(alice, BTC, TRADE_SIZE, OPENING_PRICES[BTC], FEE)
        operator.post_fill(bob, BTC, -TRADE_SIZE, OPENING_PRICES[BTC], FEE)
        for name, trader in traders.items():
            for outcome in trader.apply_fills():
                story.proved(name, outcome)
        story.fact("the service saw two fill commitments and two proofs: not the side, size or price")

        story.chapter(f"Both prove maintenance margin for epoch {epoch_id}")
        for name, trader in traders.items():
            story.fact(_margin_line(trader, name, OPENING_PRICES, maintenance))
            story.proved(name, trader.attest())

        story.chapter(f"{names[BTC]} rallies to {_money(RALLY_PRICES[BTC])}; epoch {epoch_id} closes at the oracles' "
                      "median and both settle")
        operator.close_epoch(epoch_id, RALLY_PRICES)
        pnl = {}
        for name, trader in traders.items():
            for outcome in trader.settle(epoch_id):
                story.proved(name, outcome)
                pnl[name] = int(outcome.data["pnl"])
        finalized = operator.finalize(epoch_id)
        story.fact(f"pnl: alice {_signed(pnl['alice'])}, bob {_signed(pnl['bob'])}: the sum is "
                   f"{sum(pnl.values())}; epoch {epoch_id} finalized ({finalized['settled_accounts']} settled)")

        story.chapter(f"Epoch {epoch_id + 1} opens at the new prices: Bob is close to a margin call")
        next_epoch = operator.open_epoch(RALLY_PRICES)["epoch_id"]
        for name, trader in traders.items():
            story.fact(_margin_line(trader, name, RALLY_PRICES, maintenance))
        story.proved("bob", bob.attest())
        story.proved("alice", alice.attest())
        worse = [RALLY_PRICES[BTC] + 800, RALLY_PRICES[ETH]]
        try:
            bob.wallet.state.require_healthy(worse, maintenance, "below maintenance margin")
            story.fact("at a further rally Bob would still be healthy")
        except BoundError as exc:  # what `zkmargin attest` would say, before any proving work
            story.fact(f"at {_money(worse[BTC])} no attestation could exist: `zkmargin attest` would refuse at once "
                       f"({UnhealthyError(str(exc))})")
        for name, trader in traders.items():
            health = trader.client.health(trader.wallet.account_id, next_epoch)
            story.fact(f"{name:<6} service health in epoch {next_epoch}: {health['status']}")

        story.chapter("The operator verifies the ledger")
        report = operator.ledger_report()
        clearing = operator.balance("clearing")
        story.fact(f"{report['entries_checked']} journal entries, every one balanced, hash chain intact: "
                   f"{'OK' if report['ok'] else 'BROKEN'}; clearing account {clearing}")
        story.fact("the operator learned deposit amounts and each epoch's pnl; positions, sizes, prices paid and "
                   "fees stayed on the traders' machines")
        story.fact(f"proofs: {len(story.prove_seconds)}, median proving time "
                   f"{sorted(story.prove_seconds)[len(story.prove_seconds) // 2]:.2f} s; median submit round trip "
                   f"(verification + ledger) {sorted(story.round_trips)[len(story.round_trips) // 2] * 1000:.0f} ms")
        for trader in traders.values():
            trader.close()
        return report["ok"] and clearing == 0 and sum(pnl.values()) == 0 and finalized["status"] == "finalized"
    finally:
        operator.close()
