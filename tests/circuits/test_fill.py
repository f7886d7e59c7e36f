"""Statement 3, apply a fill: the committed fill, and only it, moves the state."""

from __future__ import annotations

from dataclasses import replace

import pytest

from circuits.fill import ApplyFill
from circuits.state import RATE_SCALE, BoundError, Fill
from tests.circuits.adversary import rederive
from tests.circuits.helpers import (
    CURVES,
    EPOCH,
    applied,
    assert_only_fails_at,
    commit,
    fill_commit,
    fill_inputs,
    maintenance_of,
    state,
)
from zkmargin.groth16 import prove, setup, verify

P, IM = [100], [100_000]
P2, IM2 = [100, 2000], [100_000, 100_000]
FILL_OPENS = "fill/fill commitment opens to the fill"
NEW_OPENS = "new commitment opens to the new state"
OLD_OPENS = "old commitment opens to the state"
IN_MARKETS = "fill/market is one of the configured markets"
INITIAL = "initial margin holds, or a risk-reducing fill keeps maintenance health"
REDUCES = "fill only reduces risk/"


def fill(market=0, size_delta=5, price=100, fee=1, account=7, fill_id=77, salt=4242) -> Fill:
    return Fill(account, fill_id, market, size_delta, price, fee, salt)


def synth(old, f, new, prices, rates, curve, **public):
    return ApplyFill(old.markets).synthesize(curve, fill_inputs(old, f, new, prices, rates, curve, **public))


def honest(old, f, prices, rates, curve):
    circuit = ApplyFill(old.markets)
    new, inputs = circuit.transition(old, f, EPOCH, prices, rates, maintenance_of(rates), curve)
    return new, circuit.synthesize(curve, inputs)


VALID = [
    ("open a long with margin", state(collateral=1000, sizes=(0, 0), costs=(0, 0)), fill(0, 5, 100, 1)),
    ("open a short in market 1", state(collateral=10**6, sizes=(0, 0), costs=(0, 0)), fill(1, -3, 2010, 7)),
    ("reduce from an unhealthy state", state(collateral=10, sizes=(10, 0), costs=(1000, 0)), fill(0, -4, 99, 1)),
    ("close exactly", state(collateral=10, sizes=(10, 0), costs=(1000, 0)), fill(0, -10, 100, 0)),
    ("flip with margin", state(collateral=1000, sizes=(5, 0), costs=(500, 0)), fill(0, -8, 100, 0)),
]


@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize("name,old,f", VALID, ids=[v[0] for v in VALID])
def test_valid_fills_satisfy(curve, name, old, f):
    new, cs = honest(old, f, P2, IM2, curve)
    assert new.sizes[f.market] == old.sizes[f.market] + f.size_delta
    assert new.costs[f.market] == old.costs[f.market] + f.size_delta * f.price
    assert new.collateral == old.collateral - f.fee
    assert cs.is_satisfied()


# --- Groth16 ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fill_keys():
    return {curve: setup(ApplyFill(1).shape(curve), insecure_test_seed=303) for curve in CURVES}


@pytest.mark.parametrize("curve", CURVES)
def test_fill_proof_verifies_and_is_bound_to_its_statement(fill_keys, curve):
    pk = fill_keys[curve]
    old = state(collateral=1000)
    f = fill(0, 5, 100, 1)
    new, cs = honest(old, f, P, IM, curve)
    public = cs.public_values()
    assert public == ApplyFill(1).public_inputs(
        old.account_id, commit(old, curve), commit(new, curve), fill_commit(f, curve), EPOCH, P, IM,
        maintenance_of(IM), curve
    )
    proof = prove(pk, cs)
    assert verify(pk.vk, public, proof)
    for what, index, value in [
        ("another account", 0, old.account_id + 1),
        ("another new commitment", 2, commit(replace(new, collateral=new.collateral + 1), curve)),
        ("another fill", 3, fill_commit(replace(f, fill_id=f.fill_id + 1), curve)),
        ("another epoch", 4, EPOCH + 1),
        ("another mark price", 5, 101),
        ("another maintenance rate", 7, 1),
    ]:
        forged = list(public)
        forged[index] = value
        assert not verify(pk.vk, forged, proof), what


