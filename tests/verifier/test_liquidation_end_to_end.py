"""A liquidation end to end: real proofs, a real local HTTP server, the trader's CLI and the guardians'.

The service (with a guardian set and a backstop) runs under uvicorn on a loopback port. A trader
opens an account and trades with ``zkmargin`` commands (escrowed proofs), the price drops, the
account cannot attest, the grace passes, the operator requests the liquidation, two guardians run
``zkmargin guardian liquidation list|share`` (checks, re-verification of the pinned proof, DLEQ
shares), the service combines and closes out, and the trader's next ``zkmargin status`` adopts the
successor state, says why, and its next deposit proof from that state verifies. A doctored close-out
record is refused with the state file untouched, and an adoption killed after keeping the old file
re-runs on the next command. A winner's CLI pays a levy (a socialized loss) before what it was asked.

The waterfall's socialized step through HTTP is tests/verifier/test_api_liquidation.py's (planted
states); here the bankrupt account's loss falls to the insurance fund (no finalized epoch has winners).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from circuits.inputs import state_from_json
from circuits.protocol.fill_delivery import TraderKeyPair
from guardian.cli import guardian_app
from guardian.keyfile import GuardianState, create_guardian_file
from prover import statefile
from prover.cli import app as zkmargin_app
from prover.trader.wallet import Wallet
from tests.verifier.conftest import API_CURVE, ServiceHarness
from tests.verifier.live_service import LocalServer, trader_folder, zkmargin
from verifier.db.engine import Database
from verifier.db.ledger import DEFAULT_FUND, balance
from zkmargin.edwards import embedded_curve
from zkmargin.threshold.dkg import DkgParameters

GRACE = 1  # seconds a margin call may cure after the attestation deadline
BACKSTOP = 1
runner = CliRunner()


@pytest.fixture
def service(api_settings, api_escrow_keys, oracle_private_keys, guardians_2_of_3) -> Iterator[Any]:
    import httpx

    settings = api_settings.model_copy(update={"guardian_set": guardians_2_of_3.path, "backstop_account": BACKSTOP,
                                               "liquidation_grace_seconds": GRACE, "settlement_window_seconds": 1})
    settings.home.mkdir(parents=True, exist_ok=True)
    server = LocalServer(settings)
    client = httpx.Client(base_url=server.url, timeout=60)
    try:
        api = ServiceHarness(client, settings, api_escrow_keys, oracle_private_keys)
        api.guardians = guardians_2_of_3
        assert api.trader().open().account_id == BACKSTOP
        yield SimpleNamespace(api=api, url=server.url, settings=settings)
    finally:
        client.close()
        server.stop()


@pytest.fixture
def trader_home(tmp_path, api_keys) -> Path:
    """The trader's folder; its keys dir is the session's (no key downloads)."""
    return trader_folder(tmp_path, api_keys[0], "trader")


def trader_command(state: Path, command: str, *args: str) -> Any:
    return zkmargin(command, *args, "--state", str(state))


def guardian(index: int, service, homes: Path, *args: str) -> str:
    """``zkmargin guardian ...`` as guardian ``index`` (its file holds the session's share)."""
    home = homes / f"guardian-{index}"
    if not (home / "guardian.json").exists():
        params = DkgParameters(embedded_curve(API_CURVE), 2, 3, "tests.verifier")
        create_guardian_file(home / "guardian.json",
                             GuardianState.new(params, index).with_share(service.api.guardians.shares[index]), None)
    result = runner.invoke(guardian_app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def open_epoch(api: ServiceHarness, prices: list[int], attestation_deadline: datetime | None = None) -> int:
    api.post_prices(prices)
    body = {"confirm_circuit_breaker": True}
    if attestation_deadline is not None:
        body["attestation_deadline"] = attestation_deadline.isoformat()
    return api.expect(api.client.post("/epochs", headers=api.operator, json=body), 201)["epoch_id"]


def close_epoch(api: ServiceHarness, epoch_id: int, prices: list[int],
                settlement_deadline: datetime | None = None) -> None:
    api.post_prices(prices)
    body: dict[str, Any] = {"confirm_circuit_breaker": True}
    if settlement_deadline is not None:
        body["settlement_deadline"] = settlement_deadline.isoformat()
    api.expect(api.client.post(f"/epochs/{epoch_id}/close", headers=api.operator, json=body), 200)


def wait_until(moment: datetime) -> None:
    time.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()) + 0.05)


