"""Signed implied-volatility reports: codec, signature, quorum of 2f + 1 and circuit breaker."""

from __future__ import annotations

from dataclasses import replace

import pytest

from circuits.protocol.errors import OracleFormatError
from circuits.protocol.oracle_report import generate_oracle_key, public_key_bytes, sign_report
from circuits.protocol.vol_report import (
    SignedVolReport,
    VolBreakerError,
    VolFreshnessError,
    VolQuorumError,
    VolRangeError,
    VolSignatureError,
    sign_vol_report,
    verify_vol_report,
    vol_breaker,
    vol_quorum,
)

NOW = 1_700_000_000
KEYS = [generate_oracle_key() for _ in range(4)]
TRUSTED = {public_key_bytes(k): k.public_key() for k in KEYS[:3]}  # f = 1: quorum 3; KEYS[3] is unknown
WINDOW = {"markets": 2, "now": NOW, "skew": 5, "staleness": 60}


def reports(vols, market=0, keys=KEYS[:3], at=NOW):
    return [sign_vol_report(k, market, v, at) for k, v in zip(keys, vols)]


def quorum(batch, **changes):
    return vol_quorum(batch, TRUSTED, underlyings=[0], faults=1, **{**WINDOW, **changes})


def test_json_round_trip_is_strict():
    report = sign_vol_report(KEYS[0], 1, 600_000, NOW)
    assert SignedVolReport.from_json(report.to_json()) == report
    for bad in (report.to_json().replace("600000", "600000.0"), report.to_json().replace('"vol"', '"price"')):
        with pytest.raises(OracleFormatError):
            SignedVolReport.from_json(bad)


def test_a_signed_price_is_not_a_signed_volatility():
    price = sign_report(KEYS[0], 0, 600_000, NOW)
    forged = SignedVolReport(price.oracle, 0, 600_000, NOW, price.signature)
    with pytest.raises(VolSignatureError):
        verify_vol_report(forged, TRUSTED, **WINDOW)


def test_bad_signature_unknown_oracle_range_and_freshness_are_refused():
    good = sign_vol_report(KEYS[0], 0, 600_000, NOW)
    verify_vol_report(good, TRUSTED, **WINDOW)
    with pytest.raises(VolSignatureError):
        verify_vol_report(replace(good, vol=600_001), TRUSTED, **WINDOW)
    with pytest.raises(VolSignatureError):
        verify_vol_report(sign_vol_report(KEYS[3], 0, 600_000, NOW), TRUSTED, **WINDOW)
    with pytest.raises(VolRangeError):
        sign_vol_report(KEYS[0], 0, 10, NOW)
    with pytest.raises(VolFreshnessError):
        verify_vol_report(sign_vol_report(KEYS[0], 0, 600_000, NOW - 61), TRUSTED, **WINDOW)
    with pytest.raises(VolFreshnessError):
        verify_vol_report(sign_vol_report(KEYS[0], 0, 600_000, NOW + 6), TRUSTED, **WINDOW)
    with pytest.raises(OracleFormatError, match="market 2 does not exist"):
        verify_vol_report(sign_vol_report(KEYS[0], 2, 600_000, NOW), TRUSTED, **WINDOW)


def test_the_lower_median_of_a_quorum_and_one_liar_cannot_move_it_outside_the_honest_range():
    taken = quorum(reports([580_000, 600_000, 5_000_000]))
    assert taken.vols == {0: 600_000} and len(taken.counted[0]) == 3
    assert quorum(reports([580_000, 620_000, 1_000])).vols == {0: 580_000}


def test_a_quorum_short_of_2f_plus_1_distinct_oracles_is_refused():
    twice_the_same = reports([600_000, 600_000], keys=[KEYS[0], KEYS[0]]) + reports([600_000], keys=[KEYS[1]])
    with pytest.raises(VolQuorumError, match="market 0: 2"):
        quorum(twice_the_same)
    with_an_outsider = reports([600_000] * 3, keys=[KEYS[0], KEYS[1], KEYS[3]])
    with pytest.raises(VolQuorumError):
        quorum(with_an_outsider)
    stale = reports([600_000] * 3, at=NOW - 61)
    with pytest.raises(VolQuorumError):
        quorum(stale)
    bad_signature = reports([600_000] * 2) + [replace(reports([600_000], keys=[KEYS[2]])[0], vol=700_000)]
    with pytest.raises(VolQuorumError):
        quorum(bad_signature)


def test_the_newest_report_of_each_oracle_counts():
    old = reports([900_000] * 3, at=NOW - 30)
    assert quorum(old + reports([600_000] * 3)).vols == {0: 600_000}


def test_the_breaker_trips_on_disagreement_and_on_a_jump():
    calm = quorum(reports([590_000, 600_000, 610_000]))
    vol_breaker(calm, {0: 550_000}, max_spread=20_000, max_move=100_000)
    with pytest.raises(VolBreakerError, match="from the median 600000"):
        vol_breaker(calm, None, max_spread=9_999, max_move=100_000)
    with pytest.raises(VolBreakerError, match="moved from 450000 to 600000"):
        vol_breaker(calm, {0: 450_000}, max_spread=20_000, max_move=149_999)
    vol_breaker(calm, {0: 450_000}, max_spread=10_000, max_move=150_000)  # at the limits: holds
