"""The private account state, its integer bounds, and its commitment.

All amounts are integers: collateral in collateral units, sizes in base units, prices in
collateral units per base unit times PRICE_SCALE is up to the market configuration (the
circuits never divide), cost bases at the same scale as size * price, rates in millionths.

Bounds (every hidden value is range-checked to these in every circuit that reads it):

=================  =====================================  ==============================
value              range                                  why
=================  =====================================  ==============================
account id         [0, 2^64)                              public, checked by the builder
nonce              [0, 2^64)                              +1 per state change
epoch              [0, 2^64)                              the epoch the state is in (below)
salt               any field element                      blinding only, no arithmetic
collateral c       [0, 2^96)                              never negative
size b_m           [-2^40, 2^40)                          signed
cost basis k_m     [-2^88, 2^88)                          holds b*P with P < 2^48
price P_m          [1, 2^48)                              public (fill price: [1, 2^48])
rate (mm, im)      [0, RATE_SCALE]                        RATE_SCALE = 10^6 < 2^20
fee                [0, 2^64)                              private, part of a fill
markets M          1..64
=================  =====================================  ==============================

The state's **epoch** ties settlement to the positions held at a close: ``fill`` and
``transfer`` take the epoch they are proven against and need the state to be in it (or to hold
nothing, which may move forward freely); ``settle`` of epoch N needs the state in N (or flat)
and moves it to N + 1. Positions change only through fills, so a state in epoch N holds exactly
the positions held at N's close, and an epoch cannot be settled on a later position.

From these, with M <= 64: |b*P| < 2^88, |b*P - k| < 2^89, equity E in (-2^95, 2^97),
E * RATE_SCALE < 2^117 and the requirement sum(|b*P| * rate) < 2^114. The health difference
E * RATE_SCALE - requirement therefore lies in (-2^118, 2^117); it is proven to lie in
[0, 2^117). A negative difference d would have to appear as r + d > r - 2^118, far above
2^117 on both fields (r > 2^253), so no intermediate value can wrap around the modulus.
A risk-reducing fill proves instead that the maintenance difference did not fall: the change
d_new - d_old lies in (-2^119, 2^119) and is proven to lie in [0, 2^119) (FILL_CHECK_BITS).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from zkmargin.curves import Curve, get_curve
from zkmargin.errors import ZkMarginError

RATE_SCALE = 1_000_000
ACCOUNT_BITS = 64
NONCE_BITS = 64
EPOCH_BITS = 64
COLLATERAL_BITS = 96
SIZE_BITS = 40
COST_BITS = 88
PRICE_BITS = 48
RATE_BITS = 20
FEE_BITS = 64
MAX_MARKETS = 64
HEALTH_BITS = 117  # see the module docstring
FILL_CHECK_BITS = HEALTH_BITS + 2  # a change of health difference: see the module docstring
TRANSFER_BITS = COLLATERAL_BITS  # |deposit or withdrawal| < 2^96
STATE_VERSION = 2  # 2: the state records its epoch

# Sponge domain tags (at most 23 ASCII characters): object, version, curve, market count.
STATE_DOMAIN = f"zkm/st{STATE_VERSION}"
FILL_DOMAIN = "zkm/fill1"


def _check_bound_derivation() -> None:
    """Recompute the docstring's bounds from the constants, so changing one cannot go unnoticed."""
    notional = 1 << (SIZE_BITS + PRICE_BITS)  # |b*P| < 2^88
    assert notional <= 1 << COST_BITS
    per_market = notional + (1 << COST_BITS)  # |b*P - k|
    equity_max = (1 << COLLATERAL_BITS) + MAX_MARKETS * per_market
    requirement_max = MAX_MARKETS * notional * RATE_SCALE
    assert RATE_SCALE < 1 << RATE_BITS
    assert equity_max * RATE_SCALE <= 1 << HEALTH_BITS
    # the most negative difference, wrapped, must stay above every honest one
    most_negative = MAX_MARKETS * per_market * RATE_SCALE + requirement_max
    # a change of health difference: honest ones below 2^119, wrapped ones above r - 2^119
    change_max = 2 * max(most_negative, 1 << HEALTH_BITS)
    assert change_max <= 1 << FILL_CHECK_BITS
    # the flat test sums |b| + |k| over the markets: it must not wrap either
    flat_sum_max = MAX_MARKETS * ((1 << SIZE_BITS) + (1 << COST_BITS))
    for r in (get_curve("bn128").r, get_curve("bls12381").r):
        assert r - most_negative > 1 << HEALTH_BITS
        assert r - change_max > 1 << FILL_CHECK_BITS
        assert flat_sum_max < r
    # the counters element packs nonce and epoch: nonce + 2^64 * epoch, epoch <= 2^64
    assert NONCE_BITS + EPOCH_BITS + 1 < 253


