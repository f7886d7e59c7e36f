"""Statement 2, deposit and withdrawal: collateral moves by exactly the public amount."""

from __future__ import annotations

from dataclasses import replace

import pytest

from circuits.state import RATE_SCALE, BoundError
from circuits.transfer import Transfer
from tests.circuits.adversary import rederive
from tests.circuits.helpers import (
    CURVES,
    EPOCH,
    assert_only_fails_at,
    commit,
    state,
    successor,
    transfer_inputs,
)
from zkmargin.curves import get_curve
from zkmargin.groth16 import prove, setup, verify

P, IM = [100], [100_000]  # price 100, initial margin 10%
P2, IM2 = [100, 2000], [100_000, 200_000]
OLD_OPENS = "old commitment opens to the state"
NEW_OPENS = "new commitment opens to the new state"
NOT_NEGATIVE = "new collateral is not negative"
INITIAL = "initial margin holds after a withdrawal"


def synth(old, new, amount, prices, rates, curve, **public):
    return Transfer(old.markets).synthesize(curve, transfer_inputs(old, new, amount, prices, rates, curve, **public))


def honest(old, amount, prices, rates, curve):
    circuit = Transfer(old.markets)
    new, inputs = circuit.transition(old, amount, EPOCH, prices, rates, curve)
    assert new.collateral == old.collateral + amount and new.nonce == old.nonce + 1
    return new, circuit.synthesize(curve, inputs)


@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize("amount", [1, 10**6, -1, -50, 0])
def test_valid_transfers_satisfy(curve, amount):
    old = state(collateral=150, sizes=(10,), costs=(1000,))  # needs 100 for initial margin
    _, cs = honest(old, amount, P, IM, curve)
    assert cs.is_satisfied()


@pytest.mark.parametrize("curve", CURVES)
def test_valid_transfer_two_markets(curve):
    old = state(collateral=10_000, sizes=(10, -3), costs=(900, -6600))
    for amount in (500, -500):
        _, cs = honest(old, amount, P2, IM2, curve)
        assert cs.is_satisfied()


# --- Groth16 ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def transfer_keys():
    return {curve: setup(Transfer(1).shape(curve), insecure_test_seed=202) for curve in CURVES}


@pytest.mark.parametrize("curve", CURVES)
def test_withdrawal_proof_verifies_and_is_bound_to_its_statement(transfer_keys, curve):
    pk = transfer_keys[curve]
    r = get_curve(curve).r
    old = state(collateral=150, sizes=(10,), costs=(1000,))
    new, cs = honest(old, -30, P, IM, curve)
    public = cs.public_values()
    assert public == Transfer(1).public_inputs(old.account_id, commit(old, curve), commit(new, curve), -30, EPOCH, P,
                                                IM, curve)
    proof = prove(pk, cs)
    assert verify(pk.vk, public, proof)
    for what, index, value in [
        ("another account", 0, old.account_id + 1),
        ("another new commitment", 2, commit(replace(new, collateral=new.collateral + 1), curve)),
        ("a smaller withdrawal", 3, -29 % r),
        ("a deposit instead", 3, 30),
        ("another epoch", 4, EPOCH + 1),
    ]:
        forged = list(public)
        forged[index] = value
        assert not verify(pk.vk, forged, proof), what


# --- collateral accounting -------------------------------------------------------------------


@pytest.mark.parametrize("curve", CURVES)
def test_withdrawing_more_than_the_collateral(curve):
    # 10^8 of unrealized profit keeps the account above initial margin even at collateral -1,
    # so only the non-negativity check can stop the withdrawal
    old = state(collateral=50, sizes=(10**6,), costs=(0,))
    with pytest.raises(BoundError):
        Transfer(1).transition(old, -51, EPOCH, P, IM, curve)
    new = successor(old, collateral=-1)
    assert new.health_difference(P, IM) > 0
    assert_only_fails_at(synth(old, new, -51, P, IM, curve), NOT_NEGATIVE)
    # everything, exactly, is fine
    _, cs = honest(state(collateral=50), -50, P, IM, curve)
    assert cs.is_satisfied()


