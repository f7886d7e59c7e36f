"""Verifiable distributed key generation: Joint-Feldman with proofs of knowledge.

No dealer ever holds the group's secret. Every guardian i = 1..n is also a dealer:

Round 1, :func:`deal`. Dealer i draws a random polynomial f_i of degree t − 1, broadcasts
  the Feldman commitments ``A_ik = a_ik·B`` (k < t) with a Schnorr proof of knowledge of
  ``a_i0`` bound to the session and to i, and sends guardian j the sub-share ``f_i(j)``
  privately (:mod:`zkmargin.threshold.transport` seals it for the wire).
Round 2, :func:`check_dealings`. Guardian j checks each sub-share against the dealer's
  commitments, ``f_i(j)·B = Σ_k j^k·A_ik``, and files a :class:`Complaint` naming the dealer
  for each that is missing or fails.
Round 3, :func:`answer_complaints`. An accused dealer answers each complaint by publishing the
  sub-share it sent; anyone can check the answer against its commitments.
Conclusion, :func:`conclude` (anyone, from public messages only). A dealer is disqualified
  when its broadcast is wrong-shaped or its proof of knowledge fails, when it broadcast twice
  differently, when it leaves a complaint unanswered or answers with a sub-share that fails.
  The others form QUAL; fewer than t qualified dealers and the generation fails. Group key
  ``Y = Σ_{i∈QUAL} A_i0``; guardian j's verification key ``VK_j = Σ_{i∈QUAL} Σ_k j^k·A_ik``,
  computed by anyone from the transcript.
Guardian j's share, :func:`guardian_share`: ``s_j = Σ_{i∈QUAL} f_i(j)`` (a sub-share it
  complained about comes from the dealer's public answer), checked against ``VK_j``.

A false complaint costs the accuser nothing but makes one sub-share public, which the protocol
tolerates: it does not let an accuser disqualify an honest dealer, because the answer clears it.

Why Joint-Feldman and not GJKR's Pedersen-VSS: see docs/protocol.md, "Threshold guardians".

Every round is plain data in and out, with JSON codecs, so a CLI or an HTTP exchange can carry
it; the broadcast channel (everyone sees the same broadcasts, complaints and answers, and knows
who sent them) is the integration's job.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from zkmargin.edwards import IDENTITY, EdwardsCurve, Point, add, base_mul, point_to_json
from zkmargin.errors import MalformedInputError
from zkmargin.threshold.dleq import (
    DleqProof,
    proof_from_json,
    proof_to_json,
    prove_knowledge,
    verify_knowledge,
)
from zkmargin.threshold.encoding import (
    MAX_GUARDIANS,
    JsonDocument,
    as_object,
    canonical_json,
    check_format,
    check_keys,
    framed,
    read_count,
    read_curve,
    read_list,
    read_point,
    read_scalar,
    read_text,
    require_group_element,
    require_index,
    require_scalar,
    require_threshold,
)
from zkmargin.threshold.errors import DkgFailedError, InconsistentShareError
from zkmargin.threshold.guardians import GuardianSet, GuardianShare
from zkmargin.threshold.polynomials import evaluate, evaluate_in_group

VERSION = 1
BROADCAST_FORMAT = "zkmargin-dkg-broadcast"
SUB_SHARE_FORMAT = "zkmargin-dkg-sub-share"
COMPLAINT_FORMAT = "zkmargin-dkg-complaint"
ANSWER_FORMAT = "zkmargin-dkg-answer"
TRANSCRIPT_FORMAT = "zkmargin-dkg-transcript"
_SESSION = re.compile(r"[A-Za-z0-9._:-]{1,128}\Z")
_REASON_LENGTH = 200

ScalarSource = Callable[[int], int]  # randbelow-like: a uniform integer in [0, bound)


@dataclass(frozen=True)
class DkgParameters:
    """What every guardian agrees on before round 1; ``session`` names this generation."""

    curve: EdwardsCurve
    threshold: int
    guardians: int
    session: str

    def __post_init__(self) -> None:
        require_threshold(self.threshold, self.guardians)
        if not isinstance(self.session, str) or not _SESSION.match(self.session):
            raise MalformedInputError("session: expected 1-128 characters of [A-Za-z0-9._:-]")

    def context(self, dealer: int) -> bytes:
        """What a dealer's proof of knowledge binds: this session and this dealer."""
        return framed(
            b"zkmargin/threshold/dkg/v1",
            self.curve.name.encode(),
            str(self.threshold).encode(),
            str(self.guardians).encode(),
            self.session.encode(),
            str(dealer).encode(),
        )


