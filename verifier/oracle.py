"""Per-epoch price snapshots from signed oracle reports (StarkEx-style: median of a signed quorum).

The verifier never takes a price from a single source or from an unsigned number. A report
(``circuits.protocol.oracle_report``: its signed bytes, JSON and signature) counts only when
``verify_report`` accepts it: a registered, unrevoked oracle, a valid signature, a known market,
a price in range and a fresh timestamp. An epoch's **snapshot** takes, per market, the fresh valid
reports (at most one per oracle), requires 2f + 1 distinct unrevoked oracles (f: the number of
lying oracles tolerated) and takes their lower median; a **circuit breaker** flags a market whose
reports spread, or whose median moved since the previous snapshot, beyond configured limits.

Only canonical encodings of points of prime order are registered (``check_public_key``): a
small-order key would let anyone forge its reports.
"""

from __future__ import annotations

import functools
import hashlib
import json
import struct
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from circuits.protocol.errors import OracleError, OracleFormatError
from circuits.protocol.oracle_report import (
    DIGEST_BYTES,
    MAX_PRICE,
    MIN_PRICE,
    PUBLIC_KEY_BYTES,
    U64_LIMIT,
    SignedReport,
    bytes_from_hex,
    check_price,
    exact_bytes,
    load_strict_json,
    public_key_bytes,
    require_exact_fields,
    strict_integer,
)
from circuits.state import EPOCH_BITS, check_markets
from verifier.errors import (
    BadSignatureError,
    EquivocationError,
    FutureReportError,
    InvalidOracleKeyError,
    OracleConfigError,
    QuorumError,
    RevokedOracleError,
    StaleReportError,
    UnknownMarketError,
    UnknownOracleError,
)

SNAPSHOT_DOMAIN = b"zkmargin/price-snapshot/v1\x00"
DEFAULT_SKEW = 5  # seconds an oracle's clock may run ahead of ours

_SNAPSHOT_FIELDS = ("epoch", "taken_at", "prices", "reports", "digest")


# --- key validation -------------------------------------------------------------------------
# ``cryptography`` (OpenSSL) loads any 32 bytes as an Ed25519 public key, the all-zero bytes
# included. A small-order key (one of the 8 points of order 1, 2, 4 or 8) lets anyone forge
# reports: with A of order 1, [s]B = R + [k]A holds for R = [s]B and every message, and with
# A of order 2..8 for one message in 8. Non-canonical encodings (y >= p, or x = 0 with the sign
# bit set) give one point two identities. So registration decodes the point itself (RFC 8032,
# 5.1.3) and refuses all of these, and any key outside the prime-order subgroup.

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493  # the prime order of the base point
_D = -121665 * pow(121666, -1, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, xy = T/Z
_IDENTITY: _Point = (0, 1, 1, 0)


def _add(p: _Point, q: _Point) -> _Point:
    """RFC 8032 5.1.4: complete for Ed25519 (a = -1, d not a square), doubling included."""
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a, b = (y1 - x1) * (y2 - x2) % _P, (y1 + x1) * (y2 + x2) % _P
    c, d = 2 * _D * t1 * t2 % _P, 2 * z1 * z2 % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return e * f % _P, g * h % _P, f * g % _P, e * h % _P


def _multiply(n: int, point: _Point) -> _Point:
    result = _IDENTITY
    while n:
        if n & 1:
            result = _add(result, point)
        point = _add(point, point)
        n >>= 1
    return result


def _is_identity(point: _Point) -> bool:
    x, y, z, _ = point
    return x % _P == 0 and (y - z) % _P == 0


def _decode_point(raw: bytes) -> _Point:
    """RFC 8032 5.1.3, strictly: InvalidOracleKeyError for every encoding it would not produce."""
    y = int.from_bytes(raw, "little") & ((1 << 255) - 1)
    sign = raw[31] >> 7
    if y >= _P:
        raise InvalidOracleKeyError(
            f"oracle public key {raw.hex()} is not canonical: its y coordinate is not below 2^255 - 19")
    u, v = (y * y - 1) % _P, (_D * y * y + 1) % _P
    x = u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P) % _P
    if v * x * x % _P == (-u) % _P:
        x = x * _SQRT_M1 % _P
    if v * x * x % _P != u:
        raise InvalidOracleKeyError(f"oracle public key {raw.hex()} is not a point of Ed25519")
    if x == 0 and sign:
        raise InvalidOracleKeyError(
            f"oracle public key {raw.hex()} is not canonical: x = 0 with the sign bit set")
    if x & 1 != sign:
        x = _P - x
    return x, y, 1, x * y % _P


