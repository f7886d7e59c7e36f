"""The trader's check of a liquidation's successor (prover/trader/liquidation.py): a close-out the
service computed by the rules checks out, partial or full; each way a successor or its record can
depart from the rules is refused, naming the check. Pure arithmetic, no service."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from circuits.inputs import state_to_json
from circuits.protocol.closeout import CloseoutPlan, plan_at_step, plan_closeout
from circuits.state import AccountState, fresh_salt
from prover.trader.liquidation import Rates, SuccessorRefusedError, check_successor, explanation

CURVE = "bls12381"
MARKS = (45_000, 3_000)
RATES = Rates(maintenance=(50_000, 50_000), initial=(100_000, 100_000))
PENALTY_RATE = 200_000  # the service's default, published at GET /config
# 10 long at cost 450_000 with 10_000 collateral: equity 10_000, below maintenance (22_500)
CALLED = AccountState(9, 4, 1234567, 10_000, (10, -20), (450_000, -60_000), 2)
BANKRUPT = AccountState(9, 4, 1234567, 60_000, (10, 0), (500_000, 0), 2)


def planned(old: AccountState, *, step: int | None = None, rate: int = PENALTY_RATE) -> CloseoutPlan:
    salt = fresh_salt(CURVE)
    if step is None:
        return plan_closeout(old, MARKS, RATES.maintenance, RATES.initial, rate, salt=salt, curve=CURVE)
    return plan_at_step(old, MARKS, RATES.maintenance, RATES.initial, rate, step, salt=salt, curve=CURVE)


def served(plan: CloseoutPlan, successor: AccountState | None = None) -> dict[str, Any]:
    """What the service writes for ``plan``: the successor (a full close-out's in the next epoch) and
    the liquidation's record."""
    if successor is None:
        successor = replace(plan.successor, epoch=plan.successor.epoch + 1) if plan.full else plan.successor
    closeout = {**plan.to_json(), "successor_commitment": str(successor.commitment(CURVE))}
    closeout.pop("successor")
    record = {"id": 7, "status": "closed", "closeout": closeout,
              "request": {"reason": "margin_call", "commitment": str(plan.state.commitment(CURVE))}}
    return {"liquidation": record, "successor_json": state_to_json(successor), "old_states": [plan.state],
            "current_commitment": successor.commitment(CURVE), "epoch_prices": [MARKS], "rates": RATES,
            "curve": CURVE}


def refused(arguments: dict[str, Any], *words: str) -> str:
    with pytest.raises(SuccessorRefusedError) as caught:
        check_successor(**arguments)
    message = str(caught.value)
    assert message.startswith("the successor state of liquidation 7 is refused: ")
    assert message.endswith("the state file is unchanged (tell the operator)")
    for word in words:
        assert word in message, message
    return message


def test_a_partial_close_out_by_the_rules_checks_out_and_is_explained():
    plan = planned(CALLED)
    assert not plan.full and 0 < plan.step < 1_000_000
    checked = check_successor(**served(plan))
    assert checked.successor == plan.successor and checked.plan.penalty == plan.penalty > 0
    low, high = checked.penalty_rates
    assert low <= PENALTY_RATE <= high
    said = explanation(checked, lambda m: ("BTC-USD", "ETH-USD")[m], "state.json.before-liquidation-7")
    assert said.startswith("Liquidation 7 (margin_call): ") and "partly closed out" in said
    assert f"BTC-USD +{plan.closed[0]} of +10 at 45000" in said and f"ETH-USD {plan.closed[1]} of -20 at 3000" in said
    assert f"Penalty {plan.penalty} to the insurance fund" in said and f"Collateral now {plan.successor.collateral}" \
        in said and "state.json.before-liquidation-7" in said


def test_a_full_close_out_of_a_bankrupt_state_checks_out_with_the_successor_in_the_next_epoch():
    prices = (40_000, 3_000)
    plan = plan_closeout(BANKRUPT, prices, RATES.maintenance, RATES.initial, PENALTY_RATE,
                         salt=fresh_salt(CURVE), curve=CURVE)
    assert plan.full and plan.shortfall == 40_000
    arguments = served(plan) | {"epoch_prices": [MARKS, prices]}
    checked = check_successor(**arguments)
    assert checked.successor.is_flat and checked.successor.epoch == BANKRUPT.epoch + 1
    # the same successor left in the old epoch is not the arithmetic's
    stale = served(plan, replace(plan.successor)) | {"epoch_prices": [prices]}
    refused(stale, "not the state the close-out's arithmetic gives from ours")


def test_a_successor_whose_commitment_is_not_the_accounts_current_one_is_refused():
    arguments = served(planned(CALLED))
    refused(arguments | {"current_commitment": arguments["current_commitment"] + 1},
            "not the account's current commitment")
    record = arguments["liquidation"]
    other = {**record, "closeout": {**record["closeout"], "successor_commitment": "5"}}
    refused(arguments | {"liquidation": other}, "not the one the close-out record names")


def test_a_liquidation_of_another_commitment_than_this_state_files_is_refused():
    arguments = served(planned(CALLED))
    refused(arguments | {"old_states": [replace(CALLED, salt=99)]}, "not this state file's")


def test_a_successor_keeping_the_old_salt_or_skipping_a_nonce_is_refused():
    plan = planned(CALLED)
    refused(served(plan, replace(plan.successor, salt=CALLED.salt)), "its salt is the old state's")
    refused(served(plan, replace(plan.successor, nonce=CALLED.nonce + 2)), "nonce + 1")


def test_prices_other_than_the_epochs_public_ones_are_refused():
    refused(served(planned(CALLED)) | {"epoch_prices": [(46_000, 3_000)]}, "are not epoch 2's public mark")


def test_closed_sizes_that_are_not_the_steps_share_of_every_position_are_refused():
    arguments = served(planned(CALLED))
    record = arguments["liquidation"]
    one_market = {**record, "closeout": {**record["closeout"], "closed": [record["closeout"]["closed"][0], "0"]}}
    refused(arguments | {"liquidation": one_market}, "are not", "millionths of the positions [10, -20]")


def test_a_penalty_no_rate_of_at_most_100_percent_gives_is_refused():
    plan = planned(CALLED, step=100_000)  # 1 and -2 closed: at 100 % the penalty would be 2550
    assert planned(CALLED, step=100_000, rate=1_000_000).penalty == 2_550
    greedy = replace(plan.successor, collateral=CALLED.collateral - 3_000)
    arguments = served(plan, greedy)
    record = arguments["liquidation"]
    arguments["liquidation"] = {**record, "closeout": {**record["closeout"], "penalty": "3000"}}
    refused(arguments, "no penalty rate of at most 100 % gives its penalty 3000")


def test_a_collateral_other_than_the_arithmetics_is_refused():
    plan = planned(CALLED)
    refused(served(plan, replace(plan.successor, collateral=plan.successor.collateral - 1)),
            "not the state the close-out's arithmetic gives from ours")


def test_closing_more_than_the_least_step_is_refused():
    least = planned(CALLED)
    greedy = planned(CALLED, step=least.step + 50_000)
    refused(served(greedy), f"it closed {greedy.step} millionths", "the rule's least step is")


def test_a_full_close_out_where_a_partial_one_restores_margin_is_refused():
    assert not planned(CALLED).full
    refused(served(planned(CALLED, step=1_000_000)), "closed everything although a partial close-out")


def test_a_liquidation_not_closed_is_refused():
    arguments = served(planned(CALLED))
    refused(arguments | {"liquidation": {**arguments["liquidation"], "status": "requested"}}, "requested, not closed")


def test_status_names_a_frozen_a_failed_and_a_closed_liquidation():
    from prover.trader.cli import _liquidation_line

    base = {"id": 3, "reason": "margin_call", "epoch_id": 2, "shares": 1, "threshold": 2}
    frozen = _liquidation_line(base | {"status": "requested", "frozen": True})
    assert frozen.startswith("#3 (margin_call, epoch 2): FROZEN, waiting for the guardians: 1 of 2 shares")
    failed = _liquidation_line(base | {"status": "failed", "frozen": False, "failure": "a broken escrow"})
    assert "FAILED (a broken escrow); the account stays frozen" in failed
    closed = _liquidation_line(base | {"status": "closed", "frozen": False, "closed_at": "2026-12-03T22:00:00+00:00",
                                       "adopted": False, "closeout": {"full": False, "step": 864_000,
                                                                      "closed": ["9", "0"], "prices": ["45000", "3000"],
                                                                      "penalty": "4050"}})
    assert ("LIQUIDATED at 2026-12-03T22:00:00+00:00: partly closed out (864000 millionths), closed 9 at 45000, "
            "penalty 4050; successor NOT adopted") in closed


def test_a_penalty_that_is_not_the_published_rate_s_is_refused_though_another_rate_explains_it():
    plan = planned(CALLED, rate=300_000)  # a service charging 30 % while it publishes 20 %
    arguments = served(plan)
    assert check_successor(**arguments).penalty_rates[0] <= 300_000  # some rate explains it...
    refused({**arguments, "penalty_rate": PENALTY_RATE}, "is not the published rate's")  # ...but not the published one
    checked = check_successor(**{**served(planned(CALLED)), "penalty_rate": PENALTY_RATE})
    assert checked.penalty_rates == (PENALTY_RATE, PENALTY_RATE)
