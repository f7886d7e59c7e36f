"""Time of the portfolio close-out plan (``plan_portfolio_closeout``), per instrument count.

    python benchmarks/portfolio_closeout.py --instruments 4 16 64 --repeat 5

Books of one future and N - 1 calls (strikes 30 000, 31 000, ...; 30 days) on BTC at 60 000 and
60 % volatility, S = 16 scenarios, random sizes in [-10^6, 10^6] bought at the marks, collateral
the initial requirement divided by ``--divisor`` (2: a partial close-out; 20: mostly full).
Printed: the median and worst time and how many positions the chosen move closed.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from circuits.protocol.closeout import PortfolioRule, plan_portfolio_closeout, risk_marks
from circuits.protocol.risk import Future, MarketInputs, Option, OptionRight, epoch_risk_arrays
from circuits.protocol.risk.scenarios import portfolio_risk
from circuits.state import AccountState

NOW = 1_700_000_000
FACTOR = 1_250_000
PENALTY_RATE = 200_000


def rule_for(instruments: int) -> PortfolioRule:
    calls = [Option(0, OptionRight.CALL, 30_000 + 1_000 * i, NOW + 30 * 86_400) for i in range(instruments - 1)]
    arrays = epoch_risk_arrays(1, [Future(0), *calls], {0: MarketInputs(60_000, 600_000)}, NOW).arrays
    return PortfolioRule(arrays, risk_marks(arrays), FACTOR)


def one_run(rule: PortfolioRule, rng: random.Random, divisor: int) -> tuple[float, int, bool]:
    sizes = tuple(rng.randint(-10**6, 10**6) for _ in rule.arrays)
    collateral = portfolio_risk(rule.arrays, sizes).initial_requirement(FACTOR) // divisor
    state = AccountState(4, 1, 7, collateral, sizes, tuple(b * m for b, m in zip(sizes, rule.marks)), 1)
    started = time.perf_counter()
    plan = plan_portfolio_closeout(state, rule, PENALTY_RATE, salt=3)
    return time.perf_counter() - started, sum(1 for q in plan.closed if q), plan.full


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instruments", type=int, nargs="+", default=[4, 16, 64])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--divisor", type=int, default=2)
    args = parser.parse_args()
    print("| N | median | worst | positions closed | full |")
    print("|---|---|---|---|---|")
    for count in args.instruments:
        rule, rng = rule_for(count), random.Random(count)
        runs = [one_run(rule, rng, args.divisor) for _ in range(args.repeat)]
        times = [t for t, _, _ in runs]
        closed = sorted({c for _, c, _ in runs})
        full = sum(f for _, _, f in runs)
        print(f"| {count} | {statistics.median(times):.2f} s | {max(times):.2f} s | {closed} | {full}/{len(runs)} |")


if __name__ == "__main__":
    main()
