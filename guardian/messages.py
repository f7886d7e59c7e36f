"""What guardians exchange during the key ceremony, as files in a folder.

Each guardian has two long-term key pairs: X25519 to receive sealed sub-shares (the core's
:mod:`zkmargin.threshold.transport`), Ed25519 to sign its public messages. Their public halves
are its **card**, the one thing the guardians must check out of band (compare the roster digest
``guardian dkg deal`` prints). Every public message is signed: a folder or a mailbox carries the
files, but a broadcast, complaint or answer that its guardian did not sign is refused, so no one
on the channel can forge a complaint (which would make a sub-share public) or a broadcast.

File names in a ceremony folder (J the author, I a dealer)::

    card-J.json                the card (not signed: it is what signatures are checked against)
    broadcast-J.json           J's commitments and proof of knowledge (signed)
    sub-share-I-to-J.json      I's sub-share for J, sealed to J's transport key
    complaints-J.json          J's complaints, possibly none (signed)
    answers-J.json             J's answers to complaints against it, possibly none (signed)
    guardian-set.json          the public guardian set (what the service publishes)
    transcript.json            the DKG transcript the set follows from
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from zkmargin.errors import MalformedInputError
from zkmargin.formats.files import write_atomically
from zkmargin.threshold.dkg import DkgParameters, parameters_from_json, parameters_to_json
from zkmargin.threshold.encoding import (
    as_object,
    canonical_json,
    check_format,
    check_keys,
    read_count,
    read_hex,
)

VERSION = 1
CARD_FORMAT = "zkmargin-guardian-card"
SIGNED_FORMAT = "zkmargin-guardian-signed"
COMPLAINTS_FORMAT = "zkmargin-guardian-complaints"
ANSWERS_FORMAT = "zkmargin-guardian-answers"
KEY_BYTES = 32
SIGNATURE_BYTES = 64
_SIGNATURE_DOMAIN = b"zkmargin/guardian/signed-message/v1\x00"
_PARAMETER_FIELDS = ("curve", "threshold", "guardians", "session")


# --- file names ----------------------------------------------------------------------------


def card_name(index: int) -> str:
    return f"card-{index}.json"


def broadcast_name(dealer: int) -> str:
    return f"broadcast-{dealer}.json"


def sub_share_name(dealer: int, recipient: int) -> str:
    return f"sub-share-{dealer}-to-{recipient}.json"


def complaints_name(complainer: int) -> str:
    return f"complaints-{complainer}.json"


def answers_name(dealer: int) -> str:
    return f"answers-{dealer}.json"


GUARDIAN_SET_NAME = "guardian-set.json"
TRANSCRIPT_NAME = "transcript.json"


# --- parameters ------------------------------------------------------------------------------




def describe(params: DkgParameters) -> str:
    return f"session {params.session!r} ({params.threshold}-of-{params.guardians} on {params.curve.name})"


def require_same_session(expected: DkgParameters, found: DkgParameters, source: str) -> None:
    if found != expected:
        raise MalformedInputError(f"{source}: belongs to {describe(found)}, not {describe(expected)}")


# --- the card and the roster ---------------------------------------------------------------


@dataclass(frozen=True)
class Card:
    """A guardian's public keys, as the others must know them before the ceremony."""

    parameters: DkgParameters
    index: int
    transport_key: bytes  # X25519 public key, raw
    signing_key: bytes  # Ed25519 public key, raw


def card_to_json(card: Card) -> dict[str, Any]:
    return {"format": CARD_FORMAT, "version": VERSION, **parameters_to_json(card.parameters), "index": card.index,
            "transport_key": card.transport_key.hex(), "signing_key": card.signing_key.hex()}


def card_from_json(data: Mapping[str, Any] | str | bytes, source: str = "guardian card") -> Card:
    obj = as_object(data, source)
    check_format(obj, CARD_FORMAT, VERSION, source)
    check_keys(obj, ("format", "version", *_PARAMETER_FIELDS, "index", "transport_key", "signing_key"), source)
    params = parameters_from_json(obj, source)
    return Card(params, read_count(obj["index"], 1, params.guardians, source, "index"),
                read_hex(obj["transport_key"], source, "transport_key", length=KEY_BYTES),
                read_hex(obj["signing_key"], source, "signing_key", length=KEY_BYTES))


@dataclass(frozen=True)
class Roster:
    """Every guardian's card, indices 1..n, all of one session."""

    cards: tuple[Card, ...]

    def card(self, index: int) -> Card:
        return self.cards[index - 1]

    def digest(self) -> str:
        """What the guardians compare out of band: equal digests, equal rosters."""
        return hashlib.sha256(canonical_json([card_to_json(card) for card in self.cards])).hexdigest()


def roster_to_json(roster: Roster) -> list[dict[str, Any]]:
    return [card_to_json(card) for card in roster.cards]


def roster_from_json(params: DkgParameters, data: Any, source: str) -> Roster:
    if not isinstance(data, list):
        raise MalformedInputError(f"{source}: roster: expected a list")
    return make_roster(params, [card_from_json(entry, f"{source}: roster[{i}]") for i, entry in enumerate(data)],
                       source)


