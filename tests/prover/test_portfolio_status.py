"""``zkmargin portfolio status``: a book's scenario P&L, requirement and Greeks, checked against
figures the test computes itself (the arrays summed by hand, Black–Scholes Greeks from the
textbook formulas with the standard library's normal distribution)."""

from __future__ import annotations

import json
import math
from statistics import NormalDist

import pytest
from typer.testing import CliRunner

from circuits.protocol.risk import MarketInputs
from circuits.protocol.risk.book import book_report
from prover.cli import app
from tests.prover.portfolio_books import (
    ATM_CALL,
    BTC,
    FUTURE,
    ITM_CALL,
    NOW,
    VOL,
    book_state,
    input_json,
    published,
)
from zkmargin.errors import MalformedInputError

RISK = published([FUTURE, ITM_CALL, ATM_CALL])
HEDGED = (2, -1, -1)  # long 2 perpetuals, short an in-the-money and an at-the-money call
COLLATERAL = 9_000 * 10**6


def away(x: float) -> int:
    return math.ceil(x) if x >= 0 else math.floor(x)


def textbook_unit_greeks(strike: int) -> dict[str, int]:
    """Hull's formulas at r = 0, in the published units and roundings (independent of the model code)."""
    years = 30 / 365
    sigma = VOL / 10**6
    d1 = (math.log(BTC / strike) + sigma**2 / 2 * years) / (sigma * math.sqrt(years))
    density = NormalDist().pdf(d1)
    return {
        "delta": away(NormalDist().cdf(d1) * 10**6),
        "gamma": away(density / (BTC * sigma * math.sqrt(years)) * BTC / 100 * 10**6),
        "vega": away(BTC * math.sqrt(years) * density / 100),
        "theta": away(-BTC * density * sigma / (2 * math.sqrt(years)) / 365),
    }


def expected_figures(sizes) -> dict:
    pnl = [sum(b * a.pnl[s] for b, a in zip(sizes, RISK.arrays)) for s in range(16)]
    worst = min(range(16), key=lambda s: pnl[s])
    charge = sum(-b * a.short_charge for b, a in zip(sizes, RISK.arrays) if b < 0)
    requirement = max(0, -pnl[worst]) + charge
    greeks = [{"delta": 10**6, "gamma": 0, "vega": 0, "theta": 0}, textbook_unit_greeks(ITM_CALL.strike),
              textbook_unit_greeks(ATM_CALL.strike)]
    positions = [{k: b * v for k, v in g.items()} for b, g in zip(sizes, greeks)]
    total = {k: sum(p[k] for p in positions) for k in ("delta", "gamma", "vega", "theta")}
    return {"pnl": pnl, "worst": worst, "requirement": requirement, "positions": positions, "total": total}


def status(tmp_path, sizes, collateral, *extra):
    path = tmp_path / "input.json"
    path.write_text(json.dumps(input_json(book_state(sizes, collateral, RISK), RISK)))
    return CliRunner().invoke(app, ["portfolio", "status", "--input", str(path), *extra])


def test_json_figures_match_the_arrays_and_the_textbook_greeks(tmp_path):
    result = status(tmp_path, HEDGED, COLLATERAL, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    want = expected_figures(HEDGED)
    assert [row["pnl"] for row in data["scenarios"]] == want["pnl"]
    assert data["worst_scenario"]["index"] == want["worst"]
    assert data["worst_scenario"]["name"] == data["scenarios"][want["worst"]]["name"]
    assert data["requirement"] == want["requirement"] and data["surplus"] == COLLATERAL - want["requirement"]
    assert data["equity"] == COLLATERAL  # opened at the marks
    for position, expected in zip(data["positions"], want["positions"]):
        for greek, value in expected.items():
            assert abs(position["greeks"][greek] - value) <= abs(position["size"]), (greek, position)
    for greek, value in want["total"].items():
        assert abs(data["greeks_total"][greek] - value) <= 4, greek
    assert data["greeks_by_market"] == {"0": data["greeks_total"]}
    # the hedge: the deep call's delta nearly cancels a perpetual, so the book's delta is well below 2
    assert 0 < data["greeks_total"]["delta"] < 10**6


def test_text_names_the_worst_scenario_and_prints_the_same_figures(tmp_path):
    result = status(tmp_path, HEDGED, COLLATERAL)
    assert result.exit_code == 0, result.output
    report = book_report(COLLATERAL, HEDGED, book_state(HEDGED, COLLATERAL, RISK).costs, RISK,
                         {0: MarketInputs(BTC, VOL)}, NOW)
    want = expected_figures(HEDGED)
    lines = result.stdout.splitlines()
    worst_line = next(line for line in lines if line.startswith("worst scenario"))
    assert report.scenario_names[want["worst"]] in worst_line
    assert f"requirement            {want['requirement']}" in lines
    assert any(line.endswith("<- worst") and str(want["pnl"][want["worst"]]) in line for line in lines)
    total = next(line for line in lines if line.strip().startswith("total"))
    assert total.split()[1:] == [str(v) for v in report.to_json()["greeks_total"].values()]
    assert "covers every scenario" in result.stdout


def test_a_naked_short_call_is_shown_below_margin_in_its_worst_scenario(tmp_path):
    naked = (0, 0, -1)
    want = expected_figures(naked)
    result = status(tmp_path, naked, 5_000 * 10**6, "--json")
    data = json.loads(result.stdout)
    assert data["surplus"] == 5_000 * 10**6 - want["requirement"] < 0
    assert data["worst_scenario"]["index"] == want["worst"] == 10  # price +1 x range, vol up: a short call's worst
    assert "price +1 x range, vol up" == data["worst_scenario"]["name"]
    text = status(tmp_path, naked, 5_000 * 10**6).stdout
    assert "BELOW portfolio margin" in text


def test_missing_market_inputs_are_a_clear_error(tmp_path):
    data = input_json(book_state(HEDGED, COLLATERAL, RISK), RISK)
    del data["risk"]["markets"]
    path = tmp_path / "input.json"
    path.write_text(json.dumps(data))
    result = CliRunner().invoke(app, ["portfolio", "status", "--input", str(path)])
    assert isinstance(result.exception, MalformedInputError) and "markets" in str(result.exception)
    data["risk"]["markets"] = [{"market": 0, "price": BTC, "vol": 1.5}]
    path.write_text(json.dumps(data))
    result = CliRunner().invoke(app, ["portfolio", "status", "--input", str(path)])
    assert isinstance(result.exception, MalformedInputError)


@pytest.mark.parametrize("sizes", [(1, 0, 0), (0, 1, 0)])
def test_a_single_long_position_has_the_unit_greeks_times_its_size(tmp_path, sizes):
    data = json.loads(status(tmp_path, tuple(3 * b for b in sizes), COLLATERAL, "--json").stdout)
    index = sizes.index(1)
    unit = expected_figures(sizes)["positions"][index]
    for greek, value in unit.items():
        assert abs(data["positions"][index]["greeks"][greek] - 3 * value) <= 3, greek
