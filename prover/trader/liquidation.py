"""The trader's check of a liquidation's successor state, before its CLI adopts it.

After a liquidation the service writes the account's next state itself (docs/protocol.md §11–12)
and shows its opening to the owner (``GET /accounts/{id}``: ``liquidation.successor_state``).
The state file adopts it only if it is a state the close-out rules produce from the trader's own
state, as far as that can be checked here:

- it is this account's liquidation of *this* state: the request pins the state file's commitment;
- the successor's commitment is the account's current one and the close-out record's;
- same account and markets, nonce + 1, a salt other than the old state's;
- the prices are the state's epoch's public mark prices (or its settlement prices once closed);
- every closed size is ``ceil(|b|·step / 10^6)`` of the position with its sign (sizes only move
  toward zero); a partial close-out leaves ``b - q``, ``k - q·P`` and collateral less the penalty,
  in the same epoch; a full one leaves a flat state with ``max(0, E - penalty)`` in epoch + 1;
- the penalty is what the service's published rate gives (``GET /config``
  ``liquidation_penalty_rate``), capped as documented, and the step is the least that restores
  initial margin at that rate. Against a service that does not publish its rate, some rate in
  [0, 100 %] must give the penalty, and the step must lie between the least steps of the
  smallest and the largest rate that do.

In portfolio mode (``portfolio=PortfolioTerms``) the trader recomputes the whole close-out from its
own state and the epoch's checked risk record (``prover.trader.portfolio``) at the published
penalty rate and initial-margin factor (``GET /config``): the record must name the portfolio rule,
trade at the record's marks (or the epoch's settlement prices once it closed), close exactly the
sizes of ``plan_portfolio_closeout`` (a missed settlement: everything), and charge its penalty
``ceil(rate R(q) / 10^6)``; the successor must be that plan's. A service that does not publish its
rate and factor cannot be checked in portfolio mode: its successor is refused.

What cannot be checked here: that the salt is random (only that it is new: the service chose it and knows it, so
the operator knows this state until the trader's next transition moves to a salt of its own); the
backstop's side and the loss waterfall (other accounts' figures, checked by ``ledger verify``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from circuits.inputs import state_from_json
from circuits.protocol.closeout import (
    STEP_SCALE,
    CloseoutError,
    CloseoutPlan,
    PortfolioRule,
    UnclosablePositionError,
    plan_at_step,
    plan_closeout,
    restores_initial_margin,
)
from circuits.protocol.risk.scenarios import RiskArray
from circuits.protocol.liquidation import KNOWN_STATE_CIRCUIT
from circuits.state import RATE_SCALE, AccountState, BoundError
from zkmargin.errors import MalformedInputError, ZkMarginError


class SuccessorRefusedError(ZkMarginError):
    """The service's successor state is not one the close-out rules produce from ours: not adopted."""


@dataclass(frozen=True)
class Rates:
    maintenance: tuple[int, ...]
    initial: tuple[int, ...]


@dataclass(frozen=True)
class PortfolioTerms:
    """What a portfolio close-out is recomputed from: the old state's epoch's checked risk arrays,
    the price vectors it may trade at (the arrays' marks, and the settlement prices once the epoch
    closed) and the service's published initial-margin factor (None: not published)."""

    arrays: tuple[RiskArray, ...]
    prices: tuple[tuple[int, ...], ...]
    factor: int | None


@dataclass(frozen=True)
class CheckedSuccessor:
    """A successor that passed every local check, and the public facts the trader is told."""

    liquidation_id: int
    reason: str
    old: AccountState
    successor: AccountState
    plan: CloseoutPlan
    penalty_rates: tuple[int, int]  # the smallest and largest rate (millionths) explaining the penalty
    opened_by: str = "the guardians"  # or, for a state an earlier close-out wrote, the service's record


