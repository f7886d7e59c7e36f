"""Signed oracle price reports: what an oracle signs and what the service checks it against.

Oracles hold Ed25519 keys; each **report** says "market m was worth price p at time t" and is
signed over a canonical byte string. This module is what the signer and the checker share:
the key encodings, the signed bytes, the report's JSON and the signature check under one key.
Which keys are trusted (the registry), freshness, the quorum and the circuit breaker are the
service's (``verifier.oracle``).

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
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from circuits.protocol.errors import OracleError, OracleFormatError, PriceRangeError
from circuits.state import PRICE_BITS
from zkmargin.formats.snarkjs import reject_duplicate_keys

REPORT_DOMAIN = b"zkmargin/oracle-report/v1\x00"
PUBLIC_KEY_BYTES = 32
PRIVATE_KEY_BYTES = 32
SIGNATURE_BYTES = 64
DIGEST_BYTES = 32
MIN_PRICE = 1
MAX_PRICE = (1 << PRICE_BITS) - 1
U32_LIMIT = 1 << 32
U64_LIMIT = 1 << 64

_REPORT_LAYOUT = struct.Struct(">32sIQQ")
_REPORT_FIELDS = ("oracle", "market", "price", "timestamp", "signature")


# --- strict values (the service's snapshots are read with the same rules) ---------------------

def strict_integer(name: str, value: Any, low: int, high: int,
                   error: type[OracleError] = OracleFormatError) -> int:
    """An exact int in [low, high); bools are ints to Python but never a price or a time."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if not low <= value < high:
        raise error(f"{name} = {value} is outside [{low}, {high})")
    return value


def exact_bytes(name: str, value: Any, length: int) -> bytes:
    """Exactly ``length`` bytes: keys, signatures and digests have one size each."""
    if not isinstance(value, (bytes, bytearray)):
        raise OracleFormatError(f"{name} must be bytes, got {type(value).__name__}")
    if len(value) != length:
        raise OracleFormatError(f"{name} must be {length} bytes, got {len(value)}")
    return bytes(value)


def bytes_from_hex(name: str, value: Any, length: int) -> bytes:
    """Canonical lower-case hex only: ``bytes.fromhex`` alone would also take spaces and case."""
    if not isinstance(value, str):
        raise OracleFormatError(f"{name} must be a hex string, got {type(value).__name__}")
    if not re.fullmatch(f"[0-9a-f]{{{2 * length}}}", value):
        raise OracleFormatError(
            f"{name} must be {2 * length} lower-case hex characters ({length} bytes), got {len(value)} characters")
    return bytes.fromhex(value)


def _reject_float(text: str) -> Any:
    raise OracleFormatError(f"floats are not accepted, got {text}: prices and times are integers")


def _reject_constant(text: str) -> Any:
    raise OracleFormatError(f"{text} is not a JSON value")


# two values for one key would let two readers see two different reports
_UNIQUE_KEYS = reject_duplicate_keys(lambda key: OracleFormatError(f"duplicate field {key!r}"))


def load_strict_json(text: str | bytes, what: str) -> Any:
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


def require_exact_fields(data: Any, fields: tuple[str, ...], what: str) -> None:
    """An object with exactly these fields: an unknown one is a mistake the sender should hear of."""
    if not isinstance(data, dict):
        raise OracleFormatError(f"{what} must be a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise OracleFormatError(
            f"{what} has unknown field(s) {', '.join(map(repr, unknown))}; expected {', '.join(fields)}")
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
        return bytes_from_hex("oracle public key", key, PUBLIC_KEY_BYTES)
    return exact_bytes("oracle public key", key, PUBLIC_KEY_BYTES)


def private_key_to_hex(key: Ed25519PrivateKey) -> str:
    """The raw 32-byte seed as hex, for an oracle's configuration file."""
    return key.private_bytes_raw().hex()


def private_key_from_hex(text: str) -> Ed25519PrivateKey:
    """Inverse of ``private_key_to_hex``."""
    return Ed25519PrivateKey.from_private_bytes(bytes_from_hex("oracle private key", text, PRIVATE_KEY_BYTES))


# --- reports --------------------------------------------------------------------------------

