"""Signed oracle prices and per-epoch price snapshots (StarkEx-style: median of a signed quorum).

The verifier never takes a price from a single source or from an unsigned number. Oracles hold
Ed25519 keys; each **report** says "market m was worth price p at time t" and is signed over a
canonical byte string. An epoch's **snapshot** takes, per market, the fresh valid reports (at
most one per oracle), requires a quorum of distinct oracles and takes their lower median.

Encoding choices
----------------
- **Identity**: an oracle is its raw 32-byte Ed25519 public key (hex in JSON); the registry
  gives it a human name for messages.
- **Market**: the market index 0..M-1, the index the circuits' price vector uses.
- **Price**: an integer in [1, 2^48) (``circuits.state.PRICE_BITS``), collateral units per base
  unit; never a float, never rounded.
- **Timestamp**: integer **seconds** since the Unix epoch (UTC), as StarkEx signs them. Staleness
  windows are minutes, so sub-second precision buys nothing and costs a unit ambiguity.
- **Signed bytes** (never JSON, whose spelling is not unique)::

      b"zkmargin/oracle-report/v1" 0x00 | public key (32) | market u32 | price u64 | timestamp u64

  all big-endian and fixed width, so the encoding is injective; the NUL ends the domain tag so
  no other zkmargin tag (say ``.../v10``) can be a prefix of it. The public key is signed too
  (Ed25519 already hashes it, but an explicit field keeps the statement self-contained).
- **Report digest**: SHA-256 of the signed bytes: it names the signed statement, so a
  byte-identical resubmission is the same report.
- **JSON** (``SignedReport.to_json``)::

      {"oracle": "<64 hex>", "market": 0, "price": 123, "timestamp": 1700000000,
       "signature": "<128 hex>"}

  lower-case hex, JSON integers (all values are below 2^64 and prices below 2^48 < 2^53, so
  JavaScript clients read them exactly). Parsing is strict: unknown, missing or duplicate
  fields, floats (``1.0`` too), booleans, strings for integers and wrong lengths are errors.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from circuits.state import EPOCH_BITS, PRICE_BITS, check_markets
from verifier.errors import (
    BadSignatureError,
    EquivocationError,
    FutureReportError,
    OracleConfigError,
    OracleError,
    OracleFormatError,
    PriceRangeError,
    QuorumError,
    StaleReportError,
    UnknownMarketError,
    UnknownOracleError,
)
from zkmargin.formats.snarkjs import reject_duplicate_keys

REPORT_DOMAIN = b"zkmargin/oracle-report/v1\x00"
SNAPSHOT_DOMAIN = b"zkmargin/price-snapshot/v1\x00"
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64
DIGEST_BYTES = 32
MIN_PRICE = 1
MAX_PRICE = (1 << PRICE_BITS) - 1
DEFAULT_SKEW = 5  # seconds an oracle's clock may run ahead of ours

_U32 = 1 << 32
_U64 = 1 << 64
_REPORT_LAYOUT = struct.Struct(">32sIQQ")
_REPORT_FIELDS = ("oracle", "market", "price", "timestamp", "signature")
_SNAPSHOT_FIELDS = ("epoch", "taken_at", "prices", "reports", "digest")


# --- small checks ---------------------------------------------------------------------------

def _integer(name: str, value: Any, low: int, high: int, error: type[OracleError] = OracleFormatError) -> int:
    """An exact int in [low, high); bools are ints to Python but never a price or a time."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if not low <= value < high:
        raise error(f"{name} = {value} is outside [{low}, {high})")
    return value


def _raw_bytes(name: str, value: Any, length: int) -> bytes:
    """Exactly ``length`` bytes: keys, signatures and digests have one size each."""
    if not isinstance(value, (bytes, bytearray)):
        raise OracleFormatError(f"{name} must be bytes, got {type(value).__name__}")
    if len(value) != length:
        raise OracleFormatError(f"{name} must be {length} bytes, got {len(value)}")
    return bytes(value)


