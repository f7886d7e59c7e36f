"""A default declared while a liquidation collects its shares ends the liquidation (SQLite and
PostgreSQL, escrowed states planted without proofs): found by the clearing property test with
liquidations (tests/verifier/test_clearing_properties.py,
``test_a_late_tth_share_after_the_operator_declared_the_account_in_default``)."""

from __future__ import annotations

from sqlalchemy import select

from tests.verifier.liquidation_helpers import PRICES, margin_called
from verifier.db.ledger import verify_ledger
from verifier.db.models import Settlement


def test_a_default_declared_between_the_shares_ends_the_liquidation(scenario, clock):
    """Before the fix the second share closed the account out in full after its default: a
    settlement of the epoch it defaulted on (two outcomes for one account and epoch)."""
    trader, state = margin_called(scenario, clock, costs=(15_000, 0))  # bankrupt at the marks
    liquidation = scenario.request(trader.account_id)
    scenario.post_share(liquidation["id"], scenario.share(liquidation, 1))
    scenario.api.close_epoch(scenario.epoch_id, PRICES)
    clock.advance(2 * 3600)  # past the settlement deadline
    default = scenario.api.client.post(f"/epochs/{scenario.epoch_id}/defaults", headers=scenario.api.operator,
                                       json={"account_id": trader.account_id, "reason": "no settlement"})
    scenario.api.expect(default, 201)
    ended = scenario.api.expect(scenario.api.client.get(f"/liquidations/{liquidation['id']}"), 200)
    assert ended["status"] == "failed" and "declared in default" in ended["failure"]
    late = scenario.post_share(liquidation["id"], scenario.share(liquidation, 2), 409)
    assert late["code"] == "conflict" and "failed" in late["detail"]
    resumed = scenario.api.expect(scenario.api.client.post(f"/liquidations/{liquidation['id']}/resume",
                                                           headers=scenario.api.operator), 409)
    assert resumed["code"] == "conflict"
    view = scenario.api.expect(scenario.api.client.get(f"/accounts/{trader.account_id}", headers=trader.auth), 200)
    assert view["current_commitment"] == str(state.commitment(scenario.api.settings.curve))
    assert view["liquidation"]["status"] == "failed" and view["liquidation"]["successor_state"] is None
    with scenario.database.reader() as session:
        assert session.scalar(select(Settlement).where(Settlement.account_id == trader.account_id)) is None
        assert verify_ledger(session).ok
    again = scenario.request(trader.account_id, status=409)  # a defaulted account is not liquidated
    assert again["rule"] == "declared_in_default"