@dataclass(frozen=True)
class DealerBroadcast:
    dealer: int
    commitments: tuple[Point, ...]  # A_i0 .. A_i,t-1
    proof_of_knowledge: DleqProof  # of a_i0 = log_B(A_i0)


@dataclass(frozen=True)
class SubShare:
    """``f_dealer(recipient)``: secret, for the recipient's eyes only."""

    dealer: int
    recipient: int
    value: int

    def __repr__(self) -> str:
        return f"SubShare(dealer={self.dealer}, recipient={self.recipient}, value=<secret>)"


@dataclass(frozen=True)
class Dealing:
    """A dealer's round-1 output: one broadcast, and one sub-share per guardian (itself included)."""

    broadcast: DealerBroadcast
    sub_shares: tuple[SubShare, ...]

    def sub_share_for(self, recipient: int) -> SubShare:
        return self.sub_shares[recipient - 1]


@dataclass(frozen=True)
class Complaint:
    complainer: int
    dealer: int
    reason: str


@dataclass(frozen=True)
class ComplaintAnswer:
    """The dealer's public reply to a complaint: the sub-share it sent to ``recipient``."""

    dealer: int
    recipient: int
    value: int


@dataclass(frozen=True)
class DkgTranscript:
    """Everything public about one generation, and what follows from it."""

    parameters: DkgParameters
    broadcasts: tuple[DealerBroadcast, ...]
    complaints: tuple[Complaint, ...]
    answers: tuple[ComplaintAnswer, ...]
    qualified: tuple[int, ...]
    disqualified: Mapping[int, str] = field(default_factory=dict)

    def qualified_broadcasts(self) -> list[DealerBroadcast]:
        by_dealer = {b.dealer: b for b in self.broadcasts}
        return [by_dealer[i] for i in self.qualified]

    def aggregate_commitments(self) -> list[Point]:
        """``C_k = Σ_{i∈QUAL} A_ik``: the commitments of the joint polynomial Σ f_i."""
        ec = self.parameters.curve
        joint = [IDENTITY] * self.parameters.threshold
        for broadcast in self.qualified_broadcasts():
            joint = [add(ec, c, a) for c, a in zip(joint, broadcast.commitments)]
        return joint

    def digest(self) -> str:
        return hashlib.sha256(canonical_json(transcript_to_json(self))).hexdigest()

    def guardian_set(self) -> GuardianSet:
        return self._guardian_set

    @cached_property
    def _guardian_set(self) -> GuardianSet:  # computed once: every guardian's share needs it
        params, joint = self.parameters, self.aggregate_commitments()
        return GuardianSet(
            curve=params.curve,
            threshold=params.threshold,
            guardians=params.guardians,
            group_key=joint[0],
            verification_keys=tuple(
                evaluate_in_group(params.curve, joint, j) for j in range(1, params.guardians + 1)
            ),
            transcript_digest=self.digest(),
        )


# --- round 1: deal ---------------------------------------------------------------------


def deal(params: DkgParameters, dealer: int, *, randbelow: ScalarSource | None = None) -> Dealing:
    """Dealer ``dealer``'s polynomial, its commitments and proof, and the n sub-shares.

    The polynomial itself is not kept: the sub-shares are all a dealer needs later (to answer
    complaints). ``randbelow`` defaults to :func:`secrets.randbelow`; tests pass a seeded one.
    """
    require_index(dealer, params.guardians, "dealer")
    draw = randbelow or secrets.randbelow
    ec = params.curve
    coefficients = [1 + draw(ec.order - 1)] + [draw(ec.order) for _ in range(params.threshold - 1)]
    broadcast = DealerBroadcast(
        dealer=dealer,
        commitments=tuple(base_mul(ec, a) for a in coefficients),
        proof_of_knowledge=prove_knowledge(
            ec, coefficients[0], context=params.context(dealer), randomness=draw(1 << 256).to_bytes(32, "big")
        ),
    )
    sub_shares = tuple(
        SubShare(dealer, j, evaluate(coefficients, j, ec.order)) for j in range(1, params.guardians + 1)
    )
    return Dealing(broadcast, sub_shares)


