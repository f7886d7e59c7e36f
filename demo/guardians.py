"""The demo's three guardians: a real key ceremony in a folder, then each guardian's own checks and
decryption share for a liquidation request, through the guardian's HTTP client.

The ceremony is ``guardian.ceremony``'s five steps (init, deal, check, answer, finish), run by
three guardians in turn over the files of one folder, exactly as ``zkmargin guardian dkg ...``
runs them; no dealer ever holds the whole key. Each guardian keeps its finished state in memory.
Asked for a share, a guardian does what ``zkmargin guardian liquidation share`` does: reads the
request from the service, checks it (``guardian.liquidation.approve``: the pinned operator key
and its signature, the rule at its own clock, the statement, the escrow, the proof against its
own verifying key) and only then posts its share.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from guardian.ceremony import answer_step, check_step, deal_step, finish_step
from guardian.keyfile import GuardianState
from guardian.liquidation import approve, share_for
from guardian.messages import GUARDIAN_SET_NAME, card_name, card_to_json, read_roster, write_json
from guardian.service import LiquidationService
from zkmargin.edwards import EdwardsCurve
from zkmargin.threshold.decryption import decryption_share_to_json
from zkmargin.threshold.dkg import DkgParameters
from zkmargin.threshold.guardians import GuardianSet

Files = dict[str, dict]


@dataclass(frozen=True)
class Ceremony:
    """What the key ceremony left: each guardian's finished state, and the public set's file."""

    guardians: dict[int, GuardianState]
    guardian_set: GuardianSet
    guardian_set_file: Path  # what the service is configured with (ZKMARGIN_GUARDIAN_SET)
    complaints: int


def _publish(folder: Path, files: Files) -> None:
    for name, document in files.items():
        write_json(folder / name, document)


def run_ceremony(folder: Path, curve: EdwardsCurve, threshold: int, count: int) -> Ceremony:
    """Every guardian through every step, the files of one step all published before the next."""
    folder.mkdir(parents=True, exist_ok=True)
    params = DkgParameters(curve, threshold, count, "zkmargin-demo")
    states = {j: GuardianState.new(params, j) for j in range(1, count + 1)}
    for j, state in states.items():
        write_json(folder / card_name(j), card_to_json(state.card()))
    roster = read_roster(params, folder)
    for j in states:
        states[j], files = deal_step(states[j], roster)
        _publish(folder, files)
    complaints = 0
    for j in states:
        states[j], raised, files = check_step(states[j], folder)
        complaints += len(raised)
        _publish(folder, files)
    for j in states:
        _publish(folder, answer_step(states[j], folder)[1])
    conclusions = {j: finish_step(states[j], folder) for j in states}
    guardian_set = conclusions[1].guardian_set
    if any(c.guardian_set != guardian_set for c in conclusions.values()):
        raise RuntimeError("the guardians concluded different key sets")
    _publish(folder, conclusions[1].files)
    return Ceremony({j: c.state for j, c in conclusions.items()}, guardian_set, folder / GUARDIAN_SET_NAME,
                    complaints)


@dataclass(frozen=True)
class PostedShare:
    """One guardian's answer: the checks it made, and how many shares the service holds now."""

    guardian: int
    checks: tuple[str, ...]
    shares_held: int
    threshold: int
    status: str


def post_share(state: GuardianState, url: str, liquidation_id: int, *, operator_key: str, keys_dir: Path,
               grace_seconds: int) -> PostedShare:
    """``zkmargin guardian liquidation share``, for a guardian held in memory."""
    share_of_key = state.share
    if share_of_key is None:
        raise RuntimeError(f"guardian {state.index} holds no share: the ceremony did not finish")
    with LiquidationService(url) as client:
        approved = approve(client.liquidation(liquidation_id), operator_key=operator_key,
                           served_operator_key=client.operator_key(), epochs=client.epoch,
                           guardian_set=share_of_key.guardian_set, keys_dir=keys_dir, now=datetime.now(UTC),
                           grace_seconds=grace_seconds)
        share = share_for(approved, share_of_key)
        answer = client.post_share(liquidation_id, state.index,
                                   decryption_share_to_json(share_of_key.guardian_set, share))
    return PostedShare(state.index, approved.checks, len(answer.shares), answer.threshold, answer.status)