def _from_hex(name: str, value: Any, length: int) -> bytes:
    """Canonical lower-case hex only: ``bytes.fromhex`` alone would also take spaces and case."""
    if not isinstance(value, str):
        raise OracleFormatError(f"{name} must be a hex string, got {type(value).__name__}")
    if not re.fullmatch(f"[0-9a-f]{{{2 * length}}}", value):
        raise OracleFormatError(f"{name} must be {2 * length} lower-case hex characters ({length} bytes), got {len(value)} characters")
    return bytes.fromhex(value)


def _reject_float(text: str) -> Any:
    raise OracleFormatError(f"floats are not accepted, got {text}: prices and times are integers")


def _reject_constant(text: str) -> Any:
    raise OracleFormatError(f"{text} is not a JSON value")


# two values for one key would let two readers see two different reports
_UNIQUE_KEYS = reject_duplicate_keys(lambda key: OracleFormatError(f"duplicate field {key!r}"))


def _load_json(text: str | bytes, what: str) -> Any:
    """json.loads that refuses floats, NaN/Infinity and duplicate keys."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise OracleFormatError(f"{what} is not UTF-8: {exc}") from None
    if not isinstance(text, str):
        raise OracleFormatError(f"{what} must be JSON text, got {type(text).__name__}")
    try:
        return json.loads(text, parse_float=_reject_float, parse_constant=_reject_constant,
                          object_pairs_hook=_UNIQUE_KEYS)
    except json.JSONDecodeError as exc:
        raise OracleFormatError(f"{what} is not valid JSON: {exc}") from None


def _exact_fields(data: Any, fields: tuple[str, ...], what: str) -> None:
    """An object with exactly these fields: an unknown one is a mistake the sender should hear of."""
    if not isinstance(data, dict):
        raise OracleFormatError(f"{what} must be a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise OracleFormatError(f"{what} has unknown field(s) {', '.join(map(repr, unknown))}; expected {', '.join(fields)}")
    missing = [f for f in fields if f not in data]
    if missing:
        raise OracleFormatError(f"{what} is missing field(s) {', '.join(map(repr, missing))}")


# --- keys -----------------------------------------------------------------------------------

def generate_oracle_key() -> Ed25519PrivateKey:
    """A new oracle signing key from the OS CSPRNG."""
    return Ed25519PrivateKey.generate()


def public_key_bytes(key: Ed25519PrivateKey | Ed25519PublicKey | bytes | str) -> bytes:
    """The raw 32-byte public key (the oracle's identity) from a key object, raw bytes or hex."""
    if isinstance(key, Ed25519PrivateKey):
        return key.public_key().public_bytes_raw()
    if isinstance(key, Ed25519PublicKey):
        return key.public_bytes_raw()
    if isinstance(key, str):
        return _from_hex("oracle public key", key, PUBLIC_KEY_BYTES)
    return _raw_bytes("oracle public key", key, PUBLIC_KEY_BYTES)


def private_key_to_hex(key: Ed25519PrivateKey) -> str:
    """The raw 32-byte seed as hex, for an oracle's configuration file."""
    return key.private_bytes_raw().hex()


def private_key_from_hex(text: str) -> Ed25519PrivateKey:
    """Inverse of ``private_key_to_hex``."""
    return Ed25519PrivateKey.from_private_bytes(_from_hex("oracle private key", text, 32))


# --- reports --------------------------------------------------------------------------------

def report_message(oracle: bytes, market: int, price: int, timestamp: int) -> bytes:
    """The exact bytes an oracle signs (see the module docstring); fixed width, never JSON."""
    _raw_bytes("oracle public key", oracle, PUBLIC_KEY_BYTES)
    _integer("market", market, 0, _U32)
    _integer("price", price, 0, _U64)
    _integer("timestamp", timestamp, 0, _U64)
    return REPORT_DOMAIN + _REPORT_LAYOUT.pack(oracle, market, price, timestamp)


@dataclass(frozen=True)
class SignedReport:
    """One oracle's signed statement: ``market`` was worth ``price`` at ``timestamp`` (seconds).

    Construction checks only the encoding (lengths, integer widths); whether the report is
    acceptable (known oracle, valid signature, price range, freshness) is ``verify_report``'s
    job, so a refused report can still be represented and its refusal explained.
    """

    oracle: bytes
    market: int
    price: int
    timestamp: int
    signature: bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "oracle", _raw_bytes("oracle public key", self.oracle, PUBLIC_KEY_BYTES))
        object.__setattr__(self, "signature", _raw_bytes("signature", self.signature, SIGNATURE_BYTES))
        _integer("market", self.market, 0, _U32)
        _integer("price", self.price, 0, _U64)
        _integer("timestamp", self.timestamp, 0, _U64)

    @property
    def oracle_id(self) -> str:
        """The oracle's public key in hex, as it appears in JSON and in the registry."""
        return self.oracle.hex()

    def message(self) -> bytes:
        return report_message(self.oracle, self.market, self.price, self.timestamp)

    def digest(self) -> bytes:
        """SHA-256 of the signed bytes: names the signed statement (the message is domain-tagged)."""
        return hashlib.sha256(self.message()).digest()

    def to_dict(self) -> dict[str, Any]:
        return {"oracle": self.oracle.hex(), "market": self.market, "price": self.price,
                "timestamp": self.timestamp, "signature": self.signature.hex()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Any) -> SignedReport:
        """Strict: exactly the five fields, integers as JSON integers, lower-case hex."""
        _exact_fields(data, _REPORT_FIELDS, "oracle report")
        return cls(
            oracle=_from_hex("oracle", data["oracle"], PUBLIC_KEY_BYTES),
            market=_integer("market", data["market"], 0, _U32),
            price=_integer("price", data["price"], 0, _U64),
            timestamp=_integer("timestamp", data["timestamp"], 0, _U64),
            signature=_from_hex("signature", data["signature"], SIGNATURE_BYTES),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> SignedReport:
        return cls.from_dict(_load_json(text, "oracle report"))


def sign_report(private_key: Ed25519PrivateKey, market: int, price: int, timestamp: int) -> SignedReport:
    """Sign a price report. Refuses a price the circuits could not use rather than sign it."""
    _integer("price", price, MIN_PRICE, MAX_PRICE + 1, PriceRangeError)
    oracle = public_key_bytes(private_key)
    signature = private_key.sign(report_message(oracle, market, price, timestamp))
    return SignedReport(oracle, market, price, timestamp, signature)


# --- the registry ---------------------------------------------------------------------------

class OracleRegistry:
    """The oracle public keys the operator accepts, each with a unique human-readable name."""

    def __init__(self, oracles: Mapping[Any, str] | Iterable[Any] = ()):
        """``oracles``: a mapping key -> name, or an iterable of keys (named by key prefix)."""
        self._keys: dict[bytes, Ed25519PublicKey] = {}
        self._names: dict[bytes, str] = {}
        if isinstance(oracles, Mapping):
            for key, name in oracles.items():
                self.register(key, name)
        else:
            for key in oracles:
                self.register(key)

    def register(self, public_key: Ed25519PublicKey | Ed25519PrivateKey | bytes | str, name: str | None = None) -> bytes:
        """Add an oracle; returns its id (raw public key). Re-registering the same pair is a no-op."""
        raw = public_key_bytes(public_key)
        name = raw.hex()[:16] if name is None else name
        if not isinstance(name, str) or not name:
            raise OracleConfigError(f"an oracle name must be a non-empty string, got {name!r}")
        if raw in self._names:
            if self._names[raw] != name:
                raise OracleConfigError(f"oracle {raw.hex()} is already registered as {self._names[raw]!r}")
            return raw
        if name in self._names.values():
            raise OracleConfigError(f"another oracle is already named {name!r}")
        try:
            self._keys[raw] = Ed25519PublicKey.from_public_bytes(raw)
        except ValueError as exc:
            raise OracleConfigError(f"{raw.hex()} is not an Ed25519 public key: {exc}") from None
        self._names[raw] = name
        return raw

    def __contains__(self, oracle: object) -> bool:
        return oracle in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._keys)

    def name(self, oracle: bytes) -> str:
        return self._names[oracle]

    def public_key(self, oracle: bytes) -> Ed25519PublicKey:
        """The key object for a registered oracle; UnknownOracleError otherwise."""
        try:
            return self._keys[oracle]
        except KeyError:
            raise UnknownOracleError(f"oracle {oracle.hex()} is not registered") from None