# --- round 2: check the sub-shares, complain --------------------------------------------


def broadcast_fault(params: DkgParameters, broadcast: DealerBroadcast) -> str | None:
    """Why ``broadcast`` disqualifies its dealer by itself, or None if it does not."""
    ec = params.curve
    if len(broadcast.commitments) != params.threshold:
        return f"broadcast {len(broadcast.commitments)} commitments, expected {params.threshold}"
    try:
        for commitment in broadcast.commitments:
            require_group_element(ec, commitment, "commitment")
        if not verify_knowledge(
            ec, broadcast.commitments[0], broadcast.proof_of_knowledge, context=params.context(broadcast.dealer)
        ):
            return "its proof of knowledge of the constant term does not verify"
    except MalformedInputError as exc:
        return f"malformed broadcast ({exc})"
    return None


def sub_share_matches(params: DkgParameters, broadcast: DealerBroadcast, recipient: int, value: int) -> bool:
    """Feldman's check ``value·B = Σ_k recipient^k · A_ik``."""
    ec = params.curve
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < ec.order:
        return False
    return base_mul(ec, value) == evaluate_in_group(ec, broadcast.commitments, recipient)


def check_dealings(
    params: DkgParameters,
    recipient: int,
    broadcasts: Sequence[DealerBroadcast],
    sub_shares: Sequence[SubShare],
) -> tuple[Complaint, ...]:
    """Guardian ``recipient``'s complaints: one per dealer whose sub-share is missing or fails.

    Dealers whose broadcast fails by itself are left to :func:`conclude` (everyone sees that).
    """
    require_index(recipient, params.guardians, "recipient")
    received = _sub_shares_by_dealer(params, recipient, sub_shares)
    complaints = []
    for broadcast in _unique_broadcasts(params, broadcasts).values():
        if broadcast is None or broadcast_fault(params, broadcast) is not None:
            continue
        sub_share = received.get(broadcast.dealer)
        if sub_share is None:
            complaints.append(Complaint(recipient, broadcast.dealer, "no sub-share received"))
        elif not sub_share_matches(params, broadcast, recipient, sub_share.value):
            complaints.append(Complaint(recipient, broadcast.dealer, "sub-share does not match the commitments"))
    return tuple(complaints)


# --- round 3: answer complaints ---------------------------------------------------------


def answer_complaints(
    params: DkgParameters, dealing: Dealing, complaints: Iterable[Complaint]
) -> tuple[ComplaintAnswer, ...]:
    """The dealer publishes the sub-share of every guardian that complained about it."""
    dealer = dealing.broadcast.dealer
    accusers = sorted({c.complainer for c in complaints if c.dealer == dealer})
    return tuple(ComplaintAnswer(dealer, j, dealing.sub_share_for(j).value) for j in accusers)


# --- conclusion ------------------------------------------------------------------------


def conclude(
    params: DkgParameters,
    broadcasts: Sequence[DealerBroadcast],
    complaints: Sequence[Complaint],
    answers: Sequence[ComplaintAnswer],
) -> DkgTranscript:
    """Decide QUAL from the public messages; raise DkgFailedError if fewer than t qualify."""
    for complaint in complaints:
        _check_complaint(params, complaint)
    for answer in answers:
        _check_answer(params, answer)
    unique = _unique_broadcasts(params, broadcasts)
    complaints = sorted(set(complaints), key=lambda c: (c.dealer, c.complainer, c.reason))
    accused = {(c.dealer, c.complainer) for c in complaints}
    answers = sorted({a for a in answers if (a.dealer, a.recipient) in accused}, key=lambda a: (a.dealer, a.recipient))
    disqualified: dict[int, str] = {}
    for dealer in range(1, params.guardians + 1):
        fault = _dealer_fault(params, dealer, unique.get(dealer, _ABSENT), complaints, answers)
        if fault is not None:
            disqualified[dealer] = fault
    qualified = tuple(i for i in range(1, params.guardians + 1) if i not in disqualified)
    if len(qualified) < params.threshold:
        raise DkgFailedError(len(qualified), params.threshold, disqualified)
    kept = sorted(set(broadcasts), key=lambda b: (b.dealer, _broadcast_key(b)))
    return DkgTranscript(params, tuple(kept), tuple(complaints), tuple(answers), qualified, disqualified)


_ABSENT = object()


