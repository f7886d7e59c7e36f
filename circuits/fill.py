"""Statement 3, apply a fill: one venue fill moves one market's size and cost basis.

Public inputs, in order (``ApplyFill.public_layout``): account id, old commitment, new
commitment, fill commitment, epoch (the fill's: the one open when the venue posted it), mark
price_0..price_{M-1} (that epoch's), initial_rate_0..initial_rate_{M-1},
maintenance_rate_0..maintenance_rate_{M-1}.

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
from dataclasses import dataclass
from typing import Any

from circuits.base import Inputs, Prepared, PublicInput, PublicVars
from circuits.common import (
    ACCOUNT,
    INITIAL_RATES,
    MARK_PRICES,
    NEW_COMMITMENT,
    OLD_COMMITMENT,
    RATES_HIGH,
    StateVars,
    TransitionCircuit,
    deferred,
    mark_to_market,
    open_old_state,
    opening_value,
)
from circuits.inputs import escrow_key_from_json, field, fill_from_json, integer, integers, state_from_json
from circuits.state import (
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
    fill_domain,
)
from zkmargin.constraints import LC, ConstraintSystem, lc_sum
from zkmargin.curves import Curve, get_curve
from zkmargin.edwards import Point
from zkmargin.escrow import Escrow
from zkmargin.gadgets.bits import range_check
from zkmargin.gadgets.equality import assert_nonzero, is_equal
from zkmargin.gadgets.poseidon import poseidon_sponge_gadget
from zkmargin.gadgets.signed import SignedInt, decompose_signed, signed_input


@dataclass
class FillVars:
    """The fill's private opening, and what the state update reads from it."""

    delta: SignedInt
    fee: LC
    selector: list[LC]  # one-hot: 1 for the fill's market
    trade_value: LC  # db * price


@dataclass
class NewState:
    """The successor state's variables, and the fill market's |b| before and after."""

    nonce: LC
    salt: LC
    collateral: LC
    sizes: list[SignedInt]
    costs: list[LC]
    old_abs: list[LC]  # |b_old| in the fill's market, 0 elsewhere
    new_abs: list[LC]


