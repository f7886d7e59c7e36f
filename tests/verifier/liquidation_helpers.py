"""Liquidation test set-up: a service with a test guardian set and a backstop, and escrowed states
put in the ledger without proofs.

The real path is an escrowed transition (its proof seals the state; tests/verifier/test_api_escrow.py).
These tests need states a proof could not reach cheaply (bankrupt books), so ``put_escrowed_state``
writes what that path stores: the commitment, the escrow sealed to the guardians' group key, and
a statement naming them. The stored "proof" is a
marked placeholder: the service never verifies it (the guardians do), so nothing here pretends
to be a proof.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from circuits.protocol.liquidation import LiquidationRequest, share_context
from circuits.state import AccountState, fresh_salt
from tests.threshold.helpers import run_dkg
from tests.verifier.conftest import API_CURVE, ServiceHarness, Trader
from verifier.db import records
from verifier.services import settlements
from verifier.db.engine import Database
from verifier.db.ledger import EXTERNAL, Posting, append_entry, trader_collateral, trader_deposits
from verifier.db.models import AccountCommitment, EntryKind, StatementKind
from verifier.db.types import utc_now
from zkmargin.edwards import embedded_curve
from zkmargin.escrow import seal
from zkmargin.threshold import decryption_share
from zkmargin.threshold.decryption import decryption_share_to_json
from zkmargin.threshold.guardians import guardian_set_to_json

PRICES = [1000, 2000]
GRACE = 60  # seconds a margin call may cure after the attestation deadline
PLACEHOLDER_PROOF = {"placeholder": "test state put in the ledger without a proof (tests/verifier/liquidation_helpers)"}
BACKSTOP = 1  # the first account the tests open


@pytest.fixture(scope="session")
def guardian_run():
    """3 guardians, t = 2, on the curve embedded in the API's proof system."""
    return run_dkg(embedded_curve(API_CURVE), 2, 3, seed=21)


def liquidation_settings(api_settings, guardian_run, tmp_path, **changes):  # noqa: F811
    path = tmp_path / "guardian-set.json"
    path.write_text(json.dumps(guardian_set_to_json(guardian_run.transcript.guardian_set())))
    return api_settings.model_copy(update={"guardian_set": path, "backstop_account": BACKSTOP,
                                           "liquidation_grace_seconds": 60, **changes})


@dataclass
class Scenario:
    """One service with a backstop (account 1), an open epoch and a way to plant escrowed states."""

    api: ServiceHarness
    database: Database
    guardian_run: Any
    backstop: Trader
    epoch_id: int

    def open_account(self) -> Trader:
        return self.api.trader().open()

    def put_state(self, trader: Trader, *, collateral: int, sizes: tuple[int, ...], costs: tuple[int, ...],
                  epoch: int | None = None, sealed: AccountState | None = None) -> AccountState:
        """Move ``trader``'s account to an escrowed state (``sealed``: escrow another state instead)."""
        state = AccountState(trader.account_id, trader.state.nonce + 1, fresh_salt(API_CURVE), collateral,
                             sizes, costs, self.epoch_id if epoch is None else epoch)
        put_escrowed_state(self.database, state, self.guardian_run.transcript.guardian_set(), sealed=sealed)
        trader.state = state
        return state

    def request(self, account_id: int, reason: str = "margin_call", status: int = 201,
                epoch_id: int | None = None) -> dict:
        body = {"account_id": account_id, "reason": reason,
                "epoch_id": self.epoch_id if epoch_id is None else epoch_id}
        return self.api.expect(self.api.client.post("/liquidations", headers=self.api.operator, json=body), status)

    def share(self, liquidation: dict, guardian: int, *, as_guardian: int | None = None,
              context: bytes | None = None) -> dict[str, Any]:
        """Guardian ``guardian``'s share for the liquidation, as the guardian command would post it."""
        request = LiquidationRequest.from_dict(liquidation["request"])
        guardian_set = self.guardian_run.transcript.guardian_set()
        from zkmargin.escrow import Escrow

        escrow = Escrow.from_json(liquidation["escrow"], API_CURVE)
        made = decryption_share(self.guardian_run.shares[guardian], escrow.ephemeral_key,
                                context=share_context(request) if context is None else context)
        return {"guardian": guardian if as_guardian is None else as_guardian,
                "share": decryption_share_to_json(guardian_set, made)}

    def post_share(self, liquidation_id: int, body: dict, status: int = 200) -> dict:
        return self.api.expect(self.api.client.post(f"/liquidations/{liquidation_id}/shares", json=body), status)


def put_escrowed_state(database: Database, state: AccountState, guardian_set, *,
                       sealed: AccountState | None = None) -> None:
    """Record ``state`` as the account's current commitment with its escrow (see the module docstring),
    and book its collateral in the ledger as an applied deposit."""
    commitment = state.commitment(API_CURVE)
    escrow = seal((sealed or state).commitment_inputs(), guardian_set.group_key, API_CURVE)
    with database.unit_of_work() as session:
        account = records.get_account(session, state.account_id)
        row = records.advance_commitment(
            session, state.account_id, expected_commitment=account.current_commitment, new_commitment=commitment,
            kind=StatementKind.TRANSFER, statement_digest=secrets.token_hex(32), state_epoch=state.epoch,
            epoch_id=state.epoch, holds_position=state.holds_position)
        row.escrow = json.dumps(escrow.to_json())
        row.proof = json.dumps(PLACEHOLDER_PROOF)
        row.circuit = "transfer-escrow-test"
        row.public_inputs = json.dumps([str(v) for v in (state.account_id, commitment, *guardian_set.group_key,
                                                         escrow.digest())])
        if state.collateral:
            book_collateral(session, state.account_id, state.collateral)


