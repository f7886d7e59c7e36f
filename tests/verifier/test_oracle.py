"""Signed oracle reports: signing, verification, the registry and strict JSON."""

from __future__ import annotations

import dataclasses
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from circuits.protocol.errors import OracleError, OracleFormatError, PriceRangeError
from circuits.protocol.oracle_report import (
    MAX_PRICE,
    REPORT_DOMAIN,
    SignedReport,
    generate_oracle_key,
    private_key_from_hex,
    private_key_to_hex,
    public_key_bytes,
    report_message,
    sign_report,
)
from verifier.errors import (
    BadSignatureError,
    FutureReportError,
    InvalidOracleKeyError,
    OracleConfigError,
    RevokedOracleError,
    StaleReportError,
    UnknownMarketError,
    UnknownOracleError,
)
from verifier.oracle import OracleRegistry, check_public_key, verify_report
from zkmargin.errors import MalformedInputError, ZkMarginError

NOW = 1_700_000_000
MARKETS = 4
P = 2**255 - 19

# The 8 points of small order (1, 2, 4, 8), canonically encoded (libsodium's blocklist): anyone can
# forge signatures under them.
SMALL_ORDER_KEYS = [
    "01" + "00" * 31,  # (0, 1), the identity: order 1
    "ec" + "ff" * 30 + "7f",  # (0, -1): order 2
    "00" * 32,  # (+-sqrt(-1), 0): order 4, both signs of x
    "00" * 31 + "80",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8, y and -y, both signs
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
]
# Encodings RFC 8032 never produces: y >= p (a second name for a point with y - p) and x = 0 with
# the sign bit set; and bytes that are no point at all.
NON_CANONICAL_KEYS = [
    "ed" + "ff" * 30 + "7f",  # y = p (that is 0)
    "ee" + "ff" * 30 + "7f",  # y = p + 1 (that is 1: the identity again)
    "ed" + "ff" * 30 + "ff",  # y = p, sign bit set
    "ff" * 31 + "7f",  # y = 2^255 - 1
    "01" + "00" * 30 + "80",  # the identity with the sign bit: x = 0 cannot be negative
    "ec" + "ff" * 30 + "ff",  # (0, -1) with the sign bit
    "02" + "00" * 31,  # y = 2: no x satisfies the curve equation
]


def fixed_key(i: int) -> Ed25519PrivateKey:
    """Deterministic keys, so failures reproduce (Ed25519 signatures are deterministic too)."""
    return Ed25519PrivateKey.from_private_bytes(bytes([i + 1]) * 32)


@pytest.fixture
def keys():
    return [fixed_key(i) for i in range(3)]


@pytest.fixture
def registry(keys):
    return OracleRegistry({k: f"oracle-{i}" for i, k in enumerate(keys)})


def verify(report, registry, **kw):
    kw.setdefault("markets", MARKETS)
    kw.setdefault("now", NOW)
    return verify_report(report, registry, **kw)


# --- keys: small order and non-canonical encodings are refused -----------------------------

@pytest.mark.parametrize("key", SMALL_ORDER_KEYS)
def test_small_order_keys_are_refused(key):
    raw = bytes.fromhex(key)
    with pytest.raises(InvalidOracleKeyError, match=f"{key} is a small-order point"):
        check_public_key(raw)
    with pytest.raises(InvalidOracleKeyError, match="anyone could forge"):
        OracleRegistry({key: "forger"})


@pytest.mark.parametrize("key", NON_CANONICAL_KEYS)
def test_non_canonical_keys_are_refused(key):
    with pytest.raises(InvalidOracleKeyError, match=f"{key} is not (canonical|a point of Ed25519)"):
        check_public_key(bytes.fromhex(key))
    with pytest.raises(OracleConfigError):
        OracleRegistry([key])


def test_a_key_with_a_small_order_component_is_refused(keys):
    """A + (0, -1) = (-x, -y): a valid key plus the point of order 2 is outside the prime-order subgroup."""
    from verifier.oracle import _decode_point

    x, y, _, _ = _decode_point(public_key_bytes(keys[0]))
    shifted = ((P - y) | ((P - x) & 1) << 255).to_bytes(32, "little")
    with pytest.raises(InvalidOracleKeyError, match="small-order component"):
        check_public_key(shifted)


def test_generated_keys_are_accepted():
    for _ in range(50):
        raw = public_key_bytes(generate_oracle_key())
        assert check_public_key(raw) == raw


def test_a_revoked_oracle_is_refused_with_the_reason(keys, registry):
    report = sign_report(keys[1], market=0, price=100, timestamp=NOW)
    verify(report, registry)
    registry.revoke(keys[1], "oracle-1", "at noon: key leaked")
    assert public_key_bytes(keys[1]) not in registry and len(registry) == 2
    with pytest.raises(RevokedOracleError, match="'oracle-1' .* was revoked \\(at noon: key leaked\\)"):
        verify(report, registry)  # a report signed before the revocation too
    with pytest.raises(OracleConfigError, match="never trusted again"):
        registry.register(keys[1], "oracle-1")


# --- signing and verifying ------------------------------------------------------------------

