"""Liquidation close-out in portfolio mode through the HTTP API (docs/protocol.md §11 "Portfolio
mode", §12): a margin-called hedged book is closed out at the epoch's risk-record marks by the
portfolio rule, exactly as the trader's check recomputes it; a missed settlement closes out in full
at the settlement prices; an option valued at 0 cannot be closed (409 unclosable_position)."""

from __future__ import annotations

import time
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from circuits.inputs import state_from_json
from circuits.portfolio import risk_arrays_from_json
from circuits.protocol.closeout import PortfolioRule, closed_requirement, plan_portfolio_closeout, risk_marks
from circuits.protocol.fill_delivery import open_fill
from circuits.protocol.vol_report import sign_vol_report
from circuits.state import RATE_SCALE
from prover.trader.liquidation import PortfolioTerms, Rates, check_successor
from tests.verifier.conftest import API_CURVE, API_MARKETS, ServiceHarness
from tests.verifier.liquidation_helpers import (  # noqa: F401 (fixtures)
    BACKSTOP,
    GRACE,
    Scenario,
    clock,
    guardian_run,
    later,
    liquidation_settings,
    open_epoch,
)
from verifier.core.config import MarketConfig, OptionConfig
from verifier.db.engine import Database
from verifier.main import create_app

BTC = 60_000
EXPIRY = int(time.time()) + 30 * 86_400
FUTURE = MarketConfig(name="BTC-USD", maintenance_rate=50_000, initial_rate=100_000)
CALL = MarketConfig(name="BTC-40000-C", maintenance_rate=50_000, initial_rate=100_000,
                    option=OptionConfig(right="call", strike=40_000, expiry=EXPIRY, underlying=0))
FAR_PUT = MarketConfig(name="BTC-20000-P", maintenance_rate=50_000, initial_rate=100_000,
                       option=OptionConfig(right="put", strike=20_000, expiry=EXPIRY, underlying=0))
ORACLE = [BTC, 20_000]  # the option market's oracle price: not what the close-out trades it at


@pytest.fixture
def options_scenario(api_settings, api_escrow_keys, portfolio_key, portfolio_escrow_keys, oracle_private_keys,
                     guardian_run,  # noqa: F811
                     tmp_path, clock, wire_unchanged_by_response_models):  # noqa: F811
    """A portfolio-mode service with guardians and a backstop over BTC and one option on it; the
    epoch opened with a risk record at 60 % volatility."""

    @contextmanager
    def start(option: MarketConfig):
        settings = liquidation_settings(api_settings, guardian_run, tmp_path, liquidation_grace_seconds=GRACE,
                                        markets=(FUTURE, option), margin_mode="portfolio")
        database = Database.connect(settings.database_url)
        with TestClient(create_app(settings)) as client:
            api = ServiceHarness(client, settings, {**api_escrow_keys, "portfolio": portfolio_key,
                                                    **portfolio_escrow_keys}, oracle_private_keys)
            api.group_key = guardian_run.transcript.guardian_set().group_key
            backstop = api.trader().open()
            assert backstop.account_id == BACKSTOP
            now = int(time.time())
            for key in api.oracle_keys:
                api.expect(client.post("/oracle-vol-reports", json=sign_vol_report(key, 0, 600_000, now).to_dict()),
                           201)
            epoch = open_epoch(api, ORACLE, later(10))
            yield Scenario(api, database, guardian_run, backstop, epoch["epoch_id"])
        database.dispose()
    return start


def _arrays(scenario: Scenario):
    record = scenario.api.expect(scenario.api.client.get(f"/epochs/{scenario.epoch_id}/risk"), 200)
    return risk_arrays_from_json(record).arrays


def _hedged_book(scenario: Scenario, collateral: int):
    """Long 10 BTC, short 10 in-the-money calls, entered at the record's marks."""
    marks = risk_marks(_arrays(scenario))
    trader = scenario.open_account()
    sizes = (10, -10)
    state = scenario.put_state(trader, collateral=collateral, sizes=sizes,
                               costs=tuple(b * m for b, m in zip(sizes, marks)))
    return trader, state


def _close(scenario: Scenario, liquidation: dict, status: int = 200) -> dict:
    scenario.post_share(liquidation["id"], scenario.share(liquidation, 1))
    return scenario.post_share(liquidation["id"], scenario.share(liquidation, 2), status)


def _owner_successor(scenario: Scenario, trader) -> tuple[object, int]:
    view = scenario.api.expect(scenario.api.client.get(f"/accounts/{trader.account_id}", headers=trader.auth), 200)
    return state_from_json(view["liquidation"]["successor_state"]), int(view["current_commitment"])


