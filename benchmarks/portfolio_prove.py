"""Constraints and median proving time of the portfolio statement against the flat-rate one.

    python benchmarks/portfolio_prove.py --markets 4 16 --repeat 3

Per M: the ``portfolio`` statement at S = 16 (a book long a perpetual and short calls, one
instrument each, covering every scenario) and ``margin`` at the same M, on BLS12-381 with the
default backend. Setup is not timed; each repeat synthesizes the witness and proves, like
``zkmargin bench prove``. The constraint split counts constraints by their label's namespace.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter

from circuits.margin import Margin
from circuits.portfolio import PortfolioMargin
from circuits.protocol.risk import Future, MarketInputs, Option, OptionRight, epoch_risk_arrays
from circuits.protocol.risk.scenarios import portfolio_risk
from circuits.state import AccountState, fresh_salt
from zkmargin.backends import get_backend
from zkmargin.curves import get_curve
from zkmargin.groth16 import prove, setup, verify

NOW = 1_700_000_000
PRICE = 60_000 * 10**6


def portfolio_inputs(circuit: PortfolioMargin, seed: int) -> dict:
    markets = circuit.markets
    instruments = [Future(0) if i % 2 == 0 else
                   Option(0, OptionRight.CALL, PRICE - 1_000 * 10**6 * i, NOW + 30 * 86_400) for i in range(markets)]
    risk = epoch_risk_arrays(seed, instruments, {0: MarketInputs(PRICE, 600_000)}, NOW)
    sizes = tuple(1 if i % 2 == 0 else -1 for i in range(markets))
    costs = tuple(b * a.mark for b, a in zip(sizes, risk.arrays))
    collateral = portfolio_risk(risk.arrays, list(sizes)).requirement + 10**9
    state = AccountState(seed + 1, seed, fresh_salt("bls12381"), collateral, sizes, costs, seed)
    return circuit.assignment(state, risk, "bls12381")


def margin_inputs(circuit: Margin, seed: int) -> dict:
    markets = circuit.markets
    prices = [50_000 + 17 * m for m in range(markets)]
    sizes = tuple((1 if m % 2 else -1) * (1_000 + m + seed) for m in range(markets))
    costs = tuple(b * (p - 25) for b, p in zip(sizes, prices))
    state = AccountState(seed + 1, seed, fresh_salt("bls12381"), 10**12, sizes, costs)
    return circuit.assignment(state, seed, prices, [50_000] * markets, "bls12381")


def split(cs) -> dict[str, int]:
    counts = Counter(c.label.split("/")[0] for c in cs.constraints)
    return dict(counts.most_common())


def measure(circuit, make_inputs, repeat: int) -> dict:
    curve = get_curve("bls12381")
    backend = get_backend(curve, None)
    shape_cs = circuit.synthesize(curve)
    pk = setup(circuit.shape(curve), backend, insecure_test_seed=1)
    times = []
    for i in range(repeat):
        start = time.perf_counter()
        cs = circuit.synthesize(curve, make_inputs(circuit, i))
        proof = prove(pk, cs, backend)
        times.append(time.perf_counter() - start)
        assert verify(pk.vk, cs.public_values(), proof, backend)
    return {"circuit": circuit.key_name(), "constraints": shape_cs.num_constraints, "public": shape_cs.num_public,
            "backend": backend.name, "median_s": round(statistics.median(times), 3),
            "runs_s": [round(t, 3) for t in times], "split": split(shape_cs)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--markets", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for m in args.markets:
        for circuit, make in ((Margin(m), margin_inputs), (PortfolioMargin(m), portfolio_inputs)):
            print(json.dumps(measure(circuit, make, args.repeat)), flush=True)


if __name__ == "__main__":
    main()