# --- verifying one report -------------------------------------------------------------------

def _check_signature(report: SignedReport, registry: OracleRegistry) -> None:
    """First of all checks: nothing else a report claims is worth reading until it is authentic."""
    key = registry.public_key(report.oracle)
    try:
        key.verify(report.signature, report.message())
    except InvalidSignature:
        raise BadSignatureError(
            f"the signature of oracle {registry.name(report.oracle)!r} does not match report "
            f"(market {report.market}, price {report.price}, timestamp {report.timestamp})") from None


def _check_time(report: SignedReport, now: int, skew: int, staleness: int | None) -> None:
    """Fresh means now - staleness <= timestamp <= now + skew (seconds)."""
    if report.timestamp > now + skew:
        raise FutureReportError(
            f"report for market {report.market} is dated {report.timestamp}, {report.timestamp - now} s "
            f"after now ({now}); at most {skew} s of clock skew is allowed")
    if staleness is not None and report.timestamp < now - staleness:
        raise StaleReportError(
            f"report for market {report.market} is dated {report.timestamp}, {now - report.timestamp} s "
            f"before now ({now}); the staleness window is {staleness} s")


def verify_report(report: SignedReport, registry: OracleRegistry, *, markets: int, now: int | None = None,
                  skew: int = DEFAULT_SKEW, staleness: int | None = None) -> None:
    """Raise an OracleError subclass unless the report is acceptable; return None otherwise.

    Checks, in order: registered oracle, signature, market in 0..markets-1, price in
    [1, 2^48), timestamp at most ``skew`` seconds in the future and, if ``staleness`` is given,
    at most ``staleness`` seconds old. ``now`` defaults to the system clock (integer seconds).
    """
    if not isinstance(report, SignedReport):
        raise OracleFormatError(f"expected a SignedReport, got {type(report).__name__}")
    check_markets(markets)
    now = int(time.time()) if now is None else _integer("now", now, 0, _U64, OracleConfigError)
    _integer("skew", skew, 0, _U64, OracleConfigError)
    if staleness is not None:
        _integer("staleness", staleness, 0, _U64, OracleConfigError)
    _check_signature(report, registry)
    if report.market >= markets:
        raise UnknownMarketError(f"market {report.market} does not exist (markets are 0..{markets - 1})")
    _integer(f"price of market {report.market}", report.price, MIN_PRICE, MAX_PRICE + 1, PriceRangeError)
    _check_time(report, now, skew, staleness)


