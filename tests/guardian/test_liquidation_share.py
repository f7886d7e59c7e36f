"""``zkmargin guardian liquidation share|list`` against a stub of the service's liquidation routes,
served by a real local HTTP server: every refusal names its check and posts nothing; the happy
path posts a share whose DLEQ proof the service can check, and t of them open the escrow to the
pinned state.

The stub serves the contract's JSON (``GET /operator``, ``GET /liquidations[/{id}]``, ``POST
/liquidations/{id}/shares``); the real routes come from the service's branch.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from circuits.protocol.keystore import circuit_id, key_dir, statement_circuit, write_keys
from circuits.protocol.liquidation import LiquidationRequest, operator_key_hex, share_context, sign_request
from circuits.state import AccountState
from guardian.keyfile import GuardianState, create_guardian_file
from tests.guardian.helpers import run
from tests.threshold.helpers import run_dkg
from zkmargin.backends import get_backend
from zkmargin.curves import get_curve
from zkmargin.edwards import base_mul, embedded_curve
from zkmargin.escrow import Escrow, open_with_shared_point, seal
from zkmargin.formats.snarkjs import proof_to_json
from zkmargin.groth16 import prove, setup
from zkmargin.threshold.decryption import (
    combine_decryption_shares,
    decryption_share_from_json,
    verify_decryption_share,
)

CURVE = "bls12381"
EPOCH = 42
LIQUIDATION = 5
ACCOUNT = 7
OPERATOR = Ed25519PrivateKey.generate()
OPERATOR_HEX = operator_key_hex(OPERATOR)


@dataclass
class Escrowed:
    """An escrowed transfer to the guardians' group key: the statement a liquidation pins."""

    circuit: Any
    new: AccountState
    escrow: Escrow
    public: list[int]
    inputs: dict[str, Any]


@pytest.fixture(scope="module")
def dkg():
    return run_dkg(embedded_curve(get_curve(CURVE)), 2, 3, session="liquidation-test")


def _escrowed(group_key) -> Escrowed:
    circuit = statement_circuit("transfer", 1, escrow=True)
    old = AccountState(ACCOUNT, 3, 123456789, 10**6, (10,), (1000,), EPOCH)
    new, inputs = circuit.transition(old, -30, EPOCH, [100], [100_000], CURVE, escrow_key=group_key)
    public = circuit.synthesize(CURVE, inputs).public_values()
    return Escrowed(circuit, new, inputs["escrow"], public, inputs)


@pytest.fixture(scope="module")
def escrowed(dkg) -> Escrowed:
    return _escrowed(dkg.shares[1].guardian_set.group_key)


def guardian_home(root: Path, dkg, index: int) -> Path:
    home = root / f"guardian-{index}"
    if (home / "guardian.json").exists():
        return home
    state = GuardianState.new(dkg.params, index).with_share(dkg.shares[index])
    create_guardian_file(home / "guardian.json", state, None)
    return home


def make_request(escrowed: Escrowed, **changes: Any) -> LiquidationRequest:
    now = datetime.now(UTC)
    request = LiquidationRequest(
        liquidation_id=LIQUIDATION, account_id=ACCOUNT, reason="margin_call", epoch_id=EPOCH,
        deadline=now - timedelta(hours=3), grace_seconds=3600, commitment=escrowed.new.commitment(CURVE),
        escrow_digest=escrowed.escrow.digest(), circuit=circuit_id("transfer", 1, CURVE, escrow=True),
        public_inputs=tuple(escrowed.public), requested_at=now - timedelta(minutes=30))
    return replace(request, **changes)


def make_record(request: LiquidationRequest, escrow: Escrow, proof: dict[str, Any] | None, *,
                signer: Ed25519PrivateKey = OPERATOR, **changes: Any) -> dict[str, Any]:
    record = {"id": request.liquidation_id, "account_id": request.account_id, "status": "requested",
              "request": request.to_dict(), "signature": sign_request(signer, request), "escrow": escrow.to_json(),
              "proof": proof, "shares": [], "threshold": 2, "revealed_state": None, "closeout": None}
    return {**record, **changes}


