"""What a trader sees of their own book under portfolio margin, computed locally.

From the private state (collateral, sizes, cost bases) and the epoch's published record (the
risk arrays, and the market inputs the model valued them with: price, implied volatility and
rate per underlying market, at the valuation time), ``book_report`` gives:

- the equity at the marks, ``E = c + sum_i (b_i mark_i - k_i)``;
- the P&L of the whole book in every scenario, ``sum_i b_i RA_i[s]``, each scenario named, and
  the worst one (or none: a book that gains everywhere is held to its unmoved value);
- the requirement (worst loss plus the short-option charge) and the surplus ``E - requirement``
  the portfolio statement proves non-negative — the same integers the circuit checks;
- the Greeks of each position (size times the published per-unit Greeks of
  ``black_scholes.option_greeks``; a future's delta is its size, its other Greeks zero) and their
  sums, per underlying market and in total. The total adds deltas of different underlyings only
  when the book has one; ``by_market`` is the meaningful figure otherwise.

Units: amounts in collateral units; delta in millionths of a base unit of the underlying; gamma
in millionths of delta per 1 % rise; vega in collateral units per vol point; theta in collateral
units per calendar day. Every per-position Greek is an exact product of integers (no rounding
beyond the per-unit rounding the model documents).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from circuits.protocol.risk.black_scholes import DELTA_SCALE, PublishedGreeks, option_greeks
from circuits.protocol.risk.expiry import is_expired
from circuits.protocol.risk.errors import RiskArrayError
from circuits.protocol.risk.instruments import Future, Instrument, instrument_to_dict
from circuits.protocol.risk.scenarios import (
    EpochRiskArrays,
    MarketInputs,
    Scenario,
    equity_at_marks,
    portfolio_risk,
)

NO_GREEKS = PublishedGreeks(0, 0, 0, 0)


def scenario_labels(scenarios: Sequence[Scenario]) -> list[str]:
    """Readable names of a scenario set; the steps per scan range are those of its regular
    (volatility-shifted) moves."""
    steps = max((abs(s.price_steps) for s in scenarios if s.vol_direction != 0), default=1) or 1
    return [s.label(steps) for s in scenarios]


def unit_greeks(instrument: Instrument, market: MarketInputs, now: int) -> PublishedGreeks:
    """One long unit's published Greeks: a future moves one for one with its underlying."""
    if isinstance(instrument, Future):
        return PublishedGreeks(DELTA_SCALE, 0, 0, 0)
    if is_expired(instrument, now):
        return NO_GREEKS  # its payoff is fixed by the coming settlement price, not by a model
    return option_greeks(instrument, market.price, market.vol, now, market.rate)


def scaled(greeks: PublishedGreeks, size: int) -> PublishedGreeks:
    return PublishedGreeks(greeks.delta * size, greeks.gamma * size, greeks.vega * size, greeks.theta * size)


def added(a: PublishedGreeks, b: PublishedGreeks) -> PublishedGreeks:
    return PublishedGreeks(a.delta + b.delta, a.gamma + b.gamma, a.vega + b.vega, a.theta + b.theta)


def greeks_to_dict(greeks: PublishedGreeks) -> dict[str, int]:
    return {"delta": greeks.delta, "gamma": greeks.gamma, "vega": greeks.vega, "theta": greeks.theta}


@dataclass(frozen=True)
class PositionView:
    instrument: Instrument
    size: int
    mark: int
    greeks: PublishedGreeks


@dataclass(frozen=True)
class BookReport:
    """A book's portfolio figures at one epoch (see the module docstring)."""

    epoch: int
    equity: int
    scenario_names: tuple[str, ...]
    scenario_pnl: tuple[int, ...]
    worst_scenario: int | None
    short_option_charge: int
    requirement: int
    positions: tuple[PositionView, ...]

    @property
    def surplus(self) -> int:
        return self.equity - self.requirement

    @property
    def worst_name(self) -> str:
        return "none (no scenario loses)" if self.worst_scenario is None else self.scenario_names[self.worst_scenario]

    def by_market(self) -> dict[int, PublishedGreeks]:
        sums: dict[int, PublishedGreeks] = {}
        for position in self.positions:
            market = position.instrument.market
            sums[market] = added(sums.get(market, NO_GREEKS), position.greeks)
        return dict(sorted(sums.items()))

    def total(self) -> PublishedGreeks:
        result = NO_GREEKS
        for position in self.positions:
            result = added(result, position.greeks)
        return result

    def to_json(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "equity": self.equity,
            "scenarios": [{"index": s, "name": name, "pnl": pnl}
                          for s, (name, pnl) in enumerate(zip(self.scenario_names, self.scenario_pnl))],
            "worst_scenario": None if self.worst_scenario is None else
            {"index": self.worst_scenario, "name": self.worst_name, "pnl": self.scenario_pnl[self.worst_scenario]},
            "short_option_charge": self.short_option_charge,
            "requirement": self.requirement,
            "surplus": self.surplus,
            "positions": [{"instrument": instrument_to_dict(p.instrument), "size": p.size, "mark": p.mark,
                           "greeks": greeks_to_dict(p.greeks)} for p in self.positions],
            "greeks_by_market": {str(m): greeks_to_dict(g) for m, g in self.by_market().items()},
            "greeks_total": greeks_to_dict(self.total()),
        }


def book_report(collateral: int, sizes: Sequence[int], costs: Sequence[int], risk: EpochRiskArrays,
                markets: Mapping[int, MarketInputs], now: int) -> BookReport:
    """The figures of ``collateral, sizes, costs`` against the epoch's arrays and the inputs that
    valued them (``now``: the valuation time, Unix seconds)."""
    arrays = risk.arrays
    figures = portfolio_risk(arrays, sizes)
    positions = []
    for i, (array, b) in enumerate(zip(arrays, sizes)):
        market = markets.get(array.instrument.market)
        if market is None:
            raise RiskArrayError(f"instrument {i}: no market inputs for market {array.instrument.market}")
        greeks = NO_GREEKS if b == 0 else scaled(unit_greeks(array.instrument, market, now), b)
        positions.append(PositionView(array.instrument, b, array.mark, greeks))
    return BookReport(
        epoch=risk.epoch,
        equity=equity_at_marks(collateral, sizes, costs, arrays),
        scenario_names=tuple(scenario_labels(risk.scenarios)),
        scenario_pnl=figures.scenario_pnl,
        worst_scenario=figures.worst_scenario,
        short_option_charge=figures.short_option_charge,
        requirement=figures.requirement,
        positions=tuple(positions),
    )