@functools.lru_cache(maxsize=1024)
def check_public_key(raw: bytes) -> bytes:
    """``raw`` if it is a canonical Ed25519 point of prime order L; InvalidOracleKeyError otherwise.

    Refuses non-canonical encodings, points not on the curve, the 8 small-order points (whose
    signatures anyone can forge) and keys with a small-order component (outside the prime-order
    subgroup). Cached: a registry is rebuilt from the database for each report.
    """
    raw = exact_bytes("oracle public key", raw, PUBLIC_KEY_BYTES)
    point = _decode_point(raw)
    if _is_identity(_multiply(8, point)):
        order = next(n for n in (1, 2, 4, 8) if _is_identity(_multiply(n, point)))
        raise InvalidOracleKeyError(
            f"oracle public key {raw.hex()} is a small-order point (order {order}): anyone could forge "
            "reports it signs")
    if not _is_identity(_multiply(_L, point)):
        raise InvalidOracleKeyError(
            f"oracle public key {raw.hex()} has a small-order component (it is not in the prime-order "
            "subgroup): signatures under it are not unique")
    return raw


# --- the registry ---------------------------------------------------------------------------

class OracleRegistry:
    """The oracle public keys the operator accepts, each with a unique human-readable name, and
    the revoked ones (kept only to say why their reports are refused)."""

    def __init__(self, oracles: Mapping[Any, str] | Iterable[Any] = ()):
        """``oracles``: a mapping key -> name, or an iterable of keys (named by key prefix)."""
        self._keys: dict[bytes, Ed25519PublicKey] = {}
        self._names: dict[bytes, str] = {}
        self._revoked: dict[bytes, str] = {}  # raw key -> why (for messages)
        if isinstance(oracles, Mapping):
            for key, name in oracles.items():
                self.register(key, name)
        else:
            for key in oracles:
                self.register(key)

    def register(
        self, public_key: Ed25519PublicKey | Ed25519PrivateKey | bytes | str, name: str | None = None,
    ) -> bytes:
        """Add an oracle; returns its id (raw public key). Re-registering the same pair is a no-op.

        InvalidOracleKeyError for a non-canonical or small-order key (``check_public_key``)."""
        raw = public_key_bytes(public_key)
        name = raw.hex()[:16] if name is None else name
        if not isinstance(name, str) or not name:
            raise OracleConfigError(f"an oracle name must be a non-empty string, got {name!r}")
        if raw in self._revoked:
            raise OracleConfigError(f"oracle {raw.hex()} ({self._names[raw]!r}) was revoked ({self._revoked[raw]}): "
                                    "a revoked key is never trusted again; give the oracle a new key")
        if raw in self._names:
            if self._names[raw] != name:
                raise OracleConfigError(f"oracle {raw.hex()} is already registered as {self._names[raw]!r}")
            return raw
        if name in self._names.values():
            raise OracleConfigError(f"another oracle is already named {name!r}")
        check_public_key(raw)
        try:
            self._keys[raw] = Ed25519PublicKey.from_public_bytes(raw)
        except ValueError as exc:
            raise OracleConfigError(f"{raw.hex()} is not an Ed25519 public key: {exc}") from None
        self._names[raw] = name
        return raw

    def revoke(self, public_key: Ed25519PublicKey | Ed25519PrivateKey | bytes | str, name: str, why: str) -> bytes:
        """Refuse this key from now on: its reports, past ones included, never verify again.

        The key itself is not checked (a revoked key is never used to verify anything)."""
        raw = public_key_bytes(public_key)
        self._keys.pop(raw, None)
        self._names[raw] = name
        self._revoked[raw] = why
        return raw

    def __contains__(self, oracle: object) -> bool:
        return oracle in self._keys

    def __len__(self) -> int:
        """The number of oracles whose reports count (revoked ones do not)."""
        return len(self._keys)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._keys)

    def is_revoked(self, oracle: bytes) -> bool:
        return oracle in self._revoked

    def name(self, oracle: bytes) -> str:
        return self._names[oracle]

    def public_key(self, oracle: bytes) -> Ed25519PublicKey:
        """The key object for a registered oracle; RevokedOracleError or UnknownOracleError otherwise."""
        try:
            return self._keys[oracle]
        except KeyError:
            pass
        if oracle in self._revoked:
            raise RevokedOracleError(f"oracle {self._names[oracle]!r} ({oracle.hex()}) was revoked "
                                     f"({self._revoked[oracle]}): its reports are refused")
        raise UnknownOracleError(f"oracle {oracle.hex()} is not registered")


# --- verifying one report -------------------------------------------------------------------

