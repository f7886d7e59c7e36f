"""Statement 4, settle: mark to market at the epoch's settlement prices.

Public inputs, in order: account id, old commitment, new commitment, epoch,
settlement price_0..price_{M-1}, pnl (signed, encoded as r - |pnl| when negative).

pnl = sum_m (b_m P_m - k_m); the new state has c + pnl (>= 0: a loss beyond the collateral
cannot be settled, the account is in default), k_m = b_m P_m, the same sizes, nonce + 1 and a
fresh salt. Positions stay hidden; the pnl is public to the ledger, as variation margin is in
real clearing. |b_m P_m| < 2^88 follows from the size and price bounds, so the new cost bases
need no further range check.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from circuits.common import (
    MarketCircuit,
    allocate_state,
    check_field_element,
    check_prices,
    commit_state,
    open_state,
)
from circuits.state import ACCOUNT_BITS, COLLATERAL_BITS, EPOCH_BITS, NONCE_BITS, AccountState, BoundError, check_range
from circuits.inputs import field, integer, integers, state_from_json
from zkmargin.constraints import ConstraintSystem, lc_sum
from zkmargin.curves import Curve, get_curve
from zkmargin.gadgets.bits import range_check


class Settle(MarketCircuit):
    name = "settle"
    description = "settle pnl at public settlement prices: c += pnl, k = b*P"

    def define(self, cs: ConstraintSystem, inputs: dict[str, Any] | None) -> None:
        pub, M = self.public, self.markets
        account = cs.public("account", pub(inputs, "account"))
        old_commitment = cs.public("old commitment", pub(inputs, "old_commitment"))
        new_commitment = cs.public("new commitment", pub(inputs, "new_commitment"))
        cs.public("epoch", pub(inputs, "epoch"))
        prices = [cs.public(f"settlement price {m}", pub(inputs, "prices", m)) for m in range(M)]
        pnl = cs.public("pnl", pub(inputs, "pnl"))

        old = allocate_state(cs, "old", inputs and inputs["state"], M)
        open_state(cs, account, old_commitment, old, "old")
        marked = [cs.mul(old.sizes[m].value, prices[m], f"b*P {m}") for m in range(M)]
        cs.enforce_equal(lc_sum([marked[m] - old.costs[m].value for m in range(M)]), pnl, "pnl = sum(b*P - k)")

        new_nonce = old.nonce + 1
        range_check(cs, new_nonce, NONCE_BITS, "new nonce range")
        new_collateral = old.collateral + pnl
        range_check(cs, new_collateral, COLLATERAL_BITS, "collateral after settlement is not negative")
        new_salt = cs.private("new/salt", lambda: inputs["new_salt"])
        digest = commit_state(
            cs, account, new_nonce, new_salt, new_collateral, [s.value for s in old.sizes], marked,
            "new commitment",
        )
        cs.enforce_equal(digest, new_commitment, "new commitment opens to the settled state")

    def public_inputs(
        self, account_id: int, old_commitment: int, new_commitment: int, epoch: int,
        settlement_prices: Sequence[int], pnl: int, curve: Curve | str | None = None,
    ) -> list[int]:
        c = get_curve(curve)
        check_range("pnl", pnl, -(1 << COLLATERAL_BITS), 1 << COLLATERAL_BITS)
        return [
            check_range("account id", account_id, 0, 1 << ACCOUNT_BITS),
            check_field_element("old commitment", old_commitment, c.r),
            check_field_element("new commitment", new_commitment, c.r),
            check_range("epoch", epoch, 0, 1 << EPOCH_BITS),
            *check_prices(settlement_prices, self.markets, "settlement price"),
            pnl % c.r,
        ]

    def transition(self, state: AccountState, epoch: int, settlement_prices: Sequence[int],
                   curve: Curve | str | None = None) -> tuple[AccountState, int, dict[str, Any]]:
        """The settled state, its pnl, and the proving inputs."""
        c = get_curve(curve)
        state.validate(c)
        prices = check_prices(settlement_prices, self.markets, "settlement price")
        pnl = sum(b * p - k for b, k, p in zip(state.sizes, state.costs, prices))
        if state.collateral + pnl < 0:
            raise BoundError(
                f"the loss of {-pnl} exceeds the collateral of {state.collateral}: the account is in default"
            )
        new = state.next(
            c, collateral=state.collateral + pnl, costs=tuple(b * p for b, p in zip(state.sizes, prices))
        )
        new.validate(c)
        vector = self.public_inputs(state.account_id, state.commitment(c), new.commitment(c), epoch, prices, pnl, c)
        public = {
            "account": vector[0], "old_commitment": vector[1], "new_commitment": vector[2],
            "epoch": vector[3], "prices": prices, "pnl": vector[-1],
        }
        return new, pnl, {"public": public, "state": state, "new_salt": new.salt}

    def prepare(self, data: dict[str, Any], curve: Curve) -> tuple[dict[str, Any], AccountState]:
        """Proving inputs and the successor state from ``input.json`` (see circuits.inputs)."""
        state = state_from_json(field(data, "state", "input"))
        epoch = integer(field(data, "epoch", "input"), "epoch")
        prices = integers(field(data, "prices", "input"), "prices")
        new, _pnl, inputs = self.transition(state, epoch, prices, curve)
        return inputs, new
