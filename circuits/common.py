"""Pieces every margin statement shares: a range-checked state, its commitment, its health."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from circuits.base import Circuit, Inputs, Prepared, PublicInput, PublicVars
from circuits.state import (
    ACCOUNT_BITS,
    COLLATERAL_BITS,
    COST_BITS,
    EPOCH_BITS,
    HEALTH_BITS,
    NONCE_BITS,
    PRICE_BITS,
    RATE_SCALE,
    SIZE_BITS,
    AccountState,
    BoundError,
    check_markets,
    state_domain,
)
from zkmargin.constraints import LC, ConstraintSystem, lc_sum
from zkmargin.curves import Curve
from zkmargin.edwards import Point, embedded_curve
from zkmargin.escrow import Escrow, new_ephemeral_scalar, seal
from zkmargin.gadgets.bits import range_check
from zkmargin.gadgets.edwards import CurvePoint
from zkmargin.gadgets.equality import is_zero
from zkmargin.gadgets.escrow import escrow_gadget
from zkmargin.gadgets.poseidon import poseidon_sponge_gadget
from zkmargin.gadgets.signed import SignedInt, signed_input


@dataclass
class StateVars:
    """A state inside a circuit. Sizes and costs carry their sign decomposition."""

    nonce: LC
    epoch: LC
    salt: LC
    collateral: LC
    sizes: list[SignedInt]
    costs: list[SignedInt]


def opening_value(opening: object | None, attribute: str, index: int | None = None) -> Callable[[], int]:
    """A value of a private opening (a state, a fill), read only when the witness is assigned."""

    def read() -> int:
        if opening is None:
            raise KeyError(attribute)
        value = getattr(opening, attribute)
        number: int = value if index is None else value[index]
        return number

    return read


def allocate_state(cs: ConstraintSystem, label: str, state: AccountState | None, markets: int) -> StateVars:
    """Private variables for a state opening, each range-checked to its documented bound."""
    with cs.namespace(label):
        nonce = cs.private("nonce", opening_value(state, "nonce"))
        range_check(cs, nonce, NONCE_BITS, "nonce range")
        epoch = cs.private("epoch", opening_value(state, "epoch"))
        range_check(cs, epoch, EPOCH_BITS, "epoch range")
        salt = cs.private("salt", opening_value(state, "salt"))  # blinding: any field element
        collateral = cs.private("collateral", opening_value(state, "collateral"))
        range_check(cs, collateral, COLLATERAL_BITS, "collateral range")
        sizes = [signed_input(cs, f"size {m}", opening_value(state, "sizes", m), SIZE_BITS) for m in range(markets)]
        costs = [signed_input(cs, f"cost {m}", opening_value(state, "costs", m), COST_BITS) for m in range(markets)]
    return StateVars(nonce, epoch, salt, collateral, sizes, costs)


def packed_position(size: LC, cost: LC) -> LC:
    """(b + 2^40) + 2^41 (k + 2^88): linear, injective for range-checked b and k."""
    return size + (1 << SIZE_BITS) + (cost + (1 << COST_BITS)) * (1 << (SIZE_BITS + 1))


def packed_counters(nonce: LC, epoch: LC) -> LC:
    """nonce + 2^64 epoch: linear, injective for a range-checked nonce."""
    return nonce + epoch * (1 << NONCE_BITS)


def state_inputs(account: LC, nonce: LC, epoch: LC, salt: LC, collateral: LC, sizes: Sequence[LC],
                 costs: Sequence[LC]) -> list[LC]:
    """What the commitment absorbs, as AccountState.commitment_inputs: 4 + M linear combinations."""
    return [account, packed_counters(nonce, epoch), salt, collateral,
            *(packed_position(b, k) for b, k in zip(sizes, costs))]


def commit_state(
    cs: ConstraintSystem, account: LC, nonce: LC, epoch: LC, salt: LC, collateral: LC,
    sizes: Sequence[LC], costs: Sequence[LC], label: str,
) -> LC:
    """The state commitment, computed exactly like AccountState.commitment."""
    inputs = state_inputs(account, nonce, epoch, salt, collateral, sizes, costs)
    return commit_opening(cs, inputs, [nonce, epoch, salt, collateral, *sizes, *costs], label)


def commit_opening(cs: ConstraintSystem, inputs: Sequence[LC], opening: Sequence[LC], label: str) -> LC:
    """The commitment of ``state_inputs`` (4 + M of them); ``opening`` lists the values they pack."""
    with cs.namespace(label):
        digest = poseidon_sponge_gadget(cs, list(inputs), state_domain(cs.curve, len(inputs) - 4))
        variables = [x for x in opening if x.single_variable() is not None]
        cs.declare_determined(variables, [digest], "a commitment binds its opening (collision resistance)")
    return digest


def open_state(cs: ConstraintSystem, account: LC, commitment: LC, state: StateVars, label: str) -> None:
    """Constrain ``commitment`` to be the commitment of ``state`` for ``account``."""
    digest = commit_state(
        cs, account, state.nonce, state.epoch, state.salt, state.collateral,
        [s.value for s in state.sizes], [k.value for k in state.costs], f"{label} commitment",
    )
    cs.enforce_equal(digest, commitment, f"{label} commitment opens to the state")


@dataclass
class Marked:
    """A state marked to prices: its equity and each market's notional |b P|."""

    equity: LC
    notionals: list[LC]

    def health_difference(self, cs: ConstraintSystem, rates: Sequence[LC], label: str) -> LC:
        """E * RATE_SCALE - sum |b P| * rate: one constraint a market."""
        with cs.namespace(label):
            requirement = [cs.mul(n, rate, f"|b*P|*rate {m}") for m, (n, rate) in enumerate(zip(self.notionals, rates))]
        return self.equity * RATE_SCALE - lc_sum(requirement)