_check_bound_derivation()


class BoundError(ZkMarginError, ValueError):
    """A value is outside the range the circuits can prove; raised before any proving work."""


def check_range(name: str, value: int, low: int, high: int) -> int:
    """low <= value < high, as an exact integer (bools and floats are refused)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise BoundError(f"{name} must be an integer, got {type(value).__name__}")
    if not low <= value < high:
        raise BoundError(f"{name} = {value} is outside [{low}, {high})")
    return value


def check_markets(markets: int) -> int:
    if not isinstance(markets, int) or not 1 <= markets <= MAX_MARKETS:
        raise BoundError(f"the number of markets must be 1..{MAX_MARKETS}, got {markets!r}")
    return markets


def pack_position(size: int, cost: int) -> int:
    """One field element per market: (b + 2^40) + 2^41 * (k + 2^88) < 2^130, injective in range."""
    return (size + (1 << SIZE_BITS)) + ((cost + (1 << COST_BITS)) << (SIZE_BITS + 1))


def pack_counters(nonce: int, epoch: int) -> int:
    """Nonce and epoch in one field element: nonce + 2^64 * epoch, injective for nonce < 2^64."""
    return nonce + (epoch << NONCE_BITS)


def unpack_position(packed: int) -> tuple[int, int]:
    """(size, cost basis) from ``pack_position``; refuses an element no in-range position packs to."""
    size_field = packed & ((1 << (SIZE_BITS + 1)) - 1)
    cost_field = packed >> (SIZE_BITS + 1)
    if cost_field >= 1 << (COST_BITS + 1):
        raise BoundError(f"packed position {packed} is not a packed position: its cost field is out of range")
    return size_field - (1 << SIZE_BITS), cost_field - (1 << COST_BITS)


def unpack_counters(packed: int) -> tuple[int, int]:
    """(nonce, epoch) from ``pack_counters``; refuses an element no in-range pair packs to."""
    epoch = packed >> NONCE_BITS
    if epoch >= 1 << EPOCH_BITS:
        raise BoundError(f"packed counters {packed} are not packed counters: the epoch is out of range")
    return packed & ((1 << NONCE_BITS) - 1), epoch


def fresh_salt(curve: Curve | str | None = None) -> int:
    return secrets.randbelow(get_curve(curve).r)


@dataclass(frozen=True)
class AccountState:
    """What a trader keeps on their own machine; only its commitment leaves it."""

    account_id: int
    nonce: int
    salt: int
    collateral: int
    sizes: tuple[int, ...]
    costs: tuple[int, ...]
    epoch: int = 0  # the epoch the state is in (see the module docstring)

    @property
    def markets(self) -> int:
        return len(self.sizes)

    @property
    def is_flat(self) -> bool:
        """No size and no cost basis: nothing to settle in any epoch (the pnl is 0 at any prices)."""
        return not any(self.sizes) and not any(self.costs)

    @property
    def holds_position(self) -> bool:
        return any(self.sizes)

    @classmethod
    def genesis(cls, account_id: int, markets: int, salt: int | None = None,
                curve: Curve | str | None = None) -> AccountState:
        """The empty account: nonce 0, epoch 0, no collateral, no positions, a fresh salt."""
        check_markets(markets)
        return cls(account_id, 0, fresh_salt(curve) if salt is None else salt, 0, (0,) * markets, (0,) * markets)

    def require_in_epoch(self, epoch: int, what: str) -> None:
        """Refuse, before proving, a transition the circuit's epoch rule would reject."""
        if self.epoch > epoch:
            raise BoundError(f"{what}: the state is already in epoch {self.epoch}, after epoch {epoch}")
        if self.epoch != epoch and not self.is_flat:
            raise BoundError(f"{what}: the state is in epoch {self.epoch} and holds a position: "
                             f"settle epoch {self.epoch} first")

    def validate(self, curve: Curve | str | None = None) -> AccountState:
        """Raise BoundError naming the first value outside its bound."""
        r = get_curve(curve).r
        check_markets(self.markets)
        if len(self.costs) != self.markets:
            raise BoundError(f"{self.markets} sizes but {len(self.costs)} cost bases")
        check_range("account id", self.account_id, 0, 1 << ACCOUNT_BITS)
        check_range("nonce", self.nonce, 0, 1 << NONCE_BITS)
        check_range("epoch", self.epoch, 0, 1 << EPOCH_BITS)
        check_range("salt", self.salt, 0, r)
        check_range("collateral", self.collateral, 0, 1 << COLLATERAL_BITS)
        for m, (b, k) in enumerate(zip(self.sizes, self.costs)):
            check_range(f"size of market {m}", b, -(1 << SIZE_BITS), 1 << SIZE_BITS)
            check_range(f"cost basis of market {m}", k, -(1 << COST_BITS), 1 << COST_BITS)
        return self

    def commitment_inputs(self) -> list[int]:
        return [self.account_id, pack_counters(self.nonce, self.epoch), self.salt, self.collateral,
                *(pack_position(b, k) for b, k in zip(self.sizes, self.costs))]

    @classmethod
    def from_commitment_inputs(cls, values: Sequence[int], curve: Curve | str | None = None) -> AccountState:
        """The state whose ``commitment_inputs()`` are ``values`` (what an escrow decrypts to).

        Refuses (BoundError) a sequence no valid state produces: a wrong length, or a value that
        unpacks outside its bound. Callers still compare ``commitment()`` with the ledger's.
        """
        if not 5 <= len(values) <= 4 + MAX_MARKETS:
            raise BoundError(f"a state opening has 4 + M values (M = 1..{MAX_MARKETS}), got {len(values)}")
        account_id, counters, salt, collateral, *positions = values
        nonce, epoch = unpack_counters(counters)
        unpacked = [unpack_position(p) for p in positions]
        state = cls(account_id, nonce, salt, collateral, tuple(b for b, _ in unpacked),
                    tuple(k for _, k in unpacked), epoch)
        return state.validate(curve)

    def commitment(self, curve: Curve | str | None = None) -> int:
        from zkmargin.poseidon.sponge import poseidon_sponge

        c = get_curve(curve)
        self.validate(c)
        return poseidon_sponge(self.commitment_inputs(), state_domain(c, self.markets), c)

    def next(self, curve: Curve | str | None = None, **changes: object) -> AccountState:
        """The successor state: nonce + 1 and a fresh salt (below the curve's r), plus ``changes``."""
        changes.setdefault("nonce", self.nonce + 1)
        changes.setdefault("salt", fresh_salt(curve))
        return replace(self, **changes)  # type: ignore[arg-type]

    # Money math out of circuit, with exactly the circuit's integer semantics.
    def equity(self, prices: Sequence[int]) -> int:
        return self.collateral + sum(b * p - k for b, k, p in zip(self.sizes, self.costs, prices))

    def requirement(self, prices: Sequence[int], rates: Sequence[int]) -> int:
        """sum |b*P| * rate, still multiplied by RATE_SCALE (divide to read it in money)."""
        return sum(abs(b * p) * rate for b, p, rate in zip(self.sizes, prices, rates))

    def health_difference(self, prices: Sequence[int], rates: Sequence[int]) -> int:
        """E * RATE_SCALE - requirement: healthy iff >= 0."""
        return self.equity(prices) * RATE_SCALE - self.requirement(prices, rates)

    def require_healthy(self, prices: Sequence[int], rates: Sequence[int], what: str) -> None:
        """Refuse, before any proving work, a state a proof could not exist for; say by how much."""
        shortfall = -self.health_difference(list(prices), list(rates))
        if shortfall > 0:
            units = -(-shortfall // RATE_SCALE)  # round the shortfall up to whole collateral units
            raise BoundError(f"{what} by {units} collateral units")


def state_domain(curve: Curve, markets: int) -> str:
    """Commitments are separated by object, version, curve and market count."""
    return f"{STATE_DOMAIN}/{curve.name}/{markets}"


@dataclass(frozen=True)
class Fill:
    """One venue fill, as committed by the venue: the trader receives its opening encrypted."""

    account_id: int
    fill_id: int
    market: int
    size_delta: int
    price: int
    fee: int
    salt: int = field(default=0)

    def validate(self, markets: int, curve: Curve | str | None = None) -> Fill:
        check_range("fill account id", self.account_id, 0, 1 << ACCOUNT_BITS)
        check_range("fill id", self.fill_id, 0, 1 << 64)
        check_range("fill market", self.market, 0, markets)
        check_range("fill size delta", self.size_delta, -(1 << SIZE_BITS), 1 << SIZE_BITS)
        if self.size_delta == 0:
            raise BoundError("a fill must move size: size delta 0")
        check_range("fill price", self.price, 1, (1 << PRICE_BITS) + 1)
        check_range("fill fee", self.fee, 0, 1 << FEE_BITS)
        check_range("fill salt", self.salt, 0, get_curve(curve).r)
        return self

    def commitment_inputs(self) -> list[int]:
        # the signed size delta enters shifted to [0, 2^41), like a packed position
        return [self.account_id, self.fill_id, self.market, self.size_delta + (1 << SIZE_BITS),
                self.price, self.fee, self.salt]

    def commitment(self, curve: Curve | str | None = None) -> int:
        from zkmargin.poseidon.sponge import poseidon_sponge

        c = get_curve(curve)
        return poseidon_sponge(self.commitment_inputs(), fill_domain(c), c)


def fill_domain(curve: Curve) -> str:
    return f"{FILL_DOMAIN}/{curve.name}"
