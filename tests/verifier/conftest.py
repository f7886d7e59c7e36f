"""Database fixtures: every database test runs on SQLite (a file) and on PostgreSQL.

PostgreSQL is the server at ``$ZKMARGIN_TEST_POSTGRES_URL`` (default: the local ``test``
database, user postgres). The session creates a randomly named database, migrates it once, and
wipes it before each test that uses it (dropping a database costs a checkpoint, about a second,
so one per test would dominate the run); tests that need an empty database get one of their
own. Everything is dropped at the end. SQLite tests each get a copy of a migrated file.

If the server is unreachable the PostgreSQL tests FAIL, so CI cannot pass without them,
unless ``ZKMARGIN_SKIP_POSTGRES=1`` says to skip them on purpose.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from verifier.db.engine import Database
from verifier.db.ledger import GENESIS_HASH
from verifier.db.migrate import upgrade_database
from verifier.db.models import Base

POSTGRES_URL_ENV = "ZKMARGIN_TEST_POSTGRES_URL"
SKIP_POSTGRES_ENV = "ZKMARGIN_SKIP_POSTGRES"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = ["sqlite", "postgresql"]
GUARDED_TABLES = ("journal_entries", "ledger_postings", "ledger_head")


# --- PostgreSQL: one server connection, one migrated database wiped per test ---------------


class PostgresDatabases:
    """Creates and drops this session's databases through an autocommit admin connection."""

    def __init__(self, server_url: str):
        self.server_url = make_url(server_url)
        self.prefix = f"zkm_test_{secrets.token_hex(4)}"
        self.admin: Engine = create_engine(self.server_url, isolation_level="AUTOCOMMIT")
        self.count = 0

    def url_of(self, name: str) -> str:
        return self.server_url.set(database=name).render_as_string(hide_password=False)

    def create(self) -> str:
        self.count += 1
        name = f"{self.prefix}_{self.count}"
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        return name

    def drop(self, name: str) -> None:
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def drop_all(self) -> None:
        with self.admin.connect() as connection:
            names = connection.execute(
                text("SELECT datname FROM pg_database WHERE datname LIKE :pattern"), {"pattern": f"{self.prefix}%"}
            ).scalars().all()
        for name in names:
            self.drop(name)
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases]:
    if os.environ.get(SKIP_POSTGRES_ENV) == "1":
        pytest.skip(f"PostgreSQL tests skipped on purpose ({SKIP_POSTGRES_ENV}=1)")
    databases = PostgresDatabases(os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL))
    unreachable = None
    try:
        with databases.admin.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except OperationalError as exc:
        unreachable = str(exc.orig or exc).splitlines()[0]
    if unreachable is not None:  # failed outside the except block: one clear line, no traceback chain
        pytest.fail(
            f"PostgreSQL is unreachable at {databases.server_url.render_as_string(hide_password=True)}: "
            f"{unreachable}. Start it, point {POSTGRES_URL_ENV} at a server, or set "
            f"{SKIP_POSTGRES_ENV}=1 to skip the PostgreSQL tests on purpose.",
            pytrace=False,
        )
    try:
        yield databases
    finally:
        databases.drop_all()


@pytest.fixture(scope="session")
def postgres_session_database(postgres: PostgresDatabases) -> Iterator[str]:
    """The session's migrated PostgreSQL database, and an engine that wipes it between tests."""
    url = postgres.url_of(postgres.create())
    upgrade_database(url)
    wiper = create_engine(url)
    yield url, wiper
    wiper.dispose()


def wipe_postgres(engine: Engine) -> None:
    """Back to a freshly migrated state: no rows, the genesis head, every ledger guard enabled.

    ``session_replication_role = replica`` skips user triggers (the append-only guards) and
    foreign-key checks for this transaction only; that is exactly a reset, nothing else is.
    """
    with engine.begin() as connection:
        connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
        for table in reversed(Base.metadata.sorted_tables):
            connection.exec_driver_sql(f"DELETE FROM {table.name}")
        connection.execute(text("INSERT INTO ledger_head (id, sequence, entry_hash) VALUES (1, 0, :genesis)"),
                           {"genesis": GENESIS_HASH})
        for table in GUARDED_TABLES:
            connection.exec_driver_sql(f"ALTER TABLE {table} ENABLE TRIGGER USER")


