"""Statement 1, margin attestation: healthy committed states pass, every cheat fails.

Each cheat is checked to fail *only* at the constraint that must stop it (every other
constraint holds, after re-deriving what depends on the cheater's values), so each assertion
would fail if that constraint were removed.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from circuits.margin import Margin
from circuits.state import RATE_SCALE, AccountState, BoundError
from tests.circuits.adversary import failing_labels, rederive
from tests.circuits.helpers import (
    CURVES,
    EPOCH,
    assert_only_fails_at,
    commit,
    margin_inputs,
    state,
)
from zkmargin.curves import get_curve
from zkmargin.groth16 import prove, setup, verify

HEALTH = "maintenance margin holds"
OPENS = "state commitment opens to the state"
P1, MM1 = [100], [50_000]  # one market: price 100, maintenance 5%
P2, MM2 = [100, 2000], [50_000, 100_000]


def synth(s: AccountState, prices, rates, curve, **public):
    return Margin(s.markets).synthesize(curve, margin_inputs(s, prices, rates, curve, **public))


def honest(s: AccountState, prices, rates, curve):
    """Through the real witness builder, which validates and refuses unhealthy states."""
    circuit = Margin(s.markets)
    return circuit.synthesize(curve, circuit.assignment(s, EPOCH, prices, rates, curve))


VALID = [
    ("empty account", state(collateral=0), P1, MM1),
    ("long, at cost", state(collateral=100, sizes=(10,), costs=(1000,)), P1, MM1),
    ("short with a loss", state(collateral=500, sizes=(-10,), costs=(-900,)), P1, MM1),
    ("two markets", state(collateral=5_000, sizes=(10, -3), costs=(900, -6600)), P2, MM2),
    ("extreme in-bounds values",
     state(collateral=(1 << 96) - 1, sizes=((1 << 40) - 1, -(1 << 40)),
           costs=((1 << 88) - 1, -(1 << 88))), [(1 << 48) - 1, (1 << 48) - 1], [RATE_SCALE, RATE_SCALE]),
]


@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize("name,s,prices,rates", VALID, ids=[v[0] for v in VALID])
def test_healthy_states_satisfy(curve, name, s, prices, rates):
    assert s.health_difference(prices, rates) >= 0
    assert honest(s, prices, rates, curve).is_satisfied()


def test_largest_health_difference_fits_at_64_markets():
    """The bound argument's extreme: 64 markets, every value at the edge that maximises E."""
    m = 64
    s = state(collateral=(1 << 96) - 1, sizes=((1 << 40) - 1,) * m, costs=(-(1 << 88),) * m)
    prices, rates = [(1 << 48) - 1] * m, [0] * m
    difference = s.health_difference(prices, rates)
    assert (1 << 116) < difference < (1 << 117)
    assert honest(s, prices, rates, "bn128").is_satisfied()


# --- Groth16 ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def margin_keys():
    return {curve: setup(Margin(1).shape(curve), insecure_test_seed=101) for curve in CURVES}


@pytest.mark.parametrize("curve", CURVES)
def test_proof_verifies_and_is_bound_to_every_public_input(margin_keys, curve):
    pk = margin_keys[curve]
    s = state(collateral=100, sizes=(10,), costs=(1000,))
    cs = honest(s, P1, MM1, curve)
    public = cs.public_values()
    assert public == Margin(1).public_inputs(s.account_id, commit(s, curve), EPOCH, P1, MM1, curve)
    proof = prove(pk, cs)
    assert verify(pk.vk, public, proof)
    newer = replace(s, nonce=s.nonce + 1, salt=s.salt + 1)
    for what, index, value in [
        ("another epoch", 2, EPOCH + 1),
        ("another account", 0, s.account_id + 1),
        ("another commitment (the next state)", 1, commit(newer, curve)),
        ("a lower price", 3, 90),
        ("a higher maintenance rate", 4, MM1[0] * 2),
    ]:
        forged = list(public)
        forged[index] = value
        assert not verify(pk.vk, forged, proof), what


# --- the health boundary ---------------------------------------------------------------------


@pytest.mark.parametrize("curve", CURVES)
def test_exactly_at_maintenance_passes_one_unit_short_fails(curve):
    # E = 1, |b*P| * mm = 1_000_000 * 1: E * RATE_SCALE - requirement = 0 exactly
    at = state(collateral=1, sizes=(1_000_000,), costs=(1_000_000,))
    assert at.health_difference([1], [1]) == 0
    assert honest(at, [1], [1], curve).is_satisfied()
    # one more base unit: requirement 1_000_001, difference -1 (the smallest possible shortfall)
    short = state(collateral=1, sizes=(1_000_001,), costs=(1_000_001,))
    assert short.health_difference([1], [1]) == -1
    with pytest.raises(BoundError):
        Margin(1).assignment(short, EPOCH, [1], [1], curve)
    assert_only_fails_at(synth(short, [1], [1], curve), HEALTH)


