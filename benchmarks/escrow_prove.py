"""Constraints and median proving time of transfer, fill and settle with and without the escrow.

    python benchmarks/escrow_prove.py --markets 2 16 --repeat 3

Per M and statement: the plain statement and its escrow variant (the new state sealed to a
guardian key given as a public input), on BLS12-381 with the default backend, in the same
sitting. Setup is not timed; each repeat builds the successor with ``transition`` (the escrow
variant draws a fresh ephemeral scalar and seals), synthesizes the witness and proves, like
``zkmargin bench prove``; every proof is verified. One JSON line per circuit.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from circuits import get_circuit
from circuits.common import TransitionCircuit
from circuits.state import AccountState, Fill, fresh_salt
from zkmargin.backends import get_backend
from zkmargin.curves import get_curve
from zkmargin.edwards import base_mul, embedded_curve
from zkmargin.groth16 import prove, setup, verify

CURVE = "bls12381"
STATEMENTS = ("transfer", "fill", "settle")


def sample_state(markets: int, seed: int) -> AccountState:
    """A healthy account with a position in every market (long and short alternating), in epoch 5."""
    prices = [50_000 + 17 * m for m in range(markets)]
    sizes = tuple((1 if m % 2 else -1) * (1_000 + m + seed) for m in range(markets))
    costs = tuple(b * (p - 25) for b, p in zip(sizes, prices))
    return AccountState(seed + 1, seed, fresh_salt(CURVE), 10**12, sizes, costs, 5)


def transition_inputs(circuit: Any, seed: int, escrow_key: Any) -> dict[str, Any]:
    markets = circuit.markets
    state = sample_state(markets, seed)
    prices, rates = [50_000 + 17 * m for m in range(markets)], [50_000] * markets
    key = {"escrow_key": escrow_key} if circuit.escrow else {}
    if circuit.name == "transfer":
        return circuit.transition(state, -1_000, 5, prices, rates, CURVE, **key)[1]
    if circuit.name == "fill":
        fill = Fill(state.account_id, 1, 0, 3, prices[0], 10, fresh_salt(CURVE))
        return circuit.transition(state, fill, 5, prices, rates, [25_000] * markets, CURVE,
                                  **key)[1]
    return circuit.transition(state, 5, [p + 3 for p in prices], CURVE, **key)[2]


def measure(circuit: TransitionCircuit, repeat: int, escrow_key: Any) -> dict[str, Any]:
    curve = get_curve(CURVE)
    backend = get_backend(curve, None)
    shape_cs = circuit.synthesize(curve)
    pk = setup(circuit.shape(curve), backend, insecure_test_seed=1)
    times = []
    for i in range(repeat):
        start = time.perf_counter()
        cs = circuit.synthesize(curve, transition_inputs(circuit, i, escrow_key))
        proof = prove(pk, cs, backend)
        times.append(time.perf_counter() - start)
        assert verify(pk.vk, cs.public_values(), proof, backend), "benchmark proof did not verify"
    return {"circuit": circuit.key_name(), "constraints": shape_cs.num_constraints, "public": shape_cs.num_public,
            "backend": backend.name, "median_s": round(statistics.median(times), 3),
            "runs_s": [round(t, 3) for t in times]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--markets", type=int, nargs="+", default=[2, 16])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--statements", nargs="+", default=list(STATEMENTS), choices=STATEMENTS)
    args = parser.parse_args()
    escrow_key = base_mul(embedded_curve(CURVE), 123_456_789)  # any key: the cost does not depend on it
    for markets in args.markets:
        for name in args.statements:
            for escrow in (False, True):
                circuit = get_circuit(name, markets=markets, escrow=escrow)
                assert isinstance(circuit, TransitionCircuit)
                print(json.dumps(measure(circuit, args.repeat, escrow_key)), flush=True)


if __name__ == "__main__":
    main()
