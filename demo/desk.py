"""The demo's stage: the verifier service on a loopback port, the operator's desk (with the venue and
the oracle quorum) talking HTTP to it, and the story's printer."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from rich.console import Console
from rich.markup import escape

from circuits.state import RATE_SCALE, Fill, fresh_salt
from prover.trader.account import TraderAccount, ratio_text

console = Console(highlight=False)
BTC, ETH = 0, 1  # the embedded default markets, by index


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def money(value: int | str) -> str:
    return f"{int(value):,}"


def signed(value: int | str) -> str:
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

    def open_epoch(self, prices: list[int], attestation_deadline: datetime | None = None) -> dict[str, Any]:
        self.publish_prices(prices)
        body = None if attestation_deadline is None else {"attestation_deadline": attestation_deadline.isoformat()}
        return self._ok(self.http.post("/epochs", headers=self.operator, json=body))

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

    def health(self, account_id: int, epoch_id: int) -> dict[str, Any]:
        return self._ok(self.http.get(f"/accounts/{account_id}/health", headers=self.operator,
                                      params={"epoch_id": epoch_id}))

    def request_liquidation(self, account_id: int, reason: str, epoch_id: int) -> dict[str, Any]:
        return self._ok(self.http.post("/liquidations", headers=self.operator,
                                       json={"account_id": account_id, "reason": reason, "epoch_id": epoch_id}))

    def liquidation(self, liquidation_id: int) -> dict[str, Any]:
        return self._ok(self.http.get(f"/liquidations/{liquidation_id}"))

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
        self.fact(f"{who:<8} {outcome.summary}")


@dataclass
class Cast:
    """Everyone in the story: the operator's desk, the service's runtime, the traders, the guardians."""

    operator: Operator
    runtime: Any
    url: str
    alice: TraderAccount
    bob: TraderAccount
    backstop: TraderAccount
    guardians: Any  # demo.guardians.Ceremony
    bob_adoption: str = ""  # what Bob's CLI said when it adopted his successor state

    @property
    def traders(self) -> dict[str, TraderAccount]:
        return {"alice": self.alice, "bob": self.bob}

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.runtime.markets]

    def close(self) -> None:
        for trader in (self.alice, self.bob, self.backstop):
            trader.close()
        self.backstop.keys.client.close()  # the client of the key files the traders share


def margin_line(trader: TraderAccount, name: str, prices: list[int], rates: list[int]) -> str:
    """Equity against maintenance margin at ``prices``, as only the trader can compute it."""
    state = trader.wallet.state
    equity = state.equity(prices)
    requirement = state.requirement(prices, rates)
    return (f"{name:<8} equity {money(equity)} vs maintenance margin {money(-(-requirement // RATE_SCALE))} "
            f"(ratio {ratio_text(equity * RATE_SCALE, requirement)}) — computed on {name}'s machine only")