def _dealer_fault(
    params: DkgParameters,
    dealer: int,
    broadcast: DealerBroadcast | None | object,
    complaints: Sequence[Complaint],
    answers: Sequence[ComplaintAnswer],
) -> str | None:
    if broadcast is _ABSENT:
        return "sent no broadcast"
    if not isinstance(broadcast, DealerBroadcast):
        return "broadcast two different commitment lists"
    fault = broadcast_fault(params, broadcast)
    if fault is not None:
        return fault
    for complainer in sorted({c.complainer for c in complaints if c.dealer == dealer}):
        replies = {a.value for a in answers if a.dealer == dealer and a.recipient == complainer}
        if not replies:
            return f"did not answer the complaint of guardian {complainer}"
        if len(replies) > 1:
            return f"answered the complaint of guardian {complainer} twice differently"
        if not sub_share_matches(params, broadcast, complainer, replies.pop()):
            return f"answered the complaint of guardian {complainer} with a sub-share that does not match"
    return None


def _unique_broadcasts(
    params: DkgParameters, broadcasts: Sequence[DealerBroadcast]
) -> dict[int, DealerBroadcast | None]:
    """One broadcast per dealer; None for a dealer that broadcast two different ones."""
    unique: dict[int, DealerBroadcast | None] = {}
    for broadcast in broadcasts:
        if not isinstance(broadcast, DealerBroadcast):
            raise MalformedInputError("broadcasts: expected DealerBroadcast values")
        require_index(broadcast.dealer, params.guardians, "broadcast dealer")
        seen = unique.get(broadcast.dealer, broadcast)
        unique[broadcast.dealer] = broadcast if seen == broadcast else None
    return unique


def _broadcast_key(broadcast: DealerBroadcast) -> tuple[Any, ...]:
    proof = broadcast.proof_of_knowledge
    return (broadcast.commitments, proof.challenge, proof.response)


def _sub_shares_by_dealer(
    params: DkgParameters, recipient: int, sub_shares: Sequence[SubShare]
) -> dict[int, SubShare]:
    by_dealer: dict[int, SubShare] = {}
    for sub_share in sub_shares:
        if not isinstance(sub_share, SubShare):
            raise MalformedInputError("sub-shares: expected SubShare values")
        require_index(sub_share.dealer, params.guardians, "sub-share dealer")
        if sub_share.recipient != recipient:
            raise MalformedInputError(
                f"sub-share from dealer {sub_share.dealer} is addressed to guardian {sub_share.recipient},"
                f" not {recipient}"
            )
        if by_dealer.setdefault(sub_share.dealer, sub_share) != sub_share:
            raise MalformedInputError(f"two different sub-shares from dealer {sub_share.dealer}")
    return by_dealer


def _check_complaint(params: DkgParameters, complaint: Complaint) -> None:
    if not isinstance(complaint, Complaint):
        raise MalformedInputError("complaints: expected Complaint values")
    require_index(complaint.complainer, params.guardians, "complainer")
    require_index(complaint.dealer, params.guardians, "accused dealer")
    if complaint.complainer == complaint.dealer:
        raise MalformedInputError(f"guardian {complaint.dealer} complains about itself")
    if not isinstance(complaint.reason, str) or len(complaint.reason) > _REASON_LENGTH:
        raise MalformedInputError(f"complaint reason: expected a string of at most {_REASON_LENGTH} characters")


def _check_answer(params: DkgParameters, answer: ComplaintAnswer) -> None:
    if not isinstance(answer, ComplaintAnswer):
        raise MalformedInputError("answers: expected ComplaintAnswer values")
    require_index(answer.dealer, params.guardians, "answering dealer")
    require_index(answer.recipient, params.guardians, "answer recipient")
    require_scalar(params.curve, answer.value, "answered sub-share")


# --- a guardian's share ----------------------------------------------------------------


def guardian_share(transcript: DkgTranscript, recipient: int, sub_shares: Sequence[SubShare]) -> GuardianShare:
    """``s_j = Σ_{i∈QUAL} f_i(j)``; a complained-about sub-share comes from the public answer."""
    params = transcript.parameters
    require_index(recipient, params.guardians, "recipient")
    received = _sub_shares_by_dealer(params, recipient, sub_shares)
    answered = {a.dealer: a.value for a in transcript.answers if a.recipient == recipient}
    total = 0
    for broadcast in transcript.qualified_broadcasts():
        value = answered.get(broadcast.dealer)
        if value is None:
            sub_share = received.get(broadcast.dealer)
            if sub_share is None or not sub_share_matches(params, broadcast, recipient, sub_share.value):
                raise InconsistentShareError(
                    recipient, f"the sub-share of qualified dealer {broadcast.dealer} is missing or wrong, "
                    "and this guardian filed no complaint about it"
                )
            value = sub_share.value
        total = (total + value) % params.curve.order
    try:
        return GuardianShare(transcript.guardian_set(), recipient, total)
    except MalformedInputError as exc:
        raise InconsistentShareError(recipient, str(exc)) from None