def mark_to_market(
    cs: ConstraintSystem, collateral: LC, sizes: Sequence[SignedInt], costs: Sequence[LC],
    prices: Sequence[LC], label: str,
) -> Marked:
    """E = c + sum (b P - k) and |b| P per market: two constraints a market."""
    with cs.namespace(label):
        value_terms, notionals = [], []
        for m, (size, cost, price) in enumerate(zip(sizes, costs, prices)):
            value_terms.append(cs.mul(size.value, price, f"b*P {m}") - cost)
            notionals.append(cs.mul(size.abs, price, f"|b|*P {m}"))
    return Marked(collateral + lc_sum(value_terms), notionals)


def health_difference(
    cs: ConstraintSystem, collateral: LC, sizes: Sequence[SignedInt], costs: Sequence[LC],
    prices: Sequence[LC], rates: Sequence[LC], label: str,
) -> LC:
    """E * RATE_SCALE - sum |b P| * rate, with E = c + sum (b P - k). Three constraints a market."""
    return mark_to_market(cs, collateral, sizes, costs, prices, label).health_difference(cs, rates, label)


def is_flat(cs: ConstraintSystem, state: StateVars, label: str) -> LC:
    """1 iff every size and cost basis is 0 (the state has nothing to settle at any prices).

    sum (|b| + |k|) < 64 (2^40 + 2^88) < 2^95 cannot wrap, so it is 0 exactly when all are 0.
    """
    magnitudes = [x.abs for x in (*state.sizes, *state.costs)]
    return is_zero(cs, lc_sum(magnitudes), label)


def enforce_epoch_rule(cs: ConstraintSystem, state: StateVars, epoch: LC, flat: LC, label: str) -> None:
    """The state is in ``epoch``, or it is flat and behind it: settled positions never move to a
    later epoch unsettled. ``epoch - state.epoch`` in [0, 2^64) and (epoch - state.epoch) * (1 - flat) = 0."""
    with cs.namespace(label):
        behind = epoch - state.epoch
        range_check(cs, behind, EPOCH_BITS, "the state is not in a later epoch")
        cs.enforce(behind, 1 - flat, 0, "a state holding a position is in the epoch")


def assert_healthy(cs: ConstraintSystem, difference: LC, label: str) -> None:
    """difference in [0, 2^117): see circuits.state for why nothing can wrap around."""
    range_check(cs, difference, HEALTH_BITS, label)


# Public inputs several statements share (each statement's ``public_layout`` lists its own).
ACCOUNT = PublicInput("account", "the account id", high=1 << ACCOUNT_BITS, noun="account id")
OLD_COMMITMENT = PublicInput("old_commitment", "the ledger's commitment to the state the transition starts from")
NEW_COMMITMENT = PublicInput("new_commitment", "the commitment to the successor state (fresh salt, nonce + 1)")
EPOCH = PublicInput("epoch", "the open epoch the statement is proven in", high=1 << EPOCH_BITS)
MARK_PRICES = PublicInput("prices", "each market's mark price, from the epoch's oracle snapshot", low=1,
                          high=1 << PRICE_BITS, per_market=True, label="price")
RATES_HIGH = RATE_SCALE + 1  # a rate is in [0, RATE_SCALE], in millionths
INITIAL_RATES = PublicInput("rates", "each market's initial margin rate", high=RATES_HIGH, per_market=True,
                            label="initial rate")


class MarketCircuit(Circuit):
    """A statement over M markets; ``inputs`` is {"public": {...}, "state": AccountState, ...}."""

    def __init__(self, markets: int = 1):
        self.markets = check_markets(markets)

    def parameters(self) -> dict[str, Any]:
        return {"markets": self.markets}

    def copies(self, entry: PublicInput) -> int:
        return self.markets if entry.per_market else 1

    @abstractmethod
    def prepare(self, data: Any, curve: Curve, source: str = "input") -> Prepared:
        """Proving inputs and the successor state from ``input.json`` (see circuits.inputs)."""

    @staticmethod
    def public_of(inputs: Inputs | None) -> Inputs | None:
        """The ``"public"`` dict of proving inputs (None during setup)."""
        return None if inputs is None else inputs.get("public")

    @staticmethod
    def state_of(inputs: Inputs | None, key: str = "state") -> AccountState | None:
        if inputs is None:
            return None
        state: AccountState = inputs[key]
        return state


