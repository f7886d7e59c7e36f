"""A whole key generation among simulated guardians, with hooks for a cheating dealer."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from zkmargin.edwards import EdwardsCurve
from zkmargin.threshold import (
    Complaint,
    ComplaintAnswer,
    Dealing,
    DkgParameters,
    DkgTranscript,
    GuardianShare,
    SubShare,
    answer_complaints,
    check_dealings,
    conclude,
    deal,
    guardian_share,
)
from zkmargin.threshold.polynomials import lagrange_coefficients

# (dealing, recipient) -> the sub-share the dealer actually sends (None: sends nothing)
Delivery = Callable[[Dealing, int], SubShare | None]


@dataclass
class DkgRun:
    params: DkgParameters
    dealings: list[Dealing]
    received: dict[int, list[SubShare]]
    complaints: list[Complaint]
    answers: list[ComplaintAnswer]
    transcript: DkgTranscript
    shares: dict[int, GuardianShare]


def honest_delivery(dealing: Dealing, recipient: int) -> SubShare | None:
    return dealing.sub_share_for(recipient)


def run_dkg(
    ec: EdwardsCurve,
    threshold: int,
    guardians: int,
    *,
    seed: int = 1,
    session: str = "test-session",
    deliver: Delivery = honest_delivery,
    answer: Callable[[Dealing, list[Complaint]], list[ComplaintAnswer]] | None = None,
) -> DkgRun:
    params = DkgParameters(ec, threshold, guardians, session)
    rng = random.Random(seed)
    dealings = [deal(params, i, randbelow=rng.randrange) for i in range(1, guardians + 1)]
    broadcasts = [d.broadcast for d in dealings]
    received = {
        j: [s for d in dealings if (s := deliver(d, j)) is not None] for j in range(1, guardians + 1)
    }
    complaints = [c for j in received for c in check_dealings(params, j, broadcasts, received[j])]
    respond = answer or (lambda dealing, cs: list(answer_complaints(params, dealing, cs)))
    answers = [a for d in dealings for a in respond(d, complaints)]
    transcript = conclude(params, broadcasts, complaints, answers)
    shares = {j: guardian_share(transcript, j, received[j]) for j in range(1, guardians + 1)}
    return DkgRun(params, dealings, received, complaints, answers, transcript, shares)


def recover_secret(ec: EdwardsCurve, shares: dict[int, int]) -> int:
    """Lagrange at 0 over the scalars: what t colluding guardians could compute."""
    return sum(c * shares[j] for j, c in lagrange_coefficients(list(shares), ec.order).items()) % ec.order
