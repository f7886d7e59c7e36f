"""The clearing cycle as a stateful property: random client and operator actions, real proofs.

A hypothesis ``RuleBasedStateMachine`` drives a real verifier service (uvicorn on a loopback
port, in this process, on a fresh database per example: SQLite, and PostgreSQL with fewer
examples) through random sequences of what its users do: the oracles post prices and the
operator opens and closes epochs, credits deposits, declares defaults and finalizes; the venue
posts matched fills (+d to one trader, -d to another, same market and price); honest traders
(``prover.trader.account.TraderAccount``, the trader CLI's library, with real Groth16 proofs on
BLS12-381, 2 markets, keys made once per session with the insecure test seed) apply deposits and
fills, attest, settle and withdraw, in whatever order the rules draw: late, early, never (a
trader may go silent), or after the operator froze them.

What every step must keep (``@invariant``):

- the ledger verifies (``GET /ledger/verify``);
- every finalized epoch's clearing balance is zero, and its settled pnl plus what finalization
  took from the default fund sums to zero (an epoch with an allocation has a default in it);
- no account has both a settlement and a default in one epoch, nor a settlement after its default;
- each trader's state file (as loaded from disk) is at the service's current commitment, or
  holds the pending submission the service took.

And in every step: a refusal is one of the documented kinds (409 ``out_of_order``,
``epoch_state``, ``account_in_default``, ``no_open_epoch``, or a refusal the trader library makes
locally before proving: below margin, no open epoch, nothing to apply); never a 5xx, never an
honest proof refused as invalid, and ``account_in_default`` only for an account the operator
declared in default.

**No wedge** (``teardown``): the open epoch is closed; then each closed, unfinalized epoch,
oldest first: every trader neither silent nor in default catches up (``catch_up``), the operator
declares in default exactly the accounts the service still lists as missing
(``GET /epochs/{id}/health``), and finalization must succeed with a zero sum.

The operator in the machine declares a default for any closed epoch an account owes (not only
its oldest). Two findings of this test, both fixed and pinned as named regressions:
``test_a_default_declared_for_a_later_epoch_leaves_no_earlier_epoch_unfinalizable`` (a default
declared for a later epoch once wedged the earlier one; a default now covers every epoch the
frozen account owes) and ``test_a_deposit_can_cover_a_fill_that_needs_more_collateral`` (the
trader library applied the open epoch's fills before a deposit that was to make room for them).
``ZKMARGIN_PROPERTY_OLDEST_DEFAULTS=1`` restricts the operator to the oldest owed epoch.

Run time is kept to a few minutes on 2 cores (``EXAMPLES`` x ``STEPS``; measured about 40-115 s
on SQLite, 50 s on PostgreSQL). ``database=None`` so CI never depends on a local example
database; the seed is random on purpose (every CI run explores new sequences; a failure prints
the sequence and a ``@reproduce_failure`` blob). Locally: ``ZKMARGIN_PROPERTY_EXAMPLES=N`` for a
longer hunt, ``ZKMARGIN_PROPERTY_TRACE=1`` to print every step's outcome.
"""

from __future__ import annotations

import itertools
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from prover.trader.account import UnhealthyError
from tests.verifier.conftest import API_CURVE, wipe_postgres

pytestmark = pytest.mark.slow

OPENING_PRICES = (100, 200)
MAX_TRADERS = 4
MAX_MOVE_PERCENT = 5  # per open or close: far inside the 20 % circuit breaker
EXAMPLES = {"sqlite": 8, "postgresql": 4}
STEPS = 25
ALLOWED_CODES = frozenset({"out_of_order", "epoch_state", "account_in_default", "no_open_epoch"})
# What TraderAccount refuses locally, before proving (TraderError messages; UnhealthyError is
# "below margin" and always allowed).
LOCAL_REFUSALS = ("no epoch is open", "is waiting to be applied", "attestations are for the open epoch",
                  "cannot withdraw")


class Wedge(AssertionError):
    """An epoch that the documented operator path cannot finalize at zero."""


# --- the service, its operator, venue and oracles ------------------------------------------------


