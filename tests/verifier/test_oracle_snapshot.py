"""Epoch price snapshots: median of a quorum of fresh, signed, one-per-oracle reports."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from circuits.protocol.errors import OracleFormatError
from circuits.protocol.oracle_report import (
    MAX_PRICE,
    SignedReport,
    generate_oracle_key,
    public_key_bytes,
    sign_report,
)
from verifier.errors import OracleConfigError, QuorumError
from verifier.oracle import (
    BreakerTrip,
    OracleRegistry,
    PriceSnapshot,
    circuit_breaker,
    lower_median,
    snapshot,
)

NOW = 1_700_000_000
STALENESS = 60
POOL = 9
KEYS = [Ed25519PrivateKey.from_private_bytes(bytes([i + 1]) * 32) for i in range(POOL)]
REGISTRY = OracleRegistry({k: f"oracle-{i}" for i, k in enumerate(KEYS)})


def take(reports, markets=1, faults=0, now=NOW, epoch=7, **kw):
    return snapshot(reports, registry=REGISTRY, markets=markets, epoch=epoch, now=now, faults=faults,
                    staleness=kw.pop("staleness", STALENESS), **kw)


def reports_for(prices, market=0, timestamp=NOW):
    """One report per price, each from a different oracle."""
    return [sign_report(KEYS[i], market, p, timestamp) for i, p in enumerate(prices)]


# --- the median -----------------------------------------------------------------------------

def test_odd_count_takes_the_middle():
    assert take(reports_for([300, 100, 200]), faults=1).prices == (200,)


def test_even_count_takes_the_lower_median_without_averaging():
    snap = take(reports_for([400, 100, 300, 200]), faults=1)
    assert snap.prices == (200,)  # not 250: no division, a price an oracle signed


@given(st.lists(st.integers(1, MAX_PRICE), min_size=1, max_size=50))
def test_lower_median_is_sorted_at_n_minus_1_over_2(values):
    assert lower_median(values) == sorted(values)[(len(values) - 1) // 2]
    assert lower_median(values) in values


def test_lower_median_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        lower_median([])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, MAX_PRICE), min_size=1, max_size=POOL), st.randoms(use_true_random=False))
def test_snapshot_price_is_the_lower_median_whatever_the_order(prices, rnd):
    reports = reports_for(prices)
    reports += reports[: rnd.randint(0, len(reports))]  # resubmissions never count twice
    rnd.shuffle(reports)
    snap = take(reports, faults=(len(prices) - 1) // 2)
    assert snap.prices == (sorted(prices)[(len(prices) - 1) // 2],)
    assert len(snap.report_digests[0]) == len(prices)


# --- what counts ----------------------------------------------------------------------------

def test_each_market_is_priced_from_its_own_reports():
    reports = reports_for([10, 20, 30], market=0) + reports_for([7, 5, 9], market=1)
    snap = take(reports, markets=2, faults=1)
    assert snap.prices == (20, 7) and snap.markets == 2 and snap.epoch == 7 and snap.taken_at == NOW


def test_a_duplicate_report_counts_once():
    one = sign_report(KEYS[0], 0, 100, NOW)
    with pytest.raises(QuorumError, match="market 0 had 1 valid fresh report from distinct oracles"):
        take([one, one, dataclasses.replace(one)], faults=1)


def test_an_oracle_counts_once_with_its_newest_report():
    reports = [sign_report(KEYS[0], 0, 999, NOW - 10), sign_report(KEYS[0], 0, 100, NOW - 1),
               sign_report(KEYS[0], 0, 999, NOW - 5), sign_report(KEYS[1], 0, 200, NOW)]
    with pytest.raises(QuorumError, match="had 2 valid"):
        take(reports, faults=1)
    snap = take(reports, faults=0)
    assert snap.prices == (100,)  # the lower median of {100 (newest of oracle 0), 200}
    assert snap.report_digests[0] == tuple(sorted([reports[1].digest(), reports[3].digest()]))


def test_an_equivocating_oracle_counts_for_nothing():
    """Two different prices signed for the same instant: neither is believable."""
    reports = [sign_report(KEYS[0], 0, 100, NOW), sign_report(KEYS[0], 0, 1, NOW)] + reports_for([1, 200, 300])[1:]
    with pytest.raises(QuorumError, match=r"had 2 valid .*1 equivocation"):
        take(reports, faults=1)
    assert take(reports, faults=0).prices == (200,)


def test_stale_future_unknown_and_forged_reports_never_count():
    good = reports_for([100, 200])
    stranger = generate_oracle_key()
    forged = dataclasses.replace(sign_report(KEYS[2], 0, 300, NOW), price=5)
    excluded = [
        sign_report(KEYS[3], 0, 1, NOW - STALENESS - 1),  # stale
        sign_report(KEYS[4], 0, 1, NOW + 6),  # from the future (skew 5)
        sign_report(stranger, 0, 1, NOW),  # unknown oracle
        forged,  # bad signature
        {"oracle": "x", "market": 0, "price": 1},  # not a signed report at all
    ]
    assert take(good + excluded, faults=0).prices == (100,)
    with pytest.raises(QuorumError) as info:
        take(good + excluded, faults=1)
    message = str(info.value)
    assert "market 0 had 2 valid fresh reports from distinct oracles" in message
    for reason in ("1 stale", "1 from the future", "1 unknown oracle", "1 bad signature"):
        assert reason in message
    assert info.value.shortfalls == {0: 2}


def test_freshness_window_boundaries_are_inclusive():
    edge = [sign_report(KEYS[0], 0, 100, NOW - STALENESS), sign_report(KEYS[1], 0, 200, NOW + 5)]
    assert take(edge, faults=0, skew=5).prices == (100,)


def test_quorum_error_names_every_short_market():
    reports = reports_for([10, 20, 30], market=0) + reports_for([5], market=2)
    with pytest.raises(QuorumError) as info:
        take(reports, markets=3, faults=1)
    message = str(info.value)
    assert "epoch 7" in message and "3 distinct oracles needed, 2f + 1 with f = 1" in message
    assert "market 1 had 0 valid fresh reports" in message
    assert "market 2 had 1 valid fresh report from" in message
    assert "market 0" not in message
    assert info.value.shortfalls == {1: 0, 2: 1}


def test_reports_for_unconfigured_markets_are_mentioned():
    reports = reports_for([10], market=0) + reports_for([5, 6], market=9)
    with pytest.raises(QuorumError, match="reports for no configured market: 2 unknown market"):
        take(reports, markets=2, faults=0)


@pytest.mark.parametrize("kw, message", [
    ({"faults": 5}, r"quorum of 11 oracles \(2f \+ 1, f = 5 faulty\) is impossible with 9 registered"),
    ({"faults": -1}, "faults = -1 is outside"),
    ({"staleness": -1}, "staleness = -1"),
    ({"now": 1.5}, "now must be an integer"),
    ({"epoch": 2**64}, "epoch = .* is outside"),
])
def test_impossible_configuration_is_a_configuration_error(kw, message):
    with pytest.raises(OracleConfigError, match=message):
        take(reports_for([1, 2, 3]), **kw)


# --- the snapshot object --------------------------------------------------------------------

def test_snapshot_is_immutable():
    snap = take(reports_for([1, 2, 3]), faults=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.prices = (5,)  # type: ignore[misc]
    assert isinstance(snap.prices, tuple) and isinstance(snap.report_digests[0], tuple)


def test_snapshot_digest_is_stable_and_order_independent():
    reports = reports_for([30, 10, 20], market=0) + reports_for([5, 6], market=1)
    first = take(reports, markets=2, faults=0)
    for seed in range(5):
        shuffled = list(reports)
        random.Random(seed).shuffle(shuffled)
        again = take(shuffled, markets=2, faults=0)
        assert again == first and again.digest() == first.digest()


def test_snapshot_digest_is_pinned():
    """The canonical encoding must not drift: a stored digest has to keep matching its snapshot."""
    snap = PriceSnapshot(epoch=3, taken_at=NOW, prices=(100, 2**48 - 1),
                         report_digests=((b"\x01" * 32, b"\x02" * 32), (b"\x03" * 32,)))
    assert snap.encoding() == (b"zkmargin/price-snapshot/v1\x00" + (3).to_bytes(8, "big") + NOW.to_bytes(8, "big")
                               + (2).to_bytes(2, "big")
                               + (100).to_bytes(8, "big") + (2).to_bytes(2, "big") + b"\x01" * 32 + b"\x02" * 32
                               + (2**48 - 1).to_bytes(8, "big") + (1).to_bytes(2, "big") + b"\x03" * 32)
    assert snap.digest() == hashlib.sha256(snap.encoding()).digest()
    assert snap.digest().hex() == "939a59a71586b0d3dc6a5e260e4f26d16a236a7c5397ebce394bc53550afffc6"


def _base() -> PriceSnapshot:
    return PriceSnapshot(epoch=3, taken_at=NOW, prices=(100, 200, 300),
                         report_digests=((b"\x01" * 32,), (b"\x02" * 32,), (b"\x03" * 32,)))


@pytest.mark.parametrize("market", [0, 1, 2])
def test_digest_changes_with_any_price(market):
    base = _base()
    prices = list(base.prices)
    prices[market] += 1
    assert dataclasses.replace(base, prices=tuple(prices)).digest() != base.digest()


def test_digest_changes_with_epoch_time_and_reports():
    base = _base()
    variants = [
        dataclasses.replace(base, epoch=4),
        dataclasses.replace(base, taken_at=NOW + 1),
        dataclasses.replace(base, report_digests=((b"\x01" * 32,), (b"\x02" * 32,), (b"\x04" * 32,))),
        dataclasses.replace(base, report_digests=((b"\x01" * 32, b"\x05" * 32), (b"\x02" * 32,), (b"\x03" * 32,))),
    ]
    digests = {v.digest() for v in variants} | {base.digest()}
    assert len(digests) == len(variants) + 1


@pytest.mark.parametrize("kw, message", [
    ({"prices": (0, 200, 300)}, "price of market 0 = 0 is outside"),
    ({"prices": (100, 200, 2**48)}, "price of market 2"),
    ({"prices": (100, 200)}, "2 prices but report digests for 3 markets"),
    ({"report_digests": ((), (b"\x02" * 32,), (b"\x03" * 32,))}, "market 0: report digests"),
    ({"report_digests": ((b"\x02" * 32, b"\x01" * 32), (b"\x02" * 32,), (b"\x03" * 32,))}, "sorted"),
    ({"report_digests": ((b"\x01" * 31,), (b"\x02" * 32,), (b"\x03" * 32,))}, "32 bytes"),
])
def test_snapshot_refuses_inconsistent_content(kw, message):
    with pytest.raises(OracleFormatError, match=message):
        dataclasses.replace(_base(), **kw)


def test_snapshot_json_round_trip():
    snap = take(reports_for([30, 10, 20], market=0) + reports_for([5, 6], market=1), markets=2, faults=0)
    text = snap.to_json()
    assert PriceSnapshot.from_json(text) == snap
    assert json.loads(text)["digest"] == snap.digest().hex()


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["prices"].__setitem__(0, d["prices"][0] + 1), "digest does not match"),
    (lambda d: d.update(epoch=d["epoch"] + 1), "digest does not match"),
    (lambda d: d.update(extra=True), "unknown field"),
    (lambda d: d.pop("digest"), "missing field"),
    (lambda d: d.update(prices="10"), "'prices' must be a list"),
    (lambda d: d["prices"].__setitem__(0, 1.0), "must be an integer, got float"),
])
def test_snapshot_json_is_strict_and_tamper_evident(mutate, message):
    data = take(reports_for([1, 2, 3]), faults=1).to_dict()
    mutate(data)
    with pytest.raises(OracleFormatError, match=message):
        PriceSnapshot.from_dict(data)


def test_reports_round_trip_through_json_into_a_snapshot():
    """What the service stores (JSON) prices the epoch exactly as the signed objects do."""
    reports = reports_for([3, 1, 2])
    parsed = [SignedReport.from_json(r.to_json()) for r in reports]
    assert take(parsed, faults=1) == take(reports, faults=1)
    assert public_key_bytes(KEYS[0]) in REGISTRY


# --- f lying oracles --------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(st.data())
def test_f_lying_oracles_cannot_move_the_price_outside_the_honest_reports(data):
    """With 2f + 1 or more distinct oracles of which at most f lie (any prices at all), the
    median lies between the lowest and the highest honest price, for odd and even counts."""
    faults = data.draw(st.integers(1, (POOL - 1) // 2), label="f")
    count = data.draw(st.integers(2 * faults + 1, POOL), label="reports")
    liars = data.draw(st.integers(0, faults), label="liars")
    honest = data.draw(st.lists(st.integers(1_000, 1_100), min_size=count - liars, max_size=count - liars))
    lies = data.draw(st.lists(st.sampled_from([1, 999, 1_101, MAX_PRICE]), min_size=liars, max_size=liars))
    price = take(reports_for(honest + lies), faults=faults).prices[0]
    assert min(honest) <= price <= max(honest)


def test_fewer_than_2f_plus_1_reports_set_no_price():
    """The observed failure: a quorum of 2 let the lower median of {honest, liar} be the liar's."""
    with pytest.raises(QuorumError, match="3 distinct oracles needed.*had 2 valid"):
        take(reports_for([100, 1]), faults=1)