# --- the fill opening ------------------------------------------------------------------------


@pytest.mark.parametrize("curve", CURVES)
def test_fill_applied_other_than_committed(curve):
    old = state(collateral=10**6, sizes=(0, 0), costs=(0, 0))
    real = fill(0, 5, 100, 3)
    for fake in (replace(real, size_delta=4), replace(real, size_delta=-5), replace(real, price=99),
                 replace(real, fee=2), replace(real, fee=0), replace(real, market=1), replace(real, fill_id=78)):
        cs = synth(old, fake, applied(old, fake), P2, IM2, curve, fill_commitment=fill_commit(real, curve))
        assert_only_fails_at(cs, FILL_OPENS)


@pytest.mark.parametrize("curve", CURVES)
def test_fill_committed_for_another_account(curve):
    old = state(7, collateral=10**6, sizes=(0, 0), costs=(0, 0))
    theirs = fill(0, 5, 100, 3, account=8)
    with pytest.raises(BoundError):
        ApplyFill(2).transition(old, theirs, EPOCH, P2, IM2, maintenance_of(IM2), curve)
    assert_only_fails_at(synth(old, theirs, applied(old, theirs), P2, IM2, curve), FILL_OPENS)


@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize("market", [2, 3, -1, 1 << 64])
def test_market_outside_the_configured_markets(curve, market):
    old = state(collateral=10**6, sizes=(0, 0), costs=(0, 0))
    f = fill(market, 5, 100, 3)
    with pytest.raises(BoundError):
        f.validate(2)
    assert_only_fails_at(synth(old, f, applied(old, f), P2, IM2, curve), IN_MARKETS)


@pytest.mark.parametrize("curve", CURVES)
def test_fill_moved_to_another_market_by_the_selector(curve):
    """The fill is for market 0; the cheater flips the one-hot selector to book it in market 1."""
    old = state(collateral=10**6, sizes=(0, 0), costs=(0, 0))
    f = fill(0, 5, 100, 3)
    booked = applied(old, replace(f, market=1))
    cs = synth(old, f, booked, P2, IM2, curve)
    is0, is1 = "fill/market is 0/is zero", "fill/market is 1/is zero"
    cs.set_value(cs.variable(is0), 0)
    cs.set_value(cs.variable(is1), 1)
    w = rederive(cs, [is0, is1])
    assert w.signed("new/size move 1") == 5 and w["new/size move 0"] == 0
    assert_only_fails_at(cs, "fill/market is 0/", "fill/market is 1/")


@pytest.mark.parametrize("curve", CURVES)
def test_fill_values_outside_their_bounds(curve):
    old = state(collateral=1 << 60, sizes=(-5, 0), costs=(-500, 0))
    big = fill(0, 1 << 40, 100, 0)  # size delta one past its bound; the new size would still fit
    assert_only_fails_at(synth(old, big, applied(old, big), P2, IM2, curve), "fill/size delta sign/magnitude range")
    free = fill(0, 5, 0, 0)  # a free fill: price 0
    assert_only_fails_at(synth(old, free, applied(old, free), P2, IM2, curve), "fill/price range")


# --- the new state ---------------------------------------------------------------------------


@pytest.mark.parametrize("curve", CURVES)
def test_new_commitment_must_be_the_fill_applied(curve):
    old = state(collateral=10**6, sizes=(3, 0), costs=(300, 0))
    f = fill(0, 5, 100, 3)
    right = applied(old, f)
    for wrong in (
        replace(right, sizes=(9, 0)), replace(right, costs=(801, 0)), replace(right, collateral=right.collateral + 1),
        replace(right, sizes=(8, 5), costs=(800, 500)), replace(right, nonce=old.nonce), replace(right, account_id=8),
    ):
        assert_only_fails_at(synth(old, f, right, P2, IM2, curve, new_commitment=commit(wrong, curve)), NEW_OPENS)