def open_long(service, trader_home: Path, collateral: int, size: int, price: int) -> tuple[Path, int]:
    """A trader (through its CLI) with ``collateral`` deposited and ``size`` of market 0 bought at ``price``."""
    api, state = service.api, trader_home / "state.json"
    opened = zkmargin("account", "new", "--service", service.url, "--state", str(state))
    account_id = opened[0]["account_id"]
    api.credit(account_id, collateral, f"wire-{account_id}")
    trader_command(state, "deposit")
    wallet = Wallet.from_document(statefile.load(state))
    venue_view = SimpleNamespace(account_id=account_id, keypair=TraderKeyPair.from_private_hex(wallet.delivery_key))
    api.post_fill(venue_view, 0, size, price, 0)
    trader_command(state, "fills")
    return state, account_id


def request_liquidation(api: ServiceHarness, account_id: int, reason: str, epoch_id: int) -> int:
    body = {"account_id": account_id, "reason": reason, "epoch_id": epoch_id}
    return api.expect(api.client.post("/liquidations", headers=api.operator, json=body), 201)["id"]


def two_guardians_share(service, homes: Path, keys_dir: Path, lid: int, account_id: int,
                        grace: int) -> dict[str, Any]:
    """Guardian 1 lists the requests, guardians 1 and 3 check and share; the service's record after."""
    api = service.api
    listing = guardian(1, service, homes, "liquidation", "list", "--service", service.url)
    assert f"#{lid} account {account_id} requested" in listing and "0 of 2 shares" in listing
    operator_key = api.expect(api.client.get("/operator"), 200)["signing_key"]
    for index in (1, 3):
        out = guardian(index, service, homes, "liquidation", "share", str(lid), "--service", service.url,
                       "--operator-key", operator_key, "--keys-dir", str(keys_dir), "--grace-seconds", str(grace),
                       "--home", str(homes / f"guardian-{index}"))
        assert f"guardian {index} posted its share for liquidation {lid}" in " ".join(out.split())
    return api.expect(api.client.get(f"/liquidations/{lid}"), 200)


def liquidated_for_missed_settlement(service, trader_home: Path, homes: Path, keys_dir: Path):
    """A long of 10 bought at 50_000 with 60_000 collateral; the epoch closes at 40_000 (pnl -100_000)
    and the trader does not settle by the deadline: liquidated for ``settlement``, closed out in full."""
    api = service.api
    epoch1 = open_epoch(api, [50_000, 3_000])
    state, account_id = open_long(service, trader_home, 60_000, 10, 50_000)
    settlement_deadline = datetime.now(UTC) + timedelta(seconds=1)
    close_epoch(api, epoch1, [40_000, 3_000], settlement_deadline)
    open_epoch(api, [40_000, 3_000])
    wait_until(settlement_deadline)
    lid = request_liquidation(api, account_id, "settlement", epoch1)
    return state, account_id, epoch1, two_guardians_share(service, homes, keys_dir, lid, account_id, 0)


def adopted_state(state: Path):
    return Wallet.from_document(statefile.load(state)).state


