"""A state's commitment inputs decode back to the state: what a decrypted escrow is read with."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from circuits.state import (
    COST_BITS,
    SIZE_BITS,
    AccountState,
    BoundError,
    pack_counters,
    pack_position,
    unpack_counters,
    unpack_position,
)

sizes = st.integers(-(1 << SIZE_BITS), (1 << SIZE_BITS) - 1)
costs = st.integers(-(1 << COST_BITS), (1 << COST_BITS) - 1)


@given(sizes, costs)
def test_positions_round_trip(size: int, cost: int) -> None:
    assert unpack_position(pack_position(size, cost)) == (size, cost)


@given(st.integers(0, (1 << 64) - 1), st.integers(0, (1 << 64) - 1))
def test_counters_round_trip(nonce: int, epoch: int) -> None:
    assert unpack_counters(pack_counters(nonce, epoch)) == (nonce, epoch)


@given(st.lists(st.tuples(sizes, costs), min_size=1, max_size=6), st.integers(0, (1 << 96) - 1))
def test_state_round_trips_through_its_commitment_inputs(positions: list[tuple[int, int]], collateral: int) -> None:
    state = AccountState(7, 3, 12345, collateral, tuple(b for b, _ in positions), tuple(k for _, k in positions), 2)
    assert AccountState.from_commitment_inputs(state.commitment_inputs(), "bn128") == state


def test_an_out_of_range_packed_position_is_refused() -> None:
    with pytest.raises(BoundError, match="cost field"):
        unpack_position(1 << (SIZE_BITS + 1 + COST_BITS + 1))


def test_an_out_of_range_epoch_is_refused() -> None:
    with pytest.raises(BoundError, match="epoch"):
        unpack_counters(1 << 128)


def test_a_wrong_length_is_refused() -> None:
    with pytest.raises(BoundError, match="4 \\+ M"):
        AccountState.from_commitment_inputs([1, 2, 3, 4], "bn128")


def test_a_collateral_beyond_its_bound_is_refused() -> None:
    state = AccountState(7, 0, 1, 0, (1,), (5,))
    values = state.commitment_inputs()
    values[3] = 1 << 96
    with pytest.raises(BoundError, match="collateral"):
        AccountState.from_commitment_inputs(values, "bn128")