@pytest.mark.parametrize("curve", CURVES)
def test_realistic_boundary(curve):
    # long 10 at 100, 5% maintenance: requirement 50 collateral units
    at = state(collateral=50, sizes=(10,), costs=(1000,))
    assert honest(at, P1, MM1, curve).is_satisfied()
    below = replace(at, collateral=49)
    assert below.health_difference(P1, MM1) == -RATE_SCALE
    assert_only_fails_at(synth(below, P1, MM1, curve), HEALTH)
    # the same account one millionth of a rate too strict: difference -1000
    assert at.health_difference(P1, [MM1[0] + 1]) == -1000
    assert_only_fails_at(synth(at, P1, [MM1[0] + 1], curve), HEALTH)


@pytest.mark.parametrize("curve", CURVES)
def test_wrong_prices_and_rates(curve):
    s = state(collateral=100, sizes=(10,), costs=(1000,))  # healthy at 100, not at 90
    assert s.health_difference([100], MM1) > 0 > s.health_difference([90], MM1)
    assert honest(s, [100], MM1, curve).is_satisfied()
    assert_only_fails_at(synth(s, [90], MM1, curve), HEALTH)
    # healthy at 5% maintenance, not at 20%
    assert s.health_difference([100], [200_000]) < 0
    assert_only_fails_at(synth(s, [100], [200_000], curve), HEALTH)
    # two markets: a loss in the second market only shows at its real price
    s2 = state(collateral=5_000, sizes=(10, -3), costs=(900, -6600))
    assert s2.health_difference([100, 4000], MM2) < 0
    assert_only_fails_at(synth(s2, [100, 4000], MM2, curve), HEALTH)


# --- values outside their bounds -------------------------------------------------------------


@pytest.mark.parametrize("curve", CURVES)
def test_negative_collateral_wrapped_around_the_field(curve):
    r = get_curve(curve).r
    # negative collateral next to 10^8 of unrealized profit: E would still be healthy
    for collateral in (-1, r - 1, -(1 << 20)):
        s = state(collateral=collateral, sizes=(10**6,), costs=(0,))
        assert s.health_difference(P1, MM1) > 0
        assert_only_fails_at(synth(s, P1, MM1, curve), "state/collateral range")


@pytest.mark.parametrize("curve", CURVES)
def test_collateral_bound(curve):
    assert honest(state(collateral=(1 << 96) - 1), P1, MM1, curve).is_satisfied()
    assert_only_fails_at(synth(state(collateral=1 << 96), P1, MM1, curve), "state/collateral range")


@pytest.mark.parametrize("curve", CURVES)
def test_nonce_bound(curve):
    assert honest(state(nonce=(1 << 64) - 1), P1, MM1, curve).is_satisfied()
    assert_only_fails_at(synth(state(nonce=1 << 64), P1, MM1, curve), "state/nonce range")


@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize("size,ok", [((1 << 40) - 1, True), (1 << 40, False), (-(1 << 40), True),
                                     (-(1 << 40) - 1, False)])
def test_size_bounds(curve, size, ok):
    s = state(collateral=1 << 80, sizes=(size,), costs=(size * 100,))
    assert s.health_difference(P1, MM1) > 0
    cs = synth(s, P1, MM1, curve)
    if ok:
        assert cs.is_satisfied()
    else:
        assert_only_fails_at(cs, "state/size 0 sign/magnitude range")


@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize("cost,ok", [((1 << 88) - 1, True), (1 << 88, False), (-(1 << 88), True),
                                     (-(1 << 88) - 1, False)])
def test_cost_basis_bounds(curve, cost, ok):
    s = state(collateral=1 << 95, sizes=(0,), costs=(cost,))
    assert s.health_difference(P1, MM1) > 0
    cs = synth(s, P1, MM1, curve)
    if ok:
        assert cs.is_satisfied()
    else:
        assert_only_fails_at(cs, "state/cost 0 sign/magnitude range")


@pytest.mark.parametrize("curve", CURVES)
def test_cost_basis_wrapped_negative_cannot_inflate_equity(curve):
    # k = -2^90 would add 2^90 to the equity of a broke account
    s = state(collateral=0, sizes=(10,), costs=(-(1 << 90),))
    assert_only_fails_at(synth(s, P1, MM1, curve), "state/cost 0 sign/magnitude range")


@pytest.mark.parametrize("curve", CURVES)
def test_size_magnitude_r_minus_one(curve):
    """Short 1 with sign 0 and magnitude r - 1 reads |b| = -1: the requirement turns negative."""
    r = get_curve(curve).r
    s = state(collateral=4, sizes=(-1,), costs=(-100,))  # E = 4, requirement 5: unhealthy
    assert s.health_difference(P1, MM1) < 0
    assert_only_fails_at(synth(s, P1, MM1, curve), HEALTH)
    cs = synth(s, P1, MM1, curve)
    sign, magnitude = "state/size 0 sign/sign", "state/size 0 sign/offset magnitude"
    cs.set_value(cs.variable(sign), 0)
    cs.set_value(cs.variable(magnitude), r - 1)
    w = rederive(cs, [sign, magnitude])
    assert w.signed("maintenance/|b|*P 0") == -100  # the lie, carried into the requirement
    assert_only_fails_at(cs, "state/size 0 sign/magnitude range")


