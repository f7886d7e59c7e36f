"""Statement 1, margin attestation: the committed state of this account is healthy now.

Public inputs, in order: account id, state commitment, epoch, price_0..price_{M-1},
maintenance_rate_0..maintenance_rate_{M-1}. The epoch takes part in no constraint; Groth16's
input rows still bind the proof to it, so a proof for one epoch fails for every other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from circuits.common import (
    MarketCircuit,
    allocate_state,
    assert_healthy,
    check_field_element,
    check_prices,
    check_rates,
    health_difference,
    open_state,
)
from circuits.state import ACCOUNT_BITS, EPOCH_BITS, AccountState, BoundError, check_range
from circuits.inputs import field, integer, integers, state_from_json
from zkmargin.constraints import ConstraintSystem
from zkmargin.curves import Curve, get_curve


class Margin(MarketCircuit):
    name = "margin"
    description = "maintenance-margin attestation for (account, commitment, epoch, prices, maintenance rates)"

    def define(self, cs: ConstraintSystem, inputs: dict[str, Any] | None) -> None:
        pub, M = self.public, self.markets
        account = cs.public("account", pub(inputs, "account"))
        commitment = cs.public("commitment", pub(inputs, "commitment"))
        cs.public("epoch", pub(inputs, "epoch"))
        prices = [cs.public(f"price {m}", pub(inputs, "prices", m)) for m in range(M)]
        rates = [cs.public(f"maintenance rate {m}", pub(inputs, "rates", m)) for m in range(M)]
        state = allocate_state(cs, "state", inputs and inputs["state"], M)
        open_state(cs, account, commitment, state, "state")
        difference = health_difference(
            cs, state.collateral, state.sizes, [k.value for k in state.costs], prices, rates, "maintenance"
        )
        assert_healthy(cs, difference, "maintenance margin holds")

    def public_inputs(
        self, account_id: int, commitment: int, epoch: int, prices: Sequence[int],
        maintenance_rates: Sequence[int], curve: Curve | str | None = None,
    ) -> list[int]:
        """The public-input vector, built by the verifier from its own records."""
        c = get_curve(curve)
        return [
            check_range("account id", account_id, 0, 1 << ACCOUNT_BITS),
            check_field_element("commitment", commitment, c.r),
            check_range("epoch", epoch, 0, 1 << EPOCH_BITS),
            *check_prices(prices, self.markets),
            *check_rates(maintenance_rates, self.markets, "maintenance rate"),
        ]

    def assignment(
        self, state: AccountState, epoch: int, prices: Sequence[int], maintenance_rates: Sequence[int],
        curve: Curve | str | None = None,
    ) -> dict[str, Any]:
        """Inputs for proving; refuses (saying by how much) a state that is not healthy."""
        c = get_curve(curve)
        state.validate(c)
        if state.markets != self.markets:
            raise BoundError(f"the state has {state.markets} markets, the circuit {self.markets}")
        public = self.public_inputs(state.account_id, state.commitment(c), epoch, prices, maintenance_rates, c)
        state.require_healthy(prices, maintenance_rates, "the account is below maintenance margin")
        return {"public": _named(public, self.markets), "state": state}


    def prepare(self, data: dict[str, Any], curve: Curve) -> tuple[dict[str, Any], AccountState | None]:
        """Proving inputs from ``input.json`` (see circuits.inputs); no successor state."""
        state = state_from_json(field(data, "state", "input"))
        epoch = integer(field(data, "epoch", "input"), "epoch")
        prices = integers(field(data, "prices", "input"), "prices")
        rates = integers(field(data, "rates", "input"), "rates")
        return self.assignment(state, epoch, prices, rates, curve), None


def _named(vector: list[int], markets: int) -> dict[str, Any]:
    return {
        "account": vector[0],
        "commitment": vector[1],
        "epoch": vector[2],
        "prices": vector[3 : 3 + markets],
        "rates": vector[3 + markets : 3 + 2 * markets],
    }