@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize("delta", [1, -1, 1 << 96])
def test_new_commitment_must_hold_old_collateral_plus_amount(curve, delta):
    old = state(collateral=150, sizes=(10,), costs=(1000,))
    for amount in (40, -40):
        new = successor(old, collateral=old.collateral + amount + delta)
        assert_only_fails_at(synth(old, new, amount, P, IM, curve), NEW_OPENS)


@pytest.mark.parametrize("curve", CURVES)
def test_new_commitment_must_keep_positions_and_step_the_nonce(curve):
    old = state(collateral=150, sizes=(10,), costs=(1000,))
    for cheat in (
        successor(old, collateral=190, nonce=old.nonce),  # replayable: same nonce
        successor(old, collateral=190, nonce=old.nonce + 2),
        successor(old, collateral=190, sizes=(0,), costs=(0,)),  # position dropped on the way
        successor(old, collateral=190, costs=(0,)),  # cost basis rewritten
        successor(old, collateral=190, account_id=8),  # handed to another account
    ):
        assert_only_fails_at(synth(old, cheat, 40, P, IM, curve), NEW_OPENS)


@pytest.mark.parametrize("curve", CURVES)
def test_old_state_must_be_the_ledgers(curve):
    ledger = state(nonce=5, collateral=150, sizes=(10,), costs=(1000,))
    for stale in (replace(ledger, nonce=4, collateral=10**6), replace(ledger, collateral=10**6)):
        new = successor(stale, collateral=stale.collateral - 10**5)
        assert_only_fails_at(
            synth(stale, new, -10**5, P, IM, curve, old_commitment=commit(ledger, curve)), OLD_OPENS
        )
    # another account's state and commitments, with my account id
    theirs = replace(ledger, account_id=8)
    labels = assert_only_fails_at(
        synth(theirs, successor(theirs, collateral=140), -10, P, IM, curve, account=7), OLD_OPENS, NEW_OPENS
    )
    assert any(OLD_OPENS in label for label in labels)


# --- initial margin --------------------------------------------------------------------------


@pytest.mark.parametrize("curve", CURVES)
def test_withdrawal_must_leave_initial_margin(curve):
    old = state(collateral=150, sizes=(10,), costs=(1000,))  # initial requirement: 100
    new, cs = honest(old, -50, P, IM, curve)
    assert new.health_difference(P, IM) == 0 and cs.is_satisfied()
    with pytest.raises(BoundError):
        Transfer(1).transition(old, -51, EPOCH, P, IM, curve)
    short = successor(old, collateral=99)
    assert short.health_difference(P, IM) == -RATE_SCALE
    assert_only_fails_at(synth(old, short, -51, P, IM, curve), INITIAL)


@pytest.mark.parametrize("curve", CURVES)
def test_deposit_into_an_unhealthy_account_passes_withdrawal_fails(curve):
    old = state(collateral=10, sizes=(10,), costs=(1000,))  # far below initial margin
    new, cs = honest(old, 1, P, IM, curve)
    assert new.health_difference(P, IM) < 0 and cs.is_satisfied()
    assert_only_fails_at(synth(old, successor(old, collateral=9), -1, P, IM, curve), INITIAL)


@pytest.mark.parametrize("curve", CURVES)
def test_withdrawal_disguised_as_a_deposit(curve):
    """Sign 0 with magnitude r - |amount| makes the gate skip the margin check: range stops it."""
    r = get_curve(curve).r
    old = state(collateral=10, sizes=(10,), costs=(1000,))
    cs = synth(old, successor(old, collateral=9), -1, P, IM, curve)
    sign, magnitude = "amount sign/sign", "amount sign/offset magnitude"
    cs.set_value(cs.variable(sign), 0)
    cs.set_value(cs.variable(magnitude), r - 1)
    w = rederive(cs, [sign, magnitude])
    assert w["withdrawal gates the initial-margin check"] == 0  # the check is skipped...
    assert_only_fails_at(cs, "amount sign/magnitude range")  # ...but the magnitude is out of range


@pytest.mark.parametrize("curve", CURVES)
def test_amount_outside_its_bound(curve):
    old = state(collateral=0)
    new = successor(old, collateral=1 << 96)
    labels = assert_only_fails_at(synth(old, new, 1 << 96, P, IM, curve), "amount sign/magnitude range", NOT_NEGATIVE)
    assert any("amount sign" in label for label in labels)
