"""Inputs for the margin statements built by hand, so a test can put in what the builders refuse.

The witness builders (Margin.assignment, Transfer.transition, ...) validate every value and
refuse unhealthy or out-of-range states. A cheater does not use them: these helpers write the
``inputs`` dicts the circuits read directly, and :func:`commit` commits to any state, in range
or not, exactly as the circuit does (AccountState.commitment would refuse an out-of-range one).
"""

from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction
from typing import Any

from circuits.state import AccountState, Fill, fill_domain, state_domain
from tests.circuits.adversary import failing_labels
from zkmargin.constraints import ConstraintSystem
from zkmargin.curves import get_curve
from zkmargin.poseidon import poseidon_sponge

CURVES = ("bls12381", "bn128")
EPOCH = 42


def commit(state: AccountState, curve: str) -> int:
    """The state commitment without the bounds check: the opening the circuit recomputes."""
    c = get_curve(curve)
    return poseidon_sponge([x % c.r for x in state.commitment_inputs()], state_domain(c, state.markets), c)


def fill_commit(fill: Fill, curve: str) -> int:
    c = get_curve(curve)
    return poseidon_sponge([x % c.r for x in fill.commitment_inputs()], fill_domain(c), c)


def state(account: int = 7, *, nonce: int = 3, salt: int = 123456789, collateral: int = 0,
          sizes: tuple[int, ...] = (0,), costs: tuple[int, ...] | None = None, epoch: int = EPOCH) -> AccountState:
    """A state object (in epoch EPOCH unless told); AccountState does not validate on construction."""
    return AccountState(account, nonce, salt, collateral, tuple(sizes), tuple(costs or (0,) * len(sizes)), epoch)


def successor(s: AccountState, **changes: Any) -> AccountState:
    """nonce + 1 and a fixed new salt (deterministic tests), plus ``changes``."""
    changes.setdefault("nonce", s.nonce + 1)
    changes.setdefault("salt", s.salt + 1000)
    return replace(s, **changes)


def margin_inputs(s: AccountState, prices: list[int], rates: list[int], curve: str, *,
                  account: int | None = None, commitment: int | None = None, epoch: int = EPOCH) -> dict:
    return {
        "public": {
            "account": s.account_id if account is None else account,
            "commitment": commit(s, curve) if commitment is None else commitment,
            "epoch": epoch,
            "prices": list(prices),
            "rates": list(rates),
        },
        "state": s,
    }


def transfer_inputs(old: AccountState, new: AccountState, amount: int, prices: list[int], rates: list[int],
                    curve: str, *, account: int | None = None, old_commitment: int | None = None,
                    new_commitment: int | None = None, epoch: int = EPOCH) -> dict:
    r = get_curve(curve).r
    return {
        "public": {
            "account": old.account_id if account is None else account,
            "old_commitment": commit(old, curve) if old_commitment is None else old_commitment,
            "new_commitment": commit(new, curve) if new_commitment is None else new_commitment,
            "amount": amount % r,
            "epoch": epoch,
            "prices": list(prices),
            "rates": list(rates),
        },
        "state": old,
        "new_salt": new.salt,
    }


def maintenance_of(rates: list[int]) -> list[int]:
    """The maintenance rates the fill tests use: half the initial rates."""
    return [rate // 2 for rate in rates]


def fill_inputs(old: AccountState, fill: Fill, new: AccountState, prices: list[int], rates: list[int], curve: str,
                *, fill_commitment: int | None = None, account: int | None = None,
                new_commitment: int | None = None, epoch: int = EPOCH,
                maintenance: list[int] | None = None) -> dict:
    return {
        "public": {
            "account": old.account_id if account is None else account,
            "old_commitment": commit(old, curve),
            "new_commitment": commit(new, curve) if new_commitment is None else new_commitment,
            "fill_commitment": fill_commit(fill, curve) if fill_commitment is None else fill_commitment,
            "epoch": epoch,
            "prices": list(prices),
            "rates": list(rates),
            "maintenance_rates": maintenance_of(rates) if maintenance is None else list(maintenance),
        },
        "state": old,
        "fill": fill,
        "new_salt": new.salt,
    }


def applied(old: AccountState, fill: Fill, **changes: Any) -> AccountState:
    """The successor after ``fill``, computed without any check (what a cheater would commit)."""
    sizes, costs = list(old.sizes), list(old.costs)
    if 0 <= fill.market < old.markets:
        sizes[fill.market] += fill.size_delta
        costs[fill.market] += fill.size_delta * fill.price
    changes.setdefault("collateral", old.collateral - fill.fee)
    return successor(old, sizes=tuple(sizes), costs=tuple(costs), **changes)


def settle_inputs(old: AccountState, new: AccountState, pnl: int, prices: list[int], curve: str, *,
                  epoch: int = EPOCH, account: int | None = None, old_commitment: int | None = None,
                  holds_position: int | None = None, funding_steps: list[int] | None = None,
                  funding_paid: list[int] | None = None, expires: list[int] | None = None) -> dict:
    """``funding_paid`` defaults to the honest ceil(b dF / 10^6) for the steps (all 0: futures)."""
    r = get_curve(curve).r
    steps = [0] * len(prices) if funding_steps is None else list(funding_steps)
    if funding_paid is None:
        funding_paid = [funding_of(b, step) for b, step in zip(old.sizes, steps)]
    return {
        "public": {
            "account": old.account_id if account is None else account,
            "old_commitment": commit(old, curve) if old_commitment is None else old_commitment,
            "new_commitment": commit(new, curve),
            "epoch": epoch,
            "prices": list(prices),
            "funding_steps": [step % r for step in steps],
            "expires": [0] * len(prices) if expires is None else list(expires),
            "pnl": pnl % r,
            "holds_position": int(any(new.sizes)) if holds_position is None else holds_position,
        },
        "state": old,
        "new_salt": new.salt,
        "funding_paid": list(funding_paid),
    }


def funding_of(size: int, step: int) -> int:
    """The reference funding: b dF / 10^6 rounded up, computed exactly with fractions."""
    return math.ceil(Fraction(size * step, 10**6))


def settled(old: AccountState, prices: list[int], funding_steps: list[int] | None = None,
            expires: list[int] | None = None, **changes: Any) -> tuple[AccountState, int]:
    """The honest settlement (pnl with funding, c += pnl, k = b*P; an expired market closed: b = k = 0)
    without checks; ``changes`` override."""
    steps = [0] * len(prices) if funding_steps is None else funding_steps
    closing = [0] * len(prices) if expires is None else expires
    pnl = sum(b * p - k - funding_of(b, step) for b, k, p, step in zip(old.sizes, old.costs, prices, steps))
    changes.setdefault("collateral", old.collateral + pnl)
    changes.setdefault("sizes", tuple(0 if e else b for b, e in zip(old.sizes, closing)))
    changes.setdefault("costs", tuple(0 if e else b * p for b, p, e in zip(old.sizes, prices, closing)))
    changes.setdefault("epoch", old.epoch + 1)
    return successor(old, **changes), pnl


def assert_only_fails_at(cs: ConstraintSystem, *fragments: str) -> list[str]:
    """The witness breaks at least one constraint, and every broken one is named by a fragment.

    This pins a cheat to the constraint that must stop it: were that constraint removed, the
    cheating witness would satisfy everything that is left.
    """
    labels = failing_labels(cs)
    assert labels, "the cheating witness satisfies every constraint"
    assert cs.first_unsatisfied() is not None
    stray = [label for label in labels if not any(f in label for f in fragments)]
    assert not stray, f"the cheat also breaks unrelated constraints: {stray[:5]}"
    return labels
