"""The guardian file: one guardian's long-term keys, its ceremony state and, at the end, its share.

A sealed JSON file of the core (:mod:`zkmargin.formats.sealed_json`, format ``zkmargin-guardian``):
0600 in a 0700 folder, written atomically with backups, optionally encrypted with a passphrase
(scrypt, AES-256-GCM), locked while a command uses it. Inside, one document::

    {
      "format": "zkmargin-guardian-state", "version": 1,
      "curve": ..., "threshold": ..., "guardians": ..., "session": ...,
      "index": J,
      "transport_key": "<X25519 private key, hex>",
      "signing_key": "<Ed25519 private key, hex>",
      "roster": null | [card, ...],                       (from `dkg deal`)
      "dealing": null | {"broadcast": {...}, "sub_shares": ["<f_J(1)>", ...]},
      "received": null | {"I": "<f_I(J)>", ...},           (from `dkg check`: the ones that matched)
      "share": null | {zkmargin-guardian-share document}  (from `dkg finish`)
    }

`dkg finish` drops the dealing and the received sub-shares from the file once the share is made
(the backups keep earlier versions, under the same protection).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from circuits.protocol.home import zkmargin_home
from guardian.messages import (
    Card,
    Roster,
    public_signing_key,
    roster_from_json,
    roster_to_json,
)
from zkmargin.errors import MalformedInputError
from zkmargin.formats import sealed_json
from zkmargin.threshold.dkg import (
    Dealing,
    DkgParameters,
    SubShare,
    broadcast_from_json,
    broadcast_to_json,
    parameters_from_json,
    parameters_to_json,
)
from zkmargin.threshold.encoding import (
    as_object,
    check_format,
    check_keys,
    read_count,
    read_hex,
    read_scalar,
)
from zkmargin.threshold.guardians import (
    GuardianShare,
    guardian_share_from_json,
    guardian_share_to_json,
)
from zkmargin.threshold.transport import public_bytes

FILE_FORMAT_NAME = "zkmargin-guardian"
DOCUMENT_FORMAT = "zkmargin-guardian-state"
DOCUMENT_VERSION = 1
FILE_NAME = "guardian.json"
_PRIVATE_KEY_BYTES = 32
_FIELDS = ("format", "version", "curve", "threshold", "guardians", "session", "index", "transport_key",
           "signing_key", "roster", "dealing", "received", "share")


def default_guardian_home() -> Path:
    return zkmargin_home() / "guardian"


def guardian_file(home: Path) -> Path:
    return home / FILE_NAME


# --- the sealed file -------------------------------------------------------------------------

GUARDIAN_FILE_WORDING = sealed_json.FileWording(
    noun="guardian file",
    document="guardian document",
    create_hint="run `zkmargin guardian init` (or pass --home)",
    restore_hint="copy a backup that loads from the .backups folder beside it over it (keep the damaged file)",
    passphrase_needed="pass --passphrase-file FILE or set ZKMARGIN_PASSPHRASE",
    passphrase_check="check --passphrase-file or ZKMARGIN_PASSPHRASE",
)


class GuardianFileError(sealed_json.SealedFileError):
    """The guardian file cannot be read or written as asked."""

    wording = GUARDIAN_FILE_WORDING


class GuardianFileMissingError(GuardianFileError, sealed_json.SealedFileMissingError):
    pass


class GuardianFileExistsError(GuardianFileError, sealed_json.SealedFileExistsError):
    pass


class GuardianFileDamagedError(GuardianFileError, sealed_json.SealedFileDamagedError):
    pass


class UnsupportedGuardianFileError(GuardianFileError, sealed_json.UnsupportedSealedFormatError):
    pass


class GuardianPassphraseRequiredError(GuardianFileError, sealed_json.PassphraseRequiredError):
    pass


class WrongGuardianPassphraseError(GuardianFileError, sealed_json.WrongPassphraseError):
    pass


class GuardianFileBusyError(GuardianFileError, sealed_json.SealedFileBusyError):
    pass


class GuardianPassphrase(sealed_json.Passphrase):
    __slots__ = ()
    error = GuardianFileError


GUARDIAN_FILE = sealed_json.SealedJsonFormat(
    name=FILE_FORMAT_NAME,
    errors=sealed_json.ErrorFamily(
        base=GuardianFileError,
        missing=GuardianFileMissingError,
        exists=GuardianFileExistsError,
        damaged=GuardianFileDamagedError,
        unsupported=UnsupportedGuardianFileError,
        passphrase_required=GuardianPassphraseRequiredError,
        wrong_passphrase=WrongGuardianPassphraseError,
        busy=GuardianFileBusyError,
    ),
    passphrase_class=GuardianPassphrase,
)


# --- the document ----------------------------------------------------------------------------


@dataclass(frozen=True)
class GuardianState:
    """What one guardian keeps; each ceremony step fills one more field."""

    parameters: DkgParameters
    index: int
    transport_key: X25519PrivateKey
    signing_key: Ed25519PrivateKey
    roster: Roster | None = None
    dealing: Dealing | None = None
    received: Mapping[int, int] | None = None  # dealer -> the sub-share it sent us, checked
    share: GuardianShare | None = None

    def __repr__(self) -> str:  # the keys and shares stay out of logs and tracebacks
        return f"GuardianState(index={self.index}, session={self.parameters.session!r}, secrets=<hidden>)"

    @classmethod
    def new(cls, parameters: DkgParameters, index: int) -> GuardianState:
        if not 1 <= index <= parameters.guardians:
            raise MalformedInputError(f"index: expected a guardian index in 1..{parameters.guardians}")
        return cls(parameters, index, X25519PrivateKey.generate(), Ed25519PrivateKey.generate())

    def card(self) -> Card:
        return Card(self.parameters, self.index, public_bytes(self.transport_key),
                    public_signing_key(self.signing_key))

    def with_share(self, share: GuardianShare) -> GuardianState:
        """The finished state: the share, and nothing of the dealing any more."""
        return replace(self, share=share, dealing=None, received=None)


def state_to_document(state: GuardianState) -> dict[str, Any]:
    params = state.parameters
    return {
        "format": DOCUMENT_FORMAT, "version": DOCUMENT_VERSION, **parameters_to_json(params),
        "index": state.index,
        "transport_key": _raw_private(state.transport_key).hex(),
        "signing_key": _raw_private(state.signing_key).hex(),
        "roster": None if state.roster is None else roster_to_json(state.roster),
        "dealing": None if state.dealing is None else _dealing_to_json(params, state.dealing),
        "received": None if state.received is None else {str(i): str(v) for i, v in sorted(state.received.items())},
        "share": None if state.share is None else guardian_share_to_json(state.share),
    }


def state_from_document(document: Mapping[str, Any], source: str) -> GuardianState:
    obj = as_object(document, source)
    check_format(obj, DOCUMENT_FORMAT, DOCUMENT_VERSION, source)
    check_keys(obj, _FIELDS, source)
    params = parameters_from_json(obj, source)
    index = read_count(obj["index"], 1, params.guardians, source, "index")
    state = GuardianState(
        params, index,
        X25519PrivateKey.from_private_bytes(read_hex(obj["transport_key"], source, "transport_key",
                                                     length=_PRIVATE_KEY_BYTES)),
        Ed25519PrivateKey.from_private_bytes(read_hex(obj["signing_key"], source, "signing_key",
                                                      length=_PRIVATE_KEY_BYTES)),
    )
    roster = None if obj["roster"] is None else roster_from_json(params, obj["roster"], source)
    if roster is not None and roster.card(index) != state.card():
        raise MalformedInputError(f"{source}: the roster's card of guardian {index} is not this guardian's")
    dealing = None if obj["dealing"] is None else _dealing_from_json(params, index, obj["dealing"], source)
    received = None if obj["received"] is None else _received_from_json(params, obj["received"], source)
    share = None if obj["share"] is None else guardian_share_from_json(obj["share"], f"{source}: share")
    if share is not None and share.index != index:
        raise MalformedInputError(f"{source}: holds the share of guardian {share.index}, not {index}")
    return replace(state, roster=roster, dealing=dealing, received=received, share=share)


def _raw_private(key: X25519PrivateKey | Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())


def _dealing_to_json(params: DkgParameters, dealing: Dealing) -> dict[str, Any]:
    return {"broadcast": broadcast_to_json(params, dealing.broadcast),
            "sub_shares": [str(sub.value) for sub in dealing.sub_shares]}


def _dealing_from_json(params: DkgParameters, index: int, data: Any, source: str) -> Dealing:
    obj = as_object(data, f"{source}: dealing")
    check_keys(obj, ("broadcast", "sub_shares"), f"{source}: dealing")
    broadcast = broadcast_from_json(params, obj["broadcast"], f"{source}: dealing")
    values = obj["sub_shares"]
    if broadcast.dealer != index or not isinstance(values, list) or len(values) != params.guardians:
        raise MalformedInputError(f"{source}: dealing: not this guardian's, or not one sub-share per guardian")
    return Dealing(broadcast, tuple(
        SubShare(index, j, read_scalar(params.curve, value, source, f"dealing sub_shares[{j - 1}]"))
        for j, value in enumerate(values, start=1)))


def _received_from_json(params: DkgParameters, data: Any, source: str) -> dict[int, int]:
    obj = as_object(data, f"{source}: received")
    received = {}
    for dealer, value in obj.items():
        if not dealer.isdigit():
            raise MalformedInputError(f"{source}: received: {dealer!r} is not a guardian index")
        index = read_count(int(dealer), 1, params.guardians, source, "received dealer")
        received[index] = read_scalar(params.curve, value, source, f"received[{dealer}]")
    return received


# --- reading and writing the file --------------------------------------------------------------


def create_guardian_file(path: Path, state: GuardianState, passphrase: str | None) -> None:
    GUARDIAN_FILE.create(path, state_to_document(state), passphrase)


def load_guardian_file(path: Path, passphrase: str | None) -> GuardianState:
    return state_from_document(GUARDIAN_FILE.load(path, passphrase), str(path))


def save_guardian_file(path: Path, state: GuardianState, passphrase: str | None) -> None:
    GUARDIAN_FILE.save(path, state_to_document(state), passphrase)