def test_sign_verify_round_trip(keys, registry):
    report = sign_report(keys[0], market=2, price=123_456, timestamp=NOW - 3)
    assert verify(report, registry) is None
    assert report.oracle == public_key_bytes(keys[0])
    assert report.oracle_id == report.oracle.hex()
    assert len(report.signature) == 64


def test_signed_bytes_are_the_documented_fixed_width_encoding(keys):
    oracle = public_key_bytes(keys[0])
    message = report_message(oracle, 3, 0x0102, 0x0A0B)
    assert message == (b"zkmargin/oracle-report/v1\x00" + oracle + (3).to_bytes(4, "big")
                       + (0x0102).to_bytes(8, "big") + (0x0A0B).to_bytes(8, "big"))
    assert message.startswith(REPORT_DOMAIN) and len(message) == len(REPORT_DOMAIN) + 32 + 4 + 8 + 8


@pytest.mark.parametrize("change", [
    {"price": 123_457}, {"market": 1}, {"timestamp": NOW - 2},
], ids=["price", "market", "timestamp"])
def test_tampered_content_is_rejected(keys, registry, change):
    report = sign_report(keys[0], market=2, price=123_456, timestamp=NOW - 3)
    with pytest.raises(BadSignatureError, match="does not match"):
        verify(dataclasses.replace(report, **change), registry)


def test_tampered_signature_is_rejected(keys, registry):
    report = sign_report(keys[0], market=0, price=100, timestamp=NOW)
    for i in (0, 31, 32, 63):
        sig = bytearray(report.signature)
        sig[i] ^= 1
        with pytest.raises(BadSignatureError):
            verify(dataclasses.replace(report, signature=bytes(sig)), registry)


def test_report_attributed_to_another_registered_oracle_is_rejected(keys, registry):
    report = sign_report(keys[0], market=0, price=100, timestamp=NOW)
    with pytest.raises(BadSignatureError, match="oracle-1"):
        verify(dataclasses.replace(report, oracle=public_key_bytes(keys[1])), registry)


def test_unknown_oracle_is_rejected(registry):
    report = sign_report(generate_oracle_key(), market=0, price=100, timestamp=NOW)
    with pytest.raises(UnknownOracleError, match="not registered"):
        verify(report, registry)


def test_unknown_market_is_rejected(keys, registry):
    report = sign_report(keys[0], market=MARKETS, price=100, timestamp=NOW)
    with pytest.raises(UnknownMarketError, match=f"market {MARKETS} does not exist"):
        verify(report, registry)


@pytest.mark.parametrize("price", [0, MAX_PRICE + 1, 2**64 - 1])
def test_price_outside_the_circuit_range_is_refused(keys, registry, price):
    with pytest.raises(PriceRangeError):
        sign_report(keys[0], market=0, price=price, timestamp=NOW)
    # an oracle running other software could still sign it: verification refuses it too
    oracle = public_key_bytes(keys[0])
    report = SignedReport(oracle, 0, price, NOW, keys[0].sign(report_message(oracle, 0, price, NOW)))
    with pytest.raises(PriceRangeError, match="outside"):
        verify(report, registry)


@pytest.mark.parametrize("price", [1, MAX_PRICE])
def test_price_range_boundaries_are_accepted(keys, registry, price):
    verify(sign_report(keys[0], market=0, price=price, timestamp=NOW), registry)


def test_future_report_beyond_the_skew_is_rejected(keys, registry):
    verify(sign_report(keys[0], 0, 100, NOW + 5), registry, skew=5)
    with pytest.raises(FutureReportError, match="6 s after now"):
        verify(sign_report(keys[0], 0, 100, NOW + 6), registry, skew=5)


def test_stale_report_is_rejected_when_a_window_is_given(keys, registry):
    old = sign_report(keys[0], 0, 100, NOW - 61)
    verify(old, registry)  # no window: intake does not judge age
    verify(sign_report(keys[0], 0, 100, NOW - 60), registry, staleness=60)
    with pytest.raises(StaleReportError, match="61 s before now"):
        verify(old, registry, staleness=60)


def test_signature_is_checked_before_content(keys, registry):
    """A forged report's claims (market, price, time) are never judged, only its signature."""
    report = sign_report(keys[0], market=0, price=100, timestamp=NOW)
    forged = dataclasses.replace(report, market=99, timestamp=NOW + 10_000)
    with pytest.raises(BadSignatureError):
        verify(forged, registry)


def test_errors_are_zkmargin_errors():
    for cls in (BadSignatureError, UnknownOracleError, OracleFormatError, PriceRangeError):
        assert issubclass(cls, OracleError) and issubclass(cls, ZkMarginError)
    assert issubclass(OracleFormatError, MalformedInputError)


def test_verify_refuses_what_is_not_a_report(registry):
    with pytest.raises(OracleFormatError, match="expected a SignedReport"):
        verify({"price": 1}, registry)


# --- keys and the registry ------------------------------------------------------------------

def test_private_key_hex_round_trip(keys):
    again = private_key_from_hex(private_key_to_hex(keys[0]))
    assert public_key_bytes(again) == public_key_bytes(keys[0])


