"""Statement 4, settle: mark to market at the epoch's settlement prices.

Public inputs, in order (``Settle.public_layout``): account id, old commitment, new commitment, epoch,
settlement price_0..price_{M-1}, funding step dF_0..dF_{M-1} (signed), expires e_0..e_{M-1} (1 for a
market whose option expired by the epoch's close), pnl (signed, encoded as r - |pnl| when negative),
holds position (1 if the settled state has a size in some market, else 0); the escrow variant appends
its inputs after these.

The old state is in the epoch N, or flat and behind it (``enforce_epoch_rule``): the positions
settled are the ones held at N's close. pnl = sum_m (b_m P_m - k_m - q_m), where
q_m = ceil(b_m dF_m / FUNDING_SCALE) is the funding the position pays over the epoch (dF_m the
market's public funding-index step, 0 for a future; docs/protocol.md, "Perpetual funding", has the
bounds and why a per-position index would be redundant under the epoch rule); the new state is in epoch
N + 1 and has c + pnl (>= 0: a loss beyond the collateral cannot be settled, the account is in
default), sizes b_m (1 - e_m), cost bases b_m P_m (1 - e_m), nonce + 1 and a fresh salt: a market
that expires (an option past its expiry, P_m its intrinsic value) is closed at P_m and leaves
nothing behind, any other is marked to P_m and kept (docs/protocol.md §10.7). The position bit,
computed on the settled sizes, tells the ledger whether the account must settle the next epochs (a
flat account is not asked to). Positions stay hidden; the pnl is public to the ledger, as variation
margin is in real clearing. Settlement prices lie in [0, 2^48) (an intrinsic value may be 0), so
|b_m P_m| < 2^88 follows from the size bound, and e_m in {0, 1} keeps the settled size and cost
basis within the old ones' magnitudes: the new state needs no further range check.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
from circuits.state import (
    COLLATERAL_BITS,
    EPOCH_BITS,
    NONCE_BITS,
    PRICE_BITS,
    SIZE_BITS,
    AccountState,
    BoundError,
)
from zkmargin.constraints import LC, ConstraintSystem, lc_sum
from zkmargin.curves import Curve, get_curve
from zkmargin.edwards import Point
from zkmargin.escrow import Escrow
from zkmargin.gadgets.bits import range_check
from zkmargin.gadgets.equality import is_zero
from zkmargin.gadgets.signed import SignedInt

# Funding: the index is kept at FUNDING_SCALE per unit of price, so a position b pays b dF / 10^6
# collateral units over an epoch whose index moved by dF; q rounds that up (toward the payer).
FUNDING_SCALE = 1_000_000
FUNDING_REMAINDER_BITS = 20  # 0 <= q 10^6 - b dF < 10^6 < 2^20
FUNDING_STEP_BITS = PRICE_BITS + FUNDING_REMAINDER_BITS  # |dF| < 2^68: up to a whole price an epoch
FUNDING_BITS = SIZE_BITS + FUNDING_STEP_BITS - FUNDING_REMAINDER_BITS + 2  # |q| < 2^89: q + 2^89 in 90 bits
assert FUNDING_SCALE < 1 << FUNDING_REMAINDER_BITS
# |b dF| < 2^108, so |q| <= 2^108 / 10^6 + 1 < 2^89 (10^6 > 2^19)
assert (1 << (SIZE_BITS + FUNDING_STEP_BITS)) // FUNDING_SCALE + 1 < 1 << (FUNDING_BITS - 1)

FUNDING_CEIL = "funding rounds up: q 10^6 - b dF >= 0"
FUNDING_BELOW_ONE = "funding rounds up by less than one: q 10^6 - b dF < 10^6"
FUNDING_RANGE = "funding paid range"
EXPIRES_BIT = "the expires flag is a bit"


def funding_paid(size: int, step: int) -> int:
    """q = ceil(size * step / FUNDING_SCALE): what a position pays for an index step (negative: receives)."""
    return -((-size * step) // FUNDING_SCALE)


def funding_exact_remainder(size: int, step: int) -> int:
    """q 10^6 - b dF in [0, 10^6): what rounding up collected from this position, in 10^-6 units."""
    return funding_paid(size, step) * FUNDING_SCALE - size * step


def funding_gadget(cs: ConstraintSystem, size: LC, step: LC, paid: LC, label: str) -> None:
    """Pin ``paid`` to ceil(size * step / 10^6) for |size| < 2^40, |step| < 2^68.

    |paid| < 2^89 by its range check, so paid 10^6 - size step lies in (-2^110, 2^110) as an
    integer and cannot wrap; two 20-bit checks put it in [0, 10^6), which only the ceiling meets.
    One product, 91 + 2 x 21 constraints."""
    with cs.namespace(label):
        range_check(cs, paid + (1 << (FUNDING_BITS - 1)), FUNDING_BITS, FUNDING_RANGE)
        remainder = paid * FUNDING_SCALE - cs.mul(size, step, "b*dF")
        range_check(cs, remainder, FUNDING_REMAINDER_BITS, FUNDING_CEIL)
        range_check(cs, FUNDING_SCALE - 1 - remainder, FUNDING_REMAINDER_BITS, FUNDING_BELOW_ONE)
        cs.declare_determined([paid], [size, step], "the ceiling is the one q with |q| < 2^89 and a remainder in "
                              "[0, 10^6)")


class Settle(TransitionCircuit):
    name = "settle"
    description = "settle pnl and funding at public settlement prices: c += pnl, k = b*P; expired markets close"
    public_layout = (
        ACCOUNT,
        OLD_COMMITMENT,
        NEW_COMMITMENT,
        # the settled state moves to epoch + 1, which must fit the state's epoch bound
        PublicInput("epoch", "the closed epoch being settled", high=(1 << EPOCH_BITS) - 1),
        PublicInput("prices", "each market's settlement price (an expired option's intrinsic value: may be 0)",
                    low=0, high=1 << PRICE_BITS, per_market=True, label="settlement price"),
        PublicInput("funding_steps", "each market's funding-index step over the epoch (10^6 per unit of price; "
                    "0 for a future)", low=-(1 << FUNDING_STEP_BITS) + 1, high=1 << FUNDING_STEP_BITS,
                    per_market=True, label="funding step"),
        PublicInput("expires", "1 for a market whose option expired by the epoch's close: closed at its price",
                    per_market=True, flag=True),
        PublicInput("pnl", "the signed variation margin and funding: sum_m (b_m P_m - k_m - q_m)",
                    low=-(1 << COLLATERAL_BITS), high=1 << COLLATERAL_BITS),
        PublicInput("holds_position", "whether the settled state has a size in some market", flag=True),
    )

    def define(self, cs: ConstraintSystem, inputs: Inputs | None) -> None:
        M = self.markets
        pub = self.allocate_public(cs, self.public_of(inputs))
        epoch, pnl, prices, steps = pub["epoch"], pub["pnl"], pub.per_market("prices"), pub.per_market("funding_steps")
        old = open_old_state(cs, inputs, pub, M)
        marked = [cs.mul(old.sizes[m].value, prices[m], f"b*P {m}") for m in range(M)]
        kept = [keep_unless_expired(cs, old.sizes[m], marked[m], pub.per_market("expires")[m], m) for m in range(M)]
        # the settled state has k = b P (1 - e): it holds a position iff some settled size is not 0
        no_size = is_zero(cs, lc_sum([k.magnitude for k in kept]), "no size")
        cs.enforce_equal(pub["holds_position"], 1 - no_size, "the position bit is the settled state's")
        paid = [cs.private(f"funding paid {m}", deferred_item(inputs, "funding_paid", m)) for m in range(M)]
        for m in range(M):
            funding_gadget(cs, old.sizes[m].value, steps[m], paid[m], f"funding {m}")
        cs.enforce_equal(lc_sum([marked[m] - old.costs[m].value - paid[m] for m in range(M)]), pnl,
                         "pnl = sum(b*P - k - q)")

        new_nonce = old.nonce + 1
        range_check(cs, new_nonce, NONCE_BITS, "new nonce range")
        new_collateral = old.collateral + pnl
        range_check(cs, new_collateral, COLLATERAL_BITS, "collateral after settlement is not negative")
        new_salt = cs.private("new/salt", deferred(inputs, "new_salt"))
        self.commit_new_state(
            cs, pub, inputs, new_nonce, epoch + 1, new_salt, new_collateral, [k.size for k in kept],
            [k.cost for k in kept], "new commitment opens to the settled state",
        )

    def public_inputs(
        self, account_id: int, old_commitment: int, new_commitment: int, epoch: int,
        settlement_prices: Sequence[int], pnl: int, holds_position: bool, curve: Curve | str | None = None, *,
        funding_steps: Sequence[int] | None = None, expires: Sequence[bool] | None = None,
        escrow_key: Point | None = None, escrow: Escrow | None = None,
    ) -> list[int]:
        """``funding_steps`` None: every market is a future (dF = 0); ``expires`` None: nothing expires."""
        return self.public_vector({"account": account_id, "old_commitment": old_commitment,
                                   "new_commitment": new_commitment, "epoch": epoch, "prices": settlement_prices,
                                   "funding_steps": self.steps_or_zero(funding_steps),
                                   "expires": self.expires_or_none(expires), "pnl": pnl,
                                   "holds_position": holds_position,
                                   **self.escrow_values(escrow_key, escrow)}, curve)

    def steps_or_zero(self, funding_steps: Sequence[int] | None) -> list[int]:
        return [0] * self.markets if funding_steps is None else list(funding_steps)

    def expires_or_none(self, expires: Sequence[bool] | None) -> list[bool]:
        return [False] * self.markets if expires is None else list(expires)

    def transition(self, state: AccountState, epoch: int, settlement_prices: Sequence[int],
                   curve: Curve | str | None = None, *, funding_steps: Sequence[int] | None = None,
                   expires: Sequence[bool] | None = None,
                   escrow_key: Point | None = None) -> tuple[AccountState, int, dict[str, Any]]:
        """The settled state, its pnl (funding included), and the proving inputs (with its escrow in
        the escrow variant). ``funding_steps`` None: every market is a future (dF = 0); ``expires``
        None: no market expires (an expired one is closed at its price: size and cost basis 0)."""
        c = get_curve(curve)
        state.validate(c)
        state.require_in_epoch(epoch, f"settling epoch {epoch}")
        prices = self.check_public("prices", settlement_prices, c)
        steps = self.steps_or_zero(funding_steps)
        self.check_public("funding_steps", steps, c)  # refuses a step out of its bound (kept signed here)
        closing = self.expires_or_none(expires)
        self.check_public("expires", closing, c)
        paid = [funding_paid(b, step) for b, step in zip(state.sizes, steps)]
        pnl = sum(b * p - k - q for b, k, p, q in zip(state.sizes, state.costs, prices, paid))
        if state.collateral + pnl < 0:
            raise BoundError(
                f"the loss of {-pnl} exceeds the collateral of {state.collateral}: the account is in default"
            )
        new = state.next(
            c, collateral=state.collateral + pnl, sizes=tuple(0 if e else b for b, e in zip(state.sizes, closing)),
            costs=tuple(0 if e else b * p for b, p, e in zip(state.sizes, prices, closing)), epoch=epoch + 1,
        )
        new.validate(c)
        sealed = self.seal_successor(new, escrow_key, c)
        vector = self.public_inputs(state.account_id, state.commitment(c), new.commitment(c), epoch, prices, pnl,
                                    new.holds_position, c, funding_steps=steps, expires=closing, escrow_key=escrow_key,
                                    escrow=sealed.get("escrow"))
        return new, pnl, {"public": self.name_public(vector), "state": state, "new_salt": new.salt,
                          "funding_paid": paid, **sealed}

    def prepare(self, data: Any, curve: Curve, source: str = "input") -> Prepared:
        """Proving inputs and the successor state from ``input.json`` (see circuits.inputs)."""
        state = state_from_json(field(data, "state", source))
        epoch = integer(field(data, "epoch", source), "epoch")
        prices = integers(field(data, "prices", source), "prices")
        steps = integers(data["funding_steps"], "funding_steps") if "funding_steps" in data else None
        expires = flags(data["expires"], "expires") if "expires" in data else None
        new, _pnl, inputs = self.transition(state, epoch, prices, curve, funding_steps=steps, expires=expires,
                                            escrow_key=escrow_key_from_json(data, self.escrow, curve, source))
        return Prepared(inputs, new)


@dataclass(frozen=True)
class Kept:
    """What settlement leaves of one market: size b (1 - e), its magnitude |b| (1 - e), cost b P (1 - e)."""

    size: LC
    magnitude: LC
    cost: LC


def keep_unless_expired(cs: ConstraintSystem, size: SignedInt, marked: LC, expires: LC, m: int) -> Kept:
    """Market m's settled position: kept and marked (e = 0) or closed (e = 1). Four constraints.

    e is public and the verifier encodes it 0 or 1; the bit check makes the circuit say so too: with
    e = 2 the kept magnitudes |b| (1 - e) could be negative and cancel in the position bit's sum."""
    with cs.namespace(f"expiry {m}"):
        cs.enforce(expires, 1 - expires, 0, EXPIRES_BIT)
        return Kept(cs.mul(size.value, 1 - expires, "b*(1-e)"), cs.mul(size.abs, 1 - expires, "|b|*(1-e)"),
                    cs.mul(marked, 1 - expires, "b*P*(1-e)"))


def flags(value: Any, what: str) -> list[bool]:
    """A JSON list of booleans (``expires`` in ``input.json``)."""
    if not isinstance(value, list) or not all(isinstance(x, bool) for x in value):
        raise BoundError(f"{what} must be a list of true/false")
    return list(value)


def deferred_item(inputs: Inputs | None, key: str, index: int) -> Callable[[], int]:
    """Element ``index`` of a private list in the proving inputs, read only when the witness is assigned."""

    def read() -> int:
        if inputs is None:
            raise KeyError(key)
        value: int = inputs[key][index]
        return value

    return read