class ApplyFill(TransitionCircuit):
    name = "fill"
    description = "apply one committed venue fill (market, size delta, price, fee) to the state"
    public_layout = (
        ACCOUNT,
        OLD_COMMITMENT,
        NEW_COMMITMENT,
        PublicInput("fill_commitment", "the venue's commitment to the fill (binds the account)"),
        PublicInput("epoch", "the fill's epoch: the one open when the venue posted it", high=1 << EPOCH_BITS),
        MARK_PRICES,
        INITIAL_RATES,
        PublicInput("maintenance_rates", "each market's maintenance margin rate", high=RATES_HIGH, per_market=True,
                    label="maintenance rate"),
    )

    def define(self, cs: ConstraintSystem, inputs: Inputs | None) -> None:
        pub = self.allocate_public(cs, self.public_of(inputs))
        old = open_old_state(cs, inputs, pub, self.markets)
        fill = open_fill_gadget(cs, pub, inputs["fill"] if inputs else None, self.markets)
        new = apply_fill_gadget(cs, old, fill, deferred(inputs, "new_salt"))
        self.commit_new_state(
            cs, pub, inputs, new.nonce, pub["epoch"], new.salt, new.collateral, [s.value for s in new.sizes],
            new.costs, "new commitment opens to the new state",
        )
        reduces_risk = is_equal(cs, lc_sum(new.new_abs) + fill.delta.abs, lc_sum(new.old_abs), "fill only reduces risk")
        self._enforce_margin_rule(cs, pub, old, new, reduces_risk)

    @staticmethod
    def _enforce_margin_rule(cs: ConstraintSystem, pub: PublicVars, old: StateVars, new: NewState,
                             reduces_risk: LC) -> None:
        """Risk-increasing: the new state meets initial margin (d_im >= 0). Risk-reducing: the
        maintenance difference does not fall (d_mm_new - d_mm_old >= 0). One check on the
        selected value, in [0, 2^119): see circuits.state for why neither can wrap."""
        prices, maintenance = pub.per_market("prices"), pub.per_market("maintenance_rates")
        new_marked = mark_to_market(cs, new.collateral, new.sizes, new.costs, prices, "new marked")
        initial = new_marked.health_difference(cs, pub.per_market("rates"), "new initial")
        maintenance_new = new_marked.health_difference(cs, maintenance, "new maintenance")
        old_marked = mark_to_market(cs, old.collateral, old.sizes, [k.value for k in old.costs], prices, "old marked")
        maintenance_old = old_marked.health_difference(cs, maintenance, "old maintenance")
        change = maintenance_new - maintenance_old
        selected = initial + cs.mul(reduces_risk, change - initial, "risk-reducing fill selects its check")
        range_check(cs, selected, FILL_CHECK_BITS,
                    "initial margin holds, or a risk-reducing fill keeps maintenance health")

    def public_inputs(
        self, account_id: int, old_commitment: int, new_commitment: int, fill_commitment: int, epoch: int,
        prices: Sequence[int], initial_rates: Sequence[int], maintenance_rates: Sequence[int],
        curve: Curve | str | None = None, *, escrow_key: Point | None = None, escrow: Escrow | None = None,
    ) -> list[int]:
        return self.public_vector({"account": account_id, "old_commitment": old_commitment,
                                   "new_commitment": new_commitment, "fill_commitment": fill_commitment,
                                   "epoch": epoch, "prices": prices, "rates": initial_rates,
                                   "maintenance_rates": maintenance_rates,
                                   **self.escrow_values(escrow_key, escrow)}, curve)

    def transition(self, state: AccountState, fill: Fill, epoch: int, prices: Sequence[int],
                   initial_rates: Sequence[int], maintenance_rates: Sequence[int],
                   curve: Curve | str | None = None, *,
                   escrow_key: Point | None = None) -> tuple[AccountState, dict[str, Any]]:
        """The successor state and the proving inputs (with its escrow in the escrow variant);
        refuses what the circuit would reject."""
        c = get_curve(curve)
        fill.validate(self.markets, c)
        new = fill_successor(state, fill, epoch, c)
        require_fill_margin(state, new, fill, prices, initial_rates, maintenance_rates)
        sealed = self.seal_successor(new, escrow_key, c)
        vector = self.public_inputs(
            state.account_id, state.commitment(c), new.commitment(c), fill.commitment(c), epoch, prices,
            initial_rates, maintenance_rates, c, escrow_key=escrow_key, escrow=sealed.get("escrow"),
        )
        return new, {"public": self.name_public(vector), "state": state, "fill": fill, "new_salt": new.salt,
                     **sealed}

    def prepare(self, data: Any, curve: Curve, source: str = "input") -> Prepared:
        """Proving inputs and the successor state from ``input.json`` (see circuits.inputs)."""
        state = state_from_json(field(data, "state", source))
        fill = fill_from_json(field(data, "fill", source))
        epoch = integer(field(data, "epoch", source), "epoch")
        prices = integers(field(data, "prices", source), "prices")
        rates = integers(field(data, "rates", source), "rates")
        maintenance = integers(field(data, "maintenance_rates", source), "maintenance_rates")
        new, inputs = self.transition(state, fill, epoch, prices, rates, maintenance, curve,
                                      escrow_key=escrow_key_from_json(data, self.escrow, curve, source))
        return Prepared(inputs, new)