def _trader_checks(scenario: Scenario, closed: dict, state, successor, commitment: int, prices) -> None:
    """The trader's CLI check accepts the service's successor, recomputing it from its own state."""
    settings = scenario.api.settings
    checked = check_successor(
        liquidation=closed, successor_json=scenario.api.expect(scenario.api.client.get(
            f"/accounts/{state.account_id}", headers={"Authorization": f"Bearer {closed['_token']}"}),
            200)["liquidation"]["successor_state"],
        old_states=[state], current_commitment=commitment, epoch_prices=[], curve=API_CURVE,
        rates=Rates((50_000,) * API_MARKETS, (100_000,) * API_MARKETS),
        penalty_rate=settings.liquidation_penalty_rate,
        portfolio=PortfolioTerms(_arrays(scenario), prices, settings.portfolio_initial_factor))
    assert checked.successor == successor


def test_a_margin_called_hedged_book_is_closed_out_by_the_portfolio_rule_at_the_records_marks(
        options_scenario, clock):  # noqa: F811
    with options_scenario(CALL) as scenario:
        arrays = _arrays(scenario)
        marks = risk_marks(arrays)
        trader, state = _hedged_book(scenario, 10_000)  # portfolio initial requirement about 15 800
        clock.advance(10 + GRACE + 1)
        closed = _close(scenario, scenario.request(trader.account_id))
        closeout = closed["closeout"]
        assert closed["status"] == "closed" and closeout["rule"] == "portfolio" and closeout["full"] is False
        assert closeout["prices"] == [str(p) for p in marks] and marks[1] != ORACLE[1]
        successor, commitment = _owner_successor(scenario, trader)
        rule = PortfolioRule(arrays, marks, scenario.api.settings.portfolio_initial_factor)
        expected = plan_portfolio_closeout(state, rule, scenario.api.settings.liquidation_penalty_rate,
                                           salt=successor.salt, curve=API_CURVE)
        assert successor == expected.successor and any(expected.closed)
        assert closeout["closed"] == [str(q) for q in expected.closed] and closeout["order"] == list(expected.order)
        assert int(closeout["penalty"]) == expected.penalty > 0
        fills = scenario.api.expect(scenario.api.client.get(f"/accounts/{BACKSTOP}/fills",
                                                            headers=scenario.backstop.auth), 200)
        opened = [open_fill(bytes.fromhex(f["ciphertext"]), scenario.backstop.keypair.private_key,
                            int(f["fill_commitment"]), API_CURVE, markets=API_MARKETS) for f in fills]
        assert [(f.market, f.size_delta, f.price) for f in opened] == [
            (m, q, marks[m]) for m, q in enumerate(expected.closed) if q]
        _trader_checks(scenario, {**closed, "_token": trader.token}, state, successor, commitment, (marks,))


def test_a_missed_settlement_closes_out_in_full_at_the_settlement_prices(options_scenario, clock):  # noqa: F811
    with options_scenario(CALL) as scenario:
        trader, state = _hedged_book(scenario, 30_000)
        # the call settles at the model's value at the close (docs/protocol.md §10.7), not its oracle price
        settlement = scenario.api.close_epoch(scenario.epoch_id, [61_000, 21_000])["settlement_prices"]
        assert settlement[0] == 61_000 and settlement[1] >= 61_000 - 40_000
        clock.advance(2 * 3600 + 1)  # past the settlement deadline
        closed = _close(scenario, scenario.request(trader.account_id, "settlement"))
        closeout = closed["closeout"]
        assert (closeout["rule"], closeout["full"], closeout["prices"]) == ("portfolio", True,
                                                                            [str(p) for p in settlement])
        requirement = closed_requirement(PortfolioRule(_arrays(scenario), settlement, RATE_SCALE), state.sizes)
        rate = scenario.api.settings.liquidation_penalty_rate
        assert int(closeout["penalty"]) == -(-requirement * rate // RATE_SCALE)
        successor, commitment = _owner_successor(scenario, trader)
        assert successor.is_flat and successor.epoch == state.epoch + 1
        _trader_checks(scenario, {**closed, "_token": trader.token}, state, successor, commitment,
                       (risk_marks(_arrays(scenario)), tuple(settlement)))


def test_an_option_valued_at_zero_cannot_be_closed_out(options_scenario, clock):  # noqa: F811
    with options_scenario(FAR_PUT) as scenario:
        assert risk_marks(_arrays(scenario))[1] == 0
        trader = scenario.open_account()
        scenario.put_state(trader, collateral=1_000, sizes=(0, -10), costs=(0, 0))  # short charge 6 000
        clock.advance(10 + GRACE + 1)
        liquidation = scenario.request(trader.account_id)
        body = _close(scenario, liquidation, 409)
        assert body["code"] == "unclosable_position" and body["market"] == 1 and "price 0" in body["detail"]
        kept = scenario.api.expect(scenario.api.client.get(f"/liquidations/{liquidation['id']}"), 200)
        assert kept["status"] == "requested" and len(kept["shares"]) == 2  # nothing applied; still frozen
