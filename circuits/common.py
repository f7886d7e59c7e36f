"""Pieces every margin statement shares: a range-checked state, its commitment, its health."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from circuits.base import Circuit
from circuits.state import (
    COLLATERAL_BITS,
    COST_BITS,
    HEALTH_BITS,
    NONCE_BITS,
    RATE_SCALE,
    SIZE_BITS,
    PRICE_BITS,
    AccountState,
    BoundError,
    check_markets,
    check_range,
    state_domain,
)
from zkmargin.constraints import LC, ConstraintSystem, lc_sum
from zkmargin.gadgets.bits import range_check
from zkmargin.gadgets.poseidon import poseidon_sponge_gadget
from zkmargin.gadgets.signed import SignedInt, decompose_signed, signed_input


@dataclass
class StateVars:
    """A state inside a circuit. Sizes and costs carry their sign decomposition."""

    nonce: LC
    salt: LC
    collateral: LC
    sizes: list[SignedInt]
    costs: list[SignedInt]


def allocate_state(cs: ConstraintSystem, label: str, state: AccountState | None, markets: int) -> StateVars:
    """Private variables for a state opening, each range-checked to its documented bound."""
    with cs.namespace(label):
        nonce = cs.private("nonce", lambda: state.nonce)
        range_check(cs, nonce, NONCE_BITS, "nonce range")
        salt = cs.private("salt", lambda: state.salt)  # blinding: any field element
        collateral = cs.private("collateral", lambda: state.collateral)
        range_check(cs, collateral, COLLATERAL_BITS, "collateral range")
        sizes = [signed_input(cs, f"size {m}", lambda m=m: state.sizes[m], SIZE_BITS) for m in range(markets)]
        costs = [signed_input(cs, f"cost {m}", lambda m=m: state.costs[m], COST_BITS) for m in range(markets)]
    return StateVars(nonce, salt, collateral, sizes, costs)


def packed_position(size: LC, cost: LC) -> LC:
    """(b + 2^40) + 2^41 (k + 2^88): linear, injective for range-checked b and k."""
    return size + (1 << SIZE_BITS) + (cost + (1 << COST_BITS)) * (1 << (SIZE_BITS + 1))


def commit_state(
    cs: ConstraintSystem, account: LC, nonce: LC, salt: LC, collateral: LC,
    sizes: Sequence[LC], costs: Sequence[LC], label: str,
) -> LC:
    """The state commitment, computed exactly like AccountState.commitment."""
    inputs = [account, nonce, salt, collateral, *(packed_position(b, k) for b, k in zip(sizes, costs))]
    with cs.namespace(label):
        digest = poseidon_sponge_gadget(cs, inputs, state_domain(cs.curve, len(sizes)))
        opening = [x for x in (nonce, salt, collateral, *sizes, *costs) if x.single_variable() is not None]
        cs.declare_determined(opening, [digest], "a commitment binds its opening (collision resistance)")
    return digest


def open_state(cs: ConstraintSystem, account: LC, commitment: LC, state: StateVars, label: str) -> None:
    """Constrain ``commitment`` to be the commitment of ``state`` for ``account``."""
    digest = commit_state(
        cs, account, state.nonce, state.salt, state.collateral,
        [s.value for s in state.sizes], [k.value for k in state.costs], f"{label} commitment",
    )
    cs.enforce_equal(digest, commitment, f"{label} commitment opens to the state")


def health_difference(
    cs: ConstraintSystem, collateral: LC, sizes: Sequence[SignedInt], costs: Sequence[LC],
    prices: Sequence[LC], rates: Sequence[LC], label: str,
) -> LC:
    """E * RATE_SCALE - sum |b P| * rate, with E = c + sum (b P - k). Three constraints a market."""
    with cs.namespace(label):
        value_terms, requirement_terms = [], []
        for m, (size, cost, price, rate) in enumerate(zip(sizes, costs, prices, rates)):
            value_terms.append(cs.mul(size.value, price, f"b*P {m}") - cost)
            notional = cs.mul(size.abs, price, f"|b|*P {m}")
            requirement_terms.append(cs.mul(notional, rate, f"|b*P|*rate {m}"))
        equity = collateral + lc_sum(value_terms)
        return equity * RATE_SCALE - lc_sum(requirement_terms)


def assert_healthy(cs: ConstraintSystem, difference: LC, label: str) -> None:
    """difference in [0, 2^117): see circuits.state for why nothing can wrap around."""
    range_check(cs, difference, HEALTH_BITS, label)


def signed_public(cs: ConstraintSystem, name: str, value: Callable[[], int], bits: int) -> SignedInt:
    """A public signed integer (an amount, a pnl), decomposed to read its sign."""
    var = cs.public(name, value)
    return decompose_signed(cs, var, bits, f"{name} sign")


class MarketCircuit(Circuit):
    """A statement over M markets; ``inputs`` is {"public": {...}, "state": AccountState, ...}."""

    def __init__(self, markets: int = 1):
        self.markets = check_markets(markets)

    def parameters(self) -> dict[str, Any]:
        return {"markets": self.markets}

    @staticmethod
    def public(inputs: Mapping[str, Any] | None, name: str, index: int | None = None) -> Callable[[], int]:
        """A deferred read of a public value (never called during setup)."""
        if index is None:
            return lambda: inputs["public"][name]
        return lambda: inputs["public"][name][index]


def check_prices(prices: Sequence[int], markets: int, what: str = "price") -> list[int]:
    if len(prices) != markets:
        raise BoundError(f"expected {markets} {what}s, got {len(prices)}")
    return [check_range(f"{what} of market {m}", p, 1, 1 << PRICE_BITS) for m, p in enumerate(prices)]


def check_rates(rates: Sequence[int], markets: int, what: str) -> list[int]:
    if len(rates) != markets:
        raise BoundError(f"expected {markets} {what}s, got {len(rates)}")
    return [check_range(f"{what} of market {m}", x, 0, RATE_SCALE + 1) for m, x in enumerate(rates)]


def check_field_element(name: str, value: int, r: int) -> int:
    return check_range(name, value, 0, r)
