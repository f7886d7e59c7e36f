"""Withdrawals and fills in portfolio mode through the HTTP API (SQLite and PostgreSQL), real proofs.

The service (``options_api``: a BTC perpetual and a call struck at 40 000, portfolio mode, the
default initial factor 1.25x) verifies deposits, withdrawals and fills with portfolio-transfer and
portfolio-fill, building their public inputs from the epoch's stored risk record and its own
factor: a hedged book withdraws down to its initial requirement and not a unit further, a
withdrawal or a fill proven at another factor or over other arrays is rejected, and the keys it
announces are the portfolio variants' (docs/protocol.md §10.6).
"""

from __future__ import annotations

import time

import pytest

from circuits import get_circuit
from circuits.portfolio_transitions import PortfolioTransfer
from circuits.protocol.fill_delivery import open_fill
from circuits.protocol.risk import MarketInputs, epoch_risk_arrays
from circuits.protocol.risk.scenarios import equity_at_marks, portfolio_risk
from circuits.protocol.vol_report import sign_vol_report
from circuits.state import BoundError
from tests.verifier.conftest import API_CURVE, API_MARKETS, Submission, options_markets

BTC, CALL = options_markets()


def open_epoch(api) -> tuple[int, object]:
    now = int(time.time())
    for key in api.oracle_keys:
        api.expect(api.client.post("/oracle-vol-reports", json=sign_vol_report(key, 0, 600_000, now).to_dict()), 201)
    epoch_id = api.open_epoch([60_000, 20_000])["epoch_id"]
    trader = api.trader()
    return epoch_id, trader.risk(epoch_id)


def hedged_book(api, epoch_id: int, arrays, collateral: int):
    """Long the perpetual, short the call, both at the marks (equity at the marks = collateral)."""
    trader = api.trader().open()
    credited = api.credit(trader.account_id, collateral, f"bank-{trader.account_id}")
    trader.deposit(credited["deposit_id"], collateral, epoch_id)
    for market, size, price in [(0, 1, arrays.arrays[0].mark), (1, -1, arrays.arrays[1].mark)]:
        trader.apply_fill(api.post_fill(trader, market=market, size_delta=size, price=price, fee=0)["fill_id"],
                          epoch_id)
    return trader


def test_the_service_announces_the_portfolio_variants_and_its_factor(options_api):
    config = options_api.expect(options_api.client.get("/config"), 200)
    assert config["portfolio_initial_factor"] == options_api.settings.portfolio_initial_factor == 1_250_000
    for statement, circuit in [("transfer", "portfolio-transfer"), ("fill", "portfolio-fill"),
                               ("margin", "portfolio"), ("settle", "settle")]:
        expected = get_circuit(circuit, markets=API_MARKETS).shape(API_CURVE).digest()
        assert config["statements"][statement]["circuit_id"] == expected, statement


def test_withdrawals_stop_at_the_initial_requirement_and_other_factors_or_arrays_are_rejected(options_api):
    api = options_api
    epoch_id, arrays = open_epoch(api)
    factor = api.settings.portfolio_initial_factor
    trader = hedged_book(api, epoch_id, arrays, 20_000)
    book = portfolio_risk(arrays.arrays, list(trader.state.sizes))
    assert trader.state.sizes == (1, -1)
    assert equity_at_marks(trader.state.collateral, trader.state.sizes, trader.state.costs, arrays.arrays) == 20_000
    initial = book.initial_requirement(factor)
    assert book.requirement < initial < 2_000  # 1.25 x a hedged requirement of about 1 264

    # one unit below the initial requirement: the prover refuses, naming the scenario and the shortfall
    worst = book.worst_scenario
    with pytest.raises(BoundError, match=rf"scenario {worst} \(.*\) short by 1 collateral units"):
        trader.withdrawal_request(20_000 - initial + 1, epoch_id)

    # at maintenance's factor the same withdrawal proves, but the service builds the statement at its own
    circuit = PortfolioTransfer(API_MARKETS)
    new, inputs = circuit.transition(trader.state, -(20_000 - book.requirement), arrays, 10**6, API_CURVE)
    body = {"epoch_id": epoch_id, "amount": 20_000 - book.requirement, "new_commitment": str(new.commitment(API_CURVE)),
            "proof": trader.prove("transfer", inputs)}
    rejected = trader.send(Submission(f"/accounts/{trader.account_id}/withdrawals", body, new), 422)
    assert rejected["code"] == "invalid_proof"

    # over a calmer market's arrays: rejected too (the digest is the epoch's stored one)
    calm = epoch_risk_arrays(epoch_id, [BTC.instrument(0), CALL.instrument(1)], {0: MarketInputs(60_000, 300_000)},
                             api.expect(api.client.get(f"/epochs/{epoch_id}/risk"), 200)["valued_at"])
    amount = 20_000 - portfolio_risk(calm.arrays, [1, -1]).initial_requirement(factor)
    assert amount > 20_000 - initial  # more than the real arrays allow
    new, inputs = circuit.transition(trader.state, -amount, calm, factor, API_CURVE)
    body = {"epoch_id": epoch_id, "amount": amount, "new_commitment": str(new.commitment(API_CURVE)),
            "proof": trader.prove("transfer", inputs)}
    assert trader.send(Submission(f"/accounts/{trader.account_id}/withdrawals", body, new), 422)["code"] == \
        "invalid_proof"

    # a fill proven over the calmer arrays: rejected as well (the fill's epoch's stored record rules)
    fill_id = api.post_fill(trader, market=0, size_delta=-1, price=arrays.arrays[0].mark, fee=0)["fill_id"]
    honest = trader.fill_request(fill_id)
    fill = next(f for f in api.expect(api.client.get(f"/accounts/{trader.account_id}/fills", headers=trader.auth),
                                      200) if f["fill_id"] == fill_id)
    opened = open_fill(bytes.fromhex(fill["ciphertext"]), trader.keypair.private_key, int(fill["fill_commitment"]),
                       API_CURVE, markets=API_MARKETS)
    new, inputs = get_circuit("portfolio-fill", markets=API_MARKETS).transition(trader.state, opened, calm, factor,
                                                                                 API_CURVE)
    body = {"epoch_id": epoch_id, "new_commitment": str(new.commitment(API_CURVE)),
            "proof": trader.prove("fill", inputs)}
    assert trader.send(Submission(honest.path, body, new), 422)["code"] == "invalid_proof"
    trader.send(honest)  # the same fill over the epoch's own arrays: accepted (selling the perpetual back)
    assert trader.state.sizes == (0, -1)
    trader.send(trader.fill_request(api.post_fill(trader, market=0, size_delta=1, price=arrays.arrays[0].mark,
                                                  fee=0)["fill_id"]))

    # exactly down to the initial requirement: accepted, the payout recorded
    accepted = trader.send(trader.withdrawal_request(20_000 - initial, epoch_id))
    assert accepted["amount"] == str(20_000 - initial) and accepted["transition"]["kind"] == "transfer"
    assert trader.state.collateral == initial