@pytest.mark.parametrize("curve", CURVES)
def test_sign_and_magnitude_lies_about_a_long_position(curve):
    s = state(collateral=40, sizes=(10,), costs=(1000,))  # E = 40, requirement 50: unhealthy
    sign, magnitude = "state/size 0 sign/sign", "state/size 0 sign/offset magnitude"
    # sign := -b, magnitude := 0 keeps value = m - s(2m+1) true and reads |b| = -10
    cs = synth(s, P1, MM1, curve)
    cs.set_value(cs.variable(sign), -10)
    cs.set_value(cs.variable(magnitude), 0)
    rederive(cs, [sign, magnitude])
    assert_only_fails_at(cs, "state/size 0 sign/sign is boolean")
    # sign := 0, magnitude := 0 reads |b| = 0: only the sign relation stops it
    cs = synth(s, P1, MM1, curve)
    cs.set_value(cs.variable(sign), 0)
    cs.set_value(cs.variable(magnitude), 0)
    rederive(cs, [sign, magnitude])
    assert_only_fails_at(cs, "state/size 0 sign/value = m - sign*(2m+1)")


@pytest.mark.parametrize("curve", CURVES)
def test_health_bits_cannot_encode_a_negative_difference(curve):
    """The cheater sets the health bits to those of a small positive number."""
    s = state(collateral=49, sizes=(10,), costs=(1000,))
    cs = synth(s, P1, MM1, curve)
    bits = [f"{HEALTH}/bit {i}" for i in range(117)]
    for i, name in enumerate(bits):
        cs.set_value(cs.variable(name), (12345 >> i) & 1)
    labels = assert_only_fails_at(cs, HEALTH)
    assert labels == [f"{HEALTH}/bits recompose the value"]


# --- openings --------------------------------------------------------------------------------


@pytest.mark.parametrize("curve", CURVES)
def test_opening_must_match_the_public_commitment(curve):
    ledger = state(collateral=40, sizes=(10,), costs=(1000,))  # unhealthy
    claimed = replace(ledger, collateral=10**6)  # healthy, but not what the ledger holds
    assert_only_fails_at(synth(claimed, P1, MM1, curve, commitment=commit(ledger, curve)), OPENS)


@pytest.mark.parametrize("curve", CURVES)
def test_another_accounts_commitment(curve):
    mine = state(7, collateral=40, sizes=(10,), costs=(1000,))  # unhealthy
    theirs = replace(mine, account_id=8, collateral=10**6)  # healthy
    # my account, their (healthy) state and commitment
    assert_only_fails_at(synth(theirs, P1, MM1, curve, account=7), OPENS)
    # a healthy state of mine proved as account 8's: the account is hashed into the commitment
    assert_only_fails_at(synth(replace(mine, collateral=10**6), P1, MM1, curve, account=8), OPENS)


@pytest.mark.parametrize("curve", CURVES)
def test_stale_nonce(curve):
    current = state(nonce=5, collateral=40, sizes=(10,), costs=(1000,))  # unhealthy now
    for nonce in (4, 6):
        other = replace(current, nonce=nonce, collateral=10**6)  # healthy at another nonce
        assert_only_fails_at(synth(other, P1, MM1, curve, commitment=commit(current, curve)), OPENS)
        # only the nonce differs (a healthy account): still no opening
        healthy = replace(current, collateral=10**6)
        assert_only_fails_at(synth(replace(healthy, nonce=nonce), P1, MM1, curve,
                                   commitment=commit(healthy, curve)), OPENS)


# --- the circuit agrees with the integer definition -------------------------------------------


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    collateral=st.integers(0, 10_000),
    sizes=st.lists(st.integers(-1_000, 1_000), min_size=2, max_size=2),
    costs=st.lists(st.integers(-10**6, 10**6), min_size=2, max_size=2),
    prices=st.lists(st.integers(1, 1_000), min_size=2, max_size=2),
    rates=st.lists(st.integers(0, RATE_SCALE), min_size=2, max_size=2),
)
def test_satisfied_exactly_when_healthy(collateral, sizes, costs, prices, rates):
    s = state(collateral=collateral, sizes=tuple(sizes), costs=tuple(costs))
    labels = failing_labels(synth(s, prices, rates, "bn128"))
    if s.health_difference(prices, rates) >= 0:
        assert labels == []
    else:
        assert labels and all(HEALTH in label for label in labels)
