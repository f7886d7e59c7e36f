"""Statement 2, deposit or withdrawal: collateral moves by exactly the public signed amount.

Public inputs, in order (``Transfer.public_layout``): account id, old commitment, new commitment, amount (signed: a
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

from circuits.base import Inputs, Prepared, PublicInput, PublicVars
from circuits.common import (
    ACCOUNT,
    EPOCH,
    INITIAL_RATES,
    MARK_PRICES,
    NEW_COMMITMENT,
    OLD_COMMITMENT,
    StateVars,
    TransitionCircuit,
    assert_healthy,
    deferred,
    health_difference,
    open_old_state,
)
from circuits.inputs import escrow_key_from_json, field, integer, integers, state_from_json
from circuits.state import COLLATERAL_BITS, NONCE_BITS, TRANSFER_BITS, AccountState, BoundError
from zkmargin.constraints import LC, ConstraintSystem
from zkmargin.curves import Curve, get_curve
from zkmargin.edwards import Point
from zkmargin.escrow import Escrow
from zkmargin.gadgets.bits import range_check
from zkmargin.gadgets.signed import decompose_signed


SIGNED_AMOUNT = PublicInput("amount", "the signed amount: a deposit is positive, a withdrawal negative",
                            low=-(1 << TRANSFER_BITS), high=1 << TRANSFER_BITS)

class Transfer(TransitionCircuit):
    name = "transfer"
    description = "deposit (amount > 0) or withdrawal (amount < 0) of collateral"
    public_layout = (
        ACCOUNT,
        OLD_COMMITMENT,
        NEW_COMMITMENT,
        SIGNED_AMOUNT,
        EPOCH,
        MARK_PRICES,
        INITIAL_RATES,
    )

    def define(self, cs: ConstraintSystem, inputs: Inputs | None) -> None:
        pub = self.allocate_public(cs, self.public_of(inputs))
        amount = decompose_signed(cs, pub["amount"], TRANSFER_BITS, "amount sign")
        old = open_old_state(cs, inputs, pub, self.markets)

        new_collateral = commit_collateral_move(self, cs, pub, inputs, old, amount.value)

        difference = health_difference(
            cs, new_collateral, old.sizes, [k.value for k in old.costs], pub.per_market("prices"),
            pub.per_market("rates"), "initial",
        )
        # only a withdrawal (sign 1) must leave the account above initial margin
        gated = cs.mul(amount.sign, difference, "withdrawal gates the initial-margin check")
        assert_healthy(cs, gated, "initial margin holds after a withdrawal")

    def public_inputs(
        self, account_id: int, old_commitment: int, new_commitment: int, amount: int, epoch: int,
        prices: Sequence[int], initial_rates: Sequence[int], curve: Curve | str | None = None, *,
        escrow_key: Point | None = None, escrow: Escrow | None = None,
    ) -> list[int]:
        return self.public_vector({"account": account_id, "old_commitment": old_commitment,
                                   "new_commitment": new_commitment, "amount": amount, "epoch": epoch,
                                   "prices": prices, "rates": initial_rates,
                                   **self.escrow_values(escrow_key, escrow)}, curve)

    def transition(self, state: AccountState, amount: int, epoch: int, prices: Sequence[int],
                   initial_rates: Sequence[int], curve: Curve | str | None = None, *,
                   escrow_key: Point | None = None) -> tuple[AccountState, dict[str, Any]]:
        """The successor state and the proving inputs (with its escrow in the escrow variant);
        refuses what the circuit would reject."""
        c = get_curve(curve)
        state.validate(c)
        state.require_in_epoch(epoch, "deposit" if amount > 0 else "withdrawal")
        new = state.next(c, collateral=state.collateral + amount, epoch=epoch)
        if new.collateral < 0:
            raise BoundError(f"cannot withdraw {-amount}: collateral is only {state.collateral}")
        new.validate(c)
        if amount < 0:
            new.require_healthy(prices, initial_rates, "the withdrawal would leave the account below initial margin")
        sealed = self.seal_successor(new, escrow_key, c)
        vector = self.public_inputs(
            state.account_id, state.commitment(c), new.commitment(c), amount, epoch, prices, initial_rates, c,
            escrow_key=escrow_key, escrow=sealed.get("escrow"),
        )
        return new, {"public": self.name_public(vector), "state": state, "new_salt": new.salt, **sealed}

    def prepare(self, data: Any, curve: Curve, source: str = "input") -> Prepared:
        """Proving inputs and the successor state from ``input.json`` (see circuits.inputs)."""
        state = state_from_json(field(data, "state", source))
        amount = integer(field(data, "amount", source), "amount")
        epoch = integer(field(data, "epoch", source), "epoch")
        prices = integers(field(data, "prices", source), "prices")
        rates = integers(field(data, "rates", source), "rates")
        new, inputs = self.transition(state, amount, epoch, prices, rates, curve,
                                      escrow_key=escrow_key_from_json(data, self.escrow, curve, source))
        return Prepared(inputs, new)


def commit_collateral_move(circuit: TransitionCircuit, cs: ConstraintSystem, pub: PublicVars, inputs: Inputs | None,
                           old: StateVars, amount: LC) -> LC:
    """The new state of a deposit or withdrawal: the old one with its collateral moved by the amount
    (never below 0), nonce + 1 and a fresh salt, in the public epoch. Returns the new collateral."""
    new_nonce = old.nonce + 1
    range_check(cs, new_nonce, NONCE_BITS, "new nonce range")
    new_salt = cs.private("new/salt", deferred(inputs, "new_salt"))
    new_collateral = old.collateral + amount
    range_check(cs, new_collateral, COLLATERAL_BITS, "new collateral is not negative")
    circuit.commit_new_state(
        cs, pub, inputs, new_nonce, pub["epoch"], new_salt, new_collateral, [s.value for s in old.sizes],
        [k.value for k in old.costs], "new commitment opens to the new state",
    )
    return new_collateral
