"""The trader's private state file: crash-safe, backed up, optionally encrypted, locked.

The state is one JSON object (bearer token, private keys, positions, commitment salt, ...);
this module never looks inside it. The machinery (envelope, encryption, backups, locking) is
the core's sealed JSON file, :mod:`zkmargin.formats.sealed_json`, whose docstring describes
the on-disk format; the trader's file is its format ``zkmargin-state``. What this module adds
is what the trader reads: the errors' classes and their advice (which ``zkmargin`` command to
run, where the passphrase comes from).

Callers hold ``locked(path)`` around load-modify-save: the clean-up of crash leftovers
assumes no other zkmargin process is writing the same state.
"""

from __future__ import annotations

from zkmargin.formats import sealed_json
from zkmargin.formats.sealed_json import (
    DEFAULT_BACKUPS_KEPT,
    DEFAULT_SCRYPT_N,
    PRIVATE_DIRECTORY_MODE,
    PRIVATE_FILE_MODE,
    SCRYPT_N_RANGE,
    SCRYPT_P_RANGE,
    SCRYPT_R_RANGE,
    Backup,
    ErrorFamily,
    FileWording,
    PassphraseLike,
    SealedJsonFormat,
)

__all__ = [
    "DEFAULT_BACKUPS_KEPT", "DEFAULT_SCRYPT_N", "FORMAT_NAME", "FORMAT_VERSION", "PRIVATE_DIRECTORY_MODE",
    "PRIVATE_FILE_MODE", "SCRYPT_N_RANGE", "SCRYPT_P_RANGE", "SCRYPT_R_RANGE", "STATE_FORMAT", "Backup",
    "Passphrase", "PassphraseLike", "PassphraseRequiredError", "StateFileBusyError", "StateFileDamagedError",
    "StateFileError", "StateFileExistsError", "StateFileMissingError", "UnsupportedStateFormatError",
    "WrongPassphraseError", "change_passphrase", "create", "is_encrypted", "list_backups", "load", "locked",
    "restore", "save",
]

FORMAT_NAME = "zkmargin-state"
FORMAT_VERSION = sealed_json.ENVELOPE_VERSION

STATE_FILE_WORDING = FileWording(
    noun="state file",
    document="state document",
    create_hint="run `zkmargin account new --service URL`",
    restore_hint="run `zkmargin account restore`",
    passphrase_needed="pass --passphrase-file FILE or set ZKMARGIN_PASSPHRASE",
    passphrase_check="check --passphrase-file or ZKMARGIN_PASSPHRASE",
)


# --- errors: the core's, worded for the trader --------------------------------------------


class StateFileError(sealed_json.SealedFileError):
    """A state file cannot be read or written as asked."""

    wording = STATE_FILE_WORDING


class StateFileMissingError(StateFileError, sealed_json.SealedFileMissingError):
    pass


class StateFileExistsError(StateFileError, sealed_json.SealedFileExistsError):
    pass


class StateFileDamagedError(StateFileError, sealed_json.SealedFileDamagedError):
    """The file is not an intact envelope; ``backup`` is the newest backup that loads, if any."""


class UnsupportedStateFormatError(StateFileError, sealed_json.UnsupportedSealedFormatError):
    pass


class PassphraseRequiredError(StateFileError, sealed_json.PassphraseRequiredError):
    pass


class WrongPassphraseError(StateFileError, sealed_json.WrongPassphraseError):
    pass


class StateFileBusyError(StateFileError, sealed_json.SealedFileBusyError):
    pass


class Passphrase(sealed_json.Passphrase):
    """A passphrase that never shows itself in a repr, a str or an error message."""

    __slots__ = ()
    error = StateFileError


STATE_FORMAT = SealedJsonFormat(
    name=FORMAT_NAME,
    errors=ErrorFamily(
        base=StateFileError,
        missing=StateFileMissingError,
        exists=StateFileExistsError,
        damaged=StateFileDamagedError,
        unsupported=UnsupportedStateFormatError,
        passphrase_required=PassphraseRequiredError,
        wrong_passphrase=WrongPassphraseError,
        busy=StateFileBusyError,
    ),
    passphrase_class=Passphrase,
)

# --- the API the trader's commands use (see SealedJsonFormat for each) ----------------------

create = STATE_FORMAT.create
load = STATE_FORMAT.load
save = STATE_FORMAT.save
change_passphrase = STATE_FORMAT.change_passphrase
is_encrypted = STATE_FORMAT.is_encrypted
list_backups = STATE_FORMAT.list_backups
restore = STATE_FORMAT.restore
locked = STATE_FORMAT.locked