# --- snapshots ------------------------------------------------------------------------------

def lower_median(values: Iterable[int]) -> int:
    """The element at index (n - 1) // 2 of the sorted values.

    For an even count this is the lower of the two middle values, not their average: averaging
    would need a division and a rounding rule (prices are integers and nothing in the protocol
    rounds), and the result would be a price no oracle signed. The lower median is always a
    value some oracle actually signed, so every snapshot price can be traced to a signature.
    """
    ordered = sorted(values)
    if not ordered:
        raise ValueError("the median of no values")
    return ordered[(len(ordered) - 1) // 2]


@dataclass(frozen=True)
class PriceSnapshot:
    """An epoch's prices, immutable; ``digest()`` shows a closed snapshot never changed.

    ``report_digests[m]`` are the digests of the reports that priced market m (one per oracle,
    sorted), so the price can be recomputed from the stored reports.
    """

    epoch: int
    taken_at: int
    prices: tuple[int, ...]
    report_digests: tuple[tuple[bytes, ...], ...]

    def __post_init__(self) -> None:
        _integer("epoch", self.epoch, 0, 1 << EPOCH_BITS)
        _integer("taken_at", self.taken_at, 0, _U64)
        prices = tuple(self.prices)
        digests = tuple(tuple(_raw_bytes("report digest", d, DIGEST_BYTES) for d in market) for market in self.report_digests)
        if not 1 <= len(prices) <= 0xFFFF:
            raise OracleFormatError(f"a snapshot prices 1..65535 markets, got {len(prices)}")
        if len(digests) != len(prices):
            raise OracleFormatError(f"{len(prices)} prices but report digests for {len(digests)} markets")
        for m, (price, used) in enumerate(zip(prices, digests)):
            _integer(f"price of market {m}", price, MIN_PRICE, MAX_PRICE + 1)
            if not used or len(used) > 0xFFFF or list(used) != sorted(set(used)):
                raise OracleFormatError(f"market {m}: report digests must be 1..65535 distinct, sorted digests")
        object.__setattr__(self, "prices", prices)
        object.__setattr__(self, "report_digests", digests)

    @property
    def markets(self) -> int:
        return len(self.prices)

    def encoding(self) -> bytes:
        """Canonical bytes: domain | epoch u64 | taken_at u64 | M u16 | per market: price u64,
        count u16, digests. Fixed widths and counts make it injective."""
        parts = [SNAPSHOT_DOMAIN, struct.pack(">QQH", self.epoch, self.taken_at, len(self.prices))]
        for price, used in zip(self.prices, self.report_digests):
            parts.append(struct.pack(">QH", price, len(used)))
            parts.extend(used)
        return b"".join(parts)

    def digest(self) -> bytes:
        return hashlib.sha256(self.encoding()).digest()

    def to_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "taken_at": self.taken_at, "prices": list(self.prices),
                "reports": [[d.hex() for d in used] for used in self.report_digests],
                "digest": self.digest().hex()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Any) -> PriceSnapshot:
        """Strict, and the stored ``digest`` must match the content: a changed snapshot is refused."""
        _exact_fields(data, _SNAPSHOT_FIELDS, "price snapshot")
        for name in ("prices", "reports"):
            if not isinstance(data[name], list):
                raise OracleFormatError(f"price snapshot {name!r} must be a list")
        reports = []
        for m, used in enumerate(data["reports"]):
            if not isinstance(used, list):
                raise OracleFormatError(f"price snapshot reports[{m}] must be a list")
            reports.append(tuple(_from_hex(f"reports[{m}]", d, DIGEST_BYTES) for d in used))
        result = cls(epoch=data["epoch"], taken_at=data["taken_at"], prices=tuple(data["prices"]),
                     report_digests=tuple(reports))
        stated = _from_hex("digest", data["digest"], DIGEST_BYTES)
        if stated != result.digest():
            raise OracleFormatError(f"price snapshot of epoch {result.epoch}: the digest does not match its content")
        return result

    @classmethod
    def from_json(cls, text: str | bytes) -> PriceSnapshot:
        return cls.from_dict(_load_json(text, "price snapshot"))