def _refuse(liquidation_id: int, why: str) -> SuccessorRefusedError:
    return SuccessorRefusedError(f"the successor state of liquidation {liquidation_id} is refused: {why}; "
                                 "the state file is unchanged (tell the operator)")


def _integers(values: Any, what: str, liquidation_id: int) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in values)
    except (TypeError, ValueError):
        raise _refuse(liquidation_id, f"the close-out record's {what} are not integers") from None


def check_successor(*, liquidation: dict[str, Any], successor_json: Any, old_states: Sequence[AccountState],
                    current_commitment: int, epoch_prices: Sequence[Sequence[int]], rates: Rates,
                    curve: str, penalty_rate: int | None = None,
                    portfolio: PortfolioTerms | None = None) -> CheckedSuccessor:
    """The successor, checked against ``old_states`` (the state file's and its pending one: the one the
    liquidation pinned is the old state). ``epoch_prices``: the old state's epoch's public price vectors
    (marks, and settlement prices once closed); in portfolio mode ``portfolio``'s vectors replace them.
    Raises SuccessorRefusedError naming the failed check."""
    lid = int(liquidation["id"])
    request, closeout = liquidation.get("request") or {}, liquidation.get("closeout")
    if liquidation.get("status") != "closed" or not isinstance(closeout, dict):
        raise _refuse(lid, f"the liquidation is {liquidation.get('status')}, not closed")
    pinned = [s for s in old_states if str(s.commitment(curve)) == str(request.get("commitment"))]
    if not pinned:
        raise _refuse(lid, "it liquidated a commitment that is not this state file's")
    old = pinned[0]
    try:
        successor = state_from_json(successor_json, "successor_state")
        successor.validate(curve)
    except (MalformedInputError, BoundError, TypeError, AttributeError) as exc:
        raise _refuse(lid, f"it is not a valid state ({exc})") from None
    commitment = successor.commitment(curve)
    if commitment != current_commitment:
        raise _refuse(lid, "its commitment is not the account's current commitment at the service")
    if str(commitment) != str(closeout.get("successor_commitment")):
        raise _refuse(lid, "its commitment is not the one the close-out record names")
    if (successor.account_id, successor.markets, successor.nonce) != (old.account_id, old.markets, old.nonce + 1):
        raise _refuse(lid, "it is not the next state of this account (account, markets and nonce + 1)")
    if successor.salt == old.salt:
        raise _refuse(lid, "its salt is the old state's, not a fresh one")
    prices = _integers(closeout.get("prices") or [], "prices", lid)
    allowed = epoch_prices if portfolio is None else portfolio.prices
    if not any(tuple(vector) == prices for vector in allowed):
        kind = "risk record's marks" if portfolio is not None else "public mark"
        raise _refuse(lid, f"its prices {list(prices)} are not epoch {old.epoch}'s {kind} or settlement prices")
    reason = str(request.get("reason", ""))
    if portfolio is not None:
        plan = _reproduced_portfolio_plan(lid, old, successor, closeout, prices, portfolio, curve, reason,
                                          penalty_rate)
        penalty_rates = (penalty_rate or 0, penalty_rate or 0)
    else:
        plan, penalty_rates = _reproduced_plan(lid, old, successor, closeout, prices, rates, curve, reason,
                                               penalty_rate)
    circuit = str(request.get("circuit", ""))
    opened_by = (f"the service's record of liquidation {circuit.removeprefix(KNOWN_STATE_CIRCUIT)}"
                 if circuit.startswith(KNOWN_STATE_CIRCUIT) else "the guardians")
    return CheckedSuccessor(lid, str(request.get("reason", "")), old, successor, plan, penalty_rates, opened_by)


