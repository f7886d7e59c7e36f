"""Statement 1, margin attestation: the committed state of this account is healthy now.

Public inputs, in order (``Margin.public_layout``): account id, state commitment, epoch,
price_0..price_{M-1}, maintenance_rate_0..maintenance_rate_{M-1}. The epoch takes part in no
constraint; Groth16's input rows still bind the proof to it, so a proof for one epoch fails for
every other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from circuits.base import Inputs, Prepared, PublicInput
from circuits.common import (
    ACCOUNT,
    EPOCH,
    MARK_PRICES,
    RATES_HIGH,
    MarketCircuit,
    allocate_state,
    assert_healthy,
    health_difference,
    open_state,
)
from circuits.inputs import field, integer, integers, state_from_json
from circuits.state import AccountState, BoundError
from zkmargin.constraints import ConstraintSystem
from zkmargin.curves import Curve, get_curve


class Margin(MarketCircuit):
    name = "margin"
    description = "maintenance-margin attestation for (account, commitment, epoch, prices, maintenance rates)"
    public_layout = (
        ACCOUNT,
        PublicInput("commitment", "the ledger's commitment to the account's current state"),
        EPOCH,
        MARK_PRICES,
        PublicInput("rates", "each market's maintenance margin rate", high=RATES_HIGH, per_market=True,
                    label="maintenance rate"),
    )

    def define(self, cs: ConstraintSystem, inputs: Inputs | None) -> None:
        pub = self.allocate_public(cs, self.public_of(inputs))
        state = allocate_state(cs, "state", self.state_of(inputs), self.markets)
        open_state(cs, pub["account"], pub["commitment"], state, "state")
        difference = health_difference(
            cs, state.collateral, state.sizes, [k.value for k in state.costs], pub.per_market("prices"),
            pub.per_market("rates"), "maintenance",
        )
        assert_healthy(cs, difference, "maintenance margin holds")

    def public_inputs(
        self, account_id: int, commitment: int, epoch: int, prices: Sequence[int],
        maintenance_rates: Sequence[int], curve: Curve | str | None = None,
    ) -> list[int]:
        """The public-input vector, built by the verifier from its own records."""
        return self.public_vector({"account": account_id, "commitment": commitment, "epoch": epoch,
                                   "prices": prices, "rates": maintenance_rates}, curve)

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
        return {"public": self.name_public(public), "state": state}

    def prepare(self, data: Any, curve: Curve, source: str = "input") -> Prepared:
        """Proving inputs from ``input.json`` (see circuits.inputs); no successor state."""
        state = state_from_json(field(data, "state", source))
        epoch = integer(field(data, "epoch", source), "epoch")
        prices = integers(field(data, "prices", source), "prices")
        rates = integers(field(data, "rates", source), "rates")
        return Prepared(self.assignment(state, epoch, prices, rates, curve), None)