@dataclass
class _MarketTally:
    """Per market: the newest valid fresh report of each oracle, and why others were excluded."""

    newest: dict[bytes, list[SignedReport]]
    excluded: dict[str, int]

    def exclude(self, reason: str) -> None:
        self.excluded[reason] = self.excluded.get(reason, 0) + 1

    def offer(self, report: SignedReport) -> None:
        """Keep only an oracle's newest reports; several distinct ones at that time are kept to
        detect equivocation, byte-identical duplicates collapse (same digest)."""
        current = self.newest.get(report.oracle)
        if current is None or report.timestamp > current[0].timestamp:
            self.newest[report.oracle] = [report]
        elif report.timestamp == current[0].timestamp and all(r.digest() != report.digest() for r in current):
            current.append(report)

    def counted(self) -> list[SignedReport]:
        """One report per oracle; an oracle that signed two prices for one instant counts for none."""
        result = []
        for reports in self.newest.values():
            if len(reports) == 1:
                result.append(reports[0])
            else:
                self.exclude(EquivocationError.reason)
        return result


def _describe(count: int, excluded: dict[str, int]) -> str:
    text = f"{count} valid fresh report{'s' if count != 1 else ''} from distinct oracles"
    if excluded:
        text += " (excluded: " + ", ".join(f"{n} {why}" for why, n in sorted(excluded.items())) + ")"
    return text


