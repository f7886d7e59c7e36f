"""``zkmargin demo``: private margin trading through two epochs, end to end, on embedded defaults,
and the liquidation of an account whose positions nobody could see.

Three in-process guardians first make a 2-of-3 liquidation key by a real key ceremony. A real
verifier service (uvicorn, SQLite in a temporary directory) then runs in this process with their
guardian set, so every new state a trader proves is also sealed to that key (a verifiable escrow
inside the proof). Three in-process oracles sign prices; an in-process venue seals fills to the
traders. Alice, Bob and the backstop desk use exactly the library the trader CLI uses: they
deposit, Bob buys BTC from Alice, both attest margin; BTC falls, epoch 1 closes, both settle,
and it finalizes with pnl summing to zero. BTC falls again: Bob is below maintenance and cannot
attest; after the grace period the operator requests his liquidation, two guardians check the
request and return decryption shares, the service opens Bob's state (his alone) and closes it
out to the backstop with a penalty to the insurance fund; epoch 2 finalizes at zero and the
ledger verifies (``demo.liquidation``).

The proving keys are made on first use and cached under ``$ZKMARGIN_HOME/keys``; the traders,
all on this one machine, prove with those same key files (each checks them against the
service's verification keys, as the trader CLI does with the keys it downloads).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.markup import escape

from circuits.protocol.exit_codes import ExitCode
from circuits.state import RATE_SCALE
from demo.desk import BTC, ETH, Cast, LocalService, Operator, Story, console, margin_line, money, signed
from demo.liquidation import GRACE_SECONDS, play_liquidation
from prover.trader.account import TraderAccount

OPENING_PRICES = [30_000, 2_000]
FIRST_CLOSE_PRICES = [26_800, 2_000]  # BTC falls: Bob, long, loses what Alice, short, wins
DEPOSIT = 10_000
TRADE_SIZE = 2
FEE = 3
GUARDIANS, THRESHOLD = 3, 2
BACKSTOP_ACCOUNT = 1  # the service's backstop: the first account the demo opens, the backstop desk's


def _guardian_ceremony(folder: Path, proof_curve: str, announce: Callable[[str], None]) -> Any:
    from demo.guardians import run_ceremony
    from zkmargin.edwards import embedded_curve

    start = time.perf_counter()
    ceremony = run_ceremony(folder, embedded_curve(proof_curve), THRESHOLD, GUARDIANS)
    key = ceremony.guardian_set
    announce(f"guardians {GUARDIANS} in-process guardians made a {THRESHOLD}-of-{GUARDIANS} liquidation key on "
             f"{key.curve.name} by a key ceremony (deal, check, answer, finish; {ceremony.complaints} complaints) "
             f"in {time.perf_counter() - start:.1f} s: no one ever held the whole key")
    return ceremony


def _prepare_service(home: Path, workdir: Path, announce: Callable[[str], None]) -> tuple[Any, Any, Any]:
    from circuits.protocol.keystore import PROVING_KEY_FILE, default_keys_dir, statement_key_dir
    from verifier.core.bootstrap import prepare_runtime
    from verifier.core.config import DEFAULT_MARKETS, Settings
    from verifier.core.keys import STATEMENTS

    keys_dir = default_keys_dir()
    # the service logs only errors here: the story below says what it uses
    settings = Settings(home=home, keys_dir=keys_dir, log_level="ERROR", log_json=False, generate_keys=True,
                        liquidation_grace_seconds=GRACE_SECONDS, backstop_account=BACKSTOP_ACCOUNT)
    ceremony = _guardian_ceremony(workdir / "guardians", settings.curve, announce)
    settings = settings.model_copy(update={"guardian_set": ceremony.guardian_set_file})
    cached = all((statement_key_dir(keys_dir, s, len(DEFAULT_MARKETS), settings.curve, escrow=True)
                  / PROVING_KEY_FILE).exists() for s in STATEMENTS)
    start = time.perf_counter()
    runtime = prepare_runtime(settings)  # migrations, development credentials, keys (made once, then cached)
    how = ("loaded from" if cached else
           f"made in {time.perf_counter() - start:.1f} s (first run: the escrow variants are the big ones) and "
           "cached in")
    announce(f"keys      {', '.join(runtime.keys)} ({runtime.market_count} markets, {runtime.curve}; transitions "
             f"with their escrow to the guardians): {how} {keys_dir}")
    return settings, runtime, ceremony


def run_demo() -> ExitCode:
    started = time.perf_counter()
    console.print("[bold]zkmargin demo[/bold]: private margin trading over two epochs, from deposits to a zero-sum "
                  "settlement, and the liquidation of an account nobody could see into")
    with tempfile.TemporaryDirectory(prefix="zkmargin-demo-") as tmp:
        workdir = Path(tmp)
        with console.status("preparing the guardians and the service (a first run also makes the proving keys: "
                            "minutes)"):
            settings, runtime, ceremony = _prepare_service(workdir / "service", workdir,
                                                           lambda text: console.print(escape(text)))
        with LocalService(settings) as service:
            ok = _play(service.url, runtime, ceremony, workdir, Story())
    seconds = time.perf_counter() - started
    if ok:
        console.print(f"\n[green]demo complete[/green] in {seconds:.0f} s: both epochs finalized with pnl summing to "
                      "zero, Bob's position is the backstop's, the penalty is in the insurance fund, and the ledger "
                      "verifies")
        return ExitCode.OK
    console.print("\n[red]demo failed[/red]: see the lines above")
    return ExitCode.INVALID


def _share_key_files(keys: Any, traders: list[TraderAccount]) -> None:
    """One machine, one copy of the public proving keys: every trader proves with the same checked
    keys (each loaded once) instead of downloading its own copy into its own folder."""
    for trader in traders:
        trader.keys = keys


def _open_accounts(url: str, runtime: Any, workdir: Path, story: Story) -> tuple[TraderAccount, ...]:
    from prover.trader.client import ServiceClient
    from prover.trader.keys import TraderKeys
    from zkmargin.backends import get_backend

    story.chapter("The backstop desk, Alice and Bob open accounts: each registers a commitment to an empty state")
    backstop = TraderAccount.open(workdir / "backstop" / "state.json", url)
    alice = TraderAccount.open(workdir / "alice" / "state.json", url)
    bob = TraderAccount.open(workdir / "bob" / "state.json", url)
    if backstop.wallet.account_id != BACKSTOP_ACCOUNT:
        raise RuntimeError(f"the backstop desk got account {backstop.wallet.account_id}, but the service's backstop "
                           f"is account {BACKSTOP_ACCOUNT}")
    keys = TraderKeys(runtime.settings.resolved_keys_dir, ServiceClient(url), runtime.curve, runtime.market_count,
                      get_backend(runtime.curve))
    _share_key_files(keys, [backstop, alice, bob])
    for name, trader in (("backstop", backstop), ("alice", alice), ("bob", bob)):
        story.fact(f"{name:<8} account {trader.wallet.account_id}; private state in {trader.path} (mode 0600)")
    story.fact(f"the backstop desk's account {BACKSTOP_ACCOUNT} is the service's backstop: it takes over the "
               "positions of a liquidated account")
    return backstop, alice, bob


def _play(url: str, runtime: Any, ceremony: Any, workdir: Path, story: Story) -> bool:
    credentials = json.loads(runtime.settings.credentials_file.read_text())
    operator = Operator(url, credentials, runtime.curve, runtime.market_count)
    console.print(escape(f"service   {url}: SQLite in {workdir}, {runtime.curve}, markets "
                  + ", ".join(f"{m.name} (maintenance {m.maintenance_rate * 100 // RATE_SCALE} %, initial "
                              f"{m.initial_rate * 100 // RATE_SCALE} %)" for m in runtime.markets)
                  + f"; liquidation grace {GRACE_SECONDS} s (shortened for the demo: an hour by default), penalty "
                    f"{runtime.settings.liquidation_penalty_rate * 100 // RATE_SCALE} % of the maintenance margin "
                    "closed"))
    try:
        epoch_id = _first_epoch_opens(operator, runtime, story)
        backstop, alice, bob = _open_accounts(url, runtime, workdir, story)
        cast = Cast(operator, runtime, url, alice, bob, backstop, ceremony)
        try:
            first = _trade_and_settle(cast, story, epoch_id)
            liquidation_ok = play_liquidation(cast, story, epoch_id + 1)
            return _verify_ledger(cast, story) and first and liquidation_ok
        finally:
            cast.close()
    finally:
        operator.close()


def _first_epoch_opens(operator: Operator, runtime: Any, story: Story) -> int:
    names = [m.name for m in runtime.markets]
    story.chapter(f"{len(operator.oracles)} oracles sign prices ({names[BTC]} {money(OPENING_PRICES[BTC])}, "
                  f"{names[ETH]} {money(OPENING_PRICES[ETH])}); the operator opens an epoch at their median")
    epoch_id = operator.open_epoch(OPENING_PRICES)["epoch_id"]
    story.fact(f"epoch {epoch_id} is open; its mark prices are what every proof in it uses")
    return int(epoch_id)


def _trade_and_settle(cast: Cast, story: Story, epoch_id: int) -> bool:
    """Deposits, a trade, margin attestations, a price fall, settlement: epoch 1 finalizes at zero."""
    operator, names, maintenance = cast.operator, cast.names, cast.runtime.maintenance_rates
    story.chapter(f"The operator credits {money(DEPOSIT)} to each; each proves the deposit into the hidden state")
    for name, trader in cast.traders.items():
        operator.credit(trader.wallet.account_id, DEPOSIT, f"demo-wire-{name}")
        for outcome in trader.deposit(DEPOSIT):
            story.proved(name, outcome)
    story.fact("every proof of a new state also proves that a ciphertext beside it seals that state to the "
               "guardians' key: the escrow only they, together, could open")

    story.chapter(f"The venue matches Bob buying {TRADE_SIZE} {names[BTC]} from Alice at "
                  f"{money(OPENING_PRICES[BTC])} (fee {FEE} each); each fill reaches its trader sealed")
    operator.post_fill(cast.alice, BTC, -TRADE_SIZE, OPENING_PRICES[BTC], FEE)
    operator.post_fill(cast.bob, BTC, TRADE_SIZE, OPENING_PRICES[BTC], FEE)
    for name, trader in cast.traders.items():
        for outcome in trader.apply_fills():
            story.proved(name, outcome)
    story.fact("the service saw two fill commitments and two proofs: not the side, size or price")

    story.chapter(f"Both prove maintenance margin for epoch {epoch_id}")
    for name, trader in cast.traders.items():
        story.fact(margin_line(trader, name, OPENING_PRICES, maintenance))
        story.proved(name, trader.attest())

    story.chapter(f"{names[BTC]} falls to {money(FIRST_CLOSE_PRICES[BTC])}; epoch {epoch_id} closes at the oracles' "
                  "median and both settle")
    operator.close_epoch(epoch_id, FIRST_CLOSE_PRICES)
    pnl = {}
    for name, trader in cast.traders.items():
        for outcome in trader.settle(epoch_id):
            story.proved(name, outcome)
            pnl[name] = int(outcome.data["pnl"])
    finalized = operator.finalize(epoch_id)
    story.fact(f"pnl: alice {signed(pnl['alice'])}, bob {signed(pnl['bob'])}: the sum is "
               f"{sum(pnl.values())}; epoch {epoch_id} finalized ({finalized['settled_accounts']} settled)")
    return sum(pnl.values()) == 0 and finalized["status"] == "finalized" and finalized["total_pnl"] == 0


def _verify_ledger(cast: Cast, story: Story) -> bool:
    story.chapter("The operator verifies the ledger")
    report = cast.operator.ledger_report()
    clearing = cast.operator.balance("clearing")
    story.fact(f"{report['entries_checked']} journal entries, every one balanced, hash chain intact, the "
               f"{report.get('epochs_recorded', 0)} epochs' open and close records still those of their prices: "
               f"{'OK' if report['ok'] else 'BROKEN'}; clearing account {clearing}")
    story.fact("the operator learned deposit amounts, each epoch's pnl and, once Bob had failed his margin "
               "obligations, Bob's state alone; every other position, size, price paid and fee stayed on its "
               "trader's machine")
    story.fact(f"proofs: {len(story.prove_seconds)}, median proving time "
               f"{sorted(story.prove_seconds)[len(story.prove_seconds) // 2]:.2f} s; median submit round trip "
               f"(verification + ledger) {sorted(story.round_trips)[len(story.round_trips) // 2] * 1000:.0f} ms")
    return bool(report["ok"]) and clearing == 0
