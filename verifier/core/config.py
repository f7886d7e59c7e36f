"""The service's settings: environment variables with the prefix ``ZKMARGIN_``.

Nothing is required. Whatever is not configured falls back to an embedded default under
``ZKMARGIN_HOME`` (``~/.zkmargin``, also when the variable is set but empty: the home every
zkmargin command resolves, ``circuits.protocol.home``), and the log says which defaults are in use:

================================  ==========================================================
``ZKMARGIN_DATABASE_URL``         ``sqlite:///$ZKMARGIN_HOME/verifier.sqlite3``
``ZKMARGIN_OPERATOR_TOKEN``       generated, written to ``$ZKMARGIN_HOME/dev-credentials.json``
``ZKMARGIN_VENUE_TOKEN``          generated, same file
``ZKMARGIN_ORACLE_KEYS``          3 generated oracle keys (private halves in the same file)
``ZKMARGIN_ORACLE_FAULTS``        1 (a price needs reports of 2f + 1 = 3 distinct oracles)
``ZKMARGIN_CIRCUIT_BREAKER_*``    ``MAX_SPREAD`` 50000, ``MAX_MOVE`` 200000 (millionths)
``ZKMARGIN_MARKETS``              BTC-USD and ETH-USD, maintenance 5 %, initial 10 %
``ZKMARGIN_CURVE``                bls12381
``ZKMARGIN_KEYS_DIR``             ``$ZKMARGIN_HOME/keys`` (the prover's key store layout)
``ZKMARGIN_OPERATOR_SIGNING_KEY`` generated at ``$ZKMARGIN_HOME/operator-signing-key.json`` (0600)
``ZKMARGIN_LIQUIDATION_GRACE_SECONDS``  3600 (a margin call may cure until deadline + grace)
``ZKMARGIN_LIQUIDATION_PENALTY_RATE``   200000 (millionths of the closed maintenance requirement)
``ZKMARGIN_BACKSTOP_ACCOUNT``     none (liquidations open states but cannot close them out)
``ZKMARGIN_MARGIN_MODE``          flat (``portfolio``: scenario margin over the risk arrays)
``ZKMARGIN_PORTFOLIO_INITIAL_FACTOR`` 1250000 (millionths: initial margin scales the scenario losses)
``ZKMARGIN_VOL_BREAKER_*``        ``MAX_SPREAD`` 50000, ``MAX_MOVE`` 200000 (vol millionths, absolute)
================================  ==========================================================

Lists and mappings are JSON: ``ZKMARGIN_MARKETS='[{"name": "BTC-USD", "maintenance_rate":
50000, "initial_rate": 100000}]'``, ``ZKMARGIN_ORACLE_KEYS='{"<64 hex>": "oracle-a", ...}'``.
Rates are in millionths (``RATE_SCALE``).

An **option** market adds ``"option": {"right": "call", "strike": 60000, "expiry": 1767225600,
"underlying": 0}`` (strike at the underlying's price scale, expiry in Unix seconds, the
underlying a non-option market of the list); options need ``ZKMARGIN_MARGIN_MODE=portfolio``,
where the risk model marks them (docs/protocol.md §10). ``MarketConfig.instrument(i)`` is the
risk model's view of market i.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from circuits.protocol.home import home_from, zkmargin_home
from circuits.protocol.keystore import keys_dir_in
from circuits.protocol.risk.black_scholes import VOL_MAX
from circuits.protocol.risk.scenarios import DEFAULT_INITIAL_FACTOR, MAX_INITIAL_FACTOR
from circuits.protocol.risk.instruments import PRICE_LIMIT, TIMESTAMP_LIMIT, Future, Instrument, Option, OptionRight
from circuits.state import MAX_MARKETS, RATE_SCALE
from verifier.db.engine import resolve_database_url
from verifier.errors import MarketConfigError

ENV_PREFIX = "ZKMARGIN_"
DEFAULT_MARKETS = (
    {"name": "BTC-USD", "maintenance_rate": 50_000, "initial_rate": 100_000},
    {"name": "ETH-USD", "maintenance_rate": 50_000, "initial_rate": 100_000},
)
DEV_ORACLE_COUNT = 3  # 2f + 1 for the default f = 1
DEFAULT_MAX_SPREAD = 50_000  # 5 % of the median, in millionths
DEFAULT_MAX_MOVE = 200_000  # 20 % of the previous snapshot's price, in millionths
DEFAULT_FUNDING_SPREAD = 500  # 0.05 % of the price an epoch, absolute (a rate may be 0)
DEFAULT_FUNDING_MOVE = 1_000  # 0.1 % of the price an epoch, absolute


class OptionConfig(BaseModel):
    """A European option on one base unit of another market (``underlying``, its index)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    right: Literal["call", "put"]
    strike: int = Field(ge=1, lt=PRICE_LIMIT, strict=True)
    expiry: int = Field(ge=0, lt=TIMESTAMP_LIMIT, strict=True)
    underlying: int = Field(ge=0, lt=MAX_MARKETS, strict=True)