class Desk:
    """The operator, the venue and the three oracles, over HTTP."""

    def __init__(self, url: str, operator_token: str, venue_token: str, oracle_keys: list):
        self.http = httpx.Client(base_url=url, timeout=60)
        self.operator = {"Authorization": f"Bearer {operator_token}"}
        self.venue = {"Authorization": f"Bearer {venue_token}"}
        self.oracle_keys = oracle_keys
        self._stamp = 0
        self._fills = itertools.count(1)

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, *, operator: bool = True, headers: dict | None = None,
             **kwargs: Any) -> httpx.Response:
        response = self.http.request(method, path, headers=headers or (self.operator if operator else None), **kwargs)
        assert response.status_code < 500, f"{method} {path}: {response.status_code} {response.text}"
        return response

    def ok(self, method: str, path: str, status: int, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    def post_prices(self, prices: list[int]) -> None:
        from circuits.protocol.oracle_report import sign_report

        # one price per oracle and instant; never further ahead of the clock than the skew allowance
        self._stamp = max(int(time.time()), self._stamp + 1)
        ahead = self._stamp - time.time()
        if ahead > 3:
            time.sleep(ahead - 3)
        for key in self.oracle_keys:
            for market, price in enumerate(prices):
                self.ok("POST", "/oracle-reports", 201, operator=False,
                        json=sign_report(key, market, price, self._stamp).to_dict())

    def post_fill(self, trader, market: int, size_delta: int, price: int, fee: int) -> dict:
        from circuits.protocol.fill_delivery import TraderKeyPair, seal_fill
        from circuits.state import Fill, fresh_salt

        number = next(self._fills)
        account_id = trader.wallet.account_id
        fill = Fill(account_id, number, market, size_delta, price, fee, fresh_salt(API_CURVE))
        public_key = TraderKeyPair.from_private_hex(trader.wallet.delivery_key).public_key
        sealed = seal_fill(fill, public_key, API_CURVE, markets=trader.wallet.markets)
        response = self.call("POST", "/fills", operator=False, headers=self.venue, json={
            "account_id": account_id, "fill_commitment": str(fill.commitment(API_CURVE)),
            "ciphertext": sealed.hex(), "reference": f"property-fill-{number}"})
        assert response.status_code == 201, response.text
        return response.json()

    def epochs(self) -> list[dict]:
        return sorted(self.ok("GET", "/epochs", 200, params={"limit": 500}), key=lambda e: e["epoch_id"])

    def missing(self, epoch_id: int) -> list[int]:
        """The accounts the service lists as owing the epoch a settlement: may hold a position,
        not settled, not in default."""
        rows = self.ok("GET", f"/epochs/{epoch_id}/health", 200)
        return [r["account_id"] for r in rows if r["may_hold_position"] and not r["settled"]
                and not any(reason.startswith("marked in default") for reason in r["reasons"])]


class Environment:
    """What the machine needs from pytest: a fresh database per example, keys, a work directory."""

    def __init__(self, backend: str, request: pytest.FixtureRequest, tmp_path: Path, api_keys, oracle_keys):
        self.backend, self.request, self.tmp_path = backend, request, tmp_path
        self.keys_dir, self.proving_keys = api_keys
        self.oracle_keys = oracle_keys
        self.examples = itertools.count(1)
        self.loaded_keys: dict = {}  # statement -> proving key, shared by every TraderAccount
        self.refusals: Counter = Counter()
        self.proofs: Counter = Counter()  # accepted proofs by kind
        self.steps = 0
        self.finalized = 0
        self.wallets = tmp_path / "wallets"
        self.wallets.mkdir()
        # TraderAccount keeps proving keys in <state dir>/keys: the session's, so nothing is downloaded
        (self.wallets / "keys").symlink_to(self.keys_dir, target_is_directory=True)

    def fresh_database(self, number: int) -> str:
        if self.backend == "sqlite":
            import shutil

            path = self.tmp_path / f"example-{number}.sqlite3"
            shutil.copyfile(self.request.getfixturevalue("sqlite_template"), path)
            return f"sqlite:///{path}"
        url, wiper = self.request.getfixturevalue("postgres_session_database")
        wipe_postgres(wiper)
        return url

    def settings(self, number: int, database_url: str):
        from circuits.protocol.oracle_report import public_key_bytes
        from verifier.core.config import Settings

        return Settings(
            home=self.tmp_path / f"home-{number}", keys_dir=self.keys_dir, database_url=database_url,
            curve=API_CURVE, operator_token="operator-secret-token", venue_token="venue-secret-token",
            oracle_keys={public_key_bytes(k).hex(): f"oracle-{i}" for i, k in enumerate(self.oracle_keys)},
            generate_keys=False, log_level="ERROR", log_json=False,
        )


# --- the machine ---------------------------------------------------------------------------------


traders_index = st.integers(min_value=0, max_value=MAX_TRADERS - 1)
TRADE = dict(data=st.data(), market=st.integers(0, 1), size=st.integers(1, 4),
             fees=st.tuples(st.integers(0, 3), st.integers(0, 3)), tick=st.integers(-1, 1))


class ClearingMachine(RuleBasedStateMachine):
    env: Environment  # set by the test (a subclass per run)
    any_epoch_defaults = True  # False: the operator defaults an account only for its oldest owed epoch

    def __init__(self) -> None:
        super().__init__()
        from demo.run import LocalService
        from verifier.db.engine import Database

        env = self.env
        self.number = next(env.examples)
        self.database_url = env.fresh_database(self.number)
        self.service = LocalService(env.settings(self.number, self.database_url)).__enter__()
        self.desk = Desk(self.service.url, "operator-secret-token", "venue-secret-token", env.oracle_keys)
        self.db = Database.connect(self.database_url)
        self.traders: list = []
        self.silent: set[int] = set()  # indices of traders who stopped acting
        self.defaulted: set[int] = set()  # account ids the operator declared in default
        self.prices = list(OPENING_PRICES)
        self.open_epoch_id: int | None = None
        self.credited: Counter = Counter()  # account id -> deposits credited and not applied yet
        self.closed: set[int] = set()  # closed, not known finalized

    # --- helpers -----------------------------------------------------------------------------

    def new_trader(self) -> None:
        from prover.trader.account import TraderAccount

        path = self.env.wallets / f"example-{self.number}-trader-{len(self.traders)}.json"
        trader = TraderAccount.open(path, self.service.url)
        trader.keys._loaded = self.env.loaded_keys  # the same checked keys for every trader
        self.traders.append(trader)

    def trader(self, index: int):
        """The trader at ``index`` (modulo how many there are), or None if it went silent."""
        index %= len(self.traders)
        return None if index in self.silent else self.traders[index]

    def active(self) -> list:
        return [t for i, t in enumerate(self.traders)
                if i not in self.silent and t.wallet.account_id not in self.defaulted]

    def trace(self, text: str) -> None:
        if os.environ.get("ZKMARGIN_PROPERTY_TRACE"):
            print(f"  [{self.number}] {text}")

    def move(self, draws: list[int]) -> list[int]:
        self.prices = [max(10, p + p * d // 100) for p, d in zip(self.prices, draws)]
        return self.prices

    def attempt(self, trader, action: str, operation) -> Any:
        """Run a trader operation; a refusal must be a documented kind, and is counted."""
        from prover.trader.account import TraderError, UnhealthyError
        from prover.trader.client import ServiceRefusedError

        account_id = trader.wallet.account_id
        try:
            outcomes = operation()
            done = outcomes if isinstance(outcomes, list) else [outcomes]
            self.env.proofs.update(o.data.get("kind", "?") for o in done)
            if os.environ.get("ZKMARGIN_PROPERTY_TRACE"):
                print(f"  [{self.number}] account {account_id} {action}: {[o.summary[:40] for o in done]}")
            return outcomes
        except ServiceRefusedError as exc:
            assert exc.status == 409 and exc.code in ALLOWED_CODES, (
                f"account {account_id} {action}: refused {exc.status} {exc.code}: {exc.detail}")
            if exc.code == "account_in_default":
                assert account_id in self.defaulted, (
                    f"account {account_id} {action}: refused as in default, but no default was declared: "
                    f"{exc.detail}")
            self.env.refusals[exc.code] += 1
            self.trace(f"account {account_id} {action}: {exc.code} {exc.detail}")
        except UnhealthyError as exc:
            self.env.refusals["below margin (local)"] += 1
            self.trace(f"account {account_id} {action}: {exc}")
        except TraderError as exc:
            assert any(p in str(exc) for p in LOCAL_REFUSALS), f"account {account_id} {action}: {exc}"
            self.env.refusals["nothing to do (local)"] += 1
            self.trace(f"account {account_id} {action}: {exc}")
        return None

    # --- operator and oracles ----------------------------------------------------------------

    @initialize(count=st.integers(min_value=2, max_value=3),
                deposits=st.lists(st.integers(min_value=500, max_value=3000), min_size=3, max_size=3))
    def open_accounts(self, count: int, deposits: list[int]) -> None:
        """An open epoch, and two or three traders with collateral: the interesting part starts here."""
        self.open_epoch([0, 0])
        for index in range(count):
            self.new_trader()
            self.credit_deposit(index, deposits[index])
            self.deposit(self.traders[index])

    @precondition(lambda self: len(self.traders) < MAX_TRADERS)
    @rule()
    def open_another_account(self) -> None:
        """A trader who arrives late (possibly after an epoch closed) owes that epoch nothing."""
        self.new_trader()

    @precondition(lambda self: self.open_epoch_id is None)
    @rule(moves=st.lists(st.integers(-MAX_MOVE_PERCENT, MAX_MOVE_PERCENT), min_size=2, max_size=2))
    def open_epoch(self, moves: list[int]) -> None:
        self.desk.post_prices(self.move(moves))
        self.open_epoch_id = self.desk.ok("POST", "/epochs", 201)["epoch_id"]
        self.trace(f"epoch {self.open_epoch_id} opened at {self.prices}")

    @precondition(lambda self: self.open_epoch_id is not None)
    @rule(moves=st.lists(st.integers(-MAX_MOVE_PERCENT, MAX_MOVE_PERCENT), min_size=2, max_size=2))
    def close_epoch(self, moves: list[int]) -> None:
        self.desk.post_prices(self.move(moves))
        self.desk.ok("POST", f"/epochs/{self.open_epoch_id}/close", 200)
        self.closed.add(self.open_epoch_id)
        self.trace(f"epoch {self.open_epoch_id} closed at {self.prices}")
        self.open_epoch_id = None

    @precondition(lambda self: self.open_epoch_id is not None)
    @rule(close=st.lists(st.integers(-MAX_MOVE_PERCENT, MAX_MOVE_PERCENT), min_size=2, max_size=2),
          reopen=st.lists(st.integers(-MAX_MOVE_PERCENT, MAX_MOVE_PERCENT), min_size=2, max_size=2))
    def close_and_open_the_next(self, close: list[int], reopen: list[int]) -> None:
        """The usual operator rhythm: epoch N+1 opens while N is closed and not finalized yet."""
        self.close_epoch(close)
        self.open_epoch(reopen)

    @rule(index=traders_index, amount=st.integers(min_value=100, max_value=3000))
    def credit_deposit(self, index: int, amount: int) -> None:
        trader = self.traders[index % len(self.traders)]
        response = self.desk.call("POST", f"/accounts/{trader.wallet.account_id}/deposits",
                                  json={"amount": amount, "reference": f"wire-{self.number}-{time.time_ns()}"})
        if response.status_code == 409:  # a frozen account may be refused credits
            assert response.json()["code"] == "account_in_default", response.text
            assert trader.wallet.account_id in self.defaulted, response.text
        else:
            assert response.status_code == 201, response.text
            self.credited[trader.wallet.account_id] += 1

    @precondition(lambda self: self.closed)
    @rule(data=st.data())
    def declare_default(self, data) -> None:
        """The operator declares an account in default for a closed epoch it has not settled
        (for its oldest such epoch, unless ``any_epoch_defaults``)."""
        owed: dict[int, list[int]] = {}
        for epoch_id in sorted(self.closed):
            for account_id in self.desk.missing(epoch_id):
                owed.setdefault(account_id, []).append(epoch_id)
        if not owed:
            return
        account_id = data.draw(st.sampled_from(sorted(owed)), label="account")
        epochs = owed[account_id] if self.any_epoch_defaults else owed[account_id][:1]
        epoch_id = data.draw(st.sampled_from(epochs), label="epoch")
        response = self.desk.call("POST", f"/epochs/{epoch_id}/defaults",
                                  json={"account_id": account_id, "reason": "no settlement"})
        if response.status_code != 201 and self.any_epoch_defaults and epoch_id != owed[account_id][0]:
            # the fix for the later-epoch default may refuse it, naming the older epoch
            assert response.status_code == 409, response.text
            self.trace(f"account {account_id}: default for epoch {epoch_id} refused: {response.text}")
            return
        assert response.status_code == 201, response.text
        self.defaulted.add(account_id)
        self.trace(f"account {account_id} declared in default for epoch {epoch_id}")

    @precondition(lambda self: self.closed)
    @rule(data=st.data())
    def finalize(self, data) -> None:
        epoch_id = data.draw(st.sampled_from(sorted(self.closed)), label="epoch")
        response = self.desk.call("POST", f"/epochs/{epoch_id}/finalize")
        if response.status_code == 200:
            assert response.json()["status"] == "finalized"
            self.closed.discard(epoch_id)
            self.trace(f"epoch {epoch_id} finalized: {response.json()}")
        else:  # incomplete: someone still owes a settlement
            assert response.status_code == 409 and response.json()["code"] == "epoch_state", response.text

    # --- the venue -----------------------------------------------------------------------------

    def can_trade(self) -> bool:
        return self.open_epoch_id is not None and len(self.active()) >= 2

    @precondition(can_trade)
    @rule(**TRADE)
    def trade(self, data, market: int, size: int, fees: tuple[int, int], tick: int) -> None:
        """The venue matches two traders it has not been told are frozen: +size to one, -size to
        the other, at one price near the mark, small fees."""
        active = {t.wallet.account_id: t for t in self.active()}
        buyer = data.draw(st.sampled_from(sorted(active)), label="buying account")
        seller = data.draw(st.sampled_from(sorted(set(active) - {buyer})), label="selling account")
        buyer, seller = active[buyer], active[seller]
        price = self.prices[market] + tick
        self.desk.post_fill(buyer, market, size, price, fees[0])
        self.desk.post_fill(seller, market, -size, price, fees[1])
        self.trace(f"trade: account {buyer.wallet.account_id} buys {size} of market {market} at {price} from "
                   f"account {seller.wallet.account_id}")

    @precondition(can_trade)
    @rule(**TRADE)
    def another_trade(self, data, market: int, size: int, fees: tuple[int, int], tick: int) -> None:
        """The same as ``trade``: trades are what make settlement interesting, so twice the weight."""
        self.trade(data, market, size, fees, tick)

    # --- traders -------------------------------------------------------------------------------

    def deposit(self, trader) -> None:
        if self.attempt(trader, "deposit", trader.deposit) is not None:
            self.credited[trader.wallet.account_id] = 0

    def with_credits(self) -> list[int]:
        return [t.wallet.account_id for i, t in enumerate(self.traders)
                if i not in self.silent and self.credited[t.wallet.account_id]]

    @precondition(lambda self: self.with_credits())
    @rule(data=st.data())
    def apply_deposits(self, data) -> None:
        """A trader proves its credited deposits in (whatever the epoch's state: it may be closed,
        or the account in default)."""
        account_id = data.draw(st.sampled_from(self.with_credits()), label="account")
        self.deposit(next(t for t in self.traders if t.wallet.account_id == account_id))

    @rule(index=traders_index)
    def apply_fills(self, index: int) -> None:
        trader = self.trader(index)
        if trader is not None:
            self.attempt(trader, "apply fills", trader.apply_fills)

    @rule(index=traders_index)
    def attest(self, index: int) -> None:
        trader = self.trader(index)
        if trader is not None:
            self.attempt(trader, "attest", trader.attest)

    @rule(index=traders_index)
    def settle(self, index: int) -> None:
        trader = self.trader(index)
        if trader is not None:
            self.attempt(trader, "settle", trader.settle)

    @rule(index=traders_index, percent=st.integers(1, 60))
    def withdraw(self, index: int, percent: int) -> None:
        trader = self.trader(index)
        if trader is not None:
            amount = trader.wallet.state.collateral * percent // 100
            if amount > 0:
                self.attempt(trader, f"withdraw {amount}", lambda: trader.withdraw(amount))

    @precondition(lambda self: not self.silent and len(self.traders) >= 2)
    @rule(index=traders_index)
    def go_silent(self, index: int) -> None:
        """A trader stops acting altogether: the operator must be able to default it."""
        self.silent.add(index % len(self.traders))

    # --- invariants ----------------------------------------------------------------------------

    @invariant()
    def ledger_verifies(self) -> None:
        self.env.steps += 1
        report = self.desk.ok("GET", "/ledger/verify", 200)
        assert report["ok"], report

    @invariant()
    def finalized_epochs_sum_to_zero(self) -> None:
        from verifier.db import ledger
        from verifier.db.models import Epoch, EpochStatus, JournalEntry, LedgerPosting, Settlement
        from verifier.services.settlements import default_allocation_reference

        with self.db.reader() as session:
            finalized = session.scalars(select(Epoch).where(Epoch.status == EpochStatus.FINALIZED)).all()
            for epoch in finalized:
                assert ledger.balance(session, ledger.CLEARING, epoch_id=epoch.id) == 0, f"epoch {epoch.id}"
                pnl = sum(int(p) for p in session.scalars(select(Settlement.pnl)
                                                          .where(Settlement.epoch_id == epoch.id)))
                from_default_fund = sum(int(a) for a in session.scalars(
                    select(LedgerPosting.amount).join(JournalEntry, LedgerPosting.entry_id == JournalEntry.id)
                    .where(JournalEntry.reference == default_allocation_reference(epoch.id),
                           LedgerPosting.ledger_account == ledger.DEFAULT_FUND)))
                assert pnl + from_default_fund == 0, (
                    f"epoch {epoch.id}: settled pnl {pnl}, default-fund allocation {from_default_fund}")
                if from_default_fund:
                    assert epoch.defaulted_accounts, f"epoch {epoch.id}: an allocation with no default"

    @invariant()
    def settlement_and_default_exclude_each_other(self) -> None:
        from verifier.db.models import AccountDefault, Settlement

        with self.db.reader() as session:
            both = session.execute(
                select(Settlement.account_id, Settlement.epoch_id, AccountDefault.epoch_id)
                .join(AccountDefault, AccountDefault.account_id == Settlement.account_id)
                .where(Settlement.epoch_id >= AccountDefault.epoch_id)).all()
        assert not both, f"settled in or after the epoch of its default (account, settled, default): {both}"

    @invariant()
    def state_files_in_sync(self) -> None:
        from prover import statefile
        from prover.trader.wallet import Wallet

        for trader in self.traders:
            wallet = Wallet.from_document(statefile.load(trader.path, None))
            view = self.desk.ok("GET", f"/accounts/{wallet.account_id}", 200)
            current = int(view["current_commitment"])
            pending = wallet.pending.new_commitment if wallet.pending is not None else None
            assert current in (wallet.commitment(), pending), (
                f"account {wallet.account_id}: the service is at {current}, the state file at "
                f"{wallet.commitment()} (pending {pending})")
            assert wallet.commitment() == trader.wallet.commitment(), "the state file lags the trader's memory"

    # --- no wedge ------------------------------------------------------------------------------

    def drain(self) -> None:
        """Close the open epoch, then finalize every closed one, oldest first, the documented way."""
        if self.open_epoch_id is not None:
            self.close_epoch([0, 0])
        for epoch in self.desk.epochs():
            if epoch["status"] != "closed":
                continue
            epoch_id = epoch["epoch_id"]
            for trader in self.active():
                self.attempt(trader, f"catch up through epoch {epoch_id}",
                             lambda trader=trader, epoch_id=epoch_id: trader.catch_up(settle_through=epoch_id))
            for account_id in self.desk.missing(epoch_id):
                response = self.desk.call("POST", f"/epochs/{epoch_id}/defaults",
                                          json={"account_id": account_id, "reason": "no settlement (drain)"})
                if response.status_code != 201:
                    raise Wedge(f"epoch {epoch_id}: account {account_id} owes a settlement, yet the operator cannot "
                                f"declare it in default: {response.status_code} {response.text}")
                self.defaulted.add(account_id)
                self.trace(f"drain: account {account_id} declared in default for epoch {epoch_id}")
            response = self.desk.call("POST", f"/epochs/{epoch_id}/finalize")
            self.trace(f"drain: epoch {epoch_id} finalize: {response.status_code} {response.text[:200]}")
            if response.status_code != 200:
                raise Wedge(f"epoch {epoch_id} does not finalize after every owing account settled or was declared "
                            f"in default: {response.status_code} {response.text}")
            self.closed.discard(epoch_id)
            self.env.finalized += 1
        self.finalized_epochs_sum_to_zero()
        self.ledger_verifies()
        assert all(e["status"] == "finalized" for e in self.desk.epochs())
        for trader in self.active():  # and no trader is left with a step it cannot take
            assert trader.catch_up() == [], f"account {trader.wallet.account_id} still had something to do"
        self.state_files_in_sync()

    def teardown(self) -> None:
        try:
            if self.traders:
                self.drain()
        finally:
            for trader in self.traders:
                trader.close()
            self.desk.close()
            self.db.dispose()
            self.service.__exit__(None, None, None)


# --- the tests -----------------------------------------------------------------------------------


@pytest.fixture
def environment(backend, request, tmp_path, api_keys, oracle_private_keys) -> Environment:
    return Environment(backend, request, tmp_path, api_keys, oracle_private_keys)


def run_machine(environment: Environment, *, examples: int, any_epoch_defaults: bool = True) -> None:
    examples = int(os.environ.get("ZKMARGIN_PROPERTY_EXAMPLES", examples))  # a longer hunt, locally
    machine = type("Machine", (ClearingMachine,), {"env": environment, "any_epoch_defaults": any_epoch_defaults})
    run_state_machine_as_test(machine, settings=settings(
        max_examples=examples, stateful_step_count=STEPS, deadline=None, database=None, print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_every_epoch_finalizes_at_zero_whatever_the_order_of_actions(environment, backend):
    run_machine(environment, examples=EXAMPLES[backend],
                any_epoch_defaults=os.environ.get("ZKMARGIN_PROPERTY_OLDEST_DEFAULTS") != "1")
    print(f"\n{backend}: {environment.steps} checked steps, {environment.finalized} epochs drained to "
          f"finalization; proofs accepted: {dict(environment.proofs)}; refusals: {dict(environment.refusals)}")


# --- named regressions: sequences the machine explores, pinned ------------------------------------


def new_machine(environment: Environment, **options: Any) -> ClearingMachine:
    return type("Machine", (ClearingMachine,), {"env": environment, **options})()


def trade(machine: ClearingMachine, buyer, seller, market: int, size: int, price: int, fee: int = 1) -> None:
    machine.desk.post_fill(buyer, market, size, price, fee)
    machine.desk.post_fill(seller, market, -size, price, fee)


def two_holders(machine: ClearingMachine):
    """Alice long 2 and Bob short 2 of market 0 at 100, both fills applied in epoch 1."""
    machine.open_accounts(count=2, deposits=[2000, 2000, 0])
    alice, bob = machine.traders
    trade(machine, alice, bob, market=0, size=2, price=100)
    for trader in (alice, bob):
        trader.apply_fills()
    return alice, bob


def settled_pnl(machine: ClearingMachine, epoch_id: int) -> dict[int, int]:
    from verifier.db.models import Settlement

    with machine.db.reader() as session:
        return {a: int(p) for a, p in session.execute(
            select(Settlement.account_id, Settlement.pnl).where(Settlement.epoch_id == epoch_id))}


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_late_settlement_is_marked_on_the_positions_held_at_the_close(environment):
    """Alice trades again in epoch 2 before settling epoch 1 (she runs ``fills`` first, the natural
    order): her library settles epoch 1 on the epoch-1 position first; Bob settles only at the drain.
    Both epochs finalize at zero on the positions held at each close."""
    machine = new_machine(environment)
    try:
        alice, bob = two_holders(machine)
        machine.close_epoch([10, 0])  # epoch 1 settles at 110
        machine.open_epoch([0, 0])
        trade(machine, alice, bob, market=0, size=1, price=110)
        kinds = [o.data["kind"] for o in alice.apply_fills()]
        assert kinds == ["settlement", "fill"]
        machine.close_epoch([-5, 0])  # epoch 2 settles at 104 (110 - 5 %)
    finally:
        machine.teardown()
    ids = alice.wallet.account_id, bob.wallet.account_id
    assert settled_pnl(machine, 1) == dict(zip(ids, (20, -20)))
    assert settled_pnl(machine, 2) == dict(zip(ids, (-18, 18)))  # 3 * (104 - 110)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_silent_trader_is_defaulted_and_every_epoch_still_finalizes(environment):
    """Bob trades and goes silent for two epochs; the operator declares him in default for the
    oldest epoch he owes, and both epochs finalize, his share allocated to the default fund."""
    machine = new_machine(environment)
    try:
        machine.open_accounts(count=2, deposits=[2000, 2000, 0])
        alice, bob = machine.traders
        trade(machine, alice, bob, market=1, size=3, price=200)
        alice.apply_fills()
        machine.silent.add(1)
        machine.close_epoch([5, 5])
        machine.open_epoch([0, 0])
        machine.close_epoch([0, -5])
    finally:
        machine.teardown()  # drain: Alice settles both, Bob is declared in default for epoch 1
    assert bob.wallet.account_id in machine.defaulted
    assert set(settled_pnl(machine, 1)) == set(settled_pnl(machine, 2)) == {alice.wallet.account_id}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_default_declared_for_a_later_epoch_leaves_no_earlier_epoch_unfinalizable(environment):
    """Bob holds a position at epoch 1's close and settles nothing; epoch 2 opens and closes. The
    operator declares Bob in default for epoch 2 (the README's example does just that). The
    default covers epoch 1 too (Bob is frozen and can no longer settle it), so both epochs
    finalize. (Before the fix: accepted, and epoch 1 wedged.)"""
    machine = new_machine(environment)
    try:
        alice, bob = two_holders(machine)
        machine.close_epoch([5, 0])
        alice.settle()
        machine.open_epoch([0, 0])
        machine.close_epoch([0, 0])
        response = machine.desk.call("POST", "/epochs/2/defaults",
                                     json={"account_id": bob.wallet.account_id, "reason": "no settlement"})
        assert response.status_code == 201, response.text  # it covers epoch 1 too: the drain finalizes both
        machine.defaulted.add(bob.wallet.account_id)
    finally:
        machine.teardown()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_deposit_can_cover_a_fill_that_needs_more_collateral(environment):
    """Alice (collateral 500) is filled +80 of market 0 at 100 in the
    open epoch: 8000 notional needs 800 initial margin, so the fill is refused locally. The
    operator credits her 1000 more. Depositing it, then applying the fill, is a legal order at the
    service (a deposit in epoch N needs only the fills of epochs before N applied), and the only
    cure short of a default. (Observed before the fix: ``deposit()`` raised the fill's
    UnhealthyError again.)"""
    machine = new_machine(environment)
    try:
        machine.open_accounts(count=2, deposits=[500, 5000, 0])
        alice, bob = machine.traders
        trade(machine, alice, bob, market=0, size=80, price=100)
        with pytest.raises(UnhealthyError):
            alice.apply_fills()  # refused locally: below initial margin
        machine.credit_deposit(0, 1000)
        kinds = [o.data["kind"] for o in alice.deposit()]
        kinds += [o.data["kind"] for o in alice.apply_fills()]
        assert kinds == ["deposit", "fill"]
    finally:
        machine.teardown()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_an_account_opened_after_the_close_owes_that_epoch_nothing(environment):
    """Carol opens her account after epoch 1 closed (not finalized) and trades with Alice in epoch
    2, depositing while epoch 1 is still unfinalized: epoch 1 never lists her, and both finalize."""
    machine = new_machine(environment)
    try:
        machine.open_accounts(count=2, deposits=[2000, 2000, 0])
        alice, bob = machine.traders
        trade(machine, alice, bob, market=0, size=2, price=100)
        machine.close_epoch([3, 0])
        machine.open_another_account()
        carol = machine.traders[2]
        machine.open_epoch([0, 0])
        machine.credit_deposit(2, 1500)
        assert [o.data["kind"] for o in carol.deposit()] == ["deposit"]
        trade(machine, carol, alice, market=1, size=1, price=200)
        assert [o.data["kind"] for o in carol.apply_fills()] == ["fill"]
        assert carol.wallet.account_id not in machine.desk.missing(1)
        machine.close_epoch([0, 2])
    finally:
        machine.teardown()
    assert carol.wallet.account_id not in settled_pnl(machine, 1)
    assert carol.wallet.account_id in settled_pnl(machine, 2)