def book_collateral(session, account_id: int, amount: int) -> None:
    reference = secrets.token_hex(8)
    append_entry(session, EntryKind.DEPOSIT_CREDITED, [Posting(EXTERNAL, -amount),
                                                       Posting(trader_deposits(account_id), amount)],
                 reference=f"test-credit/{reference}", account_id=account_id)
    append_entry(session, EntryKind.DEPOSIT_APPLIED, [Posting(trader_deposits(account_id), -amount),
                                                      Posting(trader_collateral(account_id), amount)],
                 reference=f"test-applied/{reference}", account_id=account_id)


def settle_publicly(database: Database, epoch_id: int, pnl: dict[int, int]) -> None:
    """Settle a closed epoch for these flat accounts with these public pnl figures and finalize it
    (the ledger's own settlement path; the settle proofs are the trader's, not under test here)."""
    with database.unit_of_work() as session:
        for account_id, amount in pnl.items():
            account = records.get_account(session, account_id)
            transition = records.advance_commitment(
                session, account_id, expected_commitment=account.current_commitment,
                new_commitment=fresh_salt(API_CURVE), kind=StatementKind.SETTLE,
                statement_digest=secrets.token_hex(32), state_epoch=epoch_id + 1, epoch_id=epoch_id,
                holds_position=False)
            settlements.record_settlement(session, transition=transition, pnl=amount, holds_position=False)
        settlements.finalize_epoch(session, epoch_id)


def apply_fill_publicly(database: Database, account_id: int, fill_id: int) -> None:
    """Apply a posted fill as the account's fill proof would (the proof itself is not under test here)."""
    from verifier.db.models import PendingItem

    with database.unit_of_work() as session:
        item = session.get(PendingItem, fill_id)
        account = records.get_account(session, account_id)
        transition = records.advance_commitment(
            session, account_id, expected_commitment=account.current_commitment,
            new_commitment=fresh_salt(API_CURVE), kind=StatementKind.FILL, statement_digest=secrets.token_hex(32),
            state_epoch=item.epoch_id, epoch_id=item.epoch_id, holds_position=True)
        records.consume_fill(session, fill_commitment=item.fill_commitment, transition=transition)


def open_epoch(api: ServiceHarness, prices: list[int], deadline: datetime) -> dict:
    api.post_prices(prices)
    return api.expect(api.client.post("/epochs", headers=api.operator,
                                      json={"attestation_deadline": deadline.isoformat()}), 201)


def later(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def commitment_kinds(database: Database, account_id: int) -> list[str]:
    from sqlalchemy import select

    with database.reader() as session:
        return [kind.value for kind in session.scalars(select(AccountCommitment.kind).where(
            AccountCommitment.account_id == account_id).order_by(AccountCommitment.sequence))]


class Clock:
    """The service's clock for liquidation rules and attestations, moved forward by tests."""

    def __init__(self) -> None:
        self.offset = timedelta(0)
        self.per_thread: dict[int, datetime] = {}  # a thread's own fixed instant (races at a boundary)

    def now(self) -> datetime:
        return self.per_thread.get(threading.get_ident()) or utc_now() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch):
    import verifier.services.health as health
    import verifier.services.liquidations as liquidations
    import verifier.services.transitions as transitions

    clock = Clock()
    for module in (health, liquidations, transitions):
        monkeypatch.setattr(module, "utc_now", clock.now)
    return clock


@pytest.fixture
def scenario(api_settings, api_escrow_keys, oracle_private_keys, guardian_run, tmp_path, clock,  # noqa: F811
             wire_unchanged_by_response_models):
    from fastapi.testclient import TestClient

    from verifier.main import create_app

    settings = liquidation_settings(api_settings, guardian_run, tmp_path, liquidation_grace_seconds=GRACE)
    database = Database.connect(settings.database_url)
    with TestClient(create_app(settings)) as client:
        # with a guardian set the service loads the escrow variants' keys
        api = ServiceHarness(client, settings, api_escrow_keys, oracle_private_keys)
        api.group_key = guardian_run.transcript.guardian_set().group_key
        backstop = api.trader().open()
        assert backstop.account_id == BACKSTOP
        epoch = open_epoch(api, PRICES, later(10))
        yield Scenario(api, database, guardian_run, backstop, epoch["epoch_id"])
    database.dispose()




def margin_called(scenario: Scenario, clock: Clock, *, past_grace: bool = True, **state: Any):
    """A new account holding 10 of market 0 (healthy at the marks) that did not attest; the clock
    moved past the attestation deadline and, if ``past_grace``, past the grace period too."""
    trader = scenario.open_account()
    planted = scenario.put_state(trader, **({"collateral": 600, "sizes": (10, 0), "costs": (10_000, 0)} | state))
    clock.advance(10 + GRACE + 1 if past_grace else 10 + 1)
    return trader, planted