def _reproduced_plan(lid: int, old: AccountState, successor: AccountState, closeout: dict[str, Any],
                     prices: tuple[int, ...], rates: Rates, curve: str, reason: str,
                     published_rate: int | None) -> tuple[CloseoutPlan, tuple[int, int]]:
    """The close-out recomputed from our state at the record's step, with a penalty rate that explains
    its penalty; the successor must be exactly that plan's (a full close-out's moved to epoch + 1)."""
    step, penalty = int(closeout.get("step", -1)), int(closeout.get("penalty", -1))
    closed = _integers(closeout.get("closed") or [], "closed sizes", lid)
    if not 0 <= step <= STEP_SCALE:
        raise _refuse(lid, f"its step {step} is outside [0, {STEP_SCALE}]")

    def at(rate: int, at_step: int = step) -> CloseoutPlan:
        return plan_at_step(old, prices, rates.maintenance, rates.initial, rate, at_step, salt=successor.salt,
                            curve=curve)
    try:
        plan = at(0)
        if plan.closed != closed:
            raise _refuse(lid, f"the closed sizes {list(closed)} are not {step} millionths of the positions "
                               f"{list(old.sizes)} (each rounded up, toward zero)")
        low = _least_rate(lambda r: at(r).penalty >= penalty)
        high = _least_rate(lambda r: at(r).penalty > penalty) - 1
        if low > high:
            raise _refuse(lid, f"no penalty rate of at most 100 % gives its penalty {penalty}")
        if published_rate is not None:  # the service publishes its rate (GET /config): the check is exact
            if not low <= published_rate <= high:
                raise _refuse(lid, f"its penalty {penalty} is not the published rate's ({published_rate} millionths "
                                   f"gives {at(published_rate).penalty})")
            low = high = published_rate
        plan = at(low)
        # a full close-out is booked as the state's settlement of its epoch: the successor moves on
        expected = replace(plan.successor, epoch=plan.successor.epoch + 1) if plan.full else plan.successor
        if successor != expected:
            raise _refuse(lid, "it is not the state the close-out's arithmetic gives from ours (sizes, cost bases, "
                               "collateral or epoch differ)")
        _check_least_step(lid, old, prices, rates, successor.salt, curve, step, (low, high), plan, reason)
    except CloseoutError as exc:
        raise _refuse(lid, f"its close-out cannot be recomputed ({exc})") from None
    return plan, (low, high)


def _reproduced_portfolio_plan(lid: int, old: AccountState, successor: AccountState, closeout: dict[str, Any],
                               prices: tuple[int, ...], terms: PortfolioTerms, curve: str, reason: str,
                               penalty_rate: int | None) -> CloseoutPlan:
    """The portfolio rule's close-out recomputed from our state; the record and the successor must be it."""
    if penalty_rate is None or terms.factor is None:
        raise _refuse(lid, "the service does not publish its penalty rate and initial-margin factor (GET /config), "
                           "so a portfolio close-out cannot be recomputed")
    if closeout.get("rule") != "portfolio":
        raise _refuse(lid, f"it was closed out by the {closeout.get('rule', 'flat')} rule, but the service margins "
                           "by portfolio")
    try:
        rule = PortfolioRule(terms.arrays, prices, terms.factor)
        plan = rule.plan(old, penalty_rate, salt=successor.salt, full=reason == "settlement", curve=curve)
    except UnclosablePositionError as exc:
        raise _refuse(lid, f"the portfolio rule's close-out cannot be made ({exc})") from None
    except CloseoutError as exc:
        raise _refuse(lid, f"its close-out cannot be recomputed ({exc})") from None
    closed = _integers(closeout.get("closed") or [], "closed sizes", lid)
    if closed != plan.closed:
        why = "a missed settlement closes out everything" if reason == "settlement" else \
            f"the cheapest least move that restores initial margin (instruments {list(plan.order)})"
        raise _refuse(lid, f"the closed sizes {list(closed)} are not the portfolio rule's {list(plan.closed)}: {why}")
    penalty = _integers([closeout.get("penalty", -1)], "penalty", lid)[0]
    if penalty != plan.penalty:
        raise _refuse(lid, f"its penalty {penalty} is not the published rate's {plan.penalty} (ceil({penalty_rate} x "
                           f"the closed sizes' portfolio requirement {plan.closed_requirement} / 10^6), capped)")
    expected = replace(plan.successor, epoch=plan.successor.epoch + 1) if plan.full else plan.successor
    if successor != expected:
        raise _refuse(lid, "it is not the state the portfolio close-out's arithmetic gives from ours (sizes, cost "
                           "bases, collateral or epoch differ)")
    return plan