def test_registry_accepts_keys_in_every_form(keys):
    raw = public_key_bytes(keys[0])
    registry = OracleRegistry()
    assert registry.register(raw.hex(), "a") == raw
    assert registry.register(keys[0].public_key(), "a") == raw  # same pair again: no-op
    assert raw in registry and len(registry) == 1 and registry.name(raw) == "a"
    assert list(OracleRegistry([keys[1]])) == [public_key_bytes(keys[1])]


def test_registry_refuses_conflicting_names(keys):
    registry = OracleRegistry({keys[0]: "a"})
    with pytest.raises(OracleConfigError, match="already registered as 'a'"):
        registry.register(keys[0], "b")
    with pytest.raises(OracleConfigError, match="already named 'a'"):
        registry.register(keys[1], "a")
    with pytest.raises(OracleConfigError, match="non-empty"):
        registry.register(keys[1], "")


@pytest.mark.parametrize("key", [b"\x01" * 31, "AB" * 32, "ab" * 31, "0x" + "ab" * 31, 12])
def test_registry_refuses_malformed_keys(key):
    with pytest.raises(OracleFormatError):
        OracleRegistry().register(key)


# --- JSON -----------------------------------------------------------------------------------

def test_json_round_trip(keys):
    report = sign_report(keys[1], market=3, price=MAX_PRICE, timestamp=NOW)
    text = report.to_json()
    assert SignedReport.from_json(text) == report
    assert SignedReport.from_json(text.encode()) == report
    data = json.loads(text)
    assert set(data) == {"oracle", "market", "price", "timestamp", "signature"}
    assert data["price"] == MAX_PRICE and data["signature"] == report.signature.hex()


def _report_json(keys) -> dict:
    return sign_report(keys[0], market=1, price=250, timestamp=NOW).to_dict()


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(extra=1), "unknown field.*'extra'"),
    (lambda d: d.update(positions=[1, 2]), "unknown field.*'positions'"),
    (lambda d: d.pop("signature"), "missing field.*'signature'"),
    (lambda d: d.update(price="250"), "price must be an integer, got str"),
    (lambda d: d.update(price=True), "price must be an integer, got bool"),
    (lambda d: d.update(price=None), "price must be an integer"),
    (lambda d: d.update(market=-1), r"market = -1 is outside"),
    (lambda d: d.update(timestamp=2**64), "timestamp = .* is outside"),
    (lambda d: d.update(price=2**64), "price = .* is outside"),
    (lambda d: d.update(signature=d["signature"][:-2]), "128 lower-case hex characters"),
    (lambda d: d.update(signature=d["signature"].upper()), "lower-case hex"),
    (lambda d: d.update(oracle=d["oracle"] + "00"), "64 lower-case hex characters"),
    (lambda d: d.update(oracle=" " + d["oracle"][1:]), "hex"),
    (lambda d: d.update(oracle=12), "must be a hex string"),
], ids=["unknown", "private-field", "missing", "string-int", "bool", "null", "negative", "wide-time",
        "wide-price", "short-sig", "upper-hex", "long-key", "space", "int-key"])
def test_strict_parsing_names_the_problem(keys, mutate, message):
    data = _report_json(keys)
    mutate(data)
    with pytest.raises(OracleFormatError, match=message):
        SignedReport.from_json(json.dumps(data))
    with pytest.raises(OracleFormatError, match=message):
        SignedReport.from_dict(data)


@pytest.mark.parametrize("old, new, message", [
    ('"price":250', '"price":250.0', "floats are not accepted, got 250.0"),
    ('"price":250', '"price":2.5e2', "floats are not accepted"),
    ('"price":250', '"price":NaN', "NaN is not a JSON value"),
    ('"price":250', '"price":250,"price":1', "duplicate field 'price'"),
], ids=["float", "exponent", "nan", "duplicate"])
def test_strict_parsing_of_json_text(keys, old, new, message):
    text = sign_report(keys[0], market=1, price=250, timestamp=NOW).to_json()
    assert old in text
    with pytest.raises(OracleFormatError, match=message):
        SignedReport.from_json(text.replace(old, new))


@pytest.mark.parametrize("text, message", [
    ("[]", "must be a JSON object, got list"),
    ("{", "not valid JSON"),
    (b"\xff\xfe", "not UTF-8"),
    ("", "not valid JSON"),
])
def test_not_a_report_at_all(text, message):
    with pytest.raises(OracleFormatError, match=message):
        SignedReport.from_json(text)


def test_constructor_checks_encoding_widths(keys):
    oracle = public_key_bytes(keys[0])
    with pytest.raises(OracleFormatError, match="signature must be 64 bytes"):
        SignedReport(oracle, 0, 1, NOW, b"\x00" * 63)
    with pytest.raises(OracleFormatError, match="oracle public key must be 32 bytes"):
        SignedReport(oracle[:-1], 0, 1, NOW, b"\x00" * 64)
    with pytest.raises(OracleFormatError, match="price must be an integer, got float"):
        SignedReport(oracle, 0, 1.0, NOW, b"\x00" * 64)