@pytest.mark.parametrize("curve", CURVES)
def test_old_state_must_be_the_ledgers(curve):
    ledger = state(nonce=5, collateral=10, sizes=(0, 0), costs=(0, 0))
    rich = replace(ledger, nonce=4, collateral=10**6)  # an older, richer state
    f = fill(0, 5, 100, 3)
    inputs = fill_inputs(rich, f, applied(rich, f), P2, IM2, curve)
    inputs["public"]["old_commitment"] = commit(ledger, curve)
    assert_only_fails_at(ApplyFill(2).synthesize(curve, inputs), OLD_OPENS)


@pytest.mark.parametrize("curve", CURVES)
def test_fill_cannot_push_a_position_or_cost_out_of_bounds(curve):
    old = state(collateral=1 << 60, sizes=((1 << 40) - 1, 0), costs=(((1 << 40) - 1) * 100, 0))
    f = fill(0, 1, 100, 0)
    assert_only_fails_at(synth(old, f, applied(old, f), P2, IM2, curve), "new/size 0/magnitude range")
    old = state(collateral=1 << 95, sizes=(0, 0), costs=((1 << 88) - 50, 0))
    f = fill(0, 1, 100, 0)
    assert_only_fails_at(synth(old, f, applied(old, f), P2, IM2, curve), "new/cost 0/magnitude range")


@pytest.mark.parametrize("curve", CURVES)
def test_fee_above_the_collateral(curve):
    old = state(collateral=5, sizes=(10, 0), costs=(0, 0))  # profitable, so E stays positive
    f = fill(0, -2, 100, 6)  # risk-reducing, releasing 10 of maintenance: only the non-negativity check applies
    assert_only_fails_at(synth(old, f, applied(old, f), P2, IM2, curve), "new/collateral is not negative")


# --- initial margin and risk reduction -------------------------------------------------------


@pytest.mark.parametrize("curve", CURVES)
def test_risk_increasing_fill_must_leave_initial_margin(curve):
    f = fill(0, 5, 100, 0)  # requirement after: 500 * 10% = 50
    at = state(collateral=50, sizes=(0, 0), costs=(0, 0))
    new, cs = honest(at, f, P2, IM2, curve)
    assert new.health_difference(P2, IM2) == 0 and cs.is_satisfied()
    short = replace(at, collateral=49)
    with pytest.raises(BoundError):
        ApplyFill(2).transition(short, f, EPOCH, P2, IM2, maintenance_of(IM2), curve)
    assert applied(short, f).health_difference(P2, IM2) == -RATE_SCALE
    assert_only_fails_at(synth(short, f, applied(short, f), P2, IM2, curve), INITIAL)


@pytest.mark.parametrize("curve", CURVES)
def test_pure_risk_reduction_passes_from_an_unhealthy_state(curve):
    old = state(collateral=10, sizes=(10, 0), costs=(1000, 0))
    assert old.health_difference(P2, IM2) < 0
    for delta in (-1, -4, -9):  # |b_new| + |db| = |b_old|
        new, cs = honest(old, fill(0, delta, 100, 1), P2, IM2, curve)
        assert abs(new.sizes[0]) + abs(delta) == abs(old.sizes[0])
        assert new.health_difference(P2, IM2) < 0 and cs.is_satisfied()
    # adding to the position from the same state is not
    f = fill(0, 1, 100, 0)
    assert_only_fails_at(synth(old, f, applied(old, f), P2, IM2, curve), INITIAL)


@pytest.mark.parametrize("curve", CURVES)
def test_flipping_through_zero_is_risk_increasing(curve):
    f = fill(0, -8, 100, 0)  # b = 5 -> -3: |-3| + |-8| = 11 != 5
    ok = state(collateral=30, sizes=(5, 0), costs=(500, 0))  # exactly initial margin after the flip
    new, cs = honest(ok, f, P2, IM2, curve)
    assert new.sizes[0] == -3 and new.health_difference(P2, IM2) == 0 and cs.is_satisfied()
    poor = replace(ok, collateral=29)
    assert_only_fails_at(synth(poor, f, applied(poor, f), P2, IM2, curve), INITIAL)
    # the cheater claims the flip reduces risk: the is-zero gadget refuses
    cs = synth(poor, f, applied(poor, f), P2, IM2, curve)
    flag = f"{REDUCES}is zero"
    cs.set_value(cs.variable(flag), 1)
    rederive(cs, [flag])  # the check now reads the maintenance change, which the flip improves
    assert_only_fails_at(cs, REDUCES)