def _least_rate(passes: Callable[[int], bool]) -> int:
    """The least rate in [0, RATE_SCALE] for which the monotone ``passes`` holds (RATE_SCALE + 1: none)."""
    failing, passing = -1, RATE_SCALE + 1
    while passing - failing > 1:
        middle = (failing + passing) // 2
        if passes(middle):
            passing = middle
        else:
            failing = middle
    return passing


def _check_least_step(lid: int, old: AccountState, prices: tuple[int, ...], rates: Rates, salt: int, curve: str,
                      step: int, penalty_rates: tuple[int, int], plan: CloseoutPlan, reason: str) -> None:
    """A partial close-out restores initial margin and takes no more than the rule's least step; a full
    one is due (the least step at the smallest explaining rate is all of it, or nothing restores). A
    missed settlement is always closed out in full (docs/protocol.md §12)."""
    if reason == "settlement":
        if not plan.full:
            raise _refuse(lid, "a missed settlement is closed out in full, and this close-out is partial")
        return
    if not plan.full and not restores_initial_margin(plan, rates.initial):
        raise _refuse(lid, "the partial close-out leaves the account below initial margin")
    def least_plan(rate: int) -> CloseoutPlan:
        return plan_closeout(old, prices, rates.maintenance, rates.initial, rate, salt=salt, curve=curve)
    if plan.full:
        # a larger rate only makes closing everything more necessary: the largest explaining one decides
        if not least_plan(penalty_rates[1]).full:
            raise _refuse(lid, "it closed everything although a partial close-out restores initial margin")
        return
    least = [least_plan(rate).step for rate in penalty_rates]
    if not least[0] <= step <= least[1]:
        raise _refuse(lid, f"it closed {step} millionths of every position; the rule's least step is "
                           f"{least[0]}" + (f" to {least[1]}" if least[1] != least[0] else ""))


def explanation(checked: CheckedSuccessor, market_name: Callable[[int], str], backup: str) -> str:
    """One paragraph: why the state changed, what was closed at which price, the penalty, collateral now."""
    plan, successor = checked.plan, checked.successor
    closed = [f"{market_name(m)} {q:+d} of {b:+d} at {p}" for m, (q, b, p) in
              enumerate(zip(plan.closed, checked.old.sizes, plan.prices)) if q]
    what = "; ".join(closed) if closed else "no position"
    kind = "fully closed out (the account is flat now)" if plan.full else f"partly closed out ({plan.step} " \
        "millionths of every position, the least that restores initial margin)"
    if plan.rule == "portfolio" and not plan.full:
        kind = "partly closed out (under the portfolio rule, the least that restores portfolio initial margin)"
    pnl = f", realized pnl {plan.realized_pnl} booked as its settlement of epoch {checked.old.epoch}" \
        if plan.full else ""
    return (f"Liquidation {checked.liquidation_id} ({checked.reason}): {checked.opened_by} opened this account's state "
            f"and the service {kind}. Closed to the backstop at the mark: {what}. Penalty {plan.penalty} to the "
            f"insurance fund{pnl}. Collateral now {successor.collateral} (was {checked.old.collateral}); the state "
            f"file adopted the service's successor state (nonce {successor.nonce}, epoch {successor.epoch}) after "
            f"checking it against the close-out rules; the previous state is kept in {backup}. The service knows "
            "this state's salt until your next transition replaces it.")