# The escrow variant's public inputs, appended to a transition's layout (docs/protocol.md §8)
ESCROW_KEY_X = PublicInput("escrow_key_x", "the guardians' group public key, x (on the curve: asserted in circuit; "
                           "in the subgroup: the verifier's own checked guardian set)", label="escrow key x")
ESCROW_KEY_Y = PublicInput("escrow_key_y", "the guardians' group public key, y", label="escrow key y")
ESCROW_DIGEST = PublicInput("escrow_digest", "the digest of the escrow the service stores (Escrow.digest())")
ESCROW_INPUTS = (ESCROW_KEY_X, ESCROW_KEY_Y, ESCROW_DIGEST)
ESCROW_SUFFIX = "-escrow"  # of the key name: an escrowed deployment's keys are other keys
ESCROW_BINDING = "escrow digest is the public input"


class TransitionCircuit(MarketCircuit):
    """A statement that produces a new state. Its **escrow variant** (``escrow=True``) also proves
    that the public escrow digest is of a ciphertext of the new state's commitment inputs under
    the public guardian key: the same linear combinations the new commitment absorbs."""

    def __init__(self, markets: int = 1, escrow: bool = False):
        super().__init__(markets)
        if not isinstance(escrow, bool):
            raise BoundError(f"escrow must be a bool, got {escrow!r}")
        self.escrow = escrow
        if escrow:
            self.public_layout = type(self).public_layout + ESCROW_INPUTS

    def key_name(self) -> str:
        return super().key_name() + (ESCROW_SUFFIX if self.escrow else "")

    def commit_new_state(
        self, cs: ConstraintSystem, pub: PublicVars, inputs: Inputs | None, nonce: LC, epoch: LC, salt: LC,
        collateral: LC, sizes: Sequence[LC], costs: Sequence[LC], opens: str,
    ) -> None:
        """The public new commitment opens to the new state (constraint ``opens``); in the escrow
        variant the escrow seals exactly the values that commitment absorbs."""
        values = state_inputs(pub["account"], nonce, epoch, salt, collateral, sizes, costs)
        digest = commit_opening(cs, values, [nonce, epoch, salt, collateral, *sizes, *costs], "new commitment")
        cs.enforce_equal(digest, pub["new_commitment"], opens)
        if self.escrow:
            key = CurvePoint(pub["escrow_key_x"], pub["escrow_key_y"])
            sealed = escrow_gadget(cs, values, key, deferred(inputs, "escrow_scalar"), label="escrow")
            cs.enforce_equal(sealed.digest, pub["escrow_digest"], ESCROW_BINDING)

    # --- out of circuit --------------------------------------------------------------------
    def escrow_values(self, escrow_key: Point | None, escrow: Escrow | None) -> dict[str, int]:
        """The escrow variant's public values (none without escrow); refuses a key or an escrow
        given to the other variant, or missing from this one."""
        if not self.escrow:
            if escrow_key is not None or escrow is not None:
                raise BoundError(f"the {self.name} statement without escrow takes no escrow key or escrow")
            return {}
        if escrow_key is None or escrow is None:
            raise BoundError(f"the escrow variant of {self.name} needs the guardians' key and the escrow")
        return {"escrow_key_x": escrow_key[0], "escrow_key_y": escrow_key[1], "escrow_digest": escrow.digest()}

    def seal_successor(self, new: AccountState, escrow_key: Point | None, curve: Curve) -> dict[str, Any]:
        """The escrow of ``new`` to ``escrow_key`` and its ephemeral scalar (the private input), or
        nothing without escrow. The caller discards the scalar after proving."""
        if not self.escrow:
            self.escrow_values(escrow_key, None)
            return {}
        if escrow_key is None:
            raise BoundError(f"the escrow variant of {self.name} needs the guardians' key (escrow_key)")
        scalar = new_ephemeral_scalar(embedded_curve(curve))
        escrow = seal(new.commitment_inputs(), escrow_key, curve, ephemeral_scalar=scalar)
        return {"escrow": escrow, "escrow_scalar": scalar}


def deferred(inputs: Inputs | None, key: str) -> Callable[[], int]:
    """A private value read from the proving inputs only when the witness is assigned."""

    def read() -> int:
        if inputs is None:
            raise KeyError(key)
        value: int = inputs[key]
        return value

    return read


def open_old_state(cs: ConstraintSystem, inputs: Inputs | None, pub: PublicVars, markets: int) -> StateVars:
    """The state a transition starts from: it opens the public old commitment for the account, and
    it is in the statement's epoch or flat and behind it (``enforce_epoch_rule``)."""
    old = allocate_state(cs, "old", MarketCircuit.state_of(inputs), markets)
    open_state(cs, pub["account"], pub["old_commitment"], old, "old")
    enforce_epoch_rule(cs, old, pub["epoch"], is_flat(cs, old, "old is flat"), "epoch")
    return old
