"""An account left partly closed out that fails again: its state is the one the service wrote, with
no escrow, so the service opens it from its own record and no guardian is asked; a missed
settlement closes out in full (docs/protocol.md §12)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from circuits.inputs import state_from_json, state_to_json
from circuits.protocol.errors import LiquidationRefused
from circuits.protocol.liquidation import LiquidationRequest, check_rules, known_state_circuit
from prover.trader.liquidation import Rates, SuccessorRefusedError, check_successor, explanation
from tests.verifier.liquidation_helpers import BACKSTOP, PRICES, Scenario, commitment_kinds, margin_called
from verifier.db.ledger import CLEARING, balance, verify_ledger


def _partly_closed_out(scenario: Scenario, clock) -> tuple:
    trader, state = margin_called(scenario, clock)
    first = scenario.request(trader.account_id)
    scenario.post_share(first["id"], scenario.share(first, 1))
    closed = scenario.post_share(first["id"], scenario.share(first, 2))
    assert closed["status"] == "closed" and closed["closeout"]["full"] is False
    return trader, state, closed


def test_a_service_written_state_is_liquidated_again_without_the_guardians(scenario, clock):
    trader, state, first = _partly_closed_out(scenario, clock)
    scenario.api.close_epoch(scenario.epoch_id, PRICES)
    clock.advance(2 * 3600 + 1)  # past the settlement deadline: the successor never settled
    second = scenario.request(trader.account_id, "settlement")

    request = LiquidationRequest.from_dict(second["request"])
    assert request.circuit == known_state_circuit(first["id"]) and request.escrow_digest == 0
    assert request.public_inputs == (request.commitment,) and second["shares"] == []
    assert second["status"] == "closed" and second["escrow"] is None
    # a missed settlement closes out in full, booked as the account's settlement of the epoch
    assert second["closeout"]["full"] is True
    assert state_from_json(second["revealed_state"]).commitment(scenario.api.settings.curve) == request.commitment
    moved_first, moved_second = int(first["closeout"]["closed"][0]), int(second["closeout"]["closed"][0])
    assert moved_first + moved_second == state.sizes[0]
    owner_view = scenario.api.expect(scenario.api.client.get(f"/accounts/{trader.account_id}",
                                                             headers=trader.auth), 200)
    successor = state_from_json(owner_view["liquidation"]["successor_state"])
    assert successor.sizes == (0, 0) and successor.epoch == scenario.epoch_id + 1
    assert owner_view["holds_position"] is False
    assert commitment_kinds(scenario.database, trader.account_id)[-2:] == ["liquidation", "liquidation"]
    backstop_fills = scenario.api.expect(scenario.api.client.get(f"/accounts/{BACKSTOP}/fills",
                                                                 headers=scenario.backstop.auth), 200)
    assert len(backstop_fills) == 2
    with scenario.database.reader() as session:
        assert verify_ledger(session).ok
        assert balance(session, CLEARING) == -int(second["closeout"]["realized_pnl"])
    _the_trader_checks_both_close_outs_in_turn(scenario, trader, state, first, second)


def _the_trader_checks_both_close_outs_in_turn(scenario: Scenario, trader, state, first: dict, second: dict) -> None:
    """A trader who was silent through both sees only the second's successor; the second's revealed
    state is the first's successor, so the CLI checks the first, then the second, from its own state."""
    curve = scenario.api.settings.curve
    epoch = scenario.api.expect(scenario.api.client.get(f"/epochs/{scenario.epoch_id}"), 200)
    prices = [vector for vector in (epoch["mark_prices"], epoch["settlement_prices"]) if vector]
    rates = Rates(tuple(trader.rates("maintenance")), tuple(trader.rates("initial")))
    middle_commitment = int(second["request"]["commitment"])
    middle = check_successor(liquidation=first, successor_json=second["revealed_state"], old_states=[state],
                             current_commitment=middle_commitment, epoch_prices=prices, rates=rates, curve=curve)
    last = check_successor(liquidation=second, successor_json=state_to_json(successor_of(scenario, trader)),
                           old_states=[middle.successor], current_commitment=int(second["closeout"][
                               "successor_commitment"]), epoch_prices=prices, rates=rates, curve=curve)
    assert last.plan.full and last.successor.sizes == (0, 0)
    assert "the service's record of liquidation" in explanation(last, str, "kept")
    # the trader's side of the rule: a missed settlement closed out only in part is refused
    partial = {**first, "request": {**first["request"], "reason": "settlement"}}
    with pytest.raises(SuccessorRefusedError, match="closed out in full"):
        check_successor(liquidation=partial, successor_json=second["revealed_state"], old_states=[state],
                        current_commitment=middle_commitment, epoch_prices=prices, rates=rates, curve=curve)


def successor_of(scenario: Scenario, trader):
    view = scenario.api.expect(scenario.api.client.get(f"/accounts/{trader.account_id}", headers=trader.auth), 200)
    return state_from_json(view["liquidation"]["successor_state"])


def test_a_request_pinning_a_service_written_state_must_carry_no_escrow_and_name_an_earlier_close_out():
    moment = datetime(2026, 12, 3, 12, tzinfo=UTC)
    honest = dict(liquidation_id=7, account_id=3, reason="settlement", epoch_id=2, deadline=moment,
                  grace_seconds=0, commitment=11, escrow_digest=0, circuit=known_state_circuit(5),
                  public_inputs=(11,), requested_at=moment.replace(hour=13))
    check_rules(LiquidationRequest(**honest), moment.replace(hour=13), 0)
    for cheat in ({"escrow_digest": 12, "public_inputs": (11, 12)},  # an escrow where there is none
                  {"public_inputs": (11, 99)},  # a statement beyond the commitment
                  {"circuit": known_state_circuit(7)},  # not an earlier liquidation
                  {"circuit": "closeout/05"}):  # not a canonical id
        with pytest.raises(LiquidationRefused, match="earlier liquidation|no escrow"):
            check_rules(LiquidationRequest(**(honest | cheat)), moment.replace(hour=13), 0)
