"""``zkmargin portfolio status``: a book's portfolio-margin figures, computed locally.

Reads the same ``input.json`` as ``zkmargin prove portfolio`` (the private state and the
epoch's published risk arrays, see circuits/portfolio.py) with two more fields in ``risk``: the
market inputs the risk model valued the arrays with, and the valuation time (``GET
/epochs/{id}/risk`` serves the whole ``risk`` object)::

    "risk": {..., "valued_at": 1767225600,
             "markets": [{"market": 0, "price": 60000, "vol": 600000, "rate": 0}]}

and prints the scenario P&L (the worst scenario named), the requirement, the surplus the
portfolio statement proves non-negative, and the Greeks per position, per underlying and in
total (``circuits.protocol.risk.book``); ``--json`` prints the same figures. Nothing leaves the
machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from circuits.inputs import field, integer, state_from_json
from circuits.portfolio import risk_arrays_from_json
from circuits.protocol.risk.black_scholes import VOL_MIN
from circuits.protocol.risk.book import BookReport, book_report
from circuits.protocol.risk.errors import RiskModelError
from circuits.protocol.risk.instruments import Future, Instrument, instrument_from_dict
from circuits.protocol.risk.scenarios import MarketInputs
from prover.console import emit_json
from prover.inputs import load_input_json
from prover.options import JsonOpt
from zkmargin.errors import MalformedInputError

portfolio_app = typer.Typer(help="Portfolio (scenario) margin figures of a book, computed locally.",
                            no_args_is_help=True)

_MARKET_FIELDS = ("market", "price", "vol", "rate")


def _entry_with_vol(entry: Any) -> Any:
    """A market no option is written on has ``"vol": null`` in the epoch's record; a future's
    figures do not depend on it, so the model's floor stands in."""
    if isinstance(entry, dict) and "vol" in entry and entry["vol"] is None:
        return {**entry, "vol": VOL_MIN}
    return entry


def market_inputs_from_json(data: Any, where: str) -> dict[int, MarketInputs]:
    if not isinstance(data, list):
        raise MalformedInputError(f"{where}: expected a list of market inputs")
    markets: dict[int, MarketInputs] = {}
    for i, raw in enumerate(data):
        at, entry = f"{where}[{i}]", _entry_with_vol(raw)
        values = {name: integer(field(entry, name, at), f"{at}.{name}")
                  for name in _MARKET_FIELDS if name != "rate" or name in entry}
        market = values.pop("market")
        if market in markets:
            raise MalformedInputError(f"{at}: market {market} is listed twice")
        try:
            markets[market] = MarketInputs(**values)
        except RiskModelError as exc:
            raise MalformedInputError(f"{at}: {exc}") from None
    return markets


def report_from_json(data: Any, source: str) -> BookReport:
    state = state_from_json(field(data, "state", source))
    risk_data = field(data, "risk", source)
    risk = risk_arrays_from_json(risk_data, f"{source}.risk")
    markets = market_inputs_from_json(field(risk_data, "markets", f"{source}.risk"), f"{source}.risk.markets")
    now = integer(field(risk_data, "valued_at", f"{source}.risk"), f"{source}.risk.valued_at")
    try:
        return book_report(state.collateral, state.sizes, state.costs, risk, markets, now)
    except RiskModelError as exc:
        raise MalformedInputError(f"{source}: {exc}") from None


def instrument_text(instrument: Instrument) -> str:
    if isinstance(instrument, Future):
        return f"{'perpetual' if instrument.perpetual else 'future'} on market {instrument.market}"
    return f"{instrument.right.value} {instrument.strike} exp {instrument.expiry} on market {instrument.market}"


def _greeks_row(name: str, greeks: dict[str, Any]) -> str:
    return f"  {name:<44} {greeks['delta']:>16} {greeks['gamma']:>14} {greeks['vega']:>14} {greeks['theta']:>14}"


def report_lines(data: dict[str, Any]) -> list[str]:
    """The figures as text, from ``BookReport.to_json()`` (what ``--json`` prints and the trader's
    ``zkmargin status`` carries), so the two commands print one layout."""
    worst = data["worst_scenario"]
    lines = [f"epoch {data['epoch']}  equity at marks {data['equity']}", "scenario P&L of the book"]
    for row in data["scenarios"]:
        marker = "  <- worst" if worst is not None and row["index"] == worst["index"] else ""
        lines.append(f"  {row['index']:>2}  {row['name']:<44} {row['pnl']:>16}{marker}")
    verdict = "covers every scenario" if data["surplus"] >= 0 else "BELOW portfolio margin"
    lines += [f"worst scenario         {'none (no scenario loses)' if worst is None else worst['name']}",
              f"short option charge    {data['short_option_charge']}",
              f"requirement            {data['requirement']}",
              f"surplus                {data['surplus']}  ({verdict})",
              _greeks_row("Greeks (delta, gamma in millionths)",
                          {"delta": "delta", "gamma": "gamma", "vega": "vega/vol pt", "theta": "theta/day"})]
    for position in data["positions"]:
        name = f"{instrument_text(instrument_from_dict(position['instrument']))} x {position['size']}"
        lines.append(_greeks_row(name, position["greeks"]))
    for market, greeks in data["greeks_by_market"].items():
        lines.append(_greeks_row(f"market {market}", greeks))
    lines.append(_greeks_row("total", data["greeks_total"]))
    return lines


def print_report(report: BookReport) -> None:
    for line in report_lines(report.to_json()):
        typer.echo(line)


@portfolio_app.command("status")
def portfolio_status(
    input: Annotated[Path, typer.Option("--input", "-i", help="the prove portfolio input.json with the market inputs")],
    as_json: JsonOpt = False,
) -> None:
    """Scenario P&L (the worst named), requirement, surplus and Greeks of a book, computed locally."""
    report = report_from_json(load_input_json(input), str(input))
    emit_json(report.to_json()) if as_json else print_report(report)


def register(app: typer.Typer, panel: str) -> None:
    app.add_typer(portfolio_app, name="portfolio", rich_help_panel=panel)
