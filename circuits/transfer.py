"""Statement 2, deposit or withdrawal: collateral moves by exactly the public signed amount.

Public inputs, in order: account id, old commitment, new commitment, amount (signed: a
withdrawal is negative, encoded as r - |amount|), epoch (the open epoch the transfer is proven
against), price_0..price_{M-1}, initial_rate_0..initial_rate_{M-1}.

The old state is in the epoch, or flat and behind it (``enforce_epoch_rule``); the new state is
in the epoch, keeps every position, takes nonce + 1 and a fresh salt, and has collateral
c + amount >= 0. After a withdrawal it must meet initial margin at the given prices; a deposit
is always allowed (it can only improve the account).
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
    commit_state,
    enforce_epoch_rule,
    health_difference,
    is_flat,
    open_state,
    signed_public,
)
from circuits.state import (
    ACCOUNT_BITS,
    COLLATERAL_BITS,
    EPOCH_BITS,
    NONCE_BITS,
    TRANSFER_BITS,
    AccountState,
    BoundError,
    check_range,
)
from circuits.inputs import field, integer, integers, state_from_json
from zkmargin.constraints import ConstraintSystem
from zkmargin.curves import Curve, get_curve
from zkmargin.gadgets.bits import range_check


class Transfer(MarketCircuit):
    name = "transfer"
    description = "deposit (amount > 0) or withdrawal (amount < 0) of collateral"

    def define(self, cs: ConstraintSystem, inputs: dict[str, Any] | None) -> None:
        pub, M = self.public, self.markets
        account = cs.public("account", pub(inputs, "account"))
        old_commitment = cs.public("old commitment", pub(inputs, "old_commitment"))
        new_commitment = cs.public("new commitment", pub(inputs, "new_commitment"))
        amount = signed_public(cs, "amount", pub(inputs, "amount"), TRANSFER_BITS)
        epoch = cs.public("epoch", pub(inputs, "epoch"))
        prices = [cs.public(f"price {m}", pub(inputs, "prices", m)) for m in range(M)]
        rates = [cs.public(f"initial rate {m}", pub(inputs, "rates", m)) for m in range(M)]

        old = allocate_state(cs, "old", inputs and inputs["state"], M)
        open_state(cs, account, old_commitment, old, "old")
        enforce_epoch_rule(cs, old, epoch, is_flat(cs, old, "old is flat"), "epoch")

        new_nonce = old.nonce + 1
        range_check(cs, new_nonce, NONCE_BITS, "new nonce range")
        new_salt = cs.private("new/salt", lambda: inputs["new_salt"])
        new_collateral = old.collateral + amount.value
        range_check(cs, new_collateral, COLLATERAL_BITS, "new collateral is not negative")
        digest = commit_state(
            cs, account, new_nonce, epoch, new_salt, new_collateral,
            [s.value for s in old.sizes], [k.value for k in old.costs], "new commitment",
        )
        cs.enforce_equal(digest, new_commitment, "new commitment opens to the new state")

        difference = health_difference(
            cs, new_collateral, old.sizes, [k.value for k in old.costs], prices, rates, "initial"
        )
        # only a withdrawal (sign 1) must leave the account above initial margin
        gated = cs.mul(amount.sign, difference, "withdrawal gates the initial-margin check")
        assert_healthy(cs, gated, "initial margin holds after a withdrawal")

    def public_inputs(
        self, account_id: int, old_commitment: int, new_commitment: int, amount: int, epoch: int,
        prices: Sequence[int], initial_rates: Sequence[int], curve: Curve | str | None = None,
    ) -> list[int]:
        c = get_curve(curve)
        check_range("amount", amount, -(1 << TRANSFER_BITS), 1 << TRANSFER_BITS)
        return [
            check_range("account id", account_id, 0, 1 << ACCOUNT_BITS),
            check_field_element("old commitment", old_commitment, c.r),
            check_field_element("new commitment", new_commitment, c.r),
            amount % c.r,
            check_range("epoch", epoch, 0, 1 << EPOCH_BITS),
            *check_prices(prices, self.markets),
            *check_rates(initial_rates, self.markets, "initial rate"),
        ]

    def transition(self, state: AccountState, amount: int, epoch: int, prices: Sequence[int],
                   initial_rates: Sequence[int], curve: Curve | str | None = None) -> tuple[AccountState, dict[str, Any]]:
        """The successor state and the proving inputs; refuses what the circuit would reject."""
        c = get_curve(curve)
        state.validate(c)
        state.require_in_epoch(epoch, "deposit" if amount > 0 else "withdrawal")
        new = state.next(c, collateral=state.collateral + amount, epoch=epoch)
        if new.collateral < 0:
            raise BoundError(f"cannot withdraw {-amount}: collateral is only {state.collateral}")
        new.validate(c)
        if amount < 0:
            new.require_healthy(prices, initial_rates, "the withdrawal would leave the account below initial margin")
        vector = self.public_inputs(
            state.account_id, state.commitment(c), new.commitment(c), amount, epoch, prices, initial_rates, c
        )
        public = {
            "account": vector[0], "old_commitment": vector[1], "new_commitment": vector[2],
            "amount": vector[3], "epoch": vector[4], "prices": list(prices), "rates": list(initial_rates),
        }
        return new, {"public": public, "state": state, "new_salt": new.salt}

    def prepare(self, data: dict[str, Any], curve: Curve) -> tuple[dict[str, Any], AccountState]:
        """Proving inputs and the successor state from ``input.json`` (see circuits.inputs)."""
        state = state_from_json(field(data, "state", "input"))
        amount = integer(field(data, "amount", "input"), "amount")
        epoch = integer(field(data, "epoch", "input"), "epoch")
        prices = integers(field(data, "prices", "input"), "prices")
        rates = integers(field(data, "rates", "input"), "rates")
        new, inputs = self.transition(state, amount, epoch, prices, rates, curve)
        return inputs, new
