"""Signed funding-rate reports: what an oracle signs about a perpetual market's funding.

The same oracles, keys and checks as price reports (``circuits.protocol.oracle_report``); only
the statement differs. A **funding report** says "over epoch N, a long position in market m pays
``rate`` millionths of the settlement price per unit of size" (negative: shorts pay). The
service takes the lower median of a 2f + 1 quorum of fresh reports when it closes the epoch,
under the same circuit breaker rule as prices (the median's move from the previous epoch's rate,
and the spread of the counted reports, here absolute in millionths since a rate may be 0), and
fixes the market's **funding-index step** ``dF = rate * P`` (``funding_step``): the index is
kept at FUNDING_SCALE = 10^6 per unit of price, so a position b pays ceil(b dF / 10^6) (the
settle statement, ``circuits.settle``). |rate| <= 10^6 and P < 2^48 keep |dF| < 2^68, the settle
statement's bound.

Signed bytes (never JSON)::

    b"zkmargin/funding-report/v1" 0x00 | public key (32) | market u32 | epoch u64 | rate i64 | timestamp u64

big-endian, fixed width, injective; the domain tag differs from the price report's, so neither
signature can be replayed as the other. The epoch is signed: a report is for one epoch only.

JSON: ``{"oracle": "<64 hex>", "market": 0, "epoch": 3, "rate": -120, "timestamp": 1700000000,
"signature": "<128 hex>"}``, parsed as strictly as price reports.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from circuits.protocol.errors import PriceRangeError
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
from circuits.settle import FUNDING_STEP_BITS
from circuits.state import PRICE_BITS, RATE_SCALE

FUNDING_DOMAIN = b"zkmargin/funding-report/v1\x00"
MAX_FUNDING_RATE = RATE_SCALE  # a whole price an epoch, either way: far beyond any real funding
I64_LIMIT = 1 << 63
# |rate| * P <= 10^6 (2^48 - 1) < 2^68: every accepted rate gives a step the settle statement takes
assert MAX_FUNDING_RATE * ((1 << PRICE_BITS) - 1) < 1 << FUNDING_STEP_BITS

_LAYOUT = struct.Struct(">32sIQqQ")
_FIELDS = ("oracle", "market", "epoch", "rate", "timestamp", "signature")


def funding_message(oracle: bytes, market: int, epoch: int, rate: int, timestamp: int) -> bytes:
    """The exact bytes an oracle signs (see the module docstring)."""
    exact_bytes("oracle public key", oracle, PUBLIC_KEY_BYTES)
    strict_integer("market", market, 0, U32_LIMIT)
    strict_integer("epoch", epoch, 0, U64_LIMIT)
    strict_integer("rate", rate, -I64_LIMIT, I64_LIMIT)
    strict_integer("timestamp", timestamp, 0, U64_LIMIT)
    return FUNDING_DOMAIN + _LAYOUT.pack(oracle, market, epoch, rate, timestamp)


def check_funding_rate(name: str, rate: Any) -> int:
    """A rate the service accepts: an integer in [-10^6, 10^6] millionths; PriceRangeError otherwise."""
    return strict_integer(name, rate, -MAX_FUNDING_RATE, MAX_FUNDING_RATE + 1, PriceRangeError)


def funding_step(rate: int, settlement_price: int) -> int:
    """The epoch's funding-index step dF = rate * P (10^6 per unit of price): exact, no rounding."""
    return rate * settlement_price


@dataclass(frozen=True)
class SignedFundingReport(OracleSigned):
    """One oracle's signed funding rate for a market and epoch; construction checks the encoding only."""

    oracle: bytes
    market: int
    epoch: int
    rate: int
    timestamp: int
    signature: bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "oracle", exact_bytes("oracle public key", self.oracle, PUBLIC_KEY_BYTES))
        object.__setattr__(self, "signature", exact_bytes("signature", self.signature, SIGNATURE_BYTES))
        self.message()  # checks every integer's width

    def message(self) -> bytes:
        return funding_message(self.oracle, self.market, self.epoch, self.rate, self.timestamp)

    def to_dict(self) -> dict[str, Any]:
        return {"oracle": self.oracle.hex(), "market": self.market, "epoch": self.epoch, "rate": self.rate,
                "timestamp": self.timestamp, "signature": self.signature.hex()}

    @classmethod
    def from_dict(cls, data: Any) -> SignedFundingReport:
        """Strict: exactly the six fields, integers as JSON integers, lower-case hex."""
        require_exact_fields(data, _FIELDS, "funding report")
        return cls(
            oracle=bytes_from_hex("oracle", data["oracle"], PUBLIC_KEY_BYTES),
            market=strict_integer("market", data["market"], 0, U32_LIMIT),
            epoch=strict_integer("epoch", data["epoch"], 0, U64_LIMIT),
            rate=strict_integer("rate", data["rate"], -I64_LIMIT, I64_LIMIT),
            timestamp=strict_integer("timestamp", data["timestamp"], 0, U64_LIMIT),
            signature=bytes_from_hex("signature", data["signature"], SIGNATURE_BYTES),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> SignedFundingReport:
        return cls.from_dict(load_strict_json(text, "funding report"))


def sign_funding_report(private_key: Ed25519PrivateKey, market: int, epoch: int, rate: int,
                        timestamp: int) -> SignedFundingReport:
    """Sign a funding rate. Refuses a rate the service could not use rather than sign it."""
    check_funding_rate("rate", rate)
    oracle = public_key_bytes(private_key)
    signature = private_key.sign(funding_message(oracle, market, epoch, rate, timestamp))
    return SignedFundingReport(oracle, market, epoch, rate, timestamp, signature)