@pytest.mark.parametrize("curve", CURVES)
def test_risk_reduction_is_judged_on_the_fill_market_only(curve):
    """Reducing market 1 does not excuse a shortfall; market 0's unchanged position does not count."""
    old = state(collateral=10, sizes=(10, 0), costs=(1000, 0))  # unhealthy through market 0
    f = fill(1, 2, 2000, 0)  # opens a position in market 1: risk-increasing
    assert_only_fails_at(synth(old, f, applied(old, f), P2, IM2, curve), INITIAL)


@pytest.mark.parametrize("curve", CURVES)
def test_a_fill_that_moves_no_size_is_refused(curve):
    """db = 0 would satisfy |b'| + |db| = |b| and let a bare fee skip the initial-margin check."""
    old = state(collateral=10, sizes=(10, 0), costs=(1000, 0))
    assert old.health_difference(P2, IM2) < 0
    f = fill(0, 0, 100, 10)
    with pytest.raises(BoundError, match="size delta 0"):
        ApplyFill(2).transition(old, f, EPOCH, P2, IM2, maintenance_of(IM2), curve)
    # the fee also lowers maintenance health, which the margin rule refuses as well
    assert_only_fails_at(synth(old, f, applied(old, f), P2, IM2, curve), "size delta is nonzero", INITIAL)
    free = fill(0, 0, 100, 0)  # nothing moves at all: only the nonzero check stops it
    assert_only_fails_at(synth(old, free, applied(old, free), P2, IM2, curve), "size delta is nonzero")


# --- fees cannot dodge margin (a risk-reducing fill keeps maintenance health) -----------------


@pytest.mark.parametrize("curve", CURVES)
def test_a_risk_reducing_fill_cannot_pay_a_fee_that_lowers_maintenance_health(curve):
    """The observed dodge: a fill of -1 with a fee of 990 took an account below maintenance."""
    mm = maintenance_of(IM2)
    old = state(collateral=1000, sizes=(-200, 0), costs=(-20_000, 0))  # short 200 at 100: requirement 1,000
    assert old.health_difference(P2, mm) == 0  # exactly at maintenance
    dodge = fill(0, 1, 100, 990)  # buys one back (risk-reducing) and pays a fee of 990
    with pytest.raises(BoundError, match="lower the account's maintenance margin by 985"):
        ApplyFill(2).transition(old, dodge, EPOCH, P2, IM2, mm, curve)
    assert_only_fails_at(synth(old, dodge, applied(old, dodge), P2, IM2, curve), INITIAL)
    # the largest fee the released requirement pays for is accepted: 100 * 5% = 5
    fair = fill(0, 1, 100, 5)
    new, cs = honest(old, fair, P2, IM2, curve)
    assert new.health_difference(P2, mm) == old.health_difference(P2, mm) and cs.is_satisfied()
    assert_only_fails_at(synth(old, fill(0, 1, 100, 6), applied(old, fill(0, 1, 100, 6)), P2, IM2, curve), INITIAL)


@pytest.mark.parametrize("curve", CURVES)
def test_a_risk_reducing_fill_at_an_adverse_price_is_judged_like_a_fee(curve):
    """Buying back above the mark costs equity exactly as a fee does."""
    mm = maintenance_of(IM2)
    old = state(collateral=1000, sizes=(-200, 0), costs=(-20_000, 0))
    assert_only_fails_at(synth(old, fill(0, 1, 106, 0), applied(old, fill(0, 1, 106, 0)), P2, IM2, curve), INITIAL)
    new, cs = honest(old, fill(0, 1, 105, 0), P2, IM2, curve)
    assert new.health_difference(P2, mm) == old.health_difference(P2, mm) and cs.is_satisfied()
