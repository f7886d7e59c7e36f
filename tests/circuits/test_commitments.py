"""State commitments: binding across states, salts, market counts and curves, in and out of circuit."""

from __future__ import annotations

from dataclasses import replace

import pytest

from circuits.margin import Margin
from circuits.state import SIZE_BITS, AccountState, pack_position
from tests.circuits.helpers import (
    CURVES,
    EPOCH,
    assert_only_fails_at,
    commit,
    margin_inputs,
    state,
)

OPENS = "state commitment opens to the state"
BASE = state(collateral=5_000, sizes=(10, -3), costs=(900, -6600))


def test_helper_commit_is_the_library_commitment():
    """commit() (no bounds check) must agree with AccountState.commitment on valid states."""
    for curve in CURVES:
        for s in (BASE, state(), replace(BASE, salt=0)):
            assert commit(s, curve) == s.commitment(curve)


@pytest.mark.parametrize("curve", CURVES)
def test_reused_salt_does_not_make_commitments_collide(curve):
    salt = 987654321
    states = [
        replace(BASE, salt=salt),
        replace(BASE, salt=salt, collateral=BASE.collateral + 1),
        replace(BASE, salt=salt, nonce=BASE.nonce + 1),
        replace(BASE, salt=salt, account_id=BASE.account_id + 1),
        replace(BASE, salt=salt, sizes=(11, -3)),
        replace(BASE, salt=salt, costs=(900, -6599)),
        replace(BASE, salt=salt, sizes=(-3, 10), costs=(-6600, 900)),  # markets swapped
    ]
    commitments = [s.commitment(curve) for s in states]
    assert len(set(commitments)) == len(states)


@pytest.mark.parametrize("curve", CURVES)
def test_equal_states_with_different_salts_differ(curve):
    commitments = {replace(BASE, salt=salt).commitment(curve) for salt in (0, 1, 2, 1 << 200)}
    assert len(commitments) == 4


def test_market_count_and_curve_separate_commitments():
    one = state(collateral=5, sizes=(10,), costs=(900,))
    two = state(collateral=5, sizes=(10, 0), costs=(900, 0))  # the same account, padded with an empty market
    values = {(s.markets, curve): s.commitment(curve) for s in (one, two) for curve in CURVES}
    assert len(set(values.values())) == 4


@pytest.mark.parametrize("curve", CURVES)
def test_circuit_refuses_a_commitment_made_for_another_market_count(curve):
    one = state(collateral=10**6, sizes=(10,), costs=(900,))
    two = state(collateral=10**6, sizes=(10, 0), costs=(900, 0))
    inputs = margin_inputs(two, [100, 100], [50_000, 50_000], curve, commitment=commit(one, curve))
    assert_only_fails_at(Margin(2).synthesize(curve, inputs), OPENS)


def test_circuit_refuses_a_commitment_made_on_the_other_curve():
    s = state(collateral=10**6, sizes=(10,), costs=(900,))
    for curve, other in (("bls12381", "bn128"), ("bn128", "bls12381")):
        inputs = margin_inputs(s, [100], [50_000], curve, commitment=commit(s, other))
        assert_only_fails_at(Margin(1).synthesize(curve, inputs), OPENS)


@pytest.mark.parametrize("curve", CURVES)
def test_out_of_range_twin_of_a_commitment_is_stopped_by_the_size_range(curve):
    """(b + 2^41, k - 1) packs to the same field element as (b, k): same commitment.

    Only the size range check keeps the commitment binding; here the twin is even healthy,
    with a position 2^41 base units larger than the committed one.
    """
    real = state(collateral=10, sizes=(10,), costs=(1000,))  # E = 10 < 50: unhealthy
    twin = replace(real, sizes=(10 + (1 << (SIZE_BITS + 1)),), costs=(999,))
    assert pack_position(10, 1000) == pack_position(*twin.sizes, *twin.costs)
    assert commit(twin, curve) == commit(real, curve)
    assert real.health_difference([100], [50_000]) < 0 < twin.health_difference([100], [50_000])
    inputs = margin_inputs(twin, [100], [50_000], curve, commitment=real.commitment(curve), epoch=EPOCH)
    assert_only_fails_at(Margin(1).synthesize(curve, inputs), "state/size 0 sign/magnitude range")


def test_commitment_refuses_out_of_range_states():
    """AccountState.commitment validates: tests commit out-of-range states with commit() instead."""
    with pytest.raises(ValueError):
        AccountState(7, 0, 0, -1, (0,), (0,)).commitment("bn128")
