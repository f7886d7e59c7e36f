"""The trader CLI against a real service process (``zkmargin serve``, SQLite, real keys and proofs).

Commands run as child processes (``python -m prover ...``), so killing one mid-proof or
mid-submission is a real SIGKILL; the next command must find the state intact and apply nothing
twice. The in-process tests use the same library (``TraderAccount``) with a recording transport.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from circuits.protocol.fill_delivery import TraderKeyPair
from prover import statefile
from prover.trader.account import PROOF_STEPS, TraderAccount
from prover.trader.keys import KeysMismatchError

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])
ROOT = Path(__file__).resolve().parents[2]
RUN_CLI = "import sys\nfrom prover.cli import main\nsys.argv = ['zkmargin', *sys.argv[1:]]\nmain()\n"

# Preambles that make the CLI process SIGKILL itself at a chosen moment.
KILL_MID_PROOF = """
import os, signal
import prover.trader.account as account
def proving_then_killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
account.prove = proving_then_killed
"""
KILL_AFTER_SERVICE_ANSWERED = """
import os, signal
from prover.trader.client import ServiceClient
original = ServiceClient.post
def post_then_killed(self, path, body=None):
    answer = original(self, path, body)
    if path.endswith("/apply") or path.endswith("/withdrawals") or path.endswith("/settlements"):
        os.kill(os.getpid(), signal.SIGKILL)
    return answer
