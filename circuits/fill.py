"""Statement 3, apply a fill: one venue fill moves one market's size and cost basis.

Public inputs, in order: account id, old commitment, new commitment, fill commitment, epoch
(the fill's: the one open when the venue posted it), mark price_0..price_{M-1} (that epoch's),
initial_rate_0..initial_rate_{M-1}, maintenance_rate_0..maintenance_rate_{M-1}.

The fill's opening (fill id, market, size delta db != 0, price, fee, salt) is private and must open
the public fill commitment, which also binds the account id, so a fill cannot be applied to
another account, or with another size, price or fee. Then, for the fill's market only,
b += db and k += db * price; everywhere c -= fee. The old state is in the fill's epoch, or flat
and behind it; the new state is in that epoch. The new state must meet initial margin at the
mark prices, unless the fill only reduces risk: |b_new| + |db| = |b_old| (the position moves
toward zero without crossing it). A risk-reducing fill must then not lower the maintenance
health difference E * RATE_SCALE - sum |b P| mm: its price and fee cannot take away more than
the maintenance requirement it releases, so a fee cannot dodge margin, and an account below
maintenance may still deleverage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from circuits.common import (
    MarketCircuit,
    allocate_state,
    check_field_element,
    check_prices,
    check_rates,
    commit_state,
    enforce_epoch_rule,
    is_flat,
    mark_to_market,
    open_state,
)
from circuits.state import (
    ACCOUNT_BITS,
    COLLATERAL_BITS,
    COST_BITS,
    EPOCH_BITS,
    FEE_BITS,
    FILL_CHECK_BITS,
    NONCE_BITS,
    PRICE_BITS,
    RATE_SCALE,
    SIZE_BITS,
    AccountState,
    BoundError,
    Fill,
    check_range,
    fill_domain,
)
from circuits.inputs import field, fill_from_json, integer, integers, state_from_json
from zkmargin.constraints import ConstraintSystem, lc_sum
from zkmargin.curves import Curve, get_curve
from zkmargin.gadgets.bits import range_check
from zkmargin.gadgets.equality import assert_nonzero, is_equal
from zkmargin.gadgets.poseidon import poseidon_sponge_gadget
from zkmargin.gadgets.signed import decompose_signed, signed_input


class ApplyFill(MarketCircuit):
    name = "fill"
    description = "apply one committed venue fill (market, size delta, price, fee) to the state"

    def define(self, cs: ConstraintSystem, inputs: dict[str, Any] | None) -> None:
        pub, M = self.public, self.markets
        account = cs.public("account", pub(inputs, "account"))
        old_commitment = cs.public("old commitment", pub(inputs, "old_commitment"))
        new_commitment = cs.public("new commitment", pub(inputs, "new_commitment"))
        fill_commitment = cs.public("fill commitment", pub(inputs, "fill_commitment"))
        epoch = cs.public("epoch", pub(inputs, "epoch"))
        prices = [cs.public(f"price {m}", pub(inputs, "prices", m)) for m in range(M)]
        rates = [cs.public(f"initial rate {m}", pub(inputs, "rates", m)) for m in range(M)]
        maintenance = [cs.public(f"maintenance rate {m}", pub(inputs, "maintenance_rates", m)) for m in range(M)]

        old = allocate_state(cs, "old", inputs and inputs["state"], M)
        open_state(cs, account, old_commitment, old, "old")
        enforce_epoch_rule(cs, old, epoch, is_flat(cs, old, "old is flat"), "epoch")
        fill = inputs["fill"] if inputs else None

        with cs.namespace("fill"):
            fill_id = cs.private("id", lambda: fill.fill_id)
            range_check(cs, fill_id, 64, "id range")
            market = cs.private("market", lambda: fill.market)
            delta = signed_input(cs, "size delta", lambda: fill.size_delta, SIZE_BITS)
            # a fill moves size: with db = 0, |b'| + |db| = |b| would exempt a bare fee from margin
            assert_nonzero(cs, delta.value, "size delta")
            price = cs.private("price", lambda: fill.price)
            range_check(cs, price - 1, PRICE_BITS, "price range")  # 1 <= price <= 2^48
            fee = cs.private("fee", lambda: fill.fee)
            range_check(cs, fee, FEE_BITS, "fee range")
            salt = cs.private("salt", lambda: fill.salt)
            opening = [account, fill_id, market, delta.value + (1 << SIZE_BITS), price, fee, salt]
            digest = poseidon_sponge_gadget(cs, opening, fill_domain(cs.curve))
            cs.enforce_equal(digest, fill_commitment, "fill commitment opens to the fill")
            cs.declare_determined(
                [fill_id, market, delta.value, price, fee, salt], [digest], "a fill commitment binds its opening"
            )
            # one-hot market selector; the sum forces market into 0..M-1
            selector = [is_equal(cs, market, m, f"market is {m}") for m in range(M)]
            cs.enforce_equal(lc_sum(selector), 1, "market is one of the configured markets")
            trade_value = cs.mul(delta.value, price, "db * price")

        with cs.namespace("new"):
            new_sizes, new_costs, old_abs, new_abs = [], [], [], []
            for m in range(M):
                b = old.sizes[m].value + cs.mul(selector[m], delta.value, f"size move {m}")
                k = old.costs[m].value + cs.mul(selector[m], trade_value, f"cost move {m}")
                new_sizes.append(decompose_signed(cs, b, SIZE_BITS, f"size {m}"))
                new_costs.append(decompose_signed(cs, k, COST_BITS, f"cost {m}").value)
                old_abs.append(cs.mul(selector[m], old.sizes[m].abs, f"old |b| of fill market {m}"))
                new_abs.append(cs.mul(selector[m], new_sizes[m].abs, f"new |b| of fill market {m}"))
            new_nonce = old.nonce + 1
            range_check(cs, new_nonce, NONCE_BITS, "nonce range")
            new_collateral = old.collateral - fee
            range_check(cs, new_collateral, COLLATERAL_BITS, "collateral is not negative")
            new_salt = cs.private("salt", lambda: inputs["new_salt"])
        digest = commit_state(
            cs, account, new_nonce, epoch, new_salt, new_collateral, [s.value for s in new_sizes], new_costs,
            "new commitment",
        )
        cs.enforce_equal(digest, new_commitment, "new commitment opens to the new state")

        reduces_risk = is_equal(cs, lc_sum(new_abs) + delta.abs, lc_sum(old_abs), "fill only reduces risk")
        self._enforce_margin_rule(cs, old, new_collateral, new_sizes, new_costs, prices, rates, maintenance,
                                  reduces_risk)

    @staticmethod
    def _enforce_margin_rule(cs: ConstraintSystem, old: Any, new_collateral: Any, new_sizes: list[Any],
                             new_costs: list[Any], prices: list[Any], rates: list[Any], maintenance: list[Any],
                             reduces_risk: Any) -> None:
        """Risk-increasing: the new state meets initial margin (d_im >= 0). Risk-reducing: the
        maintenance difference does not fall (d_mm_new - d_mm_old >= 0). One check on the
        selected value, in [0, 2^119): see circuits.state for why neither can wrap."""
        new_marked = mark_to_market(cs, new_collateral, new_sizes, new_costs, prices, "new marked")
        initial = new_marked.health_difference(cs, rates, "new initial")
        maintenance_new = new_marked.health_difference(cs, maintenance, "new maintenance")
        old_marked = mark_to_market(cs, old.collateral, old.sizes, [k.value for k in old.costs], prices, "old marked")
        maintenance_old = old_marked.health_difference(cs, maintenance, "old maintenance")
        change = maintenance_new - maintenance_old
        selected = initial + cs.mul(reduces_risk, change - initial, "risk-reducing fill selects its check")
        range_check(cs, selected, FILL_CHECK_BITS, "initial margin holds, or a risk-reducing fill keeps maintenance health")

    def public_inputs(
        self, account_id: int, old_commitment: int, new_commitment: int, fill_commitment: int, epoch: int,
        prices: Sequence[int], initial_rates: Sequence[int], maintenance_rates: Sequence[int],
        curve: Curve | str | None = None,
    ) -> list[int]:
        c = get_curve(curve)
        return [
            check_range("account id", account_id, 0, 1 << ACCOUNT_BITS),
            check_field_element("old commitment", old_commitment, c.r),
            check_field_element("new commitment", new_commitment, c.r),
            check_field_element("fill commitment", fill_commitment, c.r),
            check_range("epoch", epoch, 0, 1 << EPOCH_BITS),
            *check_prices(prices, self.markets),
            *check_rates(initial_rates, self.markets, "initial rate"),
            *check_rates(maintenance_rates, self.markets, "maintenance rate"),
        ]

    def transition(self, state: AccountState, fill: Fill, epoch: int, prices: Sequence[int],
                   initial_rates: Sequence[int], maintenance_rates: Sequence[int],
                   curve: Curve | str | None = None) -> tuple[AccountState, dict[str, Any]]:
        """The successor state and the proving inputs; refuses what the circuit would reject."""
        c = get_curve(curve)
        state.validate(c)
        fill.validate(self.markets, c)
        if fill.account_id != state.account_id:
            raise BoundError(f"the fill is for account {fill.account_id}, not {state.account_id}")
        state.require_in_epoch(epoch, f"applying fill {fill.fill_id} of epoch {epoch}")
        m = fill.market
        sizes, costs = list(state.sizes), list(state.costs)
        sizes[m] += fill.size_delta
        costs[m] += fill.size_delta * fill.price
        new = state.next(c, collateral=state.collateral - fill.fee, sizes=tuple(sizes), costs=tuple(costs),
                         epoch=epoch)
        new.validate(c)
        require_fill_margin(state, new, fill, prices, initial_rates, maintenance_rates)
        vector = self.public_inputs(
            state.account_id, state.commitment(c), new.commitment(c), fill.commitment(c), epoch, prices,
            initial_rates, maintenance_rates, c,
        )
        public = {
            "account": vector[0], "old_commitment": vector[1], "new_commitment": vector[2],
            "fill_commitment": vector[3], "epoch": vector[4], "prices": list(prices), "rates": list(initial_rates),
            "maintenance_rates": list(maintenance_rates),
        }
        return new, {"public": public, "state": state, "fill": fill, "new_salt": new.salt}

    def prepare(self, data: dict[str, Any], curve: Curve) -> tuple[dict[str, Any], AccountState]:
        """Proving inputs and the successor state from ``input.json`` (see circuits.inputs)."""
        state = state_from_json(field(data, "state", "input"))
        fill = fill_from_json(field(data, "fill", "input"))
        epoch = integer(field(data, "epoch", "input"), "epoch")
        prices = integers(field(data, "prices", "input"), "prices")
        rates = integers(field(data, "rates", "input"), "rates")
        maintenance = integers(field(data, "maintenance_rates", "input"), "maintenance_rates")
        new, inputs = self.transition(state, fill, epoch, prices, rates, maintenance, curve)
        return inputs, new


def require_fill_margin(old: AccountState, new: AccountState, fill: Fill, prices: Sequence[int],
                        initial_rates: Sequence[int], maintenance_rates: Sequence[int]) -> None:
    """The circuit's margin rule out of circuit, refused before proving with the shortfall."""
    m = fill.market
    if abs(new.sizes[m]) + abs(fill.size_delta) != abs(old.sizes[m]):
        new.require_healthy(prices, initial_rates, "the fill would leave the account below initial margin")
        return
    fall = old.health_difference(prices, maintenance_rates) - new.health_difference(prices, maintenance_rates)
    if fall > 0:
        units = -(-fall // RATE_SCALE)
        raise BoundError(f"the risk-reducing fill would lower the account's maintenance margin by {units} collateral "
                         "units (its price and fee cost more than the requirement it releases)")
