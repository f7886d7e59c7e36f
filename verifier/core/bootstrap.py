"""Start-up: resolve the settings into a runtime configuration, on embedded defaults if need be.

``prepare_runtime`` is what ``create_app`` (each worker) and ``zkmargin serve`` (once, before
starting workers) call. It runs under a file lock in ``ZKMARGIN_HOME``, so several workers
starting together neither generate two sets of development credentials nor two sets of keys.
It migrates the database, loads (or generates) the verification keys, and writes the
configured markets and oracle keys to the database: the configured oracle keys are the registry,
a stored key no longer configured is revoked (``sync_oracles``).
"""

from __future__ import annotations

import fcntl
import json
import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from circuits.protocol.oracle_report import (
    generate_oracle_key,
    private_key_to_hex,
    public_key_bytes,
)
from circuits.state import RATE_SCALE
from verifier.core.config import DEFAULT_MARKETS, DEV_ORACLE_COUNT, MarketConfig, Settings, check_portfolio_underlyings
from verifier.core.keys import StatementKey, load_statement_keys
from verifier.core.operator_key import load_operator_key
from verifier.db.engine import DEFAULT_SQLITE_FILE, Database
from verifier.db.migrate import upgrade_database
from verifier.db.models import Market, OracleKey
from verifier.db.types import utc_now
from verifier.errors import DatabaseConfigurationError, GuardianConfigError, OracleConfigError
from verifier.oracle import OracleRegistry, quorum_for
from zkmargin.edwards import embedded_curve
from zkmargin.errors import ZkMarginError
from zkmargin.formats.files import write_atomically
from zkmargin.threshold.guardians import GuardianSet, guardian_set_from_json

log = logging.getLogger("zkmargin.verifier")
REMOVED_FROM_CONFIGURATION = "removed from ZKMARGIN_ORACLE_KEYS"


@dataclass
class Runtime:
    """The settings resolved: what the running service actually uses."""

    settings: Settings
    database_url: str
    curve: str
    markets: tuple[MarketConfig, ...]
    operator_token: str
    venue_token: str
    oracles: dict[str, str]  # public key hex -> name (configured or development keys): the registry
    oracle_faults: int  # f: a price needs reports of 2f + 1 distinct oracles
    keys: dict[str, StatementKey] = field(default_factory=dict)
    guardians: GuardianSet | None = None  # the liquidation key's public side, when configured
    operator_key: Ed25519PrivateKey | None = None  # signs liquidation requests (set by prepare_runtime)
    embedded_defaults: list[str] = field(default_factory=list)

    @property
    def oracle_quorum(self) -> int:
        return quorum_for(self.oracle_faults)

    @property
    def market_count(self) -> int:
        return len(self.markets)

    @property
    def maintenance_rates(self) -> list[int]:
        return [m.maintenance_rate for m in self.markets]

    @property
    def initial_rates(self) -> list[int]:
        return [m.initial_rate for m in self.markets]


