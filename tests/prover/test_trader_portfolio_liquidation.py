"""The trader's check of a portfolio-mode close-out (prover/trader/liquidation.py, ``portfolio=``):
the trader recomputes the close-out from its own state and the checked risk record, accepts the
honest successor and refuses a tampered one, naming why. Pure arithmetic, no service."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from circuits.inputs import state_to_json
from circuits.protocol.closeout import STEP_SCALE, CloseoutPlan, PortfolioRule, plan_portfolio_at_step, risk_marks
from circuits.protocol.risk import Future, MarketInputs, Option, OptionRight, epoch_risk_arrays
from circuits.protocol.risk.scenarios import portfolio_risk
from circuits.state import AccountState, fresh_salt
from prover.trader.liquidation import PortfolioTerms, Rates, SuccessorRefusedError, check_successor, explanation

CURVE = "bls12381"
NOW = 1_700_000_000
DAY = 86_400
PENALTY_RATE = 200_000
FACTOR = 1_250_000
ARRAYS = epoch_risk_arrays(2, (Future(0, perpetual=True), Option(0, OptionRight.CALL, 40_000, NOW + 30 * DAY),
                               Option(0, OptionRight.CALL, 60_000, NOW + 30 * DAY)),
                           {0: MarketInputs(60_000, 600_000)}, NOW).arrays
MARKS = risk_marks(ARRAYS)  # (60 000, 20 025, 4 112)
ORACLE = (60_000, 55_000, 61_000)  # the oracle's prices of the three market indices: not what options trade at
RULE = PortfolioRule(ARRAYS, MARKS, FACTOR)
RATES = Rates(maintenance=(50_000,) * 3, initial=(100_000,) * 3)
# long 10 perpetuals, short 10 in-the-money and 5 at-the-money calls, bought at the marks, 40 000 of collateral
CALLED = AccountState(9, 4, 1234567, 40_000, (10, -10, -5), (600_000, -200_250, -20_560), 2)


def planned(*, full: bool = False) -> CloseoutPlan:
    return RULE.plan(CALLED, PENALTY_RATE, salt=fresh_salt(CURVE), full=full, curve=CURVE)


def served(plan: CloseoutPlan, successor: AccountState | None = None, reason: str = "margin_call",
           **closeout_changes: Any) -> dict[str, Any]:
    """What the service writes for ``plan``, and what the trader checks it against."""
    if successor is None:
        successor = replace(plan.successor, epoch=plan.successor.epoch + 1) if plan.full else plan.successor
    closeout = {**plan.to_json(), "successor_commitment": str(successor.commitment(CURVE)), **closeout_changes}
    closeout.pop("successor")
    record = {"id": 7, "status": "closed", "closeout": closeout,
              "request": {"reason": reason, "commitment": str(plan.state.commitment(CURVE))}}
    return {"liquidation": record, "successor_json": state_to_json(successor), "old_states": [plan.state],
            "current_commitment": successor.commitment(CURVE), "epoch_prices": [ORACLE], "rates": RATES,
            "curve": CURVE, "penalty_rate": PENALTY_RATE,
            "portfolio": PortfolioTerms(ARRAYS, (MARKS,), FACTOR)}


def refused(arguments: dict[str, Any], *words: str) -> str:
    with pytest.raises(SuccessorRefusedError) as caught:
        check_successor(**arguments)
    message = str(caught.value)
    assert message.startswith("the successor state of liquidation 7 is refused: ")
    for word in words:
        assert word in message, message
    return message


def test_an_honest_partial_portfolio_close_out_is_accepted_and_explained():
    plan = planned()
    assert (plan.closed, plan.order, plan.full) == ((0, 0, -2), (2,), False)
    checked = check_successor(**served(plan))
    assert checked.successor == plan.successor and checked.plan.closed == (0, 0, -2)
    assert checked.penalty_rates == (PENALTY_RATE, PENALTY_RATE)
    said = explanation(checked, lambda m: ("BTC-PERP", "C40", "C60")[m], "state.json.before-liquidation-7")
    assert "under the portfolio rule" in said and "C60 -2 of -5 at 4112" in said


def test_a_missed_settlement_closed_out_in_full_is_accepted_in_the_next_epoch():
    plan = planned(full=True)
    checked = check_successor(**served(plan, reason="settlement"))
    assert checked.successor.is_flat and checked.successor.epoch == CALLED.epoch + 1


def test_closing_more_than_the_rule_is_refused_naming_the_rules_sizes():
    more = plan_portfolio_at_step(CALLED, RULE, PENALTY_RATE, STEP_SCALE, salt=fresh_salt(CURVE), curve=CURVE)
    refused(served(more), "the closed sizes [10, -10, -5] are not the portfolio rule's [0, 0, -2]",
            "the cheapest least move that restores initial margin (instruments [2])")


def test_a_penalty_other_than_the_published_rates_is_refused():
    plan = planned()
    heavier = replace(plan, penalty=plan.penalty + 1)
    refused(served(heavier, plan.successor), f"its penalty {plan.penalty + 1} is not the published rate's "
                                             f"{plan.penalty}", "portfolio requirement")


def test_a_successor_with_other_arithmetic_is_refused():
    plan = planned()
    richer = replace(plan.successor, collateral=plan.successor.collateral - 1)
    refused(served(plan, richer), "not the state the portfolio close-out's arithmetic gives from ours")


def test_a_flat_close_out_in_portfolio_mode_is_refused():
    plan = planned()
    arguments = served(plan)
    arguments["liquidation"]["closeout"].pop("rule")
    refused(arguments, "closed out by the flat rule, but the service margins by portfolio")


def test_prices_other_than_the_risk_records_marks_are_refused():
    plan = planned()
    arguments = served(plan, prices=[str(p) for p in ORACLE])
    refused(arguments, "its prices [60000, 55000, 61000] are not epoch 2's risk record's marks")


def test_a_service_that_does_not_publish_its_rate_cannot_be_checked():
    plan = planned()
    refused(served(plan) | {"penalty_rate": None}, "does not publish its penalty rate and initial-margin factor")
    unpublished = PortfolioTerms(ARRAYS, (MARKS,), None)
    refused(served(plan) | {"portfolio": unpublished}, "does not publish")


# --- the trader library: the close-out recomputed from the epoch's checked risk record ----------

def _simulated_adoption(tmp_path, *, tamper: bool):
    """A TraderAccount whose state was closed out by a portfolio-mode service (simulated in process,
    tests/prover/test_trader_portfolio.py's routes), the service's successor honest or not."""
    from tests.prover.portfolio_books import book_state
    from tests.prover.test_trader_portfolio import RISK, PortfolioService, config_json, epoch_json, trader

    requirement = portfolio_risk(RISK.arrays, (10, -10)).initial_requirement(FACTOR)
    old = book_state((10, -10), requirement // 2, RISK)  # long 10 BTC, short 10 calls struck at 40 000
    config = {**config_json("portfolio"), "liquidation_penalty_rate": PENALTY_RATE,
              "portfolio_initial_factor": FACTOR}
    rule = PortfolioRule(RISK.arrays, risk_marks(RISK.arrays), FACTOR)
    plan = rule.plan(old, PENALTY_RATE, salt=fresh_salt(CURVE), curve=CURVE)
    successor = replace(plan.successor, collateral=plan.successor.collateral + 1) if tamper else plan.successor
    service = PortfolioService(old)
    closeout = {**plan.to_json(), "successor_commitment": str(successor.commitment(CURVE))}
    closeout.pop("successor")
    record = {"id": 7, "account_id": old.account_id, "status": "closed", "signature": "00" * 64, "escrow": None,
              "proof": None, "shares": [], "threshold": 2, "revealed_state": state_to_json(old), "closeout": closeout,
              "request": {"reason": "margin_call", "commitment": str(old.commitment(CURVE)), "circuit": "margin"}}
    view = service.routes[f"/accounts/{old.account_id}"]
    view.update(current_commitment=str(successor.commitment(CURVE)), sequence=4, liquidation={
        "id": 7, "status": "closed", "reason": "margin_call", "epoch_id": old.epoch,
        "requested_at": "2026-01-01T00:00:00Z", "closed_at": "2026-01-01T00:01:00Z",
        "successor_state": state_to_json(successor)})
    service.routes.update({"/config": config, "/liquidations/7": record, f"/epochs/{old.epoch}": epoch_json()})
    account = trader(tmp_path, old, service)
    account.passphrase = "pass"
    return account, plan


def test_the_trader_library_adopts_the_portfolio_close_out_it_recomputes(tmp_path):
    account, plan = _simulated_adoption(tmp_path, tamper=False)
    assert plan.closed != (0, 0) and not plan.full
    adopted = account.reconcile()
    assert adopted is not None and adopted.data["adopted_liquidation_successor"]["closed"] == [
        str(q) for q in plan.closed]
    assert account.wallet.state == plan.successor and "under the portfolio rule" in adopted.summary


def test_the_trader_library_refuses_a_tampered_portfolio_successor(tmp_path):
    account, plan = _simulated_adoption(tmp_path, tamper=True)
    with pytest.raises(SuccessorRefusedError, match="not the state the portfolio close-out's arithmetic gives"):
        account.reconcile()
    assert account.wallet.state == plan.state  # the state file is unchanged
