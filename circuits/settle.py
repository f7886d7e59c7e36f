"""Statement 4, settle: mark to market at the epoch's settlement prices.

Public inputs, in order (``Settle.public_layout``): account id, old commitment, new commitment, epoch,
settlement price_0..price_{M-1}, pnl (signed, encoded as r - |pnl| when negative),
holds position (1 if the settled state has a size in some market, else 0).

The old state is in the epoch N, or flat and behind it (``enforce_epoch_rule``): the positions
settled are the ones held at N's close. pnl = sum_m (b_m P_m - k_m); the new state is in epoch
N + 1 and has c + pnl (>= 0: a loss beyond the collateral cannot be settled, the account is in
default), k_m = b_m P_m, the same sizes, nonce + 1 and a fresh salt. The position bit tells the
ledger whether the account must settle the next epochs (a flat account is not asked to).
Positions stay hidden; the pnl is public to the ledger, as variation margin is in real clearing.
|b_m P_m| < 2^88 follows from the size and price bounds, so the new cost bases need no further
range check.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from circuits.base import Inputs, Prepared, PublicInput
from circuits.common import (
    ACCOUNT,
    NEW_COMMITMENT,
    OLD_COMMITMENT,
    TransitionCircuit,
    deferred,
    open_old_state,
)
from circuits.inputs import escrow_key_from_json, field, integer, integers, state_from_json
from circuits.state import COLLATERAL_BITS, EPOCH_BITS, NONCE_BITS, PRICE_BITS, AccountState, BoundError
from zkmargin.constraints import ConstraintSystem, lc_sum
from zkmargin.curves import Curve, get_curve
from zkmargin.edwards import Point
from zkmargin.escrow import Escrow
from zkmargin.gadgets.bits import range_check
from zkmargin.gadgets.equality import is_zero


class Settle(TransitionCircuit):
    name = "settle"
    description = "settle pnl at public settlement prices: c += pnl, k = b*P"
    public_layout = (
        ACCOUNT,
        OLD_COMMITMENT,
        NEW_COMMITMENT,
        # the settled state moves to epoch + 1, which must fit the state's epoch bound
        PublicInput("epoch", "the closed epoch being settled", high=(1 << EPOCH_BITS) - 1),
        PublicInput("prices", "each market's settlement price", low=1, high=1 << PRICE_BITS, per_market=True,
                    label="settlement price"),
        PublicInput("pnl", "the signed variation margin: sum_m (b_m P_m - k_m)", low=-(1 << COLLATERAL_BITS),
                    high=1 << COLLATERAL_BITS),
        PublicInput("holds_position", "whether the settled state has a size in some market", flag=True),
    )

    def define(self, cs: ConstraintSystem, inputs: Inputs | None) -> None:
        M = self.markets
        pub = self.allocate_public(cs, self.public_of(inputs))
        epoch, pnl, prices = pub["epoch"], pub["pnl"], pub.per_market("prices")
        old = open_old_state(cs, inputs, pub, M)
        # the settled state has k = b P: it holds a position iff some size is not 0
        no_size = is_zero(cs, lc_sum([s.abs for s in old.sizes]), "no size")
        cs.enforce_equal(pub["holds_position"], 1 - no_size, "the position bit is the settled state's")
        marked = [cs.mul(old.sizes[m].value, prices[m], f"b*P {m}") for m in range(M)]
        cs.enforce_equal(lc_sum([marked[m] - old.costs[m].value for m in range(M)]), pnl, "pnl = sum(b*P - k)")

        new_nonce = old.nonce + 1
        range_check(cs, new_nonce, NONCE_BITS, "new nonce range")
        new_collateral = old.collateral + pnl
        range_check(cs, new_collateral, COLLATERAL_BITS, "collateral after settlement is not negative")
        new_salt = cs.private("new/salt", deferred(inputs, "new_salt"))
        self.commit_new_state(
            cs, pub, inputs, new_nonce, epoch + 1, new_salt, new_collateral, [s.value for s in old.sizes], marked,
            "new commitment opens to the settled state",
        )

    def public_inputs(
        self, account_id: int, old_commitment: int, new_commitment: int, epoch: int,
        settlement_prices: Sequence[int], pnl: int, holds_position: bool, curve: Curve | str | None = None, *,
        escrow_key: Point | None = None, escrow: Escrow | None = None,
    ) -> list[int]:
        return self.public_vector({"account": account_id, "old_commitment": old_commitment,
                                   "new_commitment": new_commitment, "epoch": epoch, "prices": settlement_prices,
                                   "pnl": pnl, "holds_position": holds_position,
                                   **self.escrow_values(escrow_key, escrow)}, curve)

    def transition(self, state: AccountState, epoch: int, settlement_prices: Sequence[int],
                   curve: Curve | str | None = None, *,
                   escrow_key: Point | None = None) -> tuple[AccountState, int, dict[str, Any]]:
        """The settled state, its pnl, and the proving inputs (with its escrow in the escrow variant)."""
        c = get_curve(curve)
        state.validate(c)
        state.require_in_epoch(epoch, f"settling epoch {epoch}")
        prices = self.check_public("prices", settlement_prices, c)
        pnl = sum(b * p - k for b, k, p in zip(state.sizes, state.costs, prices))
        if state.collateral + pnl < 0:
            raise BoundError(
                f"the loss of {-pnl} exceeds the collateral of {state.collateral}: the account is in default"
            )
        new = state.next(
            c, collateral=state.collateral + pnl, costs=tuple(b * p for b, p in zip(state.sizes, prices)),
            epoch=epoch + 1,
        )
        new.validate(c)
        sealed = self.seal_successor(new, escrow_key, c)
        vector = self.public_inputs(state.account_id, state.commitment(c), new.commitment(c), epoch, prices, pnl,
                                    new.holds_position, c, escrow_key=escrow_key, escrow=sealed.get("escrow"))
        return new, pnl, {"public": self.name_public(vector), "state": state, "new_salt": new.salt, **sealed}

    def prepare(self, data: Any, curve: Curve, source: str = "input") -> Prepared:
        """Proving inputs and the successor state from ``input.json`` (see circuits.inputs)."""
        state = state_from_json(field(data, "state", source))
        epoch = integer(field(data, "epoch", source), "epoch")
        prices = integers(field(data, "prices", source), "prices")
        new, _pnl, inputs = self.transition(state, epoch, prices, curve,
                                            escrow_key=escrow_key_from_json(data, self.escrow, curve, source))
        return Prepared(inputs, new)