@contextmanager
def home_lock(home: Path) -> Iterator[None]:
    """An exclusive lock on ``$ZKMARGIN_HOME/.bootstrap.lock`` (processes queue on it)."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".bootstrap.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _development_credentials(settings: Settings, need_oracles: bool) -> dict:
    """Read the development credentials file, creating (or completing) it if needed (mode 0600)."""
    path = settings.credentials_file
    data: dict = {}
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise OracleConfigError(f"cannot read the development credentials in {path}: {exc}") from None
    changed = False
    for name in ("operator_token", "venue_token"):
        if not isinstance(data.get(name), str):
            data[name] = secrets.token_urlsafe(32)
            changed = True
    if need_oracles and not data.get("oracles"):
        keys = [generate_oracle_key() for _ in range(DEV_ORACLE_COUNT)]
        data["oracles"] = [{"name": f"dev-oracle-{i}", "public_key": public_key_bytes(k).hex(),
                            "private_key": private_key_to_hex(k)} for i, k in enumerate(keys)]
        changed = True
    if changed:
        write_atomically(path, json.dumps(data, indent=1).encode(), mode=0o600)
    return data


def resolve_runtime(settings: Settings) -> Runtime:
    """Settings -> Runtime, creating development credentials where nothing is configured."""
    defaults: list[str] = []
    database_url = settings.resolved_database_url
    if not settings.database_url:
        defaults.append(f"database: SQLite file {settings.home / DEFAULT_SQLITE_FILE}")
    markets = settings.markets
    if markets is None:
        markets = tuple(MarketConfig(**m) for m in DEFAULT_MARKETS)
        defaults.append("markets: " + ", ".join(
            f"{m.name} (maintenance {m.maintenance_rate / RATE_SCALE:.0%}, initial {m.initial_rate / RATE_SCALE:.0%})"
            for m in markets))
    check_portfolio_underlyings(settings.margin_mode, markets)
    need_tokens = settings.operator_token is None or settings.venue_token is None
    need_oracles = settings.oracle_keys is None
    credentials: dict = {}
    if need_tokens or need_oracles:
        credentials = _development_credentials(settings, need_oracles)
    operator = settings.operator_token.get_secret_value() if settings.operator_token else credentials["operator_token"]
    venue = settings.venue_token.get_secret_value() if settings.venue_token else credentials["venue_token"]
    if not operator or not venue or operator == venue:
        raise OracleConfigError("the operator and venue tokens must be set, and differ")
    if need_tokens:
        defaults.append(f"development operator/venue tokens in {settings.credentials_file}")
    if need_oracles:
        oracles = {o["public_key"]: o["name"] for o in credentials["oracles"]}
        defaults.append(f"{len(oracles)} development oracle keys (private halves in {settings.credentials_file})")
    else:
        oracles = dict(settings.oracle_keys or {})
    try:
        registry = OracleRegistry(oracles)  # checks keys (canonical, prime order) and unique names
    except OracleConfigError as exc:
        source = "the development credentials" if need_oracles else "ZKMARGIN_ORACLE_KEYS"
        raise type(exc)(f"{source}: {exc}") from None
    quorum = quorum_for(settings.oracle_faults)
    if len(registry) < quorum:
        raise OracleConfigError(
            f"{len(registry)} oracle(s) configured, but tolerating ZKMARGIN_ORACLE_FAULTS = {settings.oracle_faults} "
            f"lying oracle(s) needs reports of 2f + 1 = {quorum} distinct oracles: configure at least {quorum} "
            "oracle keys in ZKMARGIN_ORACLE_KEYS")
    return Runtime(settings, database_url, settings.curve, markets, operator, venue, oracles, settings.oracle_faults,
                   guardians=load_guardian_set(settings.guardian_set, settings.curve), embedded_defaults=defaults)


def load_guardian_set(path: Path | None, curve: str) -> GuardianSet | None:
    """The guardian set the service publishes, checked whole (points in the subgroup, one polynomial)
    and on the curve embedded in this deployment's proof system; refused in one line otherwise."""
    if path is None:
        return None
    where = f"ZKMARGIN_GUARDIAN_SET ({path})"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise GuardianConfigError(f"{where}: cannot read it: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise GuardianConfigError(f"{where}: not JSON: {exc}") from None
    try:
        guardians = guardian_set_from_json(document, source="guardian set")
    except ZkMarginError as exc:
        raise GuardianConfigError(f"{where}: {exc}") from None
    expected = embedded_curve(curve)
    if guardians.curve != expected:
        raise GuardianConfigError(f"{where}: a key on {guardians.curve.name}, but proofs on {curve} "
                                  f"escrow to {expected.name}")
    return guardians


def sync_configuration(database: Database, runtime: Runtime) -> None:
    """Write the configured markets and oracle keys; refuse a market set the database contradicts."""
    with database.unit_of_work() as session:
        stored = {m.id: m for m in session.scalars(select(Market))}
        if stored and len(stored) != runtime.market_count:
            raise DatabaseConfigurationError(
                f"the database has {len(stored)} markets, the configuration {runtime.market_count}: "
                "the market count is part of every commitment and cannot change")
        for index, config in enumerate(runtime.markets):
            market = stored.get(index)
            if market is None:
                session.add(Market(id=index, name=config.name, price_scale=config.price_scale,
                                   maintenance_rate=config.maintenance_rate, initial_rate=config.initial_rate,
                                   created_at=utc_now()))
            elif market.name != config.name:
                raise DatabaseConfigurationError(
                    f"market {index} is {market.name!r} in the database but {config.name!r} in the configuration")
            elif (market.price_scale, market.maintenance_rate, market.initial_rate) != (
                    config.price_scale, config.maintenance_rate, config.initial_rate):
                log.info("market %s: rates updated from the configuration", config.name,
                         extra={"event": "market_updated", "market": config.name})
                market.price_scale, market.maintenance_rate = config.price_scale, config.maintenance_rate
                market.initial_rate = config.initial_rate
        session.flush()
        sync_oracles(session, runtime.oracles)


def sync_oracles(session: Session, configured: dict[str, str]) -> list[str]:
    """Make the database's oracle registry the configured one; returns the keys revoked now.

    A configured key is registered if new; a stored key that is not configured is revoked (kept
    as history: its reports are never counted again, those already stored included). A revoked
    key stays revoked: configuring it again is refused, since whoever made the operator revoke it
    may still hold it.
    """
    known = {k.public_key: k for k in session.scalars(select(OracleKey).with_for_update())}
    names = {k.name: k.public_key for k in known.values()}
    for public_key, name in configured.items():
        key = known.get(public_key)
        if key is not None and key.revoked_at is not None:
            raise OracleConfigError(
                f"oracle {public_key} ({key.name!r}) in ZKMARGIN_ORACLE_KEYS was revoked at "
                f"{key.revoked_at.isoformat()} ({key.revoked_reason}): a revoked key is never trusted again; "
                "remove it from the configuration and give the oracle a new key")
        if key is not None:
            continue
        if name in names:
            holder = known[names[name]]
            kept = " (revoked: its name stays with it as history)" if holder.revoked_at is not None else ""
            raise OracleConfigError(f"oracle name {name!r} is already used by {names[name]}{kept}: pick another name")
        session.add(OracleKey(public_key=public_key, name=name, created_at=utc_now()))
    revoked = []
    now = utc_now()
    for public_key, key in known.items():
        if public_key not in configured and key.revoked_at is None:
            key.revoked_at, key.revoked_reason = now, REMOVED_FROM_CONFIGURATION
            revoked.append(public_key)
            log.warning("oracle %s (%s) is not in ZKMARGIN_ORACLE_KEYS: revoked", key.name, public_key,
                        extra={"event": "oracle_revoked", "oracle": public_key, "oracle_name": key.name})
    session.flush()
    return revoked


def prepare_runtime(settings: Settings) -> Runtime:
    """Everything start-up needs, under the home lock: credentials, migrations, keys, configuration."""
    with home_lock(settings.home):
        runtime = resolve_runtime(settings)
        runtime.operator_key = load_operator_key(settings.operator_signing_key_file,
                                                 create=settings.operator_signing_key is None)
        upgrade_database(runtime.database_url)
        runtime.keys = load_statement_keys(settings.resolved_keys_dir, runtime.market_count, runtime.curve,
                                           generate=settings.generate_keys, escrow=runtime.guardians is not None,
                                           portfolio=settings.margin_mode == "portfolio")
        database = Database.connect(runtime.database_url)
        try:
            sync_configuration(database, runtime)
        finally:
            database.dispose()
    return runtime