def open_fill_gadget(cs: ConstraintSystem, pub: PublicVars, fill: Fill | None, markets: int) -> FillVars:
    """The fill's private opening opens the public fill commitment (which binds the account);
    its market becomes a one-hot selector over the configured markets."""
    with cs.namespace("fill"):
        fill_id = cs.private("id", opening_value(fill, "fill_id"))
        range_check(cs, fill_id, 64, "id range")
        market = cs.private("market", opening_value(fill, "market"))
        delta = signed_input(cs, "size delta", opening_value(fill, "size_delta"), SIZE_BITS)
        # a fill moves size: with db = 0, |b'| + |db| = |b| would exempt a bare fee from margin
        assert_nonzero(cs, delta.value, "size delta")
        price = cs.private("price", opening_value(fill, "price"))
        range_check(cs, price - 1, PRICE_BITS, "price range")  # 1 <= price <= 2^48
        fee = cs.private("fee", opening_value(fill, "fee"))
        range_check(cs, fee, FEE_BITS, "fee range")
        salt = cs.private("salt", opening_value(fill, "salt"))
        opening = [pub["account"], fill_id, market, delta.value + (1 << SIZE_BITS), price, fee, salt]
        digest = poseidon_sponge_gadget(cs, opening, fill_domain(cs.curve))
        cs.enforce_equal(digest, pub["fill_commitment"], "fill commitment opens to the fill")
        cs.declare_determined(
            [fill_id, market, delta.value, price, fee, salt], [digest], "a fill commitment binds its opening"
        )
        # one-hot market selector; the sum forces market into 0..M-1
        selector = [is_equal(cs, market, m, f"market is {m}") for m in range(markets)]
        cs.enforce_equal(lc_sum(selector), 1, "market is one of the configured markets")
        trade_value = cs.mul(delta.value, price, "db * price")
    return FillVars(delta, fee, selector, trade_value)


def apply_fill_gadget(cs: ConstraintSystem, old: StateVars, fill: FillVars, new_salt: Any) -> NewState:
    """In the fill's market only, b += db and k += db * price (each still in range); everywhere
    c -= fee (not below 0) and the nonce moves on."""
    with cs.namespace("new"):
        sizes, costs, old_abs, new_abs = [], [], [], []
        for m, chosen in enumerate(fill.selector):
            b = old.sizes[m].value + cs.mul(chosen, fill.delta.value, f"size move {m}")
            k = old.costs[m].value + cs.mul(chosen, fill.trade_value, f"cost move {m}")
            sizes.append(decompose_signed(cs, b, SIZE_BITS, f"size {m}"))
            costs.append(decompose_signed(cs, k, COST_BITS, f"cost {m}").value)
            old_abs.append(cs.mul(chosen, old.sizes[m].abs, f"old |b| of fill market {m}"))
            new_abs.append(cs.mul(chosen, sizes[m].abs, f"new |b| of fill market {m}"))
        nonce = old.nonce + 1
        range_check(cs, nonce, NONCE_BITS, "nonce range")
        collateral = old.collateral - fill.fee
        range_check(cs, collateral, COLLATERAL_BITS, "collateral is not negative")
        salt = cs.private("salt", new_salt)
    return NewState(nonce, salt, collateral, sizes, costs, old_abs, new_abs)


def fill_successor(state: AccountState, fill: Fill, epoch: int, curve: Curve) -> AccountState:
    """The state after ``fill`` (validated, for the fill's account, in ``epoch``): b += db and
    k += db * price in its market, c -= fee; refuses what the circuit's ranges would reject."""
    state.validate(curve)
    if fill.account_id != state.account_id:
        raise BoundError(f"the fill is for account {fill.account_id}, not {state.account_id}")
    state.require_in_epoch(epoch, f"applying fill {fill.fill_id} of epoch {epoch}")
    m = fill.market
    sizes, costs = list(state.sizes), list(state.costs)
    sizes[m] += fill.size_delta
    costs[m] += fill.size_delta * fill.price
    new = state.next(curve, collateral=state.collateral - fill.fee, sizes=tuple(sizes), costs=tuple(costs),
                     epoch=epoch)
    new.validate(curve)
    return new


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
