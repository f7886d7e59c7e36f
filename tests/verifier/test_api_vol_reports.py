"""Signed implied-volatility reports through the HTTP API (SQLite and PostgreSQL): accepted from
the oracles, a bad signature, an unknown oracle, a stale or out-of-range volatility and an
equivocation refused; the volatility taken is the lower median of 2f + 1 distinct oracles (409
without a quorum) and the breaker holds back reports that disagree."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from circuits.protocol.oracle_report import generate_oracle_key, public_key_bytes, sign_report
from circuits.protocol.vol_report import SignedVolReport, sign_vol_report, vol_report_message
from tests.verifier.conftest import OPTIONS_EXPIRY as EXPIRY
from tests.verifier.conftest import options_markets

BTC, CALL = options_markets()  # the options_api fixture's (tests/verifier/conftest.py)


def post(api, report, status):
    return api.expect(api.client.post("/oracle-vol-reports", json=report.to_dict()), status)


def refused(response, status, code):
    assert response.status_code == status, response.text
    assert response.json()["code"] == code, response.text
    return response.json()["detail"]


def test_the_volatility_is_the_lower_median_of_a_quorum(options_api):
    api, now = options_api, int(time.time())
    assert refused(api.client.get("/oracle-vols"), 409, "no_vol_quorum")
    receipts = [post(api, sign_vol_report(k, 0, vol, now), 201)
                for k, vol in zip(api.oracle_keys[:2], (600_000, 640_000))]
    assert receipts[0]["vol"] == 600_000 and receipts[0]["market"] == 0
    assert "market 0: 2" in refused(api.client.get("/oracle-vols"), 409, "no_vol_quorum")
    post(api, sign_vol_report(api.oracle_keys[2], 0, 620_000, now), 201)
    post(api, sign_vol_report(api.oracle_keys[2], 0, 620_000, now), 200)  # the same report again
    taken = api.expect(api.client.get("/oracle-vols"), 200)
    assert taken["vols"] == [{"market": 0, "vol": 620_000, "oracles": 3}]


def test_bad_signatures_strangers_stale_and_out_of_range_reports_are_refused(options_api):
    api, now = options_api, int(time.time())
    good = sign_vol_report(api.oracle_keys[0], 0, 600_000, now)
    refused(api.client.post("/oracle-vol-reports", json=replace(good, vol=600_001).to_dict()), 401, "bad_signature")
    stranger = sign_vol_report(generate_oracle_key(), 0, 600_000, now)
    refused(api.client.post("/oracle-vol-reports", json=stranger.to_dict()), 401, "bad_signature")
    price = sign_report(api.oracle_keys[0], 0, 600_000, now)  # a signed price is not a signed volatility
    as_vol = {**price.to_dict(), "vol": price.price}
    del as_vol["price"]
    refused(api.client.post("/oracle-vol-reports", json=as_vol), 401, "bad_signature")
    stale = sign_vol_report(api.oracle_keys[0], 0, 600_000, now - api.settings.oracle_staleness_seconds - 10)
    refused(api.client.post("/oracle-vol-reports", json=stale.to_dict()), 422, "stale_report")
    oracle = public_key_bytes(api.oracle_keys[0])
    tiny = SignedVolReport(oracle, 0, 5, now, api.oracle_keys[0].sign(vol_report_message(oracle, 0, 5, now)))
    refused(api.client.post("/oracle-vol-reports", json=tiny.to_dict()), 422, "vol_out_of_range")
    post(api, good, 201)
    refused(api.client.post("/oracle-vol-reports", json=sign_vol_report(api.oracle_keys[0], 0, 700_000, now).to_dict()),
            409, "oracle_equivocation")


def test_the_breaker_holds_back_reports_that_disagree(options_api):
    api, now = options_api, int(time.time())
    for key, vol in zip(api.oracle_keys, (600_000, 610_000, 900_000)):
        post(api, sign_vol_report(key, 0, vol, now), 201)
    detail = refused(api.client.get("/oracle-vols"), 409, "vol_circuit_breaker")
    assert "market 0" in detail and "from the median 610000" in detail


def test_the_markets_and_the_config_show_the_option_terms_and_the_mode(options_api):
    api = options_api
    markets = api.expect(api.client.get("/markets"), 200)
    assert [m["option"] for m in markets] == [
        None, {"right": "call", "strike": 40_000, "expiry": EXPIRY, "underlying": 0}]
    config = api.expect(api.client.get("/config"), 200)
    assert config["margin_mode"] == "portfolio" and config["markets"][1]["option"]["underlying"] == 0


def test_an_epoch_opened_in_portfolio_mode_fixes_and_publishes_its_risk_arrays(options_api):
    from circuits.portfolio import PortfolioMargin, risk_arrays_from_json
    from circuits.protocol.risk import MarketInputs, epoch_risk_arrays

    api, now = options_api, int(time.time())
    for key, vol in zip(api.oracle_keys, (600_000, 620_000, 640_000)):
        post(api, sign_vol_report(key, 0, vol, now), 201)
    btc = 60_000
    epoch = api.open_epoch([btc, 1])  # the option market's oracle price is not what marks it
    document = api.expect(api.client.get(f"/epochs/{epoch['epoch_id']}/risk"), 200)
    expected = epoch_risk_arrays(epoch["epoch_id"], [BTC.instrument(0), CALL.instrument(1)],
                                 {0: MarketInputs(btc, 620_000)}, document["valued_at"])
    assert risk_arrays_from_json(document) == expected
    assert document["digest"] == str(expected.digest(api.settings.curve))
    assert document["markets"] == [{"market": 0, "price": btc, "vol": 620_000, "rate": 0}]
    assert abs(document["valued_at"] - now) <= 5
    # what the portfolio statement's public inputs are built from: this epoch's marks and digest
    public = PortfolioMargin(2).public_inputs_for(7, 11, expected, api.settings.curve)
    assert public[2] == epoch["epoch_id"] and public[3:5] == [a.mark for a in expected.arrays]
    assert public[-1] == int(document["digest"])


def test_without_a_volatility_quorum_a_portfolio_epoch_does_not_open(options_api):
    refused(options_api.client.get("/epochs/1/risk"), 404, "not_found")
    options_api.post_prices([60_000, 1])
    refused(options_api.client.post("/epochs", headers=options_api.operator), 409, "no_vol_quorum")
    assert options_api.client.get("/epochs/current").status_code == 409  # nothing half-opened


def test_a_flat_epoch_has_no_risk_record(api):
    epoch = api.open_epoch([60_000, 3_000])
    refused(api.client.get(f"/epochs/{epoch['epoch_id']}/risk"), 404, "not_found")


def test_the_served_record_is_the_input_of_the_traders_portfolio_commands(options_api, tmp_path):
    import json

    from typer.testing import CliRunner

    from circuits.portfolio import PortfolioMargin, risk_arrays_from_json
    from circuits.protocol.risk.scenarios import portfolio_risk
    from prover.cli import app
    from prover.portfolio_status import report_from_json
    from zkmargin.curves import get_curve

    api, now = options_api, int(time.time())
    for key in api.oracle_keys:
        post(api, sign_vol_report(key, 0, 600_000, now), 201)
    epoch = api.open_epoch([60_000, 1])
    document = api.expect(api.client.get(f"/epochs/{epoch['epoch_id']}/risk"), 200)
    arrays = risk_arrays_from_json(document).arrays
    sizes = (1, -1)  # long the perpetual, short the call: exactly at its requirement
    requirement = portfolio_risk(arrays, list(sizes)).requirement
    state = {"account_id": 5, "nonce": 1, "salt": "42", "collateral": str(requirement),
             "sizes": list(sizes), "costs": [str(b * a.mark) for b, a in zip(sizes, arrays)],
             "epoch": epoch["epoch_id"]}
    prepared = PortfolioMargin(2).prepare({"state": state, "risk": document}, get_curve(api.settings.curve))
    assert prepared.inputs["public"]["risk_digest"] == int(document["digest"])
    assert report_from_json({"state": state, "risk": document}, "served").surplus == 0
    # a market no option is written on shows vol null: the trader's figures still come out
    path = tmp_path / "input.json"
    path.write_text(json.dumps({"state": state, "risk": {**document, "markets": [
        {**document["markets"][0], "vol": None}]}}))
    result = CliRunner().invoke(app, ["portfolio", "status", "--input", str(path), "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    deltas = [position["greeks"]["delta"] for position in figures["positions"]]
    assert figures["surplus"] == 0 and deltas[0] == 10**6 and -(10**6) <= deltas[1] < 0


def _book(api, epoch_id, collateral, fills):
    """A trader who deposited ``collateral`` and applied ``fills`` (market, size, price): in portfolio
    mode each is a portfolio-transfer or portfolio-fill proof (every scenario at the initial factor)."""
    trader = api.trader().open()
    credited = api.credit(trader.account_id, collateral, f"bank-{trader.account_id}")
    trader.deposit(credited["deposit_id"], collateral, epoch_id)
    for market, size, price in fills:
        trader.apply_fill(api.post_fill(trader, market=market, size_delta=size, price=price, fee=0)["fill_id"],
                          epoch_id)
    return trader


def _attest(api, trader, epoch_id, arrays, status):
    from circuits.portfolio import PortfolioMargin
    from zkmargin.formats.snarkjs import proof_to_json
    from zkmargin.groth16 import prove

    circuit = PortfolioMargin(2)
    inputs = circuit.assignment(trader.state, arrays, "bls12381")
    proof = proof_to_json(prove(api.proving_keys["portfolio"], circuit.synthesize("bls12381", inputs)))
    return api.expect(api.client.post(f"/accounts/{trader.account_id}/attestations", headers=trader.auth,
                                      json={"epoch_id": epoch_id, "proof": proof}), status)


def test_portfolio_attestations_hedged_book_accepted_naked_call_refused_other_arrays_rejected(options_api):
    from circuits.portfolio import risk_arrays_from_json
    from circuits.protocol.risk import MarketInputs, epoch_risk_arrays
    from circuits.protocol.risk.scenarios import flat_rate_requirement, portfolio_risk
    from circuits.state import BoundError

    api, now = options_api, int(time.time())
    for key in api.oracle_keys:
        post(api, sign_vol_report(key, 0, 600_000, now), 201)
    epoch_id = api.open_epoch([60_000, 20_000])["epoch_id"]
    arrays = risk_arrays_from_json(api.expect(api.client.get(f"/epochs/{epoch_id}/risk"), 200))
    call_mark = arrays.arrays[1].mark

    # the first leg is naked until the second hedges it: fills keep initial portfolio margin on the way
    hedged = _book(api, epoch_id, 20_000, [(0, 1, 60_000), (1, -1, call_mark)])
    requirement = portfolio_risk(arrays.arrays, [1, -1]).requirement
    flat = flat_rate_requirement(arrays.arrays, [1, -1], [60_000, 60_000], [50_000, 50_000])
    assert requirement * 3 < flat  # the hedge counts: well under the flat maintenance requirement
    accepted = _attest(api, hedged, epoch_id, arrays, 201)
    assert accepted["epoch_id"] == epoch_id

    naked = _book(api, epoch_id, 20_000, [(1, -1, call_mark)])
    naked_requirement = portfolio_risk(arrays.arrays, [0, -1]).requirement
    assert flat_rate_requirement(arrays.arrays, [0, -1], [60_000, 60_000], [50_000, 50_000]) < 4_000
    assert 4_000 < naked_requirement  # above flat: no proof leaves it 4 000, and the prover says where
    with pytest.raises(BoundError, match=r"below initial portfolio margin: scenario 10 \(price \+1 x range, vol up\) "
                                         r"short by \d+ collateral units"):
        naked.withdrawal_request(16_000, epoch_id)
    with pytest.raises(BoundError, match=r"below portfolio margin in scenario 10 \(price \+1 x range, vol up\) by"):
        naked.state = replace(naked.state, collateral=4_000)  # the state that withdrawal would have left
        _attest(api, naked, epoch_id, arrays, 201)

    calmer = epoch_risk_arrays(epoch_id, [BTC.instrument(0), CALL.instrument(1)], {0: MarketInputs(60_000, 300_000)},
                               _valued_at(api, epoch_id))
    other = _book(api, epoch_id, 20_000, [(0, 1, 60_000), (1, -1, call_mark)])
    detail = _attest(api, other, epoch_id, calmer, 422)
    assert detail["code"] == "invalid_proof"


def _valued_at(api, epoch_id):
    return api.expect(api.client.get(f"/epochs/{epoch_id}/risk"), 200)["valued_at"]