ServiceClient.post = post_then_killed
"""
KILL_BEFORE_SENDING = """
import os, signal
from prover.trader.client import ServiceClient
original = ServiceClient.post
def killed_before_sending(self, path, body=None):
    if path.endswith("/apply"):
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, path, body)
ServiceClient.post = killed_before_sending
"""


class Cli:
    """``zkmargin`` in a child process, with its own ZKMARGIN_HOME."""

    def __init__(self, home: Path, url: str):
        self.home, self.url = home, url

    def run(self, *args: str, state: Path, preamble: str = "", env: dict[str, str] | None = None,
            expect: int | None = 0) -> subprocess.CompletedProcess:
        environment = {k: v for k, v in os.environ.items() if k not in ("ZKMARGIN_PASSPHRASE", "ZKMARGIN_STATE")}
        environment.update({"ZKMARGIN_HOME": str(self.home), **(env or {})})
        result = subprocess.run([sys.executable, "-c", preamble + RUN_CLI, *args, "--state", str(state)],
                                env=environment, capture_output=True, text=True, timeout=300, cwd=ROOT)
        if expect is not None:
            assert result.returncode == expect, (args, result.returncode, result.stdout, result.stderr)
        return result

    def json(self, *args: str, state: Path, **kwargs) -> object:
        return json.loads(self.run(*args, "--json", state=state, **kwargs).stdout)

    def open(self, state: Path, *extra: str, env: dict[str, str] | None = None) -> int:
        return self.json("account", "new", "--service", self.url, *extra, state=state, env=env)[0]["account_id"]


@pytest.fixture
def service(start_server, tmp_path):
    server, api = start_server()
    return api, Cli(tmp_path / "home", server.url), server.url


def venue_view(state: Path, passphrase: str | None = None) -> SimpleNamespace:
    """What the venue knows of a trader: the account id and the delivery public key."""
    document = statefile.load(state, passphrase)
    return SimpleNamespace(account_id=document["account_id"],
                           keypair=TraderKeyPair.from_private_hex(document["delivery_key"]))


def service_account(api, account_id: int) -> dict:
    return api.expect(api.client.get(f"/accounts/{account_id}", headers=api.operator), 200)


def credited_account(api, cli, tmp_path, amount: int) -> tuple[Path, int]:
    """An open epoch, a new account (CLI), and a deposit of ``amount`` credited to it."""
    api.open_epoch([100, 200])
    state = tmp_path / "t.json"
    account_id = cli.open(state)
    api.credit(account_id, amount, "wire")
    return state, account_id


def test_a_trader_s_whole_life_through_the_cli(service, tmp_path):
    api, cli, _ = service
    epoch_id = api.open_epoch([100, 200])["epoch_id"]
    alice_file, bob_file = tmp_path / "alice.json", tmp_path / "bob.json"
    alice, bob = cli.open(alice_file), cli.open(bob_file)
    assert alice != bob
    assert (alice_file.stat().st_mode & 0o777) == 0o600

    for account_id, state, reference in ((alice, alice_file, "wire-a"), (bob, bob_file, "wire-b")):
        api.credit(account_id, 10_000, reference)
        [deposit] = cli.json("deposit", "10000", state=state)
        assert (deposit["kind"], deposit["amount"], deposit["sequence"]) == ("deposit", "10000", 1)
        assert set(deposit["phases"]) >= {"witness", "ntt", "msm A (G1)", "msm B (G2)", "msm H (G1)"}

    api.post_fill(venue_view(alice_file), market=0, size_delta=10, price=100, fee=5)
    api.post_fill(venue_view(bob_file), market=0, size_delta=-10, price=100, fee=5)
    assert [f["side"] for f in cli.json("fills", state=alice_file)] == ["buy"]
    assert [f["side"] for f in cli.json("fills", state=bob_file)] == ["sell"]
    assert cli.run("fills", state=alice_file).stdout.strip() == "no pending fills"

    for state in (alice_file, bob_file):
        assert cli.json("attest", state=state)[0]["epoch_id"] == epoch_id
    status = cli.json("status", state=alice_file)
    assert status["in_sync"] and status["collateral"] == "9995"
    assert status["positions"] == [{"market": "BTC-USD", "size": "10", "cost_basis": "1000"}]
    assert (status["equity"], status["maintenance_requirement"], status["margin_ratio"]) == ("9995", "50", "199.90")
    assert status["health"]["status"] == "healthy" and status["health"]["attested"]
    human = cli.run("status", state=alice_file).stdout
    assert "equity                9995" in human and "ratio 199.90" in human

    api.close_epoch(epoch_id, [110, 200])
    assert cli.json("settle", state=alice_file)[0]["pnl"] == "100"
    assert cli.json("settle", state=bob_file)[0]["pnl"] == "-100"
    finalized = api.expect(api.client.post(f"/epochs/{epoch_id}/finalize", headers=api.operator), 200)
    assert finalized["status"] == "finalized" and finalized["total_pnl"] == 0
    assert cli.run("settle", state=alice_file).stdout.strip() == "no epoch to settle"

    api.open_epoch([110, 200])
    [withdrawal] = cli.json("withdraw", "500", state=alice_file)
    assert withdrawal["kind"] == "withdrawal" and withdrawal["amount"] == "500"
    balances = service_account(api, alice)["balances"]
    assert balances == {"deposits": "0", "collateral": "9600", "payouts": "500", "levies": "0"}  # 10000 + 100 - 500
    assert api.expect(api.client.get("/ledger/verify", headers=api.operator), 200)["ok"]
    assert cli.json("account", "backups", state=alice_file)[0]["loads"]


def test_the_cli_settles_a_closed_epoch_before_applying_a_later_fill(service, tmp_path):
    """The observed wedge came from the natural order `zkmargin fills`, then `zkmargin settle`
    after the next epoch opened. Now `fills` settles the closed epoch first, applies a fill of a
    closed epoch against that epoch, and every epoch finalizes at zero."""
    api, cli, _ = service
    epoch1 = api.open_epoch([100, 200])["epoch_id"]
    alice_file, bob_file = tmp_path / "alice.json", tmp_path / "bob.json"
    for state, reference in ((alice_file, "wire-a"), (bob_file, "wire-b")):
        api.credit(cli.open(state), 10_000, reference)
        cli.json("deposit", state=state)
    api.post_fill(venue_view(alice_file), market=0, size_delta=4, price=100, fee=0)
    api.post_fill(venue_view(bob_file), market=0, size_delta=-4, price=100, fee=0)
    cli.json("fills", state=alice_file)  # bob does not apply his before the close
    api.close_epoch(epoch1, [105, 200])
    api.open_epoch([105, 200])
    api.post_fill(venue_view(alice_file), market=0, size_delta=1, price=105, fee=0)
    api.post_fill(venue_view(bob_file), market=0, size_delta=-1, price=105, fee=0)

    steps = [(o["kind"], o["epoch_id"]) for o in cli.json("fills", state=alice_file)]
    assert steps == [("settlement", epoch1), ("fill", epoch1 + 1)]
    steps = [(o["kind"], o["epoch_id"]) for o in cli.json("fills", state=bob_file)]
    assert steps == [("fill", epoch1), ("settlement", epoch1), ("fill", epoch1 + 1)]
    finalized = api.expect(api.client.post(f"/epochs/{epoch1}/finalize", headers=api.operator), 200)
    assert finalized["total_pnl"] == 0 and finalized["settled_accounts"] == 2
    assert cli.json("status", state=bob_file)["state_epoch"] == epoch1 + 1


def test_no_request_body_carries_private_state(service, tmp_path):
    api, _, url = service
    bodies: list[tuple[str, object]] = []

    class Recording(httpx.HTTPTransport):
        def handle_request(self, request):
            if request.content:
                bodies.append((request.url.path, json.loads(request.content)))
            return super().handle_request(request)

    epoch_id = api.open_epoch([101, 200])["epoch_id"]
    trader = TraderAccount.open(tmp_path / "t.json", url, transport=Recording())
    states = [trader.wallet.state]
    for reference in ("wire-1", "wire-2"):
        api.credit(trader.wallet.account_id, 7_777, reference)
    for _ in trader.deposit():
        states.append(trader.wallet.state)
    api.post_fill(SimpleNamespace(account_id=trader.wallet.account_id,
                                  keypair=TraderKeyPair.from_private_hex(trader.wallet.delivery_key)),
                  market=1, size_delta=-7, price=203, fee=2)
    trader.apply_fills()
    states.append(trader.wallet.state)
    trader.attest()
    api.close_epoch(epoch_id, [101, 199])
    trader.settle(epoch_id)
    states.append(trader.wallet.state)
    api.open_epoch([101, 199])
    trader.withdraw(1_234)
    states.append(trader.wallet.state)
    trader.close()

    genesis, later = states[0], states[1:]
    private = {str(s.salt) for s in later} | {str(s.collateral) for s in later[1:]}
    private |= {str(v) for s in later for v in (*s.sizes, *s.costs) if v not in (0, 1)}
    assert private and len(bodies) >= 7

    def leaves(value):
        if isinstance(value, dict):
            for key, item in value.items():
                yield key
                yield from leaves(item)
        elif isinstance(value, list):
            for item in value:
                yield from leaves(item)
        else:
            yield str(value)

    for path, body in bodies:
        found = private & set(leaves(body))
        assert not found, (path, found)
        assert not {"salt", "sizes", "costs", "collateral", "state"} & set(leaves(body)), path
    genesis_salt = str(genesis.salt)
    assert [path for path, body in bodies if genesis_salt in set(leaves(body))] == ["/accounts"]


def test_killed_mid_proof_the_state_is_untouched_and_the_rerun_applies_once(service, tmp_path):
    api, cli, _ = service
    state, account_id = credited_account(api, cli, tmp_path, 5_000)
    before = state.read_bytes()
    killed = cli.run("deposit", state=state, preamble=KILL_MID_PROOF, expect=None)
    assert killed.returncode == -signal.SIGKILL
    assert state.read_bytes() == before and service_account(api, account_id)["sequence"] == 0
    assert cli.json("deposit", state=state)[0]["sequence"] == 1
    assert service_account(api, account_id)["balances"]["collateral"] == "5000"


def test_killed_after_the_service_accepted_the_next_command_recovers_without_applying_twice(service, tmp_path):
    api, cli, _ = service
    state, account_id = credited_account(api, cli, tmp_path, 5_000)
    killed = cli.run("deposit", state=state, preamble=KILL_AFTER_SERVICE_ANSWERED, expect=None)
    assert killed.returncode == -signal.SIGKILL
    assert service_account(api, account_id)["sequence"] == 1  # the service took it; the CLI never heard
    assert statefile.load(state)["pending"]["kind"] == "deposit"

    status = cli.run("status", state=state)
    assert "recovered: the service had accepted the interrupted deposit" in status.stdout
    report = cli.json("status", state=state)
    assert report["in_sync"] and report["collateral"] == "5000" and report["pending_submission"] is None
    refused = cli.run("deposit", state=state, expect=2)
    assert "no credited deposit" in refused.stderr
    view = service_account(api, account_id)
    assert view["sequence"] == 1 and view["balances"]["collateral"] == "5000"


def test_killed_before_sending_the_same_request_is_resent(service, tmp_path):
    api, cli, _ = service
    state, account_id = credited_account(api, cli, tmp_path, 5_000)
    assert cli.run("deposit", state=state, preamble=KILL_BEFORE_SENDING, expect=None).returncode == -signal.SIGKILL
    pending = statefile.load(state)["pending"]
    assert pending["kind"] == "deposit" and service_account(api, account_id)["sequence"] == 0

    rerun = cli.run("status", state=state)
    assert "resent the interrupted deposit: accepted" in rerun.stdout
    view = service_account(api, account_id)
    assert view["sequence"] == 1 and view["current_commitment"] == pending["new_commitment"]


def test_an_interrupted_submission_for_a_closed_epoch_is_dropped_and_proven_again(service, tmp_path):
    api, cli, _ = service
    epoch_id = api.open_epoch([100, 200])["epoch_id"]
    state = tmp_path / "t.json"
    account_id = cli.open(state)
    api.credit(account_id, 5_000, "wire")
    assert cli.run("deposit", state=state, preamble=KILL_BEFORE_SENDING, expect=None).returncode == -signal.SIGKILL
    api.close_epoch(epoch_id, [100, 200])
    api.open_epoch([120, 200])  # the proof's mark prices are stale now

    rerun = cli.run("deposit", state=state)
    assert "dropped the interrupted deposit: the service refuses it now" in rerun.stdout
    assert "deposit accepted (sequence 1)" in rerun.stdout
    assert cli.json("status", state=state)["in_sync"]


def test_passphrases(service, tmp_path):
    cli = service[1]
    state = tmp_path / "t.json"
    passphrase = "correct horse battery staple"
    cli.open(state, "--encrypt", env={"ZKMARGIN_PASSPHRASE": passphrase})
    assert statefile.is_encrypted(state)
    token = statefile.load(state, passphrase)["account_token"]
    assert token.encode() not in state.read_bytes()

    wrong = cli.run("status", state=state, env={"ZKMARGIN_PASSPHRASE": "incorrect"}, expect=2)
    assert "passphrase" in wrong.stderr and "incorrect" not in wrong.stderr
    missing = cli.run("status", state=state, expect=2)
    assert "ZKMARGIN_PASSPHRASE" in missing.stderr
    secret_file = tmp_path / "passphrase.txt"
    secret_file.write_text(passphrase + "\n")
    assert cli.json("status", "--passphrase-file", str(secret_file), state=state)["in_sync"]


def test_a_damaged_state_file_is_reported_and_a_backup_restores_it(service, tmp_path):
    api, cli, _ = service
    state, account_id = credited_account(api, cli, tmp_path, 5_000)
    cli.run("deposit", state=state)
    state.write_bytes(state.read_bytes()[: len(state.read_bytes()) // 2])

    damaged = cli.run("status", state=state, expect=2)
    assert "zkmargin account restore" in damaged.stderr and "Traceback" not in damaged.stderr
    restored = cli.json("account", "restore", state=state)[0]
    assert restored["restored_backup"] >= 1
    report = cli.json("status", state=state)  # the newest backup held the pending deposit: reconciled
    assert report["in_sync"] and report["collateral"] == "5000"
    assert any(p.name.startswith("t.json.damaged") for p in tmp_path.iterdir())


def test_an_unhealthy_request_is_refused_before_any_proof(service, tmp_path):
    api, cli, _ = service
    state, account_id = credited_account(api, cli, tmp_path, 1_000)
    cli.run("deposit", state=state)
    api.post_fill(venue_view(state), market=0, size_delta=50, price=100, fee=0)
    cli.run("fills", state=state)  # 5000 notional: 500 initial margin

    refused = cli.run("withdraw", "900", state=state, expect=2)
    assert "cannot withdraw 900" in refused.stderr and "by 400 collateral units" in refused.stderr
    assert service_account(api, account_id)["sequence"] == 2
    assert statefile.load(state)["pending"] is None


def test_service_unreachable_and_missing_state(service, tmp_path):
    cli = service[1]
    state = tmp_path / "t.json"
    missing = cli.run("status", state=state, expect=2)
    assert "zkmargin account new" in missing.stderr
    cli.open(state)
    unreachable = cli.run("status", "--service", "http://127.0.0.1:9", state=state, expect=3)
    assert "cannot reach the service" in unreachable.stderr and "nothing was lost" in unreachable.stderr


def test_proving_keys_are_downloaded_and_a_stale_copy_replaced(service, tmp_path, api_keys):
    api, _, url = service
    api.open_epoch([100, 200])
    trader = TraderAccount.open(tmp_path / "t.json", url)
    for reference in ("wire-1", "wire-2", "wire-3"):
        api.credit(trader.wallet.account_id, 1_000, reference)
    trader.deposit(deposit_id=service_account(api, trader.wallet.account_id)["pending_deposits"][0]["deposit_id"])
    key_file = trader.keys.path("transfer")
    downloaded = key_file.read_bytes()
    server_copy = (api_keys[0] / key_file.parent.name / key_file.name).read_bytes()
    assert downloaded == server_copy

    # a key from another setup of the same circuit: its verification key is not the service's
    from circuits import get_circuit
    from circuits.protocol.keystore import write_keys
    from zkmargin.backends import get_backend
    from zkmargin.groth16 import setup

    backend = get_backend("bls12381")
    other = setup(get_circuit("transfer", markets=2).shape("bls12381"), backend, insecure_test_seed=999)
    write_keys(other, key_file.parent, backend)
    steps: list[tuple[str, bool]] = []
    fresh = TraderAccount.load(tmp_path / "t.json", progress=lambda step, done: steps.append((step, done)))
    fresh.deposit(1_000)
    assert key_file.read_bytes() == server_copy
    assert ("downloading the transfer key", False) in steps  # the stale key was noticed and replaced
    assert {step for step, done in steps if done} == set(PROOF_STEPS)  # every phase and each MSM reported

    key_file.write_bytes(key_file.read_bytes()[:-10])  # damaged: downloaded again
    again = TraderAccount.load(tmp_path / "t.json")
    again.deposit(1_000)
    assert key_file.read_bytes() == server_copy
    for account in (trader, fresh, again):
        account.close()


def test_a_service_running_another_circuit_version_is_refused_before_proving(service, tmp_path, monkeypatch):
    api, _, url = service
    api.open_epoch([100, 200])
    trader = TraderAccount.open(tmp_path / "t.json", url)
    api.credit(trader.wallet.account_id, 1_000, "wire")
    # this zkmargin builds another margin circuit than the service announces (another release)
    monkeypatch.setattr("prover.trader.keys.circuit_id", lambda *args: "0" * 64)
    with pytest.raises(KeysMismatchError, match="install the zkmargin version the service runs"):
        trader.deposit()
    assert service_account(api, trader.wallet.account_id)["sequence"] == 0
    trader.close()



def test_an_out_of_date_state_file_points_to_the_backup_that_matches_the_service(service, tmp_path):
    import re

    api, cli, _ = service
    api.open_epoch([100, 200])
    state = tmp_path / "t.json"
    account_id = cli.open(state)
    for reference in ("wire-1", "wire-2"):
        api.credit(account_id, 1_000, reference)
    cli.run("deposit", "--id", str(service_account(api, account_id)["pending_deposits"][0]["deposit_id"]), state=state)
    outdated = state.read_bytes()
    cli.run("deposit", state=state)
    state.write_bytes(outdated)  # say, copied back from an old disk image

    diverged = cli.run("status", state=state, expect=2)
    advice = re.search(r"run `zkmargin account restore --backup (\d+)`", diverged.stderr)
    assert advice, diverged.stderr
    cli.run("account", "restore", "--backup", advice.group(1), state=state)
    report = cli.json("status", state=state)
    assert report["in_sync"] and report["collateral"] == "2000"