def make_roster(params: DkgParameters, cards: Sequence[Card], source: str) -> Roster:
    """The cards in index order; refuses another session, a missing or a doubled index, a reused key."""
    by_index: dict[int, Card] = {}
    for card in cards:
        require_same_session(params, card.parameters, f"{source}: card of guardian {card.index}")
        if card.index in by_index:
            raise MalformedInputError(f"{source}: two cards for guardian {card.index}")
        by_index[card.index] = card
    missing = [j for j in range(1, params.guardians + 1) if j not in by_index]
    if missing:
        raise MalformedInputError(f"{source}: no card of guardian {', '.join(map(str, missing))}")
    ordered = tuple(by_index[j] for j in range(1, params.guardians + 1))
    for what in ("transport_key", "signing_key"):
        if len({getattr(card, what) for card in ordered}) != len(ordered):
            raise MalformedInputError(f"{source}: two guardians show the same {what.replace('_', ' ')}")
    return Roster(ordered)


def read_roster(params: DkgParameters, folder: Path) -> Roster:
    """The n cards ``card-1.json`` .. ``card-n.json`` of ``folder``."""
    cards = []
    for index in range(1, params.guardians + 1):
        path = folder / card_name(index)
        if path.exists():
            card = card_from_json(read_json(path), str(path))
            if card.index != index:
                raise MalformedInputError(f"{path}: holds the card of guardian {card.index}")
            cards.append(card)
    return make_roster(params, cards, str(folder))


# --- signed messages -----------------------------------------------------------------------


def public_signing_key(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _signed_bytes(signer: int, message: Mapping[str, Any]) -> bytes:
    return _SIGNATURE_DOMAIN + canonical_json({"signer": signer, "message": message})


def sign(key: Ed25519PrivateKey, signer: int, message: Mapping[str, Any]) -> dict[str, Any]:
    """``message`` wrapped with its author's index and Ed25519 signature."""
    signature = key.sign(_signed_bytes(signer, message))
    return {"format": SIGNED_FORMAT, "version": VERSION, "signer": signer, "message": dict(message),
            "signature": signature.hex()}


def open_signed(roster: Roster, data: Mapping[str, Any] | str | bytes, author: int, source: str) -> dict[str, Any]:
    """The message of a file that ``author`` signed; refuses anyone else's or a broken signature."""
    obj = as_object(data, source)
    check_format(obj, SIGNED_FORMAT, VERSION, source)
    check_keys(obj, ("format", "version", "signer", "message", "signature"), source)
    signer = read_count(obj["signer"], 1, len(roster.cards), source, "signer")
    message = obj["message"]
    if signer != author or not isinstance(message, dict):
        raise MalformedInputError(f"{source}: not a message of guardian {author}")
    signature = read_hex(obj["signature"], source, "signature", length=SIGNATURE_BYTES)
    public = Ed25519PublicKey.from_public_bytes(roster.card(author).signing_key)
    try:
        public.verify(signature, _signed_bytes(signer, message))
    except InvalidSignature:
        raise MalformedInputError(
            f"{source}: the signature of guardian {author} does not verify (altered on the way, or not from "
            f"guardian {author}): get the file again from guardian {author}") from None
    return message


# --- complaint and answer bundles ------------------------------------------------------------


def bundle(kind: str, params: DkgParameters, author: int, entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One guardian's complaints (``kind`` COMPLAINTS_FORMAT) or answers (ANSWERS_FORMAT), maybe none."""
    return {"format": kind, "version": VERSION, **parameters_to_json(params), "author": author,
            "entries": [dict(entry) for entry in entries]}


def bundle_entries(kind: str, params: DkgParameters, message: Mapping[str, Any], author: int,
                   source: str) -> list[Any]:
    check_format(message, kind, VERSION, source)
    check_keys(message, ("format", "version", *_PARAMETER_FIELDS, "author", "entries"), source)
    require_same_session(params, parameters_from_json(message, source), source)
    if message["author"] != author:
        raise MalformedInputError(f"{source}: written by guardian {message['author']!r}, not {author}")
    entries = message["entries"]
    if not isinstance(entries, list):
        raise MalformedInputError(f"{source}: entries: expected a list")
    return entries


# --- files ---------------------------------------------------------------------------------


def read_json(path: Path) -> Any:
    """A JSON file; a missing or unreadable one is an OSError the command reports with its name."""
    text = path.read_bytes()
    try:
        return json.loads(text)
    except ValueError:
        raise MalformedInputError(f"{path}: not JSON") from None


def write_json(path: Path, document: Mapping[str, Any] | Sequence[Any]) -> None:
    write_atomically(path, (json.dumps(document, indent=2) + "\n").encode())


def write_json_once(path: Path, document: Mapping[str, Any]) -> None:
    """Write ``document`` unless ``path`` holds it already; a different one there is an error."""
    if path.exists():
        if read_json(path) == json.loads(json.dumps(document)):
            return
        raise MalformedInputError(
            f"{path} already holds another document: the guardians did not conclude alike (compare the "
            "transcripts; every guardian must finish from the same messages)")
    write_json(path, document)