def test_a_margin_call_partly_closed_out_and_the_trader_adopts_its_successor(service, trader_home, tmp_path,
                                                                               api_keys):
    api = service.api
    epoch1 = open_epoch(api, [50_000, 3_000])
    state, account_id = open_long(service, trader_home, 60_000, 10, 50_000)
    close_epoch(api, epoch1, [45_000, 3_000])
    trader_command(state, "settle")  # pnl -50_000: collateral 10_000, 10 long at cost 450_000
    deadline = datetime.now(UTC) + timedelta(seconds=2)
    epoch2 = open_epoch(api, [45_000, 3_000], deadline)

    # below maintenance (22_500 at the marks): no attestation can exist
    refused = runner.invoke(zkmargin_app, ["attest", "--state", str(state)], catch_exceptions=False)
    assert refused.exit_code != 0 and "no margin attestation can exist" in refused.output
    frozen_before = trader_command(state, "status")
    assert frozen_before["liquidation"] is None and frozen_before["excess_over_maintenance"] == "-12500"
    wait_until(deadline + timedelta(seconds=GRACE))

    api_frozen = request_liquidation(api, account_id, "margin_call", epoch2)
    status = trader_command(state, "status")  # frozen: the shares are still missing
    assert status["liquidation"] | {"requested_at": None} == {
        "id": api_frozen, "status": "requested", "reason": "margin_call", "epoch_id": epoch2,
        "requested_at": None, "frozen": True, "shares": 0, "threshold": 2}
    text = runner.invoke(zkmargin_app, ["status", "--state", str(state)], catch_exceptions=False).output
    assert "FROZEN, waiting for the guardians: 0 of 2 shares" in " ".join(text.split())

    lid = api_frozen
    record = two_guardians_share(service, tmp_path, api_keys[0], lid, account_id, GRACE)
    closeout = record["closeout"]
    assert record["status"] == "closed" and closeout["full"] is False
    assert closeout["closed"] == ["9", "0"] and closeout["penalty"] == "4050"  # 9·45_000·5 %·20 %

    old = adopted_state(state)
    result = runner.invoke(zkmargin_app, ["status", "--state", str(state)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert f"Liquidation {lid} (margin_call)" in said and "partly closed out" in said
    assert "BTC-USD +9 of +10 at 45000" in said and "Penalty 4050" in said and "Collateral now 5950" in said
    assert "LIQUIDATED" in said and "adopted by this state file" in said
    successor = adopted_state(state)
    assert successor.sizes == (1, 0) and successor.costs == (45_000, 0) and successor.collateral == 5_950
    assert successor.nonce == old.nonce + 1 and successor.salt != old.salt and successor.epoch == epoch2
    kept = state.with_name(f"{state.name}.before-liquidation-{lid}")
    assert adopted_state(kept) == old
    assert state.stat().st_mode & 0o777 == 0o600 and kept.stat().st_mode & 0o777 == 0o600

    # the adopted state keeps trading: a deposit proof from it verifies
    api.credit(account_id, 20_000, "wire-after")
    [deposited] = trader_command(state, "deposit")
    assert deposited["kind"] == "deposit"
    after = adopted_state(state)
    assert after.collateral == 25_950 and after.nonce == successor.nonce + 1
    view = api.expect(api.client.get(f"/accounts/{account_id}", headers=api.operator), 200)
    assert int(view["current_commitment"]) == after.commitment(API_CURVE)


def crash_at_the_first_save(monkeypatch) -> None:
    from prover.trader.account import TraderAccount

    def die(self):
        raise OSError("killed before the state file was replaced")
    monkeypatch.setattr(TraderAccount, "save", die)


def assert_a_doctored_record_is_refused(monkeypatch, state: Path, lid: int) -> None:
    """A record claiming 9 of the 10 closed while the successor is flat: refused, the file untouched."""
    from prover.trader.client import ServiceClient

    original = ServiceClient.liquidation

    def doctored(self, liquidation_id):
        answer = original(self, liquidation_id)
        return answer.model_copy(update={"closeout": {**answer.closeout, "closed": ["9", "0"]}})

    monkeypatch.setattr(ServiceClient, "liquidation", doctored)
    before = state.read_bytes()
    result = runner.invoke(zkmargin_app, ["status", "--state", str(state)], catch_exceptions=False)
    monkeypatch.undo()
    assert result.exit_code != 0
    said = " ".join(result.output.split())
    assert f"the successor state of liquidation {lid} is refused" in said
    assert "are not 1000000 millionths of the positions" in said and "the state file is unchanged" in said
    assert state.read_bytes() == before
    assert not state.with_name(f"{state.name}.before-liquidation-{lid}").exists()


def test_a_bankrupt_account_fully_closed_out_adopts_a_flat_successor_after_refusing_a_doctored_one(
        service, trader_home, tmp_path, api_keys, monkeypatch):
    api = service.api
    state, account_id, epoch1, record = liquidated_for_missed_settlement(service, trader_home, tmp_path, api_keys[0])
    closeout = record["closeout"]
    assert closeout["full"] is True and closeout["shortfall"] == "40000" and closeout["penalty"] == "0"
    assert closeout["waterfall"]["from_collateral"] == "60000" and closeout["waterfall"]["from_insurance"] == "40000"

    old = adopted_state(state)
    kept = state.with_name(f"{state.name}.before-liquidation-{record['id']}")
    assert_a_doctored_record_is_refused(monkeypatch, state, record["id"])
    assert state_from_json(record["revealed_state"]) == old
    crash_at_the_first_save(monkeypatch)  # the old file is kept aside, then the process dies
    crashed = runner.invoke(zkmargin_app, ["fills", "--state", str(state)], catch_exceptions=False)
    assert crashed.exit_code != 0 and adopted_state(state) == old and adopted_state(kept) == old
    monkeypatch.undo()
    [adopted] = trader_command(state, "fills")  # the adoption again, then no fill to apply
    facts = adopted["adopted_liquidation_successor"]
    assert facts | {"previous_state_file": None} == {
        "liquidation_id": record["id"], "reason": "settlement", "full": True, "step": 1_000_000,
        "closed": ["10", "0"], "prices": ["40000", "3000"], "penalty": "0", "realized_pnl": "-100000",
        "collateral_before": "60000", "collateral": "0", "previous_state_file": None}
    successor = adopted_state(state)
    assert successor.is_flat and successor.collateral == 0 and successor.epoch == epoch1 + 1
    assert successor.nonce == old.nonce + 1 and successor.salt != old.salt and adopted_state(kept) == old
    assert epoch1 in Wallet.from_document(statefile.load(state)).settled_epochs
    database = Database.connect(service.settings.database_url)
    try:
        with database.reader() as session:
            assert balance(session, DEFAULT_FUND) == -40_000  # the insurance fund carried the loss: no winners
    finally:
        database.dispose()

    api.credit(account_id, 5_000, "wire-after")
    [deposited] = trader_command(state, "deposit")
    assert deposited["kind"] == "deposit" and adopted_state(state).collateral == 5_000


def plant_levy(service, account_id: int, amount: int, epoch_id: int, liquidation: int = 99) -> int:
    """A levy as a close-out's socialized step leaves it: owed on ``trader/<w>/levies`` and pending."""
    from verifier.db.ledger import Posting, append_entry, trader_levies
    from verifier.db.models import EntryKind, PendingItem, PendingKind
    from verifier.db.types import utc_now

    database = Database.connect(service.settings.database_url)
    try:
        with database.unit_of_work() as session:
            append_entry(session, EntryKind.LIQUIDATION, [Posting(trader_levies(account_id), -amount),
                                                          Posting(DEFAULT_FUND, amount)],
                         reference=f"liquidation/{liquidation}/socialized", account_id=account_id, epoch_id=epoch_id)
            item = PendingItem(kind=PendingKind.LEVY, account_id=account_id, amount=amount, epoch_id=epoch_id,
                               reference=f"liquidation/{liquidation}/levy/{account_id}",
                               deadline=utc_now() + timedelta(hours=1), created_at=utc_now())
            session.add(item)
            session.flush()
            return item.id
    finally:
        database.dispose()


def test_a_winner_s_cli_pays_its_levy_before_anything_else(service, trader_home):
    api, state = service.api, trader_home / "state.json"
    epoch_id = open_epoch(api, [50_000, 3_000])
    opened = zkmargin("account", "new", "--service", service.url, "--state", str(state))
    account_id = opened[0]["account_id"]
    api.credit(account_id, 10_000, f"wire-{account_id}")
    trader_command(state, "deposit")
    levy_id = plant_levy(service, account_id, 1_250, epoch_id)

    levy, withdrawal = trader_command(state, "withdraw", "500")  # the levy first, then what was asked
    assert (levy["kind"], levy["levy_id"], levy["amount"]) == ("levy", levy_id, "1250")
    assert withdrawal["kind"] == "withdrawal" and adopted_state(state).collateral == 10_000 - 1_250 - 500
    view = api.expect(api.client.get(f"/accounts/{account_id}", headers={
        "Authorization": f"Bearer {Wallet.from_document(statefile.load(state)).account_token}"}), 200)
    assert view["pending_levies"] == [] and view["balances"]["levies"] == "0"
    assert view["balances"]["collateral"] == str(10_000 - 1_250 - 500)

    # a deposit passes a pending levy (it may be what makes the levy payable); the levy follows it
    second = plant_levy(service, account_id, 9_000, epoch_id, liquidation=98)
    api.credit(account_id, 1_000, f"wire-{account_id}-2")
    deposit, levy = trader_command(state, "deposit")
    assert (deposit["kind"], levy["kind"], levy["levy_id"]) == ("deposit", "levy", second)
    assert adopted_state(state).collateral == 10_000 - 1_250 - 500 + 1_000 - 9_000
