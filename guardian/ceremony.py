"""One guardian's side of the key ceremony, step by step, over the files of a folder.

The rounds are the core's Joint-Feldman DKG (:mod:`zkmargin.threshold.dkg`); this module reads
and writes their messages as files (:mod:`guardian.messages`) and keeps what the guardian must
remember between the steps in its state (:mod:`guardian.keyfile`). Each step returns the new
state and the files to publish; the commands save the one and write the others.

    init     new key pairs and the card
    deal     the roster (every card), our broadcast and one sealed sub-share per peer
    check    open and check our sub-shares; our complaints, possibly none
    answer   our answers to the complaints against us, possibly none
    finish   conclude from the public messages, make our share, the guardian set

A step refuses to run before the messages it needs are all in the folder, and says which are
missing: every guardian must conclude from the same messages, or they would hold shares of
different keys (the guardian set written in the folder would then disagree, and say so).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from guardian.keyfile import GuardianState
from guardian.messages import (
    ANSWERS_FORMAT,
    COMPLAINTS_FORMAT,
    GUARDIAN_SET_NAME,
    TRANSCRIPT_NAME,
    Roster,
    answers_name,
    broadcast_name,
    bundle,
    bundle_entries,
    complaints_name,
    describe,
    open_signed,
    read_json,
    sign,
    sub_share_name,
)
from zkmargin.errors import MalformedInputError, ZkMarginError
from zkmargin.threshold.dkg import (
    DkgParameters,
    Complaint,
    ComplaintAnswer,
    DealerBroadcast,
    Dealing,
    DkgTranscript,
    SubShare,
    answer_complaints,
    answer_from_json,
    answer_to_json,
    broadcast_from_json,
    broadcast_to_json,
    check_dealings,
    complaint_from_json,
    complaint_to_json,
    conclude,
    deal,
    guardian_share,
    transcript_to_json,
)
from zkmargin.threshold.guardians import GuardianSet, guardian_set_to_json
from zkmargin.threshold.transport import (
    open_sub_share,
    seal_sub_share,
    sealed_from_json,
    sealed_to_json,
)

T = TypeVar("T")

_REASON_LENGTH = 200  # what the core accepts in a complaint


class CeremonyError(ZkMarginError):
    """A step cannot run yet, or not any more."""


Files = dict[str, dict[str, Any]]  # file name -> JSON document to write


@dataclass(frozen=True)
class Conclusion:
    state: GuardianState
    transcript: DkgTranscript
    guardian_set: GuardianSet
    files: Files


# --- deal ----------------------------------------------------------------------------------


def deal_step(state: GuardianState, roster: Roster) -> tuple[GuardianState, Files]:
    """Our broadcast and sealed sub-shares for ``roster``; dealing again re-sends the same dealing."""
    require_not_finished(state)
    if roster.card(state.index) != state.card():
        raise CeremonyError(f"the card of guardian {state.index} among the cards is not this guardian's")
    if state.roster is not None and state.roster != roster:
        raise CeremonyError("this guardian already dealt to other cards (roster digest "
                            f"{state.roster.digest()}); a second dealing would disqualify it")
    dealing = state.dealing or deal(state.parameters, state.index)
    params = state.parameters
    files: Files = {broadcast_name(state.index): sign(state.signing_key, state.index,
                                                      broadcast_to_json(params, dealing.broadcast))}
    for card in roster.cards:
        if card.index != state.index:
            sealed = seal_sub_share(params, dealing.sub_share_for(card.index), state.transport_key, card.transport_key)
            files[sub_share_name(state.index, card.index)] = sealed_to_json(params, sealed)
    return replace(state, roster=roster, dealing=dealing), files


# --- check ---------------------------------------------------------------------------------


def check_step(state: GuardianState, folder: Path) -> tuple[GuardianState, list[Complaint], Files]:
    """Open and check the sub-shares addressed to us; complain about each one missing or wrong."""
    roster, dealing = require_dealt(state)
    params = state.parameters
    broadcasts = read_broadcasts(state, roster, folder)
    if broadcasts[state.index - 1] != dealing.broadcast:
        raise CeremonyError(f"{folder / broadcast_name(state.index)} is not the broadcast this guardian dealt: "
                            "deal again and send the new files")
    sub_shares, problems = open_sub_shares(state, roster, folder)
    others = [b for b in broadcasts if b.dealer != state.index]  # a guardian never complains about itself
    complaints = [
        Complaint(c.complainer, c.dealer, problems.get(c.dealer, c.reason)[:_REASON_LENGTH])
        for c in check_dealings(params, state.index, others, sub_shares)
    ]
    accused = {c.dealer for c in complaints}
    received = {s.dealer: s.value for s in sub_shares if s.dealer not in accused}
    received[state.index] = dealing.sub_share_for(state.index).value
    message = bundle(COMPLAINTS_FORMAT, params, state.index, [complaint_to_json(params, c) for c in complaints])
    files: Files = {complaints_name(state.index): sign(state.signing_key, state.index, message)}
    return replace(state, received=received), complaints, files


def open_sub_shares(state: GuardianState, roster: Roster, folder: Path) -> tuple[list[SubShare], dict[int, str]]:
    """The sub-shares that open, and for each dealer whose file is there but does not, why."""
    opened, problems = [], {}
    for card in roster.cards:
        if card.index == state.index:
            continue
        path = folder / sub_share_name(card.index, state.index)
        if not path.exists():
            continue  # check_dealings complains: "no sub-share received"
        try:
            sealed = sealed_from_json(state.parameters, read_json(path), str(path))
            if (sealed.dealer, sealed.recipient) != (card.index, state.index):
                raise MalformedInputError(f"{path.name} holds the sub-share from {sealed.dealer} to {sealed.recipient}")
            opened.append(open_sub_share(state.parameters, sealed, state.transport_key, card.transport_key))
        except MalformedInputError as exc:
            problems[card.index] = f"sealed sub-share does not open: {exc}"
    return opened, problems


# --- answer --------------------------------------------------------------------------------


def answer_step(state: GuardianState, folder: Path) -> tuple[list[ComplaintAnswer], Files]:
    """Publish the sub-share of every guardian that complained about us."""
    roster, dealing = require_dealt(state)
    params = state.parameters
    complaints = read_complaints(state, roster, folder)
    answers = list(answer_complaints(params, dealing, complaints))
    message = bundle(ANSWERS_FORMAT, params, state.index, [answer_to_json(params, a) for a in answers])
    return answers, {answers_name(state.index): sign(state.signing_key, state.index, message)}


# --- finish --------------------------------------------------------------------------------


def finish_step(state: GuardianState, folder: Path) -> Conclusion:
    """QUAL, the group key and every VK from the public messages; our share; the set and transcript."""
    roster, _ = require_dealt(state)
    if state.received is None:
        raise CeremonyError("this guardian has not checked its sub-shares: run `zkmargin guardian dkg check` first")
    params = state.parameters
    broadcasts = read_broadcasts(state, roster, folder)
    complaints = read_complaints(state, roster, folder)
    answers = read_answers(state, roster, folder, accused=sorted({c.dealer for c in complaints}))
    transcript = conclude(params, broadcasts, complaints, answers)
    received = [SubShare(dealer, state.index, value) for dealer, value in sorted(state.received.items())]
    share = guardian_share(transcript, state.index, received)
    guardian_set = transcript.guardian_set()
    files: Files = {
        GUARDIAN_SET_NAME: guardian_set_to_json(guardian_set),
        TRANSCRIPT_NAME: transcript_to_json(transcript),
    }
    return Conclusion(state.with_share(share), transcript, guardian_set, files)


# --- reading the folder --------------------------------------------------------------------


def read_broadcasts(state: GuardianState, roster: Roster, folder: Path) -> list[DealerBroadcast]:
    params = state.parameters
    messages = read_signed_files(roster, folder, [(i, broadcast_name(i)) for i in range(1, params.guardians + 1)])
    broadcasts = []
    for (dealer, path), message in messages.items():
        broadcast = broadcast_from_json(params, message, str(path))
        if broadcast.dealer != dealer:
            raise MalformedInputError(f"{path}: holds the broadcast of dealer {broadcast.dealer}")
        broadcasts.append(broadcast)
    return broadcasts


def read_complaints(state: GuardianState, roster: Roster, folder: Path) -> list[Complaint]:
    authors = range(1, state.parameters.guardians + 1)
    return _read_bundles(state, roster, folder, [(j, complaints_name(j)) for j in authors], COMPLAINTS_FORMAT,
                         complaint_from_json, lambda complaint: complaint.complainer, "a complaint")


def read_answers(state: GuardianState, roster: Roster, folder: Path, accused: Sequence[int]) -> list[ComplaintAnswer]:
    """The answers of every accused dealer (each must have answered, even with nothing)."""
    return _read_bundles(state, roster, folder, [(i, answers_name(i)) for i in accused], ANSWERS_FORMAT,
                         answer_from_json, lambda answer: answer.dealer, "an answer")


def _read_bundles(state: GuardianState, roster: Roster, folder: Path, wanted: Sequence[tuple[int, str]],
                  bundle_format: str, parse: Callable[[DkgParameters, Any, str], T],
                  author_of: Callable[[T], int], what: str) -> list[T]:
    """Every entry of the signed bundles in ``wanted``; each entry must be its signer's own."""
    params = state.parameters
    entries: list[T] = []
    for (author, path), message in read_signed_files(roster, folder, wanted).items():
        for k, entry in enumerate(bundle_entries(bundle_format, params, message, author, str(path))):
            parsed = parse(params, entry, f"{path}: entries[{k}]")
            if author_of(parsed) != author:
                raise MalformedInputError(f"{path}: entries[{k}]: {what} of guardian {author_of(parsed)}")
            entries.append(parsed)
    return entries


def read_signed_files(roster: Roster, folder: Path,
                      wanted: Sequence[tuple[int, str]]) -> Mapping[tuple[int, Path], dict[str, Any]]:
    """Each wanted file's message, checked against its author's signing key; all must be there."""
    missing = [name for _, name in wanted if not (folder / name).exists()]
    if missing:
        raise CeremonyError(f"{folder} lacks {', '.join(missing)}: wait until every guardian has sent it")
    return {(author, folder / name): open_signed(roster, read_json(folder / name), author, str(folder / name))
            for author, name in wanted}


# --- preconditions -------------------------------------------------------------------------


def require_not_finished(state: GuardianState) -> None:
    if state.share is not None:
        raise CeremonyError(f"this guardian already holds its share of {describe(state.parameters)}")


def require_dealt(state: GuardianState) -> tuple[Roster, Dealing]:
    require_not_finished(state)
    if state.roster is None or state.dealing is None:
        raise CeremonyError("this guardian has not dealt yet: run `zkmargin guardian dkg deal` first")
    return state.roster, state.dealing
