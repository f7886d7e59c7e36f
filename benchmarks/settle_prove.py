"""Constraints and median proving time of settle, futures only and with perpetual funding.

    python benchmarks/settle_prove.py --markets 2 16 --repeat 5

Per M, on BLS12-381 with the default backend: the settle statement proven for a state holding a
position in every market, once with every funding step 0 (all futures) and once with a non-zero
step in every market (all perpetuals; the circuit is the same, only the witness differs). Setup is
not timed; each repeat builds the successor with ``transition``, synthesizes the witness and
proves, like ``zkmargin bench prove``; every proof is verified. One JSON line per run. On a
checkout without funding (``Settle.transition`` takes no ``funding_steps``) only the futures row
is measured, which is how the "before" figures in docs/protocol.md were taken.
"""

from __future__ import annotations

import argparse
import inspect
import json
import statistics
import time
from typing import Any

from circuits.settle import Settle
from circuits.state import AccountState, fresh_salt
from zkmargin.backends import get_backend
from zkmargin.curves import get_curve
from zkmargin.groth16 import prove, setup, verify

CURVE = "bls12381"
EPOCH = 5


def sample_state(markets: int, seed: int) -> AccountState:
    """An account with a position in every market (long and short alternating), in epoch 5."""
    prices = [50_000 + 17 * m for m in range(markets)]
    sizes = tuple((1 if m % 2 else -1) * (1_000 + m + seed) for m in range(markets))
    costs = tuple(b * (p - 25) for b, p in zip(sizes, prices))
    return AccountState(seed + 1, seed, fresh_salt(CURVE), 10**12, sizes, costs, EPOCH)


def takes_funding() -> bool:
    return "funding_steps" in inspect.signature(Settle.transition).parameters


def settle_inputs(circuit: Settle, seed: int, funded: bool) -> dict[str, Any]:
    markets = circuit.markets
    prices = [50_000 + 20 + m for m in range(markets)]
    if not funded:
        return circuit.transition(sample_state(markets, seed), EPOCH, prices, CURVE)[2]
    # a step of about 0.01 % of the price, alternating in sign, never a multiple of 10^6
    steps = [(1 if m % 2 else -1) * (5_000_123 + 7 * m) for m in range(markets)]
    return circuit.transition(sample_state(markets, seed), EPOCH, prices, CURVE, funding_steps=steps)[2]


def measure(markets: int, repeat: int, funded: bool) -> dict[str, Any]:
    curve = get_curve(CURVE)
    backend = get_backend(curve, None)
    circuit = Settle(markets)
    shape_cs = circuit.synthesize(curve)
    pk = setup(circuit.shape(curve), backend, insecure_test_seed=1)
    times = []
    for i in range(repeat):
        start = time.perf_counter()
        cs = circuit.synthesize(curve, settle_inputs(circuit, i, funded))
        proof = prove(pk, cs, backend)
        times.append(time.perf_counter() - start)
        assert verify(pk.vk, cs.public_values(), proof, backend), "benchmark proof did not verify"
    return {"circuit": circuit.key_name(), "markets": markets, "funding": funded,
            "constraints": shape_cs.num_constraints, "public": shape_cs.num_public, "backend": backend.name,
            "median_s": round(statistics.median(times), 3), "runs_s": [round(t, 3) for t in times]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--markets", type=int, nargs="+", default=[2, 16])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for markets in args.markets:
        for funded in (False, True) if takes_funding() else (False,):
            print(json.dumps(measure(markets, args.repeat, funded)), flush=True)


if __name__ == "__main__":
    main()