# --- the stub service --------------------------------------------------------------------------

@dataclass
class StubService:
    """The contract's liquidation routes over one record; checks posted shares as the service would."""

    guardian_set: Any
    record: dict[str, Any]
    operator_key: str = OPERATOR_HEX
    posted: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    attestation_deadline: str | None = None  # the epoch's public one; default: the request's
    refuse_shares: bool = False  # answer every share with 409, as for a second share of one guardian

    def epoch(self) -> dict[str, Any]:
        deadline = self.attestation_deadline or self.record["request"]["deadline"]
        return {"epoch_id": EPOCH, "status": "closed", "opened_at": "2026-12-01T00:00:00Z",
                "closed_at": "2026-12-02T00:00:00Z", "finalized_at": None, "attestation_deadline": deadline,
                "settlement_deadline": None, "mark_prices": [100], "mark_snapshot_digest": "ab" * 32,
                "settlement_prices": None, "settlement_snapshot_digest": None, "settled_accounts": None,
                "defaulted_accounts": None, "circuit_breaker_overrides": {}}

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if method == "GET" and path == "/operator":
            return 200, {"signing_key": self.operator_key}
        if method == "GET" and path == f"/epochs/{EPOCH}":
            return 200, self.epoch()
        if method == "GET" and path.partition("?")[0] == "/liquidations":
            return 200, [self.record]
        if method == "GET" and path == f"/liquidations/{self.record['id']}":
            return 200, self.record
        if method == "POST" and path == f"/liquidations/{self.record['id']}/shares":
            return self.accept_share(body)
        return 404, {"code": "not_found", "detail": f"no route {method} {path}"}

    def accept_share(self, body: dict[str, Any]) -> tuple[int, Any]:
        if self.refuse_shares:
            return 409, {"code": "duplicate_share", "detail": f"guardian {body['guardian']} already sent its share"}
        share = decryption_share_from_json(self.guardian_set, body["share"])
        request = LiquidationRequest.from_dict(self.record["request"])
        ephemeral = Escrow.from_json(self.record["escrow"]).ephemeral_key
        if share.guardian != body["guardian"] or not verify_decryption_share(
                self.guardian_set, ephemeral, share, context=share_context(request)):
            return 422, {"code": "bad_share", "detail": f"the share of guardian {body['guardian']} does not verify"}
        self.posted.append(body)
        self.record["shares"].append({"guardian": share.guardian, "accepted_at": datetime.now(UTC).isoformat()})
        return 200, self.record


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[ThreadingHTTPServer] = []

    def start(stub: StubService) -> StubService:
        class Handler(BaseHTTPRequestHandler):
            def _reply(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                status, answer = stub.answer(method, self.path, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 (the handler's protocol)
                self._reply("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._reply("POST")

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        stub.url = f"http://127.0.0.1:{server.server_address[1]}"
        return stub

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def share(stub: StubService, home: Path, keys_dir: Path, *extra: str, operator_key: str = OPERATOR_HEX):
    return run("liquidation", "share", str(LIQUIDATION), "--service", stub.url, "--operator-key", operator_key,
               "--keys-dir", str(keys_dir), "--home", str(home), *extra)


def refused(result, *words: str) -> str:
    assert result.exit_code == 1, result.output
    line = " ".join(result.output.split())
    for word in words:
        assert word in line, line
    return line


@pytest.fixture
def setting(tmp_path, dkg, escrowed, serve):
    """A guardian, an empty key directory, and a service stub serving an honest request."""
    def build(request: LiquidationRequest | None = None, proof: dict[str, Any] | None = None, **changes: Any):
        request = request or make_request(escrowed)
        record = make_record(request, changes.pop("escrow", escrowed.escrow), proof, **changes)
        stub = serve(StubService(dkg.shares[1].guardian_set, record))
        return stub, guardian_home(tmp_path, dkg, 1), tmp_path / "keys"
    return build


# --- refusals, each before any share is made -----------------------------------------------------

def test_a_request_signed_by_another_key_is_refused(setting):
    stub, home, keys = setting(signer=Ed25519PrivateKey.generate())
    refused(share(stub, home, keys), "signature does not verify", OPERATOR_HEX)
    assert stub.posted == []


def test_a_service_publishing_another_operator_key_is_refused_naming_both(setting):
    stub, home, keys = setting()
    stub.operator_key = operator_key_hex(Ed25519PrivateKey.generate())
    refused(share(stub, home, keys), f"operator key {stub.operator_key} is not the pinned {OPERATOR_HEX}")
    assert stub.posted == []


def test_a_request_inside_the_grace_period_is_refused(setting, escrowed):
    now = datetime.now(UTC)
    stub, home, keys = setting(make_request(escrowed, deadline=now - timedelta(minutes=40)))
    refused(share(stub, home, keys), "liquidation rule is not met", "grace_not_over")
    stub, home, keys = setting(make_request(escrowed, grace_seconds=60))
    refused(share(stub, home, keys), "grace_period", "the policy is 3600 s")
    assert stub.posted == []


def test_a_deadline_other_than_the_epochs_public_one_is_refused(setting):
    stub, home, keys = setting()
    stub.attestation_deadline = "2026-12-02T12:00:00.000000Z"
    refused(share(stub, home, keys), "is not epoch 42's public attestation deadline 2026-12-02T12:00:00.000000Z")
    assert stub.posted == []


def test_public_inputs_without_the_pinned_commitment_are_refused(setting, escrowed):
    stub, home, keys = setting(make_request(escrowed, commitment=12345))
    refused(share(stub, home, keys), "the pinned commitment is not among the statement's public inputs")


def test_a_commitment_pinned_at_another_position_is_refused(setting, escrowed):
    old_commitment = escrowed.public[1]  # in the vector, but as the state the transition started from
    stub, home, keys = setting(make_request(escrowed, commitment=old_commitment))
    refused(share(stub, home, keys), "new commitment is", f"not the request's {old_commitment}")


def test_a_statement_escrowed_to_another_key_is_refused(setting):
    other = _escrowed(base_mul(embedded_curve(get_curve(CURVE)), 4242))
    stub, home, keys = setting(make_request(other), escrow=other.escrow)
    refused(share(stub, home, keys), "escrow key", "is not our group key")


def test_another_escrow_than_the_statement_bound_is_refused(setting, escrowed, dkg):
    another = seal(escrowed.new.commitment_inputs(), dkg.shares[1].guardian_set.group_key, CURVE)
    stub, home, keys = setting(escrow=another)
    refused(share(stub, home, keys), f"escrow served has digest {another.digest()}", "another escrow")


def test_a_circuit_that_is_not_an_escrowed_transition_is_refused(setting, escrowed):
    stub, home, keys = setting(make_request(escrowed, circuit="not-a-circuit-id"))
    refused(share(stub, home, keys), "circuit not-a-circuit-id is not the escrow variant of a transition")


def test_a_liquidation_already_opened_is_refused(setting):
    stub, home, keys = setting(status="opened")
    refused(share(stub, home, keys), "is opened: shares are taken only while requested")


def test_without_the_verifying_key_the_guardian_names_the_setup_to_run(setting):
    stub, home, keys = setting(proof={"unused": True})
    result = share(stub, home, keys)
    assert result.exit_code == 2, result.output
    assert "zkmargin setup transfer --markets 1 --escrow --curve bls12381" in " ".join(result.output.split())
    assert stub.posted == []


def test_a_malformed_pinned_key_and_an_unreachable_service_fail_in_one_line(setting, tmp_path):
    stub, home, keys = setting()
    bad_key = share(stub, home, keys, operator_key="ab" * 31)
    assert bad_key.exit_code == 2 and "64 lower-case hex" in bad_key.output
    stub.url = "http://127.0.0.1:9"  # nothing listens on the discard port
    unreachable = share(stub, home, keys)
    assert unreachable.exit_code == 3 and "cannot reach the service" in unreachable.output


def test_a_guardian_without_a_share_yet_says_so(setting, dkg, tmp_path):
    stub, _home, keys = setting()
    home = tmp_path / "new-guardian"
    create_guardian_file(home / "guardian.json", GuardianState.new(dkg.params, 3), None)
    result = share(stub, home, keys)
    assert result.exit_code == 2 and "holds no share yet" in result.output


def test_the_list_shows_each_liquidation_and_its_shares(setting):
    stub, _home, _keys = setting()
    result = run("liquidation", "list", "--service", stub.url)
    assert result.exit_code == 0, result.output
    assert f"#{LIQUIDATION} account {ACCOUNT} requested (margin_call of epoch {EPOCH}" in result.stdout
    assert "0 of 2 shares" in result.stdout
    as_json = json.loads(run("liquidation", "list", "--service", stub.url, "--json").stdout)
    assert as_json[0]["request"]["commitment"] == stub.record["request"]["commitment"]
    assert run("liquidation", "list", "--service", stub.url, "--status", "bogus").exit_code == 2


# --- with the verifying key and a real proof (slow: a setup and a proof) -------------------------

@pytest.fixture(scope="module")
def proven(escrowed, tmp_path_factory):
    """The escrowed transfer's keys in a key directory, and its proof (snarkjs JSON)."""
    keys = tmp_path_factory.mktemp("keys")
    backend = get_backend(get_curve(CURVE))
    pk = setup(escrowed.circuit.shape(CURVE), backend, insecure_test_seed=77)
    write_keys(pk, key_dir(keys, escrowed.circuit, CURVE), backend)
    proof = prove(pk, escrowed.circuit.synthesize(CURVE, escrowed.inputs))
    return keys, proof_to_json(proof, backend)


def test_a_proof_that_does_not_verify_is_refused(setting, proven):
    keys, proof = proven
    stub, home, _ = setting(proof={**proof, "pi_a": proof["pi_c"]})
    refused(share(stub, home, keys), "the proof served does not verify against our transfer-markets1-escrow")
    assert stub.posted == []


def test_a_share_the_service_refuses_ends_in_one_line(setting, proven):
    keys, proof = proven
    stub, home, _ = setting(proof=proof)
    stub.refuse_shares = True
    refused(share(stub, home, keys), "the service refused (HTTP 409, duplicate_share): guardian 1 already sent")


def test_two_guardians_shares_open_the_escrow_to_the_pinned_state(setting, proven, dkg, escrowed, tmp_path):
    keys, proof = proven
    stub, home, _ = setting(proof=proof)
    first = share(stub, home, keys)
    assert first.exit_code == 0, first.output
    said = " ".join(first.output.split())
    for check in ("publishes the pinned operator key", "is signed with it", "rule margin_call of epoch 42 holds",
                  "the deadline is epoch 42's public attestation deadline",
                  "is our transfer-markets1-escrow on bls12381", "pin the account, the commitment, our group key",
                  "has the request's digest", "the proof verifies", "the service holds 1 of 2"):
        assert check in said, said
    second = share(stub, guardian_home(tmp_path, dkg, 2), keys)
    assert second.exit_code == 0, second.output
    guardian_set = dkg.shares[1].guardian_set
    shares = [decryption_share_from_json(guardian_set, body["share"]) for body in stub.posted]
    assert [s.guardian for s in shares] == [1, 2]
    request = LiquidationRequest.from_dict(stub.record["request"])
    combined = combine_decryption_shares(guardian_set, escrowed.escrow.ephemeral_key, shares,
                                         context=share_context(request))
    opened = AccountState.from_commitment_inputs(open_with_shared_point(escrowed.escrow, combined.shared_point), CURVE)
    assert opened == escrowed.new and opened.commitment(CURVE) == request.commitment
