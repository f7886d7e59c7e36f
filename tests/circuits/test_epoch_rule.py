"""The state's epoch: an epoch is settled on the positions held at its close, never on later ones.

Every transition that moves a state forward (transfer, fill, settle) needs the old state in the
epoch it is proven against, or flat (no size, no cost basis) and behind it. Settle moves the
state to the next epoch and makes public whether it still holds a position.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from circuits.fill import ApplyFill
from circuits.settle import Settle
from circuits.state import BoundError, Fill
from circuits.transfer import Transfer
from tests.circuits.adversary import rederive
from tests.circuits.helpers import (
    CURVES,
    EPOCH,
    applied,
    assert_only_fails_at,
    commit,
    fill_inputs,
    maintenance_of,
    settle_inputs,
    settled,
    state,
    successor,
    transfer_inputs,
)

P2, IM2 = [100, 2000], [100_000, 100_000]
IN_EPOCH = "epoch/a state holding a position is in the epoch"
NOT_LATER = "epoch/the state is not in a later epoch"
POSITION_BIT = "the position bit is the settled state's"


def _settle(old, curve, *, epoch=EPOCH, new=None, **public):
    honest_new, pnl = settled(old, P2, epoch=epoch + 1)
    inputs = settle_inputs(old, new or honest_new, pnl, P2, curve, epoch=epoch, **public)
    return Settle(old.markets).synthesize(curve, inputs)


@pytest.mark.parametrize("curve", CURVES)
def test_an_epoch_cannot_be_settled_on_a_later_position(curve):
    """The observed wedge: epoch N settled with a state that already holds an N+1 fill. That state
    is in epoch N+1 (the fill moved it there), so settling N finds it in a later epoch."""
    later = state(collateral=10**6, sizes=(5, 0), costs=(500, 0), epoch=EPOCH + 1)
    with pytest.raises(BoundError, match="already in epoch"):
        Settle(2).transition(later, EPOCH, P2, curve)
    assert_only_fails_at(_settle(later, curve), NOT_LATER, IN_EPOCH)
    # even a flat state never goes back: the range check alone stops it
    flat_later = state(collateral=10**6, sizes=(0, 0), costs=(0, 0), epoch=EPOCH + 1)
    assert_only_fails_at(_settle(flat_later, curve), NOT_LATER)


@pytest.mark.parametrize("curve", CURVES)
def test_a_position_cannot_skip_an_epoch_unsettled(curve):
    """A state with a position in epoch N-1 cannot settle N (N-1's pnl would be lost)."""
    behind = state(collateral=10**6, sizes=(5, 0), costs=(400, 0), epoch=EPOCH - 1)
    with pytest.raises(BoundError, match=f"settle epoch {EPOCH - 1} first"):
        Settle(2).transition(behind, EPOCH, P2, curve)
    assert_only_fails_at(_settle(behind, curve), IN_EPOCH)
    # realized pnl with no size left is still a position to settle: k != 0
    realized = state(collateral=10**6, sizes=(0, 0), costs=(-300, 0), epoch=EPOCH - 1)
    assert_only_fails_at(_settle(realized, curve), IN_EPOCH)


@pytest.mark.parametrize("curve", CURVES)
def test_a_flat_state_moves_to_any_later_epoch(curve):
    flat = state(collateral=10**6, sizes=(0, 0), costs=(0, 0), epoch=3)
    new, pnl, inputs = Settle(2).transition(flat, EPOCH, P2, curve)
    assert pnl == 0 and new.epoch == EPOCH + 1 and inputs["public"]["holds_position"] == 0
    assert Settle(2).synthesize(curve, inputs).is_satisfied()
    new, inputs = Transfer(2).transition(flat, -10, EPOCH, P2, IM2, curve)
    assert new.epoch == EPOCH and Transfer(2).synthesize(curve, inputs).is_satisfied()
    f = Fill(flat.account_id, 1, 0, 5, 100, 0, 99)
    new, inputs = ApplyFill(2).transition(flat, f, EPOCH, P2, IM2, maintenance_of(IM2), curve)
    assert new.epoch == EPOCH and ApplyFill(2).synthesize(curve, inputs).is_satisfied()


@pytest.mark.parametrize("curve", CURVES)
def test_settle_moves_the_state_to_the_next_epoch(curve):
    old = state(collateral=10**6, sizes=(5, -2), costs=(400, -3000))
    stays = settled(old, P2)[0]
    assert stays.epoch == EPOCH + 1
    for wrong_epoch in (EPOCH, EPOCH + 2):
        wrong = replace(stays, epoch=wrong_epoch)
        assert_only_fails_at(_settle(old, curve, new=wrong), "new commitment opens to the settled state")


@pytest.mark.parametrize("curve", CURVES)
def test_the_position_bit_is_the_settled_states(curve):
    holding = state(collateral=10**6, sizes=(5, 0), costs=(400, 0))
    assert _settle(holding, curve).is_satisfied()
    assert_only_fails_at(_settle(holding, curve, holds_position=0), POSITION_BIT)
    closed = state(collateral=10**6, sizes=(0, 0), costs=(-300, 0))  # flat after settling its realized pnl
    assert _settle(closed, curve).is_satisfied()
    assert_only_fails_at(_settle(closed, curve, holds_position=1), POSITION_BIT)


@pytest.mark.parametrize("curve", CURVES)
def test_a_transfer_needs_the_state_settled_up_to_its_epoch(curve):
    behind = state(collateral=10**6, sizes=(5, 0), costs=(400, 0), epoch=EPOCH - 1)
    with pytest.raises(BoundError, match="settle epoch"):
        Transfer(2).transition(behind, 100, EPOCH, P2, IM2, curve)
    new = successor(behind, collateral=behind.collateral + 100, epoch=EPOCH)
    cs = Transfer(2).synthesize(curve, transfer_inputs(behind, new, 100, P2, IM2, curve))
    assert_only_fails_at(cs, IN_EPOCH)
    # and the new state is in the transfer's epoch
    stale = successor(behind, collateral=behind.collateral + 100)
    inputs = transfer_inputs(replace(behind, epoch=EPOCH), replace(stale, epoch=EPOCH - 1), 100, P2, IM2, curve)
    assert_only_fails_at(Transfer(2).synthesize(curve, inputs), "new commitment opens to the new state")


@pytest.mark.parametrize("curve", CURVES)
def test_a_fill_needs_the_state_in_the_fills_epoch(curve):
    f = Fill(7, 1, 0, 5, 100, 0, 99)
    behind = state(collateral=10**6, sizes=(5, 0), costs=(400, 0), epoch=EPOCH - 1)
    with pytest.raises(BoundError, match="settle epoch"):
        ApplyFill(2).transition(behind, f, EPOCH, P2, IM2, maintenance_of(IM2), curve)
    cs = ApplyFill(2).synthesize(curve, fill_inputs(behind, f, applied(behind, f, epoch=EPOCH), P2, IM2, curve))
    assert_only_fails_at(cs, IN_EPOCH)
    ahead = replace(behind, epoch=EPOCH + 1)  # settled past the fill's epoch: too late to apply it
    with pytest.raises(BoundError, match="already in epoch"):
        ApplyFill(2).transition(ahead, f, EPOCH, P2, IM2, maintenance_of(IM2), curve)
    cs = ApplyFill(2).synthesize(curve, fill_inputs(ahead, f, applied(ahead, f, epoch=EPOCH), P2, IM2, curve))
    assert_only_fails_at(cs, NOT_LATER, IN_EPOCH)


@pytest.mark.parametrize("curve", CURVES)
def test_an_out_of_range_epoch_cannot_open_a_commitment(curve):
    """nonce + 2^64 epoch packs both counters: a nonce of 2^64 is refused by its range check, so
    (nonce 2^64, epoch e) cannot pose as (nonce 0, epoch e + 1)."""
    honest = state(collateral=10**6, sizes=(0, 0), costs=(0, 0), nonce=0, epoch=EPOCH + 1)
    forged = replace(honest, nonce=1 << 64, epoch=EPOCH)
    assert commit(forged, curve) == commit(honest, curve)
    inputs = settle_inputs(forged, settled(forged, P2)[0], 0, P2, curve, old_commitment=commit(honest, curve))
    assert_only_fails_at(Settle(2).synthesize(curve, inputs), "old/nonce range", "new nonce range")


@pytest.mark.parametrize("curve", CURVES)
def test_a_fill_leaves_the_state_in_the_fills_epoch(curve):
    f = Fill(7, 1, 0, 5, 100, 0, 99)
    old = state(collateral=10**6, sizes=(0, 0), costs=(0, 0), epoch=3)  # flat: may move ahead
    for wrong_epoch in (3, EPOCH + 1):  # stays behind, or runs ahead of the fill's epoch
        inputs = fill_inputs(old, f, applied(old, f, epoch=wrong_epoch), P2, IM2, curve)
        assert_only_fails_at(ApplyFill(2).synthesize(curve, inputs), "new commitment opens to the new state")


@pytest.mark.parametrize("curve", CURVES)
def test_a_state_with_a_position_cannot_claim_to_be_flat(curve):
    """The flat flag is an is-zero output: set to 1 for a state with a position (to skip an
    epoch), the gadget's own constraint refuses it, and only that constraint."""
    behind = state(collateral=10**6, sizes=(5, 0), costs=(400, 0), epoch=EPOCH - 1)
    cs = _settle(behind, curve)
    flag, inverse = "old is flat/is zero", "old is flat/inverse"
    cs.set_value(cs.variable(flag), 1)
    cs.set_value(cs.variable(inverse), 0)  # the cheater's best advice: satisfies x * inverse = 1 - out
    rederive(cs, [flag, inverse])
    assert_only_fails_at(cs, "old is flat/x * out = 0")