# --- JSON ------------------------------------------------------------------------------


def parameters_to_json(params: DkgParameters) -> dict[str, Any]:
    """The parameters every DKG message carries: curve, t, n and the session."""
    return {"curve": params.curve.name, "threshold": params.threshold, "guardians": params.guardians,
            "session": params.session}


def parameters_from_json(obj: Mapping[str, Any], source: str) -> DkgParameters:
    ec = read_curve(obj["curve"], source)
    guardians = read_count(obj["guardians"], 1, MAX_GUARDIANS, source, "guardians")
    threshold = read_count(obj["threshold"], 1, guardians, source, "threshold")
    try:
        return DkgParameters(ec, threshold, guardians, read_text(obj["session"], source, "session"))
    except MalformedInputError as exc:
        raise MalformedInputError(f"{source}: {exc}") from None


def _header(params: DkgParameters, name: str) -> dict[str, Any]:
    return {"format": name, "version": VERSION, **parameters_to_json(params)}


_HEADER_FIELDS = ("format", "version", "curve", "threshold", "guardians", "session")


def _read_header(obj: Mapping[str, Any], name: str, fields: Sequence[str], source: str) -> DkgParameters:
    check_format(obj, name, VERSION, source)
    check_keys(obj, (*_HEADER_FIELDS, *fields), source)
    return parameters_from_json(obj, source)


def _expect_parameters(params: DkgParameters, got: DkgParameters, source: str) -> None:
    if got != params:
        raise MalformedInputError(
            f"{source}: belongs to session {got.session!r} ({got.curve.name}, {got.threshold}-of-{got.guardians}),"
            f" not {params.session!r} ({params.curve.name}, {params.threshold}-of-{params.guardians})"
        )


def broadcast_to_json(params: DkgParameters, broadcast: DealerBroadcast) -> dict[str, Any]:
    return {
        **_header(params, BROADCAST_FORMAT),
        "dealer": broadcast.dealer,
        "commitments": [point_to_json(c) for c in broadcast.commitments],
        "proof_of_knowledge": proof_to_json(broadcast.proof_of_knowledge),
    }


def broadcast_from_json(params: DkgParameters, data: JsonDocument, source: str = "DKG broadcast") -> DealerBroadcast:
    obj = as_object(data, source)
    fields = ("dealer", "commitments", "proof_of_knowledge")
    _expect_parameters(params, _read_header(obj, BROADCAST_FORMAT, fields, source), source)
    ec = params.curve
    commitments = read_list(obj["commitments"], source, "commitments", length=params.threshold)
    return DealerBroadcast(
        dealer=read_count(obj["dealer"], 1, params.guardians, source, "dealer"),
        commitments=tuple(read_point(ec, c, source, f"commitments[{k}]") for k, c in enumerate(commitments)),
        proof_of_knowledge=proof_from_json(ec, obj["proof_of_knowledge"], source, "proof_of_knowledge"),
    )


def sub_share_to_json(params: DkgParameters, sub_share: SubShare) -> dict[str, Any]:
    """The plaintext of a private message: seal it (:mod:`~zkmargin.threshold.transport`) for the wire."""
    return {
        **_header(params, SUB_SHARE_FORMAT),
        "dealer": sub_share.dealer,
        "recipient": sub_share.recipient,
        "value": str(sub_share.value),
    }


def sub_share_from_json(params: DkgParameters, data: JsonDocument, source: str = "DKG sub-share") -> SubShare:
    obj = as_object(data, source)
    _expect_parameters(params, _read_header(obj, SUB_SHARE_FORMAT, ("dealer", "recipient", "value"), source), source)
    return SubShare(
        dealer=read_count(obj["dealer"], 1, params.guardians, source, "dealer"),
        recipient=read_count(obj["recipient"], 1, params.guardians, source, "recipient"),
        value=read_scalar(params.curve, obj["value"], source, "value"),
    )