def _check_snapshot_parameters(registry: OracleRegistry, markets: int, epoch: int, now: int, quorum: int,
                               staleness: int, skew: int) -> None:
    """Configuration errors are reported as such, before any report is looked at."""
    check_markets(markets)
    _integer("epoch", epoch, 0, 1 << EPOCH_BITS, OracleConfigError)
    _integer("now", now, 0, _U64, OracleConfigError)
    _integer("staleness", staleness, 0, _U64, OracleConfigError)
    _integer("skew", skew, 0, _U64, OracleConfigError)
    _integer("quorum", quorum, 1, _U64, OracleConfigError)
    if quorum > len(registry):
        raise OracleConfigError(f"a quorum of {quorum} oracles is impossible with {len(registry)} registered")


def snapshot(reports: Iterable[SignedReport], *, registry: OracleRegistry, markets: int, epoch: int, now: int,
             quorum: int, staleness: int, skew: int = DEFAULT_SKEW) -> PriceSnapshot:
    """The epoch's prices: per market, the lower median of a quorum of fresh signed reports.

    A report counts only if ``verify_report`` accepts it with this staleness window (registered
    oracle, valid signature, known market, price in range, now - staleness <= timestamp <=
    now + skew). Of each oracle's counted reports for a market only the newest is used, so an
    oracle never counts twice; an oracle that signed different prices at its newest instant is
    left out for that market. Every market needs ``quorum`` distinct oracles, else QuorumError
    names each short market with its count and the reasons reports were excluded. The result
    depends only on the set of reports, not their order.
    """
    _check_snapshot_parameters(registry, markets, epoch, now, quorum, staleness, skew)
    tallies = [_MarketTally({}, {}) for _ in range(markets)]
    unattributed: dict[str, int] = {}
    for report in reports:
        try:
            verify_report(report, registry, markets=markets, now=now, skew=skew, staleness=staleness)
        except OracleError as exc:
            market = report.market if isinstance(report, SignedReport) and report.market < markets else None
            bucket = tallies[market].excluded if market is not None else unattributed
            bucket[exc.reason] = bucket.get(exc.reason, 0) + 1
            continue
        tallies[report.market].offer(report)
    counted = [tally.counted() for tally in tallies]
    short = {m: len(used) for m, used in enumerate(counted) if len(used) < quorum}
    if short:
        details = "; ".join(f"market {m} had {_describe(n, tallies[m].excluded)}" for m, n in short.items())
        if unattributed:
            details += "; reports for no configured market: " + ", ".join(
                f"{n} {why}" for why, n in sorted(unattributed.items()))
        raise QuorumError(f"epoch {epoch}: no price quorum ({quorum} distinct oracles needed): {details}", short)
    return PriceSnapshot(
        epoch=epoch,
        taken_at=now,
        prices=tuple(lower_median(r.price for r in used) for used in counted),
        report_digests=tuple(tuple(sorted(r.digest() for r in used)) for used in counted),
    )
