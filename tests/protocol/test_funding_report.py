"""Signed funding-rate reports: the signed bytes, strict JSON, the rate bound; and the settle
statement's funding charge agrees with the risk model's reference formula."""

from __future__ import annotations

import random

import pytest

from circuits.protocol.errors import OracleFormatError, PriceRangeError
from circuits.protocol.funding_report import (
    FUNDING_DOMAIN,
    SignedFundingReport,
    funding_message,
    funding_step,
    sign_funding_report,
)
from circuits.protocol.oracle_report import REPORT_DOMAIN, generate_oracle_key, public_key_bytes
from circuits.protocol.risk.funding import funding_payment
from circuits.settle import FUNDING_STEP_BITS, funding_paid


@pytest.fixture(scope="module")
def key():
    return generate_oracle_key()


def test_a_report_round_trips_and_verifies(key):
    report = sign_funding_report(key, 1, 7, -1_234, 1_700_000_000)
    again = SignedFundingReport.from_json(report.to_json())
    assert again == report and again.signed_by(key.public_key())
    assert again.digest() == report.digest()


@pytest.mark.parametrize("change", [{"rate": -1_233}, {"epoch": 8}, {"market": 0}, {"timestamp": 1_700_000_001}])
def test_every_signed_field_is_bound(key, change):
    report = sign_funding_report(key, 1, 7, -1_234, 1_700_000_000)
    fields = {**report.__dict__, **change}
    assert not SignedFundingReport(**fields).signed_by(key.public_key())


def test_the_signed_bytes_are_fixed_width_and_not_a_price_report(key):
    oracle = public_key_bytes(key)
    message = funding_message(oracle, 1, 7, -5, 9)
    assert message.startswith(FUNDING_DOMAIN) and not message.startswith(REPORT_DOMAIN)
    assert len(message) == len(FUNDING_DOMAIN) + 32 + 4 + 8 + 8 + 8
    assert funding_message(oracle, 1, 7, 5, 9) != message  # the sign is signed


@pytest.mark.parametrize("text", [
    '{"oracle": "00", "market": 0, "epoch": 1, "rate": 1, "timestamp": 1, "signature": "00"}',
    '{"market": 0, "epoch": 1, "rate": 1.0, "timestamp": 1}',
    "[]",
])
def test_malformed_json_is_refused(text):
    with pytest.raises(OracleFormatError):
        SignedFundingReport.from_json(text)


@pytest.mark.parametrize("rate", [1_000_001, -1_000_001])
def test_a_rate_beyond_a_whole_price_is_not_signed(key, rate):
    with pytest.raises(PriceRangeError):
        sign_funding_report(key, 0, 1, rate, 1)


def test_the_largest_step_fits_the_settle_statement():
    assert abs(funding_step(-1_000_000, (1 << 48) - 1)) < 1 << FUNDING_STEP_BITS


def test_the_circuit_charge_is_the_risk_model_payment():
    rng = random.Random(13)
    for _ in range(2_000):
        size = rng.randrange(-(1 << 40), 1 << 40)
        step = funding_step(rng.randrange(-1_000_000, 1_000_001), rng.randrange(1, 1 << 48))
        assert funding_paid(size, step) == funding_payment(size, 0, step)