def complaint_to_json(params: DkgParameters, complaint: Complaint) -> dict[str, Any]:
    return {
        **_header(params, COMPLAINT_FORMAT),
        "complainer": complaint.complainer,
        "dealer": complaint.dealer,
        "reason": complaint.reason,
    }


def complaint_from_json(params: DkgParameters, data: JsonDocument, source: str = "DKG complaint") -> Complaint:
    obj = as_object(data, source)
    _expect_parameters(params, _read_header(obj, COMPLAINT_FORMAT, ("complainer", "dealer", "reason"), source), source)
    complaint = Complaint(
        complainer=read_count(obj["complainer"], 1, params.guardians, source, "complainer"),
        dealer=read_count(obj["dealer"], 1, params.guardians, source, "dealer"),
        reason=read_text(obj["reason"], source, "reason"),
    )
    try:
        _check_complaint(params, complaint)
    except MalformedInputError as exc:
        raise MalformedInputError(f"{source}: {exc}") from None
    return complaint


def answer_to_json(params: DkgParameters, answer: ComplaintAnswer) -> dict[str, Any]:
    return {
        **_header(params, ANSWER_FORMAT),
        "dealer": answer.dealer,
        "recipient": answer.recipient,
        "value": str(answer.value),
    }


def answer_from_json(params: DkgParameters, data: JsonDocument, source: str = "DKG answer") -> ComplaintAnswer:
    obj = as_object(data, source)
    _expect_parameters(params, _read_header(obj, ANSWER_FORMAT, ("dealer", "recipient", "value"), source), source)
    return ComplaintAnswer(
        dealer=read_count(obj["dealer"], 1, params.guardians, source, "dealer"),
        recipient=read_count(obj["recipient"], 1, params.guardians, source, "recipient"),
        value=read_scalar(params.curve, obj["value"], source, "value"),
    )


def transcript_to_json(transcript: DkgTranscript) -> dict[str, Any]:
    params = transcript.parameters
    return {
        **_header(params, TRANSCRIPT_FORMAT),
        "broadcasts": [_body(broadcast_to_json(params, b)) for b in transcript.broadcasts],
        "complaints": [_body(complaint_to_json(params, c)) for c in transcript.complaints],
        "answers": [_body(answer_to_json(params, a)) for a in transcript.answers],
        "qualified": list(transcript.qualified),
        "disqualified": {str(i): reason for i, reason in sorted(transcript.disqualified.items())},
    }


def transcript_from_json(data: JsonDocument, source: str = "DKG transcript") -> DkgTranscript:
    """Read the messages and re-run :func:`conclude`: the written outcome must be what follows."""
    obj = as_object(data, source)
    fields = ("broadcasts", "complaints", "answers", "qualified", "disqualified")
    params = _read_header(obj, TRANSCRIPT_FORMAT, fields, source)
    header = _header(params, "")

    def message(name: str, entry: Any, where: str) -> dict[str, Any]:
        if not isinstance(entry, dict):
            raise MalformedInputError(f"{where}: expected an object")
        return {**entry, **header, "format": name}

    def where(name: str, i: int) -> str:
        return f"{source}: {name}[{i}]"

    broadcasts = [
        broadcast_from_json(params, message(BROADCAST_FORMAT, e, where("broadcasts", i)), where("broadcasts", i))
        for i, e in enumerate(read_list(obj["broadcasts"], source, "broadcasts"))
    ]
    complaints = [
        complaint_from_json(params, message(COMPLAINT_FORMAT, e, where("complaints", i)), where("complaints", i))
        for i, e in enumerate(read_list(obj["complaints"], source, "complaints"))
    ]
    answers = [
        answer_from_json(params, message(ANSWER_FORMAT, e, where("answers", i)), where("answers", i))
        for i, e in enumerate(read_list(obj["answers"], source, "answers"))
    ]
    transcript = conclude(params, broadcasts, complaints, answers)
    if transcript_to_json(transcript) != dict(obj):
        raise MalformedInputError(f"{source}: the written outcome (or message order) is not what the messages give")
    return transcript


def _body(message: dict[str, Any]) -> dict[str, Any]:
    """A message inside a transcript: the transcript's header says the rest once."""
    return {k: v for k, v in message.items() if k not in _HEADER_FIELDS}
