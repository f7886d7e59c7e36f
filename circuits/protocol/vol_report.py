"""Signed implied-volatility reports: what the risk model's volatilities come from.

Portfolio margin values options with Black–Scholes at an implied volatility per underlying
market (``circuits.protocol.risk``). No single party may set it, so volatilities come the way
prices do (``circuits.protocol.oracle_report``): the same oracle keys sign **vol reports**, the
service takes the lower median of a quorum of 2f + 1 distinct, fresh, validly signed reports,
and a circuit breaker holds back a volatility whose reports disagree or which jumped since the
previous epoch.

Encoding (the choices of ``oracle_report``, another domain tag)::

    b"zkmargin/vol-report/v1" 0x00 | public key (32) | market u32 | vol u64 | timestamp u64

``vol`` is annualised implied volatility in millionths (600 000 = 60 %), an integer in
[VOL_MIN, VOL_MAX] of ``black_scholes``. The domain tag differs from the price report's, so a
signed price can never be read as a signed volatility (same layout, other bytes). JSON::

    {"oracle": "<64 hex>", "market": 0, "vol": 600000, "timestamp": 1700000000,
     "signature": "<128 hex>"}

strict as a price report is. ``vol_quorum`` and ``vol_breaker`` are the checks the service runs
on a set of reports; the limits of the breaker are in vol millionths **absolute** (a move from
60 % to 75 % is 150 000), since a relative limit would make low volatilities jumpy.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from circuits.protocol.errors import OracleError, OracleFormatError
from circuits.protocol.oracle_report import (
    OracleSigned,
    PUBLIC_KEY_BYTES,
    SIGNATURE_BYTES,
    U32_LIMIT,
    U64_LIMIT,
    bytes_from_hex,
    exact_bytes,
    load_strict_json,
    public_key_bytes,
    require_exact_fields,
    strict_integer,
)
from circuits.protocol.risk.black_scholes import VOL_MAX, VOL_MIN

VOL_REPORT_DOMAIN = b"zkmargin/vol-report/v1\x00"
_LAYOUT = struct.Struct(">32sIQQ")
_FIELDS = ("oracle", "market", "vol", "timestamp", "signature")


class VolRangeError(OracleError):
    """The signed volatility is outside [VOL_MIN, VOL_MAX], the range the risk model values."""

    reason = "vol out of range"


class VolSignatureError(OracleError):
    """The report is not signed by a trusted oracle key."""

    reason = "bad signature"


class VolFreshnessError(OracleError):
    """The report is dated too far in the future or too long ago."""

    reason = "not fresh"


class VolQuorumError(OracleError):
    """Fewer than 2f + 1 distinct trusted oracles reported a fresh volatility for a market."""

    reason = "no quorum"


class VolBreakerError(OracleError):
    """The reports disagree too much, or the volatility jumped too far since the previous epoch."""

    reason = "circuit breaker"


def vol_report_message(oracle: bytes, market: int, vol: int, timestamp: int) -> bytes:
    exact_bytes("oracle public key", oracle, PUBLIC_KEY_BYTES)
    strict_integer("market", market, 0, U32_LIMIT)
    strict_integer("vol", vol, 0, U64_LIMIT)
    strict_integer("timestamp", timestamp, 0, U64_LIMIT)
    return VOL_REPORT_DOMAIN + _LAYOUT.pack(oracle, market, vol, timestamp)


def check_vol(name: str, vol: Any) -> int:
    return strict_integer(name, vol, VOL_MIN, VOL_MAX + 1, VolRangeError)


@dataclass(frozen=True)
class SignedVolReport(OracleSigned):
    """One oracle's statement: ``market``'s implied volatility was ``vol`` millionths at ``timestamp``."""

    oracle: bytes
    market: int
    vol: int
    timestamp: int
    signature: bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "oracle", exact_bytes("oracle public key", self.oracle, PUBLIC_KEY_BYTES))
        object.__setattr__(self, "signature", exact_bytes("signature", self.signature, SIGNATURE_BYTES))
        strict_integer("market", self.market, 0, U32_LIMIT)
        strict_integer("vol", self.vol, 0, U64_LIMIT)
        strict_integer("timestamp", self.timestamp, 0, U64_LIMIT)

    def message(self) -> bytes:
        return vol_report_message(self.oracle, self.market, self.vol, self.timestamp)

    def to_dict(self) -> dict[str, Any]:
        return {"oracle": self.oracle.hex(), "market": self.market, "vol": self.vol,
                "timestamp": self.timestamp, "signature": self.signature.hex()}

    @classmethod
    def from_dict(cls, data: Any) -> SignedVolReport:
        require_exact_fields(data, _FIELDS, "vol report")
        return cls(
            oracle=bytes_from_hex("oracle", data["oracle"], PUBLIC_KEY_BYTES),
            market=strict_integer("market", data["market"], 0, U32_LIMIT),
            vol=strict_integer("vol", data["vol"], 0, U64_LIMIT),
            timestamp=strict_integer("timestamp", data["timestamp"], 0, U64_LIMIT),
            signature=bytes_from_hex("signature", data["signature"], SIGNATURE_BYTES),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> SignedVolReport:
        return cls.from_dict(load_strict_json(text, "vol report"))


def sign_vol_report(private_key: Ed25519PrivateKey, market: int, vol: int, timestamp: int) -> SignedVolReport:
    """Sign a volatility report; refuses a volatility the risk model could not use."""
    check_vol("vol", vol)
    oracle = public_key_bytes(private_key)
    return SignedVolReport(oracle, market, vol, timestamp, private_key.sign(vol_report_message(oracle, market,
                                                                                              vol, timestamp)))


def verify_vol_report(report: SignedVolReport, trusted: Mapping[bytes, Ed25519PublicKey], *, markets: int,
                      now: int, skew: int, staleness: int) -> None:
    """Trusted oracle and valid signature first, then market, range and freshness (seconds)."""
    key = trusted.get(report.oracle)
    if key is None or not report.signed_by(key):
        raise VolSignatureError(f"vol report for market {report.market} is not signed by a trusted oracle")
    if report.market >= markets:
        raise OracleFormatError(f"market {report.market} does not exist (markets are 0..{markets - 1})")
    check_vol(f"vol of market {report.market}", report.vol)
    if not now - staleness <= report.timestamp <= now + skew:
        raise VolFreshnessError(f"vol report for market {report.market} is dated {report.timestamp}, outside "
                                f"[{now - staleness}, {now + skew}] (now {now})")


@dataclass(frozen=True)
class VolQuorum:
    """The volatility taken per underlying market, and the reports it was taken from."""

    vols: dict[int, int]
    counted: dict[int, tuple[SignedVolReport, ...]]


def vol_quorum(reports: Iterable[SignedVolReport], trusted: Mapping[bytes, Ed25519PublicKey], *, markets: int,
               underlyings: Iterable[int], now: int, faults: int, skew: int, staleness: int) -> VolQuorum:
    """Per underlying market, the lower median of the newest valid report of each distinct oracle;
    ``VolQuorumError`` naming the markets short of 2f + 1. Invalid reports are skipped, not fatal:
    one bad oracle must not block the others (the route refuses them one by one)."""
    quorum = 2 * faults + 1
    newest: dict[int, dict[bytes, SignedVolReport]] = {}
    for report in reports:
        try:
            verify_vol_report(report, trusted, markets=markets, now=now, skew=skew, staleness=staleness)
        except OracleError:
            continue
        seen = newest.setdefault(report.market, {})
        if report.oracle not in seen or seen[report.oracle].timestamp < report.timestamp:
            seen[report.oracle] = report
    wanted = sorted(set(underlyings))
    short = {m: len(newest.get(m, {})) for m in wanted if len(newest.get(m, {})) < quorum}
    if short:
        described = ", ".join(f"market {m}: {n}" for m, n in short.items())
        raise VolQuorumError(f"no volatility quorum ({quorum} distinct oracles needed, 2f + 1 with f = {faults}); "
                             f"valid fresh reports: {described}")
    counted = {m: tuple(newest[m].values()) for m in wanted}
    return VolQuorum({m: sorted(r.vol for r in used)[(len(used) - 1) // 2] for m, used in counted.items()}, counted)


def vol_breaker(taken: VolQuorum, previous: Mapping[int, int] | None, *, max_spread: int, max_move: int) -> None:
    """``VolBreakerError`` if, for a market, a counted report lies more than ``max_spread`` vol
    millionths from the median, or the median moved more than ``max_move`` from the previous
    epoch's."""
    trips = []
    for market, median in sorted(taken.vols.items()):
        furthest = max(abs(r.vol - median) for r in taken.counted[market])
        if furthest > max_spread:
            trips.append(f"market {market}: reports lie up to {furthest} from the median {median} "
                         f"(limit {max_spread})")
        if previous is not None and market in previous and abs(median - previous[market]) > max_move:
            trips.append(f"market {market}: the volatility moved from {previous[market]} to {median} "
                         f"(limit {max_move})")
    if trips:
        raise VolBreakerError("; ".join(trips))
