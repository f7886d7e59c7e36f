"""What a portfolio transition pays for the epoch's risk digest in the service.

    python benchmarks/risk_digest.py --instruments 4 16 --repeat 5

The service rebuilds the epoch's arrays from its stored record on every portfolio transfer, fill
and attestation and takes their digest (a public input). Printed per instrument count: the median
time of the Poseidon sponge itself (what each request paid before the digest was cached) and of a
digest of an equal, freshly rebuilt record once cached (what a request pays now). Books of one
future and N - 1 calls on BTC at 60 000, 60 % volatility, S = 16 scenarios, BLS12-381.
"""

from __future__ import annotations

import argparse
import statistics
import time

from circuits.portfolio import risk_arrays_from_json
from circuits.protocol.risk import Future, MarketInputs, Option, OptionRight, epoch_risk_arrays
from circuits.protocol.risk.instruments import instrument_to_dict
from zkmargin.curves import get_curve
from zkmargin.poseidon import poseidon_sponge

NOW = 1_700_000_000
CURVE = "bls12381"


def record(instruments: int) -> dict:
    calls = [Option(0, OptionRight.CALL, 30_000 + 1_000 * i, NOW + 30 * 86_400) for i in range(instruments - 1)]
    risk = epoch_risk_arrays(1, [Future(0), *calls], {0: MarketInputs(60_000, 600_000)}, NOW)
    return {"epoch": risk.epoch, "arrays": [{"instrument": instrument_to_dict(a.instrument), "mark": a.mark,
                                             "short_charge": a.short_charge, "pnl": list(a.pnl),
                                             "expired": a.expired} for a in risk.arrays]}


def median_ms(run, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instruments", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    curve = get_curve(CURVE)
    for n in args.instruments:
        document = record(n)
        risk = risk_arrays_from_json(document, "benchmark")
        sponge = median_ms(lambda r=risk: poseidon_sponge(r.field_elements(), r.domain(CURVE), curve), args.repeat)
        risk.digest(CURVE)  # the first request of the epoch fills the cache
        cached = median_ms(lambda d=document: risk_arrays_from_json(d, "benchmark").digest(CURVE), args.repeat)
        print(f"instruments {n:>3}: sponge {sponge:8.2f} ms   rebuilt record, cached digest {cached:8.3f} ms")


if __name__ == "__main__":
    main()