class MarketConfig(BaseModel):
    """One market; its position in the list is its index m in the circuits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64)
    maintenance_rate: int = Field(ge=0, le=RATE_SCALE, strict=True)
    initial_rate: int = Field(ge=0, le=RATE_SCALE, strict=True)
    price_scale: int = Field(default=1, ge=1, lt=1 << 63, strict=True)
    # a future settles price moves only (funding step 0); a perpetual also pays funding each epoch
    # from the oracles' signed funding rates (docs/protocol.md, "Perpetual funding")
    kind: Literal["future", "perpetual"] = "future"
    option: OptionConfig | None = None  # None: a linear future (flat or portfolio mode)

    def instrument(self, index: int) -> Instrument:
        """The risk model's instrument for this market at position ``index``: a future on itself,
        or an option on its underlying."""
        if self.option is None:
            return Future(index, perpetual=self.kind == "perpetual")
        return Option(self.option.underlying, OptionRight(self.option.right), self.option.strike, self.option.expiry)

    @model_validator(mode="after")
    def _ordered(self) -> MarketConfig:
        if self.maintenance_rate > self.initial_rate:
            raise ValueError(f"market {self.name}: the maintenance rate exceeds the initial rate")
        if self.option is not None and self.kind != "future":
            raise ValueError(f"market {self.name}: an option pays no funding; only a linear market can be perpetual")
        return self



def check_portfolio_underlyings(margin_mode: str, markets: tuple[MarketConfig, ...]) -> None:
    """Portfolio mode margins one underlying: its futures and the options on it.

    Every scenario moves every underlying by the same fraction at once (docs/protocol.md §10.3),
    so between two underlyings a long and a short of equal value would offset in every scenario
    and need no margin at all, as if the two prices could not move apart. SPAN scans each
    underlying on its own and adds the worst losses; until the statements do that, a portfolio
    deployment with a second underlying is refused rather than under-margined."""
    underlyings = [m.name for m in markets if m.option is None]
    if margin_mode == "portfolio" and len(underlyings) > 1:
        raise MarketConfigError(
            f"ZKMARGIN_MARGIN_MODE=portfolio margins one underlying (its futures and the options on it), got "
            f"{len(underlyings)}: {', '.join(underlyings)}. The scenarios move every underlying together, which "
            "would let positions in different underlyings offset; configure ZKMARGIN_MARKETS with one "
            "non-option market, or use the flat mode")

class Settings(BaseSettings):
    """Everything the operator can configure; see the module docstring for the defaults."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    home: Path = Field(default_factory=zkmargin_home)
    database_url: str | None = None
    keys_dir: Path | None = None
    curve: str = "bls12381"
    markets: tuple[MarketConfig, ...] | None = None

    operator_token: SecretStr | None = None
    venue_token: SecretStr | None = None

    # public key (64 lower-case hex) -> name: the registry. A key stored in the database but not
    # listed here is revoked at start-up (kept only as history).
    oracle_keys: dict[str, str] | None = None
    # f, the lying oracles tolerated: a price needs fresh reports of 2f + 1 distinct oracles, so at
    # least 2f + 1 must be configured. 0 is refused: one oracle would set the price.
    oracle_faults: int = Field(default=1, ge=1, le=1000)
    oracle_quorum: int | None = None  # replaced by oracle_faults; refused if set (see the validator)
    oracle_staleness_seconds: int = Field(default=300, ge=1)
    oracle_skew_seconds: int = Field(default=5, ge=0)
    # circuit breaker, in millionths: an epoch does not open or close (unless the operator
    # confirms) when a market's counted reports lie further than this from their median ...
    circuit_breaker_max_spread: int = Field(default=DEFAULT_MAX_SPREAD, ge=0, lt=1 << 63)
    # ... or when its median moved further than this from the previous snapshot's price
    circuit_breaker_max_move: int = Field(default=DEFAULT_MAX_MOVE, ge=0, lt=1 << 63)
    # funding rates (millionths of the price an epoch): the counted reports may lie this far from
    # their median, and the median may move this far from the market's previous epoch's rate
    funding_breaker_max_spread: int = Field(default=DEFAULT_FUNDING_SPREAD, ge=0, le=2 * RATE_SCALE)
    funding_breaker_max_move: int = Field(default=DEFAULT_FUNDING_MOVE, ge=0, le=2 * RATE_SCALE)

    attestation_window_seconds: int = Field(default=3600, ge=0)  # epoch opening -> attestation deadline
    settlement_window_seconds: int = Field(default=3600, ge=0)  # epoch closing -> settlement deadline
    fill_window_seconds: int = Field(default=3600, ge=0)  # fill posted -> apply deadline (default)

    # account openings (unauthenticated) allowed per client address and minute, in each worker
    # process (see ``verifier.services.ratelimit``); 0: no limit
    account_openings_per_minute: int = Field(default=60, ge=0)

    max_request_bytes: int = Field(default=64 * 1024, ge=1024)
    max_batch: int = Field(default=64, ge=1)
    # how long a verification batch about to start waits for requests being planned (see
    # ``verifier.batching.BatchVerifier.announce``); 0: never wait
    batch_gather_ms: float = Field(default=10.0, ge=0, le=1000)
    # worker processes of this service on the machine (``zkmargin serve --workers`` sets it for its
    # workers): each worker's batch verification uses its share of the cores, not all of them
    workers: int = Field(default=1, ge=1)
    # the guardians' public key set (guardian-set.json of `zkmargin guardian dkg finish`); none: no liquidation key
    guardian_set: Path | None = None
    # liquidation (docs/protocol.md "Liquidation"): the file of the operator's Ed25519 signing key
    # (generated in home when unset), the cure window after a missed attestation deadline, the
    # penalty in millionths of the closed positions' maintenance requirement, the backstop account
    operator_signing_key: Path | None = None
    liquidation_grace_seconds: int = Field(default=3600, ge=0, lt=1 << 32)
    liquidation_penalty_rate: int = Field(default=200_000, ge=0, le=RATE_SCALE)
    backstop_account: int | None = Field(default=None, ge=0, lt=1 << 63)
    # flat: requirement = sum |b P| rate; portfolio: the scenario check over the epoch's risk arrays
    margin_mode: Literal["flat", "portfolio"] = "flat"
    # portfolio mode: withdrawals, fills and a close-out's target hold the scenario rule with every
    # scenario's loss and the short charge scaled by this factor (millionths, >= 1): the initial
    # margin of docs/protocol.md §10.6; attestations hold it at 1 (maintenance)
    portfolio_initial_factor: int = Field(default=DEFAULT_INITIAL_FACTOR, ge=RATE_SCALE, le=MAX_INITIAL_FACTOR)
    # the implied-volatility reports' breaker (circuits/protocol/vol_report.py), in vol millionths
    vol_breaker_max_spread: int = Field(default=DEFAULT_MAX_SPREAD, ge=0, le=VOL_MAX)
    vol_breaker_max_move: int = Field(default=DEFAULT_MAX_MOVE, ge=0, le=VOL_MAX)
    generate_keys: bool = True  # run a (single-party, development) setup for missing keys
    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("home", mode="before")
    @classmethod
    def _home(cls, value: object) -> object:
        # ZKMARGIN_HOME= (set but empty) means the default, as for every other zkmargin command
        return home_from(value) if value is None or value == "" else value

    @field_validator("curve")
    @classmethod
    def _known_curve(cls, value: str) -> str:
        from zkmargin.curves import get_curve
        from zkmargin.errors import UnknownCurveError

        try:
            return get_curve(value).name
        except UnknownCurveError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("oracle_quorum")
    @classmethod
    def _no_quorum(cls, value: int | None) -> None:
        # Mapping a quorum q to f = (q - 1) // 2 would silently change what an operator asked for
        # (the old default, a majority of 3, is the 2 that let one liar set the price).
        if value is not None:
            raise ValueError(
                "ZKMARGIN_ORACLE_QUORUM is no longer supported: a price now needs 2f + 1 distinct oracles, where "
                "f is ZKMARGIN_ORACLE_FAULTS (default 1, so 3 oracles); unset ZKMARGIN_ORACLE_QUORUM and set "
                "ZKMARGIN_ORACLE_FAULTS instead")
        return None

    @field_validator("markets")
    @classmethod
    def _market_list(cls, value: tuple[MarketConfig, ...] | None) -> tuple[MarketConfig, ...] | None:
        if value is None:
            return None
        if not 1 <= len(value) <= MAX_MARKETS:
            raise ValueError(f"configure 1..{MAX_MARKETS} markets, got {len(value)}")
        names = [m.name for m in value]
        if len(set(names)) != len(names):
            raise ValueError("market names must be unique")
        for market in value:
            if market.option is not None:
                underlying = market.option.underlying
                if underlying >= len(value) or value[underlying].option is not None:
                    raise ValueError(f"option market {market.name}: the underlying {underlying} must be a "
                                     "non-option market of the list")
        return value

    @model_validator(mode="after")
    def _options_need_portfolio_mode(self) -> Settings:
        options = [m.name for m in self.markets or () if m.option is not None]
        if options and self.margin_mode != "portfolio":
            raise ValueError(f"option markets ({', '.join(options)}) need ZKMARGIN_MARGIN_MODE=portfolio: a flat "
                             "rate cannot margin an option's non-linear risk")
        if self.markets is not None:
            check_portfolio_underlyings(self.margin_mode, self.markets)
        return self

    @property
    def resolved_database_url(self) -> str:
        """The configured database, else the SQLite file in ``home`` (the one ``ledger verify`` reads)."""
        return resolve_database_url(self.database_url, self.home)

    @property
    def resolved_keys_dir(self) -> Path:
        return self.keys_dir or keys_dir_in(self.home)

    @property
    def operator_signing_key_file(self) -> Path:
        return self.operator_signing_key or self.home / "operator-signing-key.json"

    @property
    def credentials_file(self) -> Path:
        return self.home / "dev-credentials.json"