def report_message(oracle: bytes, market: int, price: int, timestamp: int) -> bytes:
    """The exact bytes an oracle signs (see the module docstring); fixed width, never JSON."""
    exact_bytes("oracle public key", oracle, PUBLIC_KEY_BYTES)
    strict_integer("market", market, 0, U32_LIMIT)
    strict_integer("price", price, 0, U64_LIMIT)
    strict_integer("timestamp", timestamp, 0, U64_LIMIT)
    return REPORT_DOMAIN + _REPORT_LAYOUT.pack(oracle, market, price, timestamp)


class OracleSigned:
    """What every statement an oracle signs (price, funding rate, volatility) shares: its oracle key
    and signature, its domain-tagged ``message()``, the digest naming it, the signature check and
    the compact JSON. Subclasses are frozen dataclasses with ``oracle`` and ``signature`` fields."""

    oracle: bytes
    signature: bytes

    def message(self) -> bytes:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def oracle_id(self) -> str:
        """The oracle's public key in hex, as it appears in JSON and in the registry."""
        return self.oracle.hex()

    def digest(self) -> bytes:
        """SHA-256 of the signed bytes: names the signed statement (the message is domain-tagged), so
        a byte-identical resubmission is the same report."""
        return hashlib.sha256(self.message()).digest()

    def signed_by(self, public_key: Ed25519PublicKey) -> bool:
        """Whether the signature verifies under ``public_key`` for this statement's exact content."""
        try:
            public_key.verify(self.signature, self.message())
        except InvalidSignature:
            return False
        return True

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))


@dataclass(frozen=True)
class SignedReport(OracleSigned):
    """One oracle's signed statement: ``market`` was worth ``price`` at ``timestamp`` (seconds).

    Construction checks only the encoding (lengths, integer widths); whether the report is
    acceptable (known oracle, valid signature, price range, freshness) is the service's
    ``verify_report``'s job, so a refused report can still be represented and its refusal explained.
    """

    oracle: bytes
    market: int
    price: int
    timestamp: int
    signature: bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "oracle", exact_bytes("oracle public key", self.oracle, PUBLIC_KEY_BYTES))
        object.__setattr__(self, "signature", exact_bytes("signature", self.signature, SIGNATURE_BYTES))
        strict_integer("market", self.market, 0, U32_LIMIT)
        strict_integer("price", self.price, 0, U64_LIMIT)
        strict_integer("timestamp", self.timestamp, 0, U64_LIMIT)

    def message(self) -> bytes:
        return report_message(self.oracle, self.market, self.price, self.timestamp)

    def to_dict(self) -> dict[str, Any]:
        return {"oracle": self.oracle.hex(), "market": self.market, "price": self.price,
                "timestamp": self.timestamp, "signature": self.signature.hex()}

    @classmethod
    def from_dict(cls, data: Any) -> SignedReport:
        """Strict: exactly the five fields, integers as JSON integers, lower-case hex."""
        require_exact_fields(data, _REPORT_FIELDS, "oracle report")
        return cls(
            oracle=bytes_from_hex("oracle", data["oracle"], PUBLIC_KEY_BYTES),
            market=strict_integer("market", data["market"], 0, U32_LIMIT),
            price=strict_integer("price", data["price"], 0, U64_LIMIT),
            timestamp=strict_integer("timestamp", data["timestamp"], 0, U64_LIMIT),
            signature=bytes_from_hex("signature", data["signature"], SIGNATURE_BYTES),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> SignedReport:
        return cls.from_dict(load_strict_json(text, "oracle report"))


def check_price(name: str, price: Any) -> int:
    """A price the circuits accept: an integer in [1, 2^48); PriceRangeError otherwise."""
    return strict_integer(name, price, MIN_PRICE, MAX_PRICE + 1, PriceRangeError)


def sign_report(private_key: Ed25519PrivateKey, market: int, price: int, timestamp: int) -> SignedReport:
    """Sign a price report. Refuses a price the circuits could not use rather than sign it."""
    check_price("price", price)
    oracle = public_key_bytes(private_key)
    signature = private_key.sign(report_message(oracle, market, price, timestamp))
    return SignedReport(oracle, market, price, timestamp, signature)
