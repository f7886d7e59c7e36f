"""Median time to combine t-of-n decryption shares, DLEQ proofs verified, on both embedded curves.

    python benchmarks/threshold_bench.py                 # n=3,t=2 and n=5,t=3; 15 repeats
    python benchmarks/threshold_bench.py --repeat 30 --cpu

Each repeat draws a fresh ephemeral point R, so every decryption share is a new point and goes
through the full subgroup check; the guardian set's keys are checked once when it is built (as
the service would do when it loads it). Timed: ``combine_decryption_shares`` on exactly t shares
(the subgroup check of R and of each D_j, each DLEQ proof, the Lagrange combination). Also
reported: one guardian's ``decryption_share`` (D_j and its proof).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from zkmargin.edwards import BABY_JUBJUB, JUBJUB, EdwardsCurve, base_mul, mul  # noqa: E402
from zkmargin.threshold import (  # noqa: E402
    DkgParameters,
    GuardianSet,
    GuardianShare,
    check_dealings,
    combine_decryption_shares,
    conclude,
    deal,
    decryption_share,
    guardian_share,
)

SETTINGS = [(3, 2), (5, 3)]  # (n, t)


def _guardians(ec: EdwardsCurve, n: int, t: int, seed: int) -> tuple[GuardianSet, list[GuardianShare]]:
    params = DkgParameters(ec, t, n, f"bench-{n}-{t}")
    rng = random.Random(seed)
    dealings = [deal(params, i, randbelow=rng.randrange) for i in range(1, n + 1)]
    broadcasts = [d.broadcast for d in dealings]
    inbox = {j: [d.sub_share_for(j) for d in dealings] for j in range(1, n + 1)}
    assert not any(check_dealings(params, j, broadcasts, inbox[j]) for j in inbox)
    transcript = conclude(params, broadcasts, [], [])
    return transcript.guardian_set(), [guardian_share(transcript, j, inbox[j]) for j in inbox]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--cpu", action="store_true", help="process CPU time instead of wall time")
    args = parser.parse_args()
    clock = time.process_time if args.cpu else time.perf_counter
    rng = random.Random(2024)
    print(f"{'curve':<11} {'n':>2} {'t':>2} {'share (ms)':>11} {'combine (ms)':>13}")
    for ec in (BABY_JUBJUB, JUBJUB):
        for n, t in SETTINGS:
            public, shares = _guardians(ec, n, t, seed=n * 10 + t)
            make, combine = [], []
            for _ in range(args.repeat):
                r = 1 + rng.randrange(ec.order - 1)
                ephemeral = base_mul(ec, r)
                start = clock()
                replies = [decryption_share(share, ephemeral, context=b"bench") for share in shares[:t]]
                made = clock()
                result = combine_decryption_shares(public, ephemeral, replies, context=b"bench")
                done = clock()
                assert result.shared_point == mul(ec, r, public.group_key)  # the sender's r·Y
                make.append((made - start) / t)
                combine.append(done - made)
            print(
                f"{ec.name:<11} {n:>2} {t:>2} {statistics.median(make) * 1e3:>11.1f}"
                f" {statistics.median(combine) * 1e3:>13.1f}"
            )


if __name__ == "__main__":
    main()