def test_a_revoked_oracle_counts_for_nothing():
    registry = OracleRegistry({k: f"oracle-{i}" for i, k in enumerate(KEYS[:4])})
    registry.revoke(KEYS[0], "oracle-0", "at noon: leaked")
    reports = reports_for([1, 100, 101, 102])
    snap = snapshot(reports, registry=registry, markets=1, epoch=7, now=NOW, faults=1, staleness=STALENESS)
    assert snap.prices == (101,) and reports[0].digest() not in snap.report_digests[0]
    registry.revoke(KEYS[1], "oracle-1", "at noon: leaked")
    with pytest.raises(OracleConfigError, match="impossible with 2 registered unrevoked"):
        snapshot(reports, registry=registry, markets=1, epoch=7, now=NOW, faults=1, staleness=STALENESS)


# --- the circuit breaker --------------------------------------------------------------------

def breaker(prices, previous=None, max_spread=50_000, max_move=200_000):
    reports = reports_for(prices)
    taken = take(reports, faults=(len(prices) - 1) // 2)
    before = None if previous is None else PriceSnapshot(epoch=6, taken_at=NOW - 60, prices=(previous,),
                                                          report_digests=((b"\x01" * 32,),))
    return taken, circuit_breaker(taken, reports, before, max_spread=max_spread, max_move=max_move)


def test_the_spread_limit_is_exact_and_inclusive():
    assert breaker([1_000_000, 1_000_000, 1_050_000])[1] == []  # exactly 5 %: not more than the limit
    _, trips = breaker([1_000_000, 1_000_000, 1_050_001])
    assert trips == [BreakerTrip(0, "spread", 1_000_000, 50_001, 50_000, low=1_000_000, high=1_050_001)]
    _, trips = breaker([949_999, 1_000_000, 1_000_000])  # below the median counts the same
    assert [(t.kind, t.figure, t.low, t.high) for t in trips] == [("spread", 50_001, 949_999, 1_000_000)]


def test_the_figures_round_up_so_a_shown_figure_above_the_limit_is_a_trip():
    _, trips = breaker([300, 300, 316], max_spread=53_333)  # 16/300 = 53333.33... millionths
    assert [t.figure for t in trips] == [53_334]
    assert breaker([300, 300, 316], max_spread=53_334)[1] == []


def test_the_move_limit_is_measured_from_the_previous_snapshot():
    assert breaker([120, 120, 120], previous=100)[1] == []  # exactly 20 %
    _, trips = breaker([121, 121, 121], previous=100)
    assert trips == [BreakerTrip(0, "move", 121, 210_000, 200_000, previous=100)]
    _, trips = breaker([79, 79, 79], previous=100)
    assert [(t.kind, t.figure) for t in trips] == [("move", 210_000)]
    assert "the median 79 moved 210000 millionths from the previous snapshot's 100 (limit 200000)" in \
        trips[0].describe("BTC-USD")
    assert breaker([121, 121, 121], previous=None)[1] == []  # the first snapshot has nothing to move from


def test_both_checks_report_every_market_that_trips():
    reports = reports_for([100, 100, 200], market=0) + reports_for([50, 50, 50], market=1)
    taken = take(reports, markets=2, faults=1)
    previous = PriceSnapshot(epoch=6, taken_at=NOW - 60, prices=(100, 100), report_digests=((b"\x01" * 32,),) * 2)
    trips = circuit_breaker(taken, reports, previous, max_spread=50_000, max_move=200_000)
    assert [(t.market, t.kind, t.figure) for t in trips] == [(0, "spread", 1_000_000), (1, "move", 500_000)]
    assert trips[0].to_dict() == {"market": 0, "kind": "spread", "median": 100, "figure_millionths": 1_000_000,
                                  "limit_millionths": 50_000, "low": 100, "high": 200}


@pytest.mark.parametrize("kw, message", [
    ({"max_spread": 0.05}, "max_spread must be an integer"),
    ({"max_move": -1}, "max_move = -1 is outside"),
])
def test_breaker_limits_are_integers(kw, message):
    with pytest.raises(OracleConfigError, match=message):
        breaker([1, 1, 1], **kw)
