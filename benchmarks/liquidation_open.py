"""Median time of the service's opening of a liquidated state, per market count, on BLS12-381.

    python benchmarks/liquidation_open.py --markets 2 16 --repeat 15

Timed, as ``verifier.services.liquidations`` runs it once t shares are stored: each share's DLEQ
proof checked (``verify_decryption_share``, as each share arrives), the t shares combined, the
escrow decrypted, the state decoded and its commitment compared with the pinned one, and the
close-out planned (``plan_closeout``). Not timed: the database work. 3 guardians, t = 2.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime

from circuits.protocol.closeout import plan_closeout
from circuits.protocol.liquidation import LiquidationRequest, share_context
from circuits.state import AccountState, fresh_salt
from zkmargin.edwards import JUBJUB
from zkmargin.escrow import open_with_shared_point, seal
from zkmargin.threshold import (
    DkgParameters,
    check_dealings,
    combine_decryption_shares,
    conclude,
    deal,
    decryption_share,
    guardian_share,
    verify_decryption_share,
)

CURVE = "bls12381"


def _guardians(seed: int):
    params = DkgParameters(JUBJUB, 2, 3, "bench")
    rng = random.Random(seed)
    dealings = [deal(params, i, randbelow=rng.randrange) for i in range(1, 4)]
    broadcasts = [d.broadcast for d in dealings]
    received = {j: [d.sub_share_for(j) for d in dealings] for j in range(1, 4)}
    assert not [c for j in received for c in check_dealings(params, j, broadcasts, received[j])]
    transcript = conclude(params, broadcasts, [], [])
    return transcript.guardian_set(), {j: guardian_share(transcript, j, received[j]) for j in range(1, 4)}


def _state(markets: int) -> AccountState:
    sizes = tuple(10 if m % 2 == 0 else -7 for m in range(markets))
    costs = tuple(b * 1500 for b in sizes)
    return AccountState(3, 5, fresh_salt(CURVE), 600, sizes, costs, 2)


def one_opening(guardian_set, shares, markets: int) -> float:
    state = _state(markets)
    commitment = state.commitment(CURVE)
    escrow = seal(state.commitment_inputs(), guardian_set.group_key, CURVE)
    request = LiquidationRequest(1, 3, "margin_call", 2, datetime.now(UTC), 0, commitment, escrow.digest(),
                                 "bench", (commitment, escrow.digest()), datetime.now(UTC))
    context = share_context(request)
    made = [decryption_share(shares[j], escrow.ephemeral_key, context=context) for j in (1, 2)]
    start = time.perf_counter()
    for share in made:
        assert verify_decryption_share(guardian_set, escrow.ephemeral_key, share, context=context)
    combined = combine_decryption_shares(guardian_set, escrow.ephemeral_key, made, context=context)
    opened = AccountState.from_commitment_inputs(open_with_shared_point(escrow, combined.shared_point), CURVE)
    assert opened.commitment(CURVE) == commitment
    plan_closeout(opened, [1000] * markets, [50_000] * markets, [100_000] * markets, 200_000,
                  salt=fresh_salt(CURVE), curve=CURVE)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markets", type=int, nargs="+", default=[2, 16])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    guardian_set, shares = _guardians(seed=5)
    for markets in args.markets:
        times = [one_opening(guardian_set, shares, markets) for _ in range(args.repeat)]
        print(f"M = {markets:2d}: median {statistics.median(times) * 1000:.1f} ms, "
              f"min {min(times) * 1000:.1f} ms over {args.repeat} openings (t = 2 of 3, Jubjub)")


if __name__ == "__main__":
    main()
