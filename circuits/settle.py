"""Statement 4, settle: mark to market at the epoch's settlement prices.

Public inputs, in order: account id, old commitment, new commitment, epoch,
settlement price_0..price_{M-1}, pnl (signed, encoded as r - |pnl| when negative),
holds position (1 if the settled state has a size in some market, else 0).

The old state is in the epoch N, or flat and behind it (``enforce_epoch_rule``): the positions
settled are the ones held at N's close. pnl = sum_m (b_m P_m - k_m); the new state is in epoch
N + 1 and has c + pnl (>= 0: a loss beyond the collateral cannot be settled, the account is in
default), k_m = b_m P_m, the same sizes, nonce + 1 and a fresh salt. The position bit tells the
ledger whether the account must settle the next epochs (a flat account is not asked to).
Positions stay hidden; the pnl is public to the ledger, as variation margin is in real clearing. |b_m P_m| < 2^88 follows from the size and price bounds, so the new cost bases
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
    enforce_epoch_rule,
    is_flat,
    open_state,
)
from circuits.state import ACCOUNT_BITS, COLLATERAL_BITS, EPOCH_BITS, NONCE_BITS, AccountState, BoundError, check_range
from circuits.inputs import field, integer, integers, state_from_json
from zkmargin.constraints import ConstraintSystem, lc_sum
from zkmargin.curves import Curve, get_curve
from zkmargin.gadgets.bits import range_check
from zkmargin.gadgets.equality import is_zero


class Settle(MarketCircuit):
    name = "settle"
    description = "settle pnl at public settlement prices: c += pnl, k = b*P"

    def define(self, cs: ConstraintSystem, inputs: dict[str, Any] | None) -> None:
        pub, M = self.public, self.markets
        account = cs.public("account", pub(inputs, "account"))
        old_commitment = cs.public("old commitment", pub(inputs, "old_commitment"))
        new_commitment = cs.public("new commitment", pub(inputs, "new_commitment"))
        epoch = cs.public("epoch", pub(inputs, "epoch"))
        prices = [cs.public(f"settlement price {m}", pub(inputs, "prices", m)) for m in range(M)]
        pnl = cs.public("pnl", pub(inputs, "pnl"))
        holds_position = cs.public("holds position", pub(inputs, "holds_position"))

        old = allocate_state(cs, "old", inputs and inputs["state"], M)
        open_state(cs, account, old_commitment, old, "old")
        enforce_epoch_rule(cs, old, epoch, is_flat(cs, old, "old is flat"), "epoch")
        # the settled state has k = b P: it holds a position iff some size is not 0
        no_size = is_zero(cs, lc_sum([s.abs for s in old.sizes]), "no size")
        cs.enforce_equal(holds_position, 1 - no_size, "the position bit is the settled state's")
        marked = [cs.mul(old.sizes[m].value, prices[m], f"b*P {m}") for m in range(M)]
        cs.enforce_equal(lc_sum([marked[m] - old.costs[m].value for m in range(M)]), pnl, "pnl = sum(b*P - k)")

        new_nonce = old.nonce + 1
        range_check(cs, new_nonce, NONCE_BITS, "new nonce range")
        new_collateral = old.collateral + pnl
        range_check(cs, new_collateral, COLLATERAL_BITS, "collateral after settlement is not negative")
        new_salt = cs.private("new/salt", lambda: inputs["new_salt"])
        digest = commit_state(
            cs, account, new_nonce, epoch + 1, new_salt, new_collateral, [s.value for s in old.sizes], marked,
            "new commitment",
        )
        cs.enforce_equal(digest, new_commitment, "new commitment opens to the settled state")

    def public_inputs(
        self, account_id: int, old_commitment: int, new_commitment: int, epoch: int,
        settlement_prices: Sequence[int], pnl: int, holds_position: bool, curve: Curve | str | None = None,
    ) -> list[int]:
        c = get_curve(curve)
        check_range("pnl", pnl, -(1 << COLLATERAL_BITS), 1 << COLLATERAL_BITS)
        if not isinstance(holds_position, bool):
            raise BoundError(f"holds_position must be a bool, got {holds_position!r}")
        return [
            check_range("account id", account_id, 0, 1 << ACCOUNT_BITS),
            check_field_element("old commitment", old_commitment, c.r),
            check_field_element("new commitment", new_commitment, c.r),
            check_range("epoch", epoch, 0, (1 << EPOCH_BITS) - 1),  # the next epoch fits the state
            *check_prices(settlement_prices, self.markets, "settlement price"),
            pnl % c.r,
            int(holds_position),
        ]

    def transition(self, state: AccountState, epoch: int, settlement_prices: Sequence[int],
                   curve: Curve | str | None = None) -> tuple[AccountState, int, dict[str, Any]]:
        """The settled state, its pnl, and the proving inputs."""
        c = get_curve(curve)
        state.validate(c)
        state.require_in_epoch(epoch, f"settling epoch {epoch}")
        prices = check_prices(settlement_prices, self.markets, "settlement price")
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
        vector = self.public_inputs(state.account_id, state.commitment(c), new.commitment(c), epoch, prices, pnl,
                                    new.holds_position, c)
        public = {
            "account": vector[0], "old_commitment": vector[1], "new_commitment": vector[2],
            "epoch": vector[3], "prices": prices, "pnl": vector[-2], "holds_position": vector[-1],
        }
        return new, pnl, {"public": public, "state": state, "new_salt": new.salt}

    def prepare(self, data: dict[str, Any], curve: Curve) -> tuple[dict[str, Any], AccountState]:
        """Proving inputs and the successor state from ``input.json`` (see circuits.inputs)."""
        state = state_from_json(field(data, "state", "input"))
        epoch = integer(field(data, "epoch", "input"), "epoch")
        prices = integers(field(data, "prices", "input"), "prices")
        new, _pnl, inputs = self.transition(state, epoch, prices, curve)
        return inputs, new