def _check_signature(report: SignedReport, registry: OracleRegistry) -> None:
    """First of all checks: nothing else a report claims is worth reading until it is authentic."""
    if not report.signed_by(registry.public_key(report.oracle)):
        raise BadSignatureError(
            f"the signature of oracle {registry.name(report.oracle)!r} does not match report "
            f"(market {report.market}, price {report.price}, timestamp {report.timestamp})")


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
    now = int(time.time()) if now is None else strict_integer("now", now, 0, U64_LIMIT, OracleConfigError)
    strict_integer("skew", skew, 0, U64_LIMIT, OracleConfigError)
    if staleness is not None:
        strict_integer("staleness", staleness, 0, U64_LIMIT, OracleConfigError)
    _check_signature(report, registry)
    if report.market >= markets:
        raise UnknownMarketError(f"market {report.market} does not exist (markets are 0..{markets - 1})")
    check_price(f"price of market {report.market}", report.price)
    _check_time(report, now, skew, staleness)


# --- snapshots ------------------------------------------------------------------------------

def lower_median(values: Iterable[int]) -> int:
    """The element at index (n - 1) // 2 of the sorted values.

    For an even count this is the lower of the two middle values, not their average: averaging
    would need a division and a rounding rule (prices are integers and nothing in the protocol
    rounds), and the result would be a price no oracle signed. The lower median is always a
    value some oracle actually signed, so every snapshot price can be traced to a signature.

    Why f liars cannot move it outside the honest range, for any n >= 2f + 1 (odd or even): the
    element at sorted index k has at least k + 1 values at or below it and at least n - k at or
    above it. With at most f liars, some honest value lies at or below it once k + 1 > f, and at
    or above it once n - k > f; so any k with f <= k <= n - 1 - f lies between two honest
    reports. k = (n - 1) // 2 satisfies both as soon as n - 1 >= 2f. (The upper median would do
    too; the lower one is the documented choice and the one earlier snapshots used.)
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
        strict_integer("epoch", self.epoch, 0, 1 << EPOCH_BITS)
        strict_integer("taken_at", self.taken_at, 0, U64_LIMIT)
        prices = tuple(self.prices)
        digests = tuple(tuple(exact_bytes("report digest", d, DIGEST_BYTES) for d in market)
                        for market in self.report_digests)
        if not 1 <= len(prices) <= 0xFFFF:
            raise OracleFormatError(f"a snapshot prices 1..65535 markets, got {len(prices)}")
        if len(digests) != len(prices):
            raise OracleFormatError(f"{len(prices)} prices but report digests for {len(digests)} markets")
        for m, (price, used) in enumerate(zip(prices, digests)):
            strict_integer(f"price of market {m}", price, MIN_PRICE, MAX_PRICE + 1)
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
        require_exact_fields(data, _SNAPSHOT_FIELDS, "price snapshot")
        for name in ("prices", "reports"):
            if not isinstance(data[name], list):
                raise OracleFormatError(f"price snapshot {name!r} must be a list")
        reports = []
        for m, used in enumerate(data["reports"]):
            if not isinstance(used, list):
                raise OracleFormatError(f"price snapshot reports[{m}] must be a list")
            reports.append(tuple(bytes_from_hex(f"reports[{m}]", d, DIGEST_BYTES) for d in used))
        result = cls(epoch=data["epoch"], taken_at=data["taken_at"], prices=tuple(data["prices"]),
                     report_digests=tuple(reports))
        stated = bytes_from_hex("digest", data["digest"], DIGEST_BYTES)
        if stated != result.digest():
            raise OracleFormatError(f"price snapshot of epoch {result.epoch}: the digest does not match its content")
        return result

    @classmethod
    def from_json(cls, text: str | bytes) -> PriceSnapshot:
        return cls.from_dict(load_strict_json(text, "price snapshot"))


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


def quorum_for(faults: int) -> int:
    """2f + 1 distinct oracles: then f liars are a minority of every quorum, and the median of the
    reports lies between two honest ones (see ``lower_median``)."""
    return 2 * strict_integer("faults", faults, 0, 1 << 32, OracleConfigError) + 1


def _check_snapshot_parameters(registry: OracleRegistry, markets: int, epoch: int, now: int, faults: int,
                               staleness: int, skew: int) -> int:
    """Configuration errors are reported as such, before any report is looked at; returns the quorum."""
    check_markets(markets)
    strict_integer("epoch", epoch, 0, 1 << EPOCH_BITS, OracleConfigError)
    strict_integer("now", now, 0, U64_LIMIT, OracleConfigError)
    strict_integer("staleness", staleness, 0, U64_LIMIT, OracleConfigError)
    strict_integer("skew", skew, 0, U64_LIMIT, OracleConfigError)
    quorum = quorum_for(faults)
    if quorum > len(registry):
        raise OracleConfigError(
            f"a quorum of {quorum} oracles (2f + 1, f = {faults} faulty) is impossible with {len(registry)} "
            "registered unrevoked oracle(s): register more oracles")
    return quorum


def snapshot(reports: Iterable[SignedReport], *, registry: OracleRegistry, markets: int, epoch: int, now: int,
             faults: int, staleness: int, skew: int = DEFAULT_SKEW) -> PriceSnapshot:
    """The epoch's prices: per market, the lower median of at least 2f + 1 fresh signed reports
    of distinct oracles, so that ``faults`` (f) lying oracles can neither set a price nor move it
    outside the range of the honest reports (``lower_median``).

    A report counts only if ``verify_report`` accepts it with this staleness window (registered,
    unrevoked oracle, valid signature, known market, price in range, now - staleness <=
    timestamp <= now + skew). Of each oracle's counted reports for a market only the newest is
    used, so an oracle never counts twice; an oracle that signed different prices at its newest
    instant is left out for that market. Every market needs 2f + 1 distinct oracles, else
    QuorumError names each short market with its count and the reasons reports were excluded.
    The result depends only on the set of reports, not their order.
    """
    quorum = _check_snapshot_parameters(registry, markets, epoch, now, faults, staleness, skew)
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
        raise QuorumError(f"epoch {epoch}: no price quorum ({quorum} distinct oracles needed, 2f + 1 with "
                          f"f = {faults}): {details}", short)
    return PriceSnapshot(
        epoch=epoch,
        taken_at=now,
        prices=tuple(lower_median(r.price for r in used) for used in counted),
        report_digests=tuple(tuple(sorted(r.digest() for r in used)) for used in counted),
    )


# --- the circuit breaker --------------------------------------------------------------------
# Fractions are integers in millionths (``circuits.state.RATE_SCALE``), compared exactly by
# cross-multiplication; the figures shown are rounded up, so a shown figure above the limit is
# exactly a tripped check and a shown figure at the limit is not.

BREAKER_SCALE = 1_000_000


def _millionths_up(numerator: int, denominator: int) -> int:
    return -(-numerator * BREAKER_SCALE // denominator)


@dataclass(frozen=True)
class BreakerTrip:
    """One market's check that tripped.

    ``kind`` is ``"spread"`` (a counted report lies ``figure`` millionths of the median away from
    it; ``low``/``high`` are the lowest and highest counted prices) or ``"move"`` (the median moved
    ``figure`` millionths of ``previous``, the previous snapshot's price, away from it).
    """

    market: int
    kind: str
    median: int
    figure: int
    limit: int
    low: int | None = None
    high: int | None = None
    previous: int | None = None

    def describe(self, market_name: str | None = None) -> str:
        label = f"market {self.market}" + (f" ({market_name})" if market_name else "")
        if self.kind == "spread":
            return (f"{label}: the fresh reports range from {self.low} to {self.high}, {self.figure} millionths "
                    f"around their median {self.median} (limit {self.limit})")
        return (f"{label}: the median {self.median} moved {self.figure} millionths from the previous "
                f"snapshot's {self.previous} (limit {self.limit})")

    def to_dict(self) -> dict[str, Any]:
        data = {"market": self.market, "kind": self.kind, "median": self.median, "figure_millionths": self.figure,
                "limit_millionths": self.limit}
        if self.kind == "spread":
            data.update(low=self.low, high=self.high)
        else:
            data["previous"] = self.previous
        return data


def circuit_breaker(taken: PriceSnapshot, reports: Iterable[SignedReport], previous: PriceSnapshot | None, *,
                    max_spread: int, max_move: int) -> list[BreakerTrip]:
    """What holds these prices back, per market: the reports that priced it (``taken``'s digests,
    looked up in ``reports``) lie more than ``max_spread`` millionths of the median away from it,
    or the median moved more than ``max_move`` millionths of ``previous``'s price for the market.
    An empty list: nothing tripped. ``previous`` None (the first snapshot): no move check."""
    strict_integer("max_spread", max_spread, 0, U64_LIMIT, OracleConfigError)
    strict_integer("max_move", max_move, 0, U64_LIMIT, OracleConfigError)
    if previous is not None and previous.markets != taken.markets:
        raise OracleConfigError(f"the previous snapshot prices {previous.markets} markets, this one {taken.markets}")
    by_digest = {r.digest(): r.price for r in reports if isinstance(r, SignedReport)}
    trips = []
    for m, (median, used) in enumerate(zip(taken.prices, taken.report_digests)):
        try:
            counted = [by_digest[d] for d in used]
        except KeyError:
            raise OracleFormatError(f"market {m}: a report the snapshot used is not among the reports given") from None
        furthest = max(abs(p - median) for p in counted)
        if furthest * BREAKER_SCALE > max_spread * median:
            trips.append(BreakerTrip(m, "spread", median, _millionths_up(furthest, median), max_spread,
                                     low=min(counted), high=max(counted)))
        if previous is not None:
            before = previous.prices[m]
            moved = abs(median - before)
            if moved * BREAKER_SCALE > max_move * before:
                trips.append(BreakerTrip(m, "move", median, _millionths_up(moved, before), max_move, previous=before))
    return trips