# --- SQLite: a migrated template file, copied per test ---------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    upgrade_database(f"sqlite:///{path}")
    return path


# --- what tests use ----------------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def empty_database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database with no schema at all."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    postgres: PostgresDatabases = request.getfixturevalue("postgres")
    name = postgres.create()
    yield postgres.url_of(name)
    postgres.drop(name)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, fully migrated database of this test's own."""
    if backend == "sqlite":
        path = tmp_path / "verifier.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    url, wiper = request.getfixturevalue("postgres_session_database")
    wipe_postgres(wiper)
    yield url


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database.connect(database_url)
    yield db
    db.dispose()


@contextmanager
def ledger_guards_disabled(database: Database) -> Iterator[None]:
    """Switch off the append-only triggers, as an attacker with DDL rights could, to tamper."""
    if database.engine.dialect.name == "postgresql":
        with database.engine.begin() as connection:
            for table in GUARDED_TABLES:
                connection.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        try:
            yield
        finally:
            with database.engine.begin() as connection:
                for table in GUARDED_TABLES:
                    connection.exec_driver_sql(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        return
    with database.engine.begin() as connection:
        triggers = connection.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").all()
        for name, _ in triggers:
            connection.exec_driver_sql(f"DROP TRIGGER {name}")
    try:
        yield
    finally:
        with database.engine.begin() as connection:
            for _, sql in triggers:
                connection.exec_driver_sql(sql)


@pytest.fixture
def guards_disabled(database: Database):
    """``with guards_disabled(): ...`` tampers with the ledger the way the database forbids."""
    return lambda: ledger_guards_disabled(database)


# --- the HTTP service (tests/verifier/test_api_*.py) -----------------------------------------
# Real keys (a reproducible test setup for M = 2 on BLS12-381, made once per session) and real
# proofs: nothing about verification is mocked.

import time as _time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

API_MARKETS = 2
API_CURVE = "bls12381"
STATEMENTS = ("margin", "transfer", "fill", "settle")


@pytest.fixture(scope="session")
def api_keys(tmp_path_factory: pytest.TempPathFactory):
    """(keys dir, {statement: proving key}) in the key store layout the service loads."""
    from circuits import get_circuit
    from circuits.protocol.keystore import write_keys
    from zkmargin.backends import get_backend
    from zkmargin.groth16 import setup

    keys_dir = tmp_path_factory.mktemp("api-keys")
    backend = get_backend(API_CURVE)
    proving_keys = {}
    for seed, name in enumerate(STATEMENTS, start=11):
        circuit = get_circuit(name, markets=API_MARKETS)
        pk = setup(circuit.shape(API_CURVE), backend, insecure_test_seed=seed)
        write_keys(pk, keys_dir / f"{circuit.key_name()}-{API_CURVE}", backend)
        proving_keys[name] = pk
    return keys_dir, proving_keys


PORTFOLIO_STATEMENTS = ("portfolio", "portfolio-transfer", "portfolio-fill")


@pytest.fixture(scope="session")
def portfolio_keys(api_keys):
    """The portfolio statements' keys (M = 2, S = 16) beside the session's other keys: in portfolio
    mode the service verifies margin attestations, deposits, withdrawals and fills with them.
    Returns {circuit name: proving key}."""
    from circuits import get_circuit
    from circuits.protocol.keystore import write_keys
    from zkmargin.backends import get_backend
    from zkmargin.groth16 import setup

    backend, keys = get_backend(API_CURVE), {}
    for seed, name in enumerate(PORTFOLIO_STATEMENTS, start=31):
        circuit = get_circuit(name, markets=API_MARKETS)
        keys[name] = setup(circuit.shape(API_CURVE), backend, insecure_test_seed=seed)
        write_keys(keys[name], api_keys[0] / f"{circuit.key_name()}-{API_CURVE}", backend)
    return keys


@pytest.fixture(scope="session")
def portfolio_key(portfolio_keys):
    """The portfolio (margin) statement's key, with the portfolio transitions' beside it."""
    return portfolio_keys["portfolio"]


OPTIONS_EXPIRY = int(_time.time()) + 30 * 86_400  # a month out


def options_markets():
    """A BTC perpetual and a call on BTC struck at 40 000 (5 % maintenance, 10 % initial)."""
    from verifier.core.config import MarketConfig, OptionConfig

    btc = MarketConfig(name="BTC-USD", kind="perpetual", maintenance_rate=50_000, initial_rate=100_000)
    call = MarketConfig(name="BTC-40000-C", maintenance_rate=50_000, initial_rate=100_000,
                        option=OptionConfig(right="call", strike=40_000, expiry=OPTIONS_EXPIRY, underlying=0))
    return btc, call


@pytest.fixture
def options_api(api_settings, api_keys, portfolio_keys, oracle_private_keys, wire_unchanged_by_response_models):
    """The service in portfolio mode over ``options_markets()``, with every portfolio key."""
    from fastapi.testclient import TestClient

    from verifier.main import create_app

    settings = api_settings.model_copy(update={"markets": options_markets(), "margin_mode": "portfolio"})
    with TestClient(create_app(settings)) as client:
        yield ServiceHarness(client, settings, {**api_keys[1], **portfolio_keys}, oracle_private_keys)


@pytest.fixture(scope="session")
def api_escrow_keys(api_keys):
    """The escrow variants' keys (transfer, fill, settle at M = 2), beside ``api_keys``'s in its keys
    dir: a service with a guardian set loads these and ``margin``'s. Returns {statement: proving key}."""
    from circuits import get_circuit
    from circuits.protocol.keystore import write_keys
    from zkmargin.backends import get_backend
    from zkmargin.groth16 import setup

    keys_dir, plain = api_keys
    backend = get_backend(API_CURVE)
    proving_keys = {"margin": plain["margin"]}
    for seed, name in enumerate(STATEMENTS[1:], start=31):
        circuit = get_circuit(name, markets=API_MARKETS, escrow=True)
        pk = setup(circuit.shape(API_CURVE), backend, insecure_test_seed=seed)
        write_keys(pk, keys_dir / f"{circuit.key_name()}-{API_CURVE}", backend)
        proving_keys[name] = pk
    return proving_keys


@pytest.fixture(scope="session")
def portfolio_escrow_keys(api_keys, portfolio_keys):
    """The escrow variants of portfolio-transfer and portfolio-fill (M = 2) beside the session's keys:
    a portfolio-mode service with a guardian set loads these. Returns {circuit name: proving key}."""
    from circuits import get_circuit
    from circuits.protocol.keystore import write_keys
    from zkmargin.backends import get_backend
    from zkmargin.groth16 import setup

    backend, keys = get_backend(API_CURVE), {}
    for seed, name in enumerate(PORTFOLIO_STATEMENTS[1:], start=41):
        circuit = get_circuit(name, markets=API_MARKETS, escrow=True)
        keys[name] = setup(circuit.shape(API_CURVE), backend, insecure_test_seed=seed)
        write_keys(keys[name], api_keys[0] / f"{circuit.key_name()}-{API_CURVE}", backend)
    return keys


@dataclass
class InProcessGuardians:
    """A t-of-n guardian set made in this process: its public file, and every guardian's share."""

    path: Path  # guardian-set.json, for ZKMARGIN_GUARDIAN_SET
    guardian_set: object  # zkmargin.threshold.GuardianSet
    shares: dict  # guardian index -> zkmargin.threshold.GuardianShare

    @property
    def group_key(self):
        return self.guardian_set.group_key

    def decryption_shares(self, escrow, guardians=(1, 2), context: bytes = b""):
        from zkmargin.threshold import decryption_share

        return [decryption_share(self.shares[j], escrow.ephemeral_key, context=context) for j in guardians]

    def open_escrow(self, escrow, guardians=(1, 2)) -> list[int]:
        """What ``guardians`` together decrypt: their shares checked and combined, then the escrow opened."""
        from zkmargin.escrow import open_with_shared_point
        from zkmargin.threshold import combine_decryption_shares

        shares = self.decryption_shares(escrow, guardians)
        combined = combine_decryption_shares(self.guardian_set, escrow.ephemeral_key, shares)
        return open_with_shared_point(escrow, combined.shared_point)


@pytest.fixture(scope="session")
def guardians_2_of_3(tmp_path_factory: pytest.TempPathFactory) -> InProcessGuardians:
    """A key generation of 3 guardians, threshold 2, on the curve embedded in API_CURVE, run in-process
    (``zkmargin.threshold``, every sub-share checked); its public set written to guardian-set.json."""
    from tests.threshold.helpers import run_dkg
    from zkmargin.edwards import embedded_curve
    from zkmargin.threshold.guardians import guardian_set_to_json

    run = run_dkg(embedded_curve(API_CURVE), 2, 3, seed=12, session="tests.verifier")
    assert not run.complaints
    guardian_set = run.transcript.guardian_set()
    path = tmp_path_factory.mktemp("guardians") / "guardian-set.json"
    path.write_text(json.dumps(guardian_set_to_json(guardian_set), indent=2))
    return InProcessGuardians(path, guardian_set, dict(run.shares))


@pytest.fixture
def escrow_api(api_settings, api_escrow_keys, oracle_private_keys, guardians_2_of_3,
               wire_unchanged_by_response_models):
    """The service with the in-process guardian set: every transition is an escrow variant."""
    from fastapi.testclient import TestClient

    from verifier.main import create_app

    settings = api_settings.model_copy(update={"guardian_set": guardians_2_of_3.path})
    with TestClient(create_app(settings)) as client:
        harness = ServiceHarness(client, settings, api_escrow_keys, oracle_private_keys)
        harness.guardians = guardians_2_of_3
        yield harness


@pytest.fixture(scope="session")
def oracle_private_keys():
    from circuits.protocol.oracle_report import generate_oracle_key

    return [generate_oracle_key() for _ in range(3)]


@pytest.fixture
def api_settings(api_keys, oracle_private_keys, database_url, tmp_path):
    from circuits.protocol.oracle_report import public_key_bytes
    from verifier.core.config import Settings

    return Settings(
        home=tmp_path / "home", keys_dir=api_keys[0], database_url=database_url, curve=API_CURVE,
        operator_token="operator-secret-token", venue_token="venue-secret-token",
        oracle_keys={public_key_bytes(k).hex(): f"oracle-{i}" for i, k in enumerate(oracle_private_keys)},
        generate_keys=False, log_level="WARNING",
    )


@pytest.fixture
def wire_unchanged_by_response_models(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every response a route's ``response_model`` shapes must be exactly the JSON the route's own
    return value encodes to without one (pydantic's encoding of plain values, which FastAPI used for
    the routes' ``dict`` return annotations): no field dropped, renamed, retyped or reformatted.
    The models describe the wire, they do not change it. Returns the paths of the responses checked."""
    import fastapi.routing
    from pydantic_core import to_jsonable_python

    checked: list[str] = []
    serialize = fastapi.routing.serialize_response

    async def serialize_and_compare(*args, **kwargs):
        shaped = await serialize(*args, **kwargs)
        if kwargs.get("field") is not None:
            sent = json.loads(shaped) if kwargs.get("dump_json") else shaped  # JSON bytes on FastAPI's fast path
            unshaped = to_jsonable_python(kwargs["response_content"])
            assert sent == unshaped, f"the response model changed the wire: {sent!r} != {unshaped!r}"
            checked.append(str(getattr(kwargs.get("endpoint_ctx"), "path", "") or ""))
        return shaped

    monkeypatch.setattr(fastapi.routing, "serialize_response", serialize_and_compare)
    return checked


@pytest.fixture
def api(api_settings, api_keys, oracle_private_keys, wire_unchanged_by_response_models):
    from fastapi.testclient import TestClient

    from verifier.main import create_app

    app = create_app(api_settings)
    with TestClient(app) as client:
        yield ServiceHarness(client, api_settings, api_keys[1], oracle_private_keys)


class ServiceHarness:
    """The operator, the venue and the oracles around one service (an httpx-style client)."""

    def __init__(self, client, settings, proving_keys, oracle_keys):
        self.client = client
        self.settings = settings
        self.proving_keys = proving_keys
        self.oracle_keys = oracle_keys
        self.operator = {"Authorization": f"Bearer {settings.operator_token.get_secret_value()}"}
        self.venue = {"Authorization": f"Bearer {settings.venue_token.get_secret_value()}"}
        self._last_timestamp = 0
        self._fill_ids = 0
        self.guardians: InProcessGuardians | None = None  # set: the service escrows to them
        self.group_key = None  # or only their group key, for a guardian set made elsewhere

    @property
    def escrow_key(self):
        return self.group_key if self.guardians is None else self.guardians.group_key

    def expect(self, response, status: int):
        assert response.status_code == status, (response.status_code, response.text)
        return response.json()

    def timestamp(self) -> int:
        """Now, but strictly after the previous round (an oracle never signs two prices at one instant)."""
        self._last_timestamp = max(int(_time.time()), self._last_timestamp + 1)
        return self._last_timestamp

    def post_prices(self, prices: list[int], oracles: int | None = None) -> None:
        from circuits.protocol.oracle_report import sign_report

        stamp = self.timestamp()
        for key in self.oracle_keys[: oracles or len(self.oracle_keys)]:
            for market, price in enumerate(prices):
                self.expect(self.client.post("/oracle-reports", json=sign_report(key, market, price, stamp).to_dict()),
                            201)

    def open_epoch(self, prices: list[int]) -> dict:
        self.post_prices(prices)
        return self.expect(self.client.post("/epochs", headers=self.operator), 201)

    def close_epoch(self, epoch_id: int, prices: list[int]) -> dict:
        self.post_prices(prices)
        return self.expect(self.client.post(f"/epochs/{epoch_id}/close", headers=self.operator), 200)

    def credit(self, account_id: int, amount: int, reference: str) -> dict:
        return self.expect(self.client.post(f"/accounts/{account_id}/deposits", headers=self.operator,
                                            json={"amount": amount, "reference": reference}), 201)

    def post_fill(self, trader: Trader, market: int, size_delta: int, price: int, fee: int,
                  epoch_id: int | None = None, status: int = 201) -> dict:
        from circuits.protocol.fill_delivery import seal_fill
        from circuits.state import Fill, fresh_salt

        self._fill_ids += 1
        fill = Fill(trader.account_id, self._fill_ids, market, size_delta, price, fee, fresh_salt(API_CURVE))
        ciphertext = seal_fill(fill, trader.keypair.public_key, API_CURVE, markets=API_MARKETS)
        body = {"account_id": trader.account_id, "fill_commitment": str(fill.commitment(API_CURVE)),
                "ciphertext": ciphertext.hex(), "reference": f"venue-fill-{self._fill_ids}-{trader.account_id}"}
        if epoch_id is not None:
            body["epoch_id"] = epoch_id
        return self.expect(self.client.post("/fills", headers=self.venue, json=body), status)

    def trader(self) -> Trader:
        return Trader(self)


@dataclass
class Submission:
    """A proof request ready to send, and the state the trader moves to if it is accepted."""

    path: str
    body: dict
    new_state: object | None = None


@dataclass
class Trader:
    """A trader's machine: the private state, the delivery key, the prover."""

    api: ServiceHarness
    account_id: int | None = None
    token: str | None = None
    state: object | None = None
    keypair: object | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        from circuits.protocol.fill_delivery import generate_key_pair

        self.keypair = generate_key_pair()

    @property
    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}

    def open(self) -> Trader:
        from circuits.state import AccountState, fresh_salt

        salt = fresh_salt(API_CURVE)
        opened = self.api.expect(self.api.client.post("/accounts", json={
            "genesis_salt": str(salt), "encryption_public_key": self.keypair.public_hex}), 201)
        self.account_id, self.token = opened["account_id"], opened["account_token"]
        self.state = AccountState.genesis(self.account_id, API_MARKETS, salt=salt)
        assert int(opened["genesis_commitment"]) == self.state.commitment(API_CURVE)
        return self

    def prove(self, name: str, inputs: dict) -> dict:
        from zkmargin.formats.snarkjs import proof_to_json
        from zkmargin.groth16 import prove

        return proof_to_json(prove(self.api.proving_keys[self.statement(name)],
                                   self.circuit(name).synthesize(API_CURVE, inputs)))

    def circuit(self, name: str):
        """The statement the service verifies: a transition's escrow variant when it has guardians,
        in portfolio mode transfer's and fill's portfolio variants."""
        from circuits import get_circuit

        escrowed = name != "margin" and self.api.escrow_key is not None
        return get_circuit(self.statement(name), markets=API_MARKETS, escrow=escrowed or None)

    @property
    def portfolio(self) -> bool:
        return self.api.settings.margin_mode == "portfolio"

    def statement(self, name: str) -> str:
        """The circuit (and proving key) behind ``name``: ``portfolio-transfer`` for ``transfer`` in portfolio mode."""
        return f"portfolio-{name}" if self.portfolio and name in ("transfer", "fill") else name

    def risk(self, epoch_id: int):
        """The epoch's published risk arrays (portfolio mode)."""
        from circuits.portfolio import risk_arrays_from_json

        return risk_arrays_from_json(self.api.expect(self.api.client.get(f"/epochs/{epoch_id}/risk"), 200))

    def transfer(self, amount: int, epoch_id: int):
        """A transfer's successor and inputs: flat initial rates, or the epoch's arrays at the initial factor."""
        if self.portfolio:
            return self.circuit("transfer").transition(self.state, amount, self.risk(epoch_id),
                                                       self.api.settings.portfolio_initial_factor, API_CURVE,
                                                       escrow_key=self.api.escrow_key)
        prices = self.epoch(epoch_id)["mark_prices"]
        return self.circuit("transfer").transition(self.state, amount, epoch_id, prices, self.rates("initial"),
                                                   API_CURVE, escrow_key=self.api.escrow_key)

    def escrowed_body(self, body: dict, inputs: dict) -> dict:
        """The request body, with the escrow the proof sealed (escrow variants)."""
        return {**body, "escrow": inputs["escrow"].to_json()} if "escrow" in inputs else body

    def epoch(self, epoch_id: int) -> dict:
        return self.api.expect(self.api.client.get(f"/epochs/{epoch_id}"), 200)

    def rates(self, kind: str) -> list[int]:
        markets = self.api.expect(self.api.client.get("/markets"), 200)
        return [m[f"{kind}_rate"] for m in markets]

    # --- building submissions (the trader's side; nothing is sent) ---

    def deposit_request(self, deposit_id: int, amount: int, epoch_id: int) -> Submission:
        new, inputs = self.transfer(amount, epoch_id)
        return Submission(f"/accounts/{self.account_id}/deposits/{deposit_id}/apply", self.escrowed_body({
            "epoch_id": epoch_id, "new_commitment": str(new.commitment(API_CURVE)),
            "proof": self.prove("transfer", inputs)}, inputs), new)

    def withdrawal_request(self, amount: int, epoch_id: int) -> Submission:
        new, inputs = self.transfer(-amount, epoch_id)
        return Submission(f"/accounts/{self.account_id}/withdrawals", self.escrowed_body({
            "epoch_id": epoch_id, "amount": amount, "new_commitment": str(new.commitment(API_CURVE)),
            "proof": self.prove("transfer", inputs)}, inputs), new)

    def fill_request(self, fill_id: int, epoch_id: int | None = None) -> Submission:
        """The fill proven against its own epoch (``epoch_id``, when given, is what the request claims)."""
        from circuits.protocol.fill_delivery import open_fill

        fills = self.api.expect(self.api.client.get(f"/accounts/{self.account_id}/fills", headers=self.auth), 200)
        record = next(f for f in fills if f["fill_id"] == fill_id)
        fill = open_fill(bytes.fromhex(record["ciphertext"]), self.keypair.private_key,
                         int(record["fill_commitment"]), API_CURVE, markets=API_MARKETS)
        fill_epoch = record["epoch_id"]
        epoch_id = fill_epoch if epoch_id is None else epoch_id
        if self.portfolio:
            new, inputs = self.circuit("fill").transition(self.state, fill, self.risk(fill_epoch),
                                                          self.api.settings.portfolio_initial_factor, API_CURVE,
                                                          escrow_key=self.api.escrow_key)
        else:
            prices = self.epoch(fill_epoch)["mark_prices"]
            new, inputs = self.circuit("fill").transition(
                self.state, fill, fill_epoch, prices, self.rates("initial"), self.rates("maintenance"), API_CURVE,
                escrow_key=self.api.escrow_key)
        return Submission(f"/accounts/{self.account_id}/fills/{fill_id}/apply", self.escrowed_body({
            "epoch_id": epoch_id, "new_commitment": str(new.commitment(API_CURVE)),
            "proof": self.prove("fill", inputs)}, inputs), new)

    def attestation_request(self, epoch_id: int) -> Submission:
        from circuits import get_circuit

        prices = self.epoch(epoch_id)["mark_prices"]
        inputs = get_circuit("margin", markets=API_MARKETS).assignment(
            self.state, epoch_id, prices, self.rates("maintenance"), API_CURVE)
        return Submission(f"/accounts/{self.account_id}/attestations", {
            "epoch_id": epoch_id, "proof": self.prove("margin", inputs)})

    def settlement_request(self, epoch_id: int) -> Submission:

        epoch = self.epoch(epoch_id)
        steps = [int(step) for step in epoch["funding_steps"]]
        new, pnl, inputs = self.circuit("settle").transition(self.state, epoch_id, epoch["settlement_prices"],
                                                             API_CURVE, funding_steps=steps,
                                                             escrow_key=self.api.escrow_key)
        return Submission(f"/accounts/{self.account_id}/settlements", self.escrowed_body({
            "epoch_id": epoch_id, "pnl": str(pnl), "holds_position": new.holds_position,
            "new_commitment": str(new.commitment(API_CURVE)),
            "proof": self.prove("settle", inputs)}, inputs), new)

    # --- sending ---

    def send(self, submission: Submission, status: int = 201) -> dict:
        result = self.api.expect(self.api.client.post(submission.path, headers=self.auth, json=submission.body), status)
        if status == 201 and submission.new_state is not None:
            self.state = submission.new_state
        return result

    def deposit(self, deposit_id: int, amount: int, epoch_id: int) -> dict:
        return self.send(self.deposit_request(deposit_id, amount, epoch_id))

    def apply_fill(self, fill_id: int, epoch_id: int | None = None) -> dict:
        return self.send(self.fill_request(fill_id, epoch_id))

    def attest(self, epoch_id: int) -> dict:
        return self.send(self.attestation_request(epoch_id))

    def settle(self, epoch_id: int) -> dict:
        return self.send(self.settlement_request(epoch_id))


# --- the service as a separate process (crash and multi-worker tests) -------------------------

import json as _json  # noqa: E402
import os as _os  # noqa: E402
import socket as _socket  # noqa: E402
import subprocess as _subprocess  # noqa: E402
import sys as _sys  # noqa: E402

# Run in the server process when ZKMARGIN_TEST_CRASH="<before_commit|after_commit>:<statement kind>":
# the process SIGKILLs itself in the middle of that kind of transition — after every write of its
# unit of work, just before COMMIT; or just after COMMIT, before the response is sent.
CRASH_HOOK = r'''
import os, signal, sys
from sqlalchemy import event
from sqlalchemy.orm import Session
from verifier.services import transitions

when, kind = os.environ["ZKMARGIN_TEST_CRASH"].split(":")
original = transitions.commit_transition

def crashing_commit(session, plan, proof=None):
    result = original(session, plan, proof)
    if plan.kind.value == kind:
        session.flush()
        if when == "before_commit":
            os.kill(os.getpid(), signal.SIGKILL)
        session.info["crash_after_commit"] = True
    return result

@event.listens_for(Session, "after_commit")
def _after_commit(session):
    if session.info.get("crash_after_commit"):
        os.kill(os.getpid(), signal.SIGKILL)

transitions.commit_transition = crashing_commit
'''

SERVE = "from verifier.cli import main; import sys; sys.argv = ['zkmargin', 'serve'] + sys.argv[1:]; main()"


def free_port() -> int:
    with _socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_environment(settings) -> dict[str, str]:
    """The environment that makes ``zkmargin serve`` run with ``settings``."""
    env = dict(_os.environ)
    env.update({
        "ZKMARGIN_HOME": str(settings.home), "ZKMARGIN_KEYS_DIR": str(settings.keys_dir),
        "ZKMARGIN_DATABASE_URL": settings.database_url, "ZKMARGIN_CURVE": settings.curve,
        "ZKMARGIN_OPERATOR_TOKEN": settings.operator_token.get_secret_value(),
        "ZKMARGIN_VENUE_TOKEN": settings.venue_token.get_secret_value(),
        "ZKMARGIN_ORACLE_KEYS": _json.dumps(settings.oracle_keys),
        "ZKMARGIN_ORACLE_FAULTS": str(settings.oracle_faults), "ZKMARGIN_GENERATE_KEYS": "false",
        "ZKMARGIN_LOG_LEVEL": "WARNING",
    })
    if settings.guardian_set is not None:  # liquidation (tests/verifier/test_api_liquidation_crash.py)
        env["ZKMARGIN_GUARDIAN_SET"] = str(settings.guardian_set)
        env["ZKMARGIN_LIQUIDATION_GRACE_SECONDS"] = str(settings.liquidation_grace_seconds)
    if settings.backstop_account is not None:
        env["ZKMARGIN_BACKSTOP_ACCOUNT"] = str(settings.backstop_account)
    return env


class ServerProcess:
    """``zkmargin serve`` in a child process (started and stopped by pid, never by name)."""

    def __init__(self, settings, log_path: Path, *, workers: int = 1, crash: str | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = server_environment(settings)
        code = SERVE
        if crash:
            env["ZKMARGIN_TEST_CRASH"] = crash
            code = CRASH_HOOK + "\n" + SERVE
        self.log = open(log_path, "ab")
        self.process = _subprocess.Popen(
            [_sys.executable, "-c", code, "--port", str(self.port), "--workers", str(workers)],
            env=env, stdout=self.log, stderr=_subprocess.STDOUT, cwd=str(Path(__file__).resolve().parents[2]))
        self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        import httpx

        deadline = _time.monotonic() + timeout
        while _time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited with {self.process.returncode}: see {self.log.name}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            _time.sleep(0.2)
        raise AssertionError(f"the server did not become ready in {timeout} s: see {self.log.name}")

    def client(self):
        import httpx

        return httpx.Client(base_url=self.url, timeout=60)

    def wait_killed(self, timeout: float = 30) -> int:
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # uvicorn shuts its workers down on SIGTERM
            try:
                self.process.wait(20)
            except _subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()


@pytest.fixture
def start_server(api_settings, api_keys, oracle_private_keys, tmp_path):
    """``start_server(crash=..., workers=...)`` -> (ServerProcess, ServiceHarness); stopped at the end."""
    servers: list[ServerProcess] = []
    api_settings.home.mkdir(parents=True, exist_ok=True)

    def start(*, crash: str | None = None, workers: int = 1):
        server = ServerProcess(api_settings, tmp_path / "server.log", workers=workers, crash=crash)
        servers.append(server)
        return server, ServiceHarness(server.client(), api_settings, api_keys[1], oracle_private_keys)

    yield start
    for server in servers:
        server.stop()


# --- liquidation (tests/verifier/test_api_liquidation*.py) ----------------------------------
# fixtures of tests/verifier/liquidation_helpers.py, which builds on the harness above
from tests.verifier.liquidation_helpers import clock, guardian_run, scenario  # noqa: E402, F401
