"""A private JSON file: crash-safe, backed up, optionally passphrase-sealed, locked.

One JSON object (a document) per file; this module never looks inside it. An application
describes its kind of file once, as a :class:`SealedJsonFormat`: the envelope's format name, the
error classes it raises (their messages say what the file is called and what to run, see
:class:`FileWording`) and its passphrase class. What every such file gets:

- every write leaves either the old or the new complete file at ``path``, never none;
- the version a write replaces is kept as a backup (the newest ``keep_backups`` are kept);
- a damaged file is set aside, never deleted, and the error names the backup to restore;
- files are 0600 and directories 0700 from the moment they exist;
- ``locked(path)`` keeps two commands off one file.

Callers hold ``locked(path)`` around load-modify-save: the clean-up of crash leftovers
assumes no other process is writing the same file.

On-disk envelope (envelope version 1), one JSON object::

    {
      "format": "<the format's name>",
      "version": 1,
      "encryption": null,
      "payload": {...the document...},
      "sha256": "<64 hex digits>"
    }

or, encrypted with a passphrase::

      "encryption": {"kdf": "scrypt", "n": 32768, "r": 8, "p": 1, "salt": "<16 bytes, hex>",
                     "cipher": "aes-256-gcm", "nonce": "<12 bytes, hex>"},
      "payload": "<base64 of the AES-256-GCM ciphertext and tag of the document>",

- ``sha256`` is the SHA-256 of the canonical JSON (sorted keys, no spaces, ASCII only) of the
  object holding the other four fields. It separates damage from a wrong passphrase: a
  mismatch is damage; a GCM tag failure on a file whose checksum holds is a wrong passphrase.
- The encrypted plaintext is the canonical JSON of the document; the key is scrypt(passphrase,
  salt, n, r, p), 32 bytes; the GCM associated data is the canonical JSON of
  ``{"format", "version", "encryption"}``, so the header cannot be swapped under a ciphertext
  (nor a file of one format passed off as another).
- KDF parameters read from a file must lie within ``SCRYPT_N_RANGE`` (powers of two),
  ``SCRYPT_R_RANGE`` and ``SCRYPT_P_RANGE``: a file cannot make us run scrypt with n=2**40.
- ``version`` is read before anything else: a later version may checksum differently.

Files next to ``<path>``:

- ``<path>.backups/NNNNNN-YYYYMMDDTHHMMSSZ.json``: previous versions (0600, folder 0700),
  numbered upwards, newest kept;
- ``<path>.lock``: the lock file (never deleted: see ``locked``);
- ``<path>.damaged-<n>``: a damaged file set aside by ``save`` or ``restore``;
- ``.<name>.<random>.tmp``: a write a crash interrupted; ignored, removed by the next write.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from zkmargin.errors import ZkMarginError
from zkmargin.formats.files import write_atomically

ENVELOPE_VERSION = 1
DEFAULT_BACKUPS_KEPT = 10

DEFAULT_SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
# Bounds on what a file may ask for: 128 * n * r bytes of memory stays at most 1 GiB.
SCRYPT_N_RANGE = (2**10, 2**20)
SCRYPT_R_RANGE = (1, 8)
SCRYPT_P_RANGE = (1, 4)
SALT_BYTES = 16
NONCE_BYTES = 12
KEY_BYTES = 32
CIPHER = "aes-256-gcm"

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIRECTORY_MODE = 0o700

_ENVELOPE_FIELDS = frozenset({"format", "version", "encryption", "payload", "sha256"})
_ENCRYPTION_FIELDS = frozenset({"kdf", "n", "r", "p", "salt", "cipher", "nonce"})
_BACKUP_NAME = re.compile(r"(\d+)-(\d{8}T\d{6}Z)\.json")
_BACKUP_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
_TEMP_NAME = r"[A-Za-z0-9_]+\.tmp"  # the random part tempfile.mkstemp adds, as write_atomically uses it


# --- wording and errors -------------------------------------------------------------------


@dataclass(frozen=True)
class FileWording:
    """How messages speak of one kind of file, and what they advise its user to run."""

    noun: str = "sealed file"  # "state file": "no state file at ...", "state file X is damaged"
    document: str = "document"  # "state document": what the file holds
    create_hint: str = "create it first"  # after "no state file at X: "
    restore_hint: str = "restore a backup"  # after "the newest backup that loads is X: "
    passphrase_needed: str = "give its passphrase"  # after "state file X is encrypted: "
    passphrase_check: str = "check the passphrase"  # after "the passphrase does not open X ...: "


class SealedFileError(ZkMarginError):
    """A sealed file cannot be read or written as asked.

    Subclass it with another ``wording`` (and subclass each error below with both) to give an
    application's files their own name and advice.
    """

    wording: ClassVar[FileWording] = FileWording()


class SealedFileMissingError(SealedFileError):
    def __init__(self, path: Path):
        super().__init__(f"no {self.wording.noun} at {path}: {self.wording.create_hint}")
        self.path = path


class SealedFileExistsError(SealedFileError):
    def __init__(self, path: Path):
        super().__init__(f"a {self.wording.noun} already exists at {path}: refusing to overwrite it")
        self.path = path


class SealedFileDamagedError(SealedFileError):
    """The file is not an intact envelope; ``backup`` is the newest backup that loads, if any."""

    def __init__(self, path: Path, reason: str, backup: Path | None):
        if backup is None:
            advice = "no backup of it loads; keep the file, do not delete it"
        else:
            advice = f"the newest backup that loads is {backup}: {self.wording.restore_hint}"
        super().__init__(f"{self.wording.noun} {path} is damaged ({reason}); {advice}")
        self.path = path
        self.reason = reason
        self.backup = backup


class UnsupportedSealedFormatError(SealedFileError):
    def __init__(self, path: Path, version: object):
        super().__init__(
            f"{self.wording.noun} {path} has format version {version!r}, this zkmargin reads version "
            f"{ENVELOPE_VERSION}: upgrade zkmargin (if you never ran a newer one, the file is "
            f"damaged: {self.wording.restore_hint})")
        self.path = path
        self.version = version


class PassphraseRequiredError(SealedFileError):
    def __init__(self, path: Path):
        super().__init__(f"{self.wording.noun} {path} is encrypted: {self.wording.passphrase_needed}")
        self.path = path


class WrongPassphraseError(SealedFileError):
    def __init__(self, path: Path):
        super().__init__(
            f"the passphrase does not open {path} (the file itself is intact): {self.wording.passphrase_check}")
        self.path = path


class SealedFileBusyError(SealedFileError):
    def __init__(self, path: Path):
        super().__init__(f"another zkmargin command is using {path}: wait for it to finish and retry")
        self.path = path


@dataclass(frozen=True)
class ErrorFamily:
    """The classes one kind of file raises: each a subclass of the generic one beside it."""

    base: type[SealedFileError] = SealedFileError
    missing: type[SealedFileMissingError] = SealedFileMissingError
    exists: type[SealedFileExistsError] = SealedFileExistsError
    damaged: type[SealedFileDamagedError] = SealedFileDamagedError
    unsupported: type[UnsupportedSealedFormatError] = UnsupportedSealedFormatError
    passphrase_required: type[PassphraseRequiredError] = PassphraseRequiredError
    wrong_passphrase: type[WrongPassphraseError] = WrongPassphraseError
    busy: type[SealedFileBusyError] = SealedFileBusyError


class _Damage(Exception):
    """Internal: why some bytes are not an intact envelope; the public API adds the backup hint."""


# --- passphrase ---------------------------------------------------------------------------


class Passphrase:
    """A passphrase that never shows itself in a repr, a str or an error message."""

    __slots__ = ("_secret",)
    error: ClassVar[type[SealedFileError]] = SealedFileError  # raised (with its wording) for an empty one

    def __init__(self, secret: str | bytes):
        encoded = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        if not encoded:
            raise self.error(f"the passphrase is empty: {self.error.wording.passphrase_check}")
        self._secret = encoded

    def __repr__(self) -> str:
        return "Passphrase(<hidden>)"

    __str__ = __repr__

    def derive_key(self, salt: bytes, n: int, r: int, p: int) -> bytes:
        return Scrypt(salt=salt, length=KEY_BYTES, n=n, r=r, p=p).derive(self._secret)


PassphraseLike = Passphrase | str | bytes


@dataclass(frozen=True)
class Backup:
    """One kept previous version; ``problem`` says why it does not load (None when it does)."""

    number: int
    path: Path
    saved_at: datetime
    problem: str | None

    @property
    def loads(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class _Envelope:
    encryption: dict[str, Any] | None
    payload: Any


class _BackupEntry(NamedTuple):
    number: int
    saved_at: datetime
    path: Path


# --- the format -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SealedJsonFormat:
    """One kind of sealed JSON file: its envelope's ``name``, its errors and its passphrase class."""

    name: str
    errors: ErrorFamily = ErrorFamily()
    passphrase_class: type[Passphrase] = Passphrase

    @property
    def wording(self) -> FileWording:
        return self.errors.base.wording

    # --- public API -------------------------------------------------------------------------

    def create(self, path: str | os.PathLike[str], document: Mapping[str, Any],
               passphrase: PassphraseLike | None = None, *, scrypt_n: int = DEFAULT_SCRYPT_N) -> None:
        """Write a new file; refuses (``errors.exists``) if one is already there."""
        path = Path(path)
        if os.path.lexists(path):  # fail before paying for scrypt; _write_new_file closes the race
            raise self.errors.exists(path)
        content = self._seal(self._as_json_document(document), self._as_passphrase(passphrase), scrypt_n)
        self._ensure_private_directory(path.parent)
        _remove_crash_leftovers(path)
        self._write_new_file(path, content)

    def load(self, path: str | os.PathLike[str], passphrase: PassphraseLike | None = None) -> dict[str, Any]:
        path = Path(path)
        secret = self._as_passphrase(passphrase)
        try:
            return self._open(self._parse_envelope(self._read_bytes(path), path), secret, path)
        except _Damage as damage:
            raise self._damaged_error(path, str(damage), secret) from None

    def save(self, path: str | os.PathLike[str], document: Mapping[str, Any],
             passphrase: PassphraseLike | None = None, *, keep_backups: int = DEFAULT_BACKUPS_KEPT,
             scrypt_n: int = DEFAULT_SCRYPT_N) -> None:
        """Atomically replace the file, keeping the previous version as a backup.

        Encrypts when a passphrase is given. An encrypted file is never rewritten in the clear
        or under another passphrase by ``save`` (a slip there would lock the user out or expose
        the secrets): use ``change_passphrase`` for that.
        """
        path = Path(path)
        secret = self._as_passphrase(passphrase)
        _check_backups_kept(keep_backups)
        self._check_passphrase_fits_current_file(path, secret)
        self._replace(path, self._seal(self._as_json_document(document), secret, scrypt_n), keep_backups)

    def change_passphrase(self, path: str | os.PathLike[str], old: PassphraseLike | None,
                          new: PassphraseLike | None, *, keep_backups: int = DEFAULT_BACKUPS_KEPT,
                          scrypt_n: int = DEFAULT_SCRYPT_N) -> None:
        """Re-encrypt under ``new``; ``old=None`` encrypts a plain file, ``new=None`` decrypts."""
        path = Path(path)
        _check_backups_kept(keep_backups)
        document = self.load(path, old)
        self._replace(path, self._seal(document, self._as_passphrase(new), scrypt_n), keep_backups)

    def is_encrypted(self, path: str | os.PathLike[str]) -> bool:
        path = Path(path)
        try:
            return self._parse_envelope(self._read_bytes(path), path).encryption is not None
        except _Damage as damage:
            raise self._damaged_error(path, str(damage), None) from None

    def list_backups(self, path: str | os.PathLike[str], passphrase: PassphraseLike | None = None) -> list[Backup]:
        """The kept versions, newest first. Without a passphrase an encrypted backup "loads" when
        it is intact; with one, it must also open with it."""
        path = Path(path)
        secret = self._as_passphrase(passphrase)
        return [Backup(entry.number, entry.path, entry.saved_at, self._problem_with(entry.path, secret))
                for entry in _backup_entries(path)]

    def restore(self, path: str | os.PathLike[str], backup: int | None = None,
                passphrase: PassphraseLike | None = None, *,
                keep_backups: int = DEFAULT_BACKUPS_KEPT) -> Backup:
        """Put a backup back at ``path`` (default: the newest that loads) and return it.

        The file it replaces is kept: as a backup when intact, as ``<path>.damaged-<n>`` if not.
        The backup's bytes are restored as they are, encrypted or not.
        """
        path = Path(path)
        secret = self._as_passphrase(passphrase)
        _check_backups_kept(keep_backups)
        chosen = (self._newest_good_backup(path, secret) if backup is None
                  else self._numbered_backup(path, backup, secret))
        if chosen is None:
            raise self.errors.base(f"no backup of {path} loads: nothing to restore")
        self._replace(path, self._read_bytes(chosen.path), keep_backups)
        return chosen

    @contextlib.contextmanager
    def locked(self, path: str | os.PathLike[str]) -> Iterator[None]:
        """Hold ``<path>.lock`` exclusively, or raise ``errors.busy`` at once.

        flock belongs to the open file description, so a second ``locked`` is refused even in
        the same process. The lock file is never deleted: unlinking it while another process
        waits to open it would let two processes lock two different files.
        """
        path = Path(path)
        self._ensure_private_directory(path.parent)
        lock_path = Path(f"{path}.lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE_MODE)
        except OSError as exc:
            raise self.errors.base(f"cannot open {lock_path}: {exc.strerror or exc}") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise self.errors.busy(path) from None
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    # --- envelope ---------------------------------------------------------------------------

    def _as_passphrase(self, value: PassphraseLike | None) -> Passphrase | None:
        if value is None or isinstance(value, Passphrase):
            return value
        return self.passphrase_class(value)

    def _as_json_document(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """The document as it will load back (tuples become lists, ...), or an error before any write."""
        if not isinstance(document, Mapping):
            raise self.errors.base(
                f"the {self.wording.document} must be a JSON object, not {type(document).__name__}")
        try:
            loaded: dict[str, Any] = json.loads(json.dumps(dict(document), allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise self.errors.base(f"the {self.wording.document} is not plain JSON: {exc}") from None
        return loaded

    def _associated_data(self, encryption: Mapping[str, Any]) -> bytes:
        return _canonical_json({"format": self.name, "version": ENVELOPE_VERSION, "encryption": encryption})

    def _seal(self, document: dict[str, Any], passphrase: Passphrase | None, scrypt_n: int) -> bytes:
        """The complete file content holding ``document``, encrypted when there is a passphrase."""
        encryption: dict[str, Any] | None
        payload: Any
        if passphrase is None:
            encryption, payload = None, document
        else:
            encryption = _new_encryption_header(scrypt_n)
            payload = self._encrypt(_canonical_json(document), passphrase, encryption)
        fields: dict[str, Any] = {"format": self.name, "version": ENVELOPE_VERSION,
                                  "encryption": encryption, "payload": payload}
        fields["sha256"] = _checksum(fields)
        return (json.dumps(fields, indent=2) + "\n").encode("ascii")

    def _encrypt(self, plaintext: bytes, passphrase: Passphrase, header: Mapping[str, Any]) -> str:
        key = passphrase.derive_key(bytes.fromhex(header["salt"]), header["n"], header["r"], header["p"])
        ciphertext = AESGCM(key).encrypt(bytes.fromhex(header["nonce"]), plaintext, self._associated_data(header))
        return base64.b64encode(ciphertext).decode("ascii")

    def _parse_envelope(self, raw: bytes, path: Path) -> _Envelope:
        """Check everything that can be checked without a passphrase (and without running scrypt)."""
        if not raw:
            raise _Damage("the file is empty")
        try:
            fields = json.loads(raw, parse_constant=_refuse_json_constant)
        except (ValueError, RecursionError):  # includes bad UTF-8 and truncation
            raise _Damage("truncated or not JSON") from None
        if not isinstance(fields, dict) or fields.get("format") != self.name:
            raise _Damage(f"not a zkmargin {self.wording.noun}")
        if not _is_int(fields.get("version")) or fields["version"] != ENVELOPE_VERSION:
            raise self.errors.unsupported(path, fields.get("version"))
        if set(fields) != _ENVELOPE_FIELDS:
            raise _Damage("fields missing or unexpected")
        if fields["sha256"] != _checksum(fields):
            raise _Damage("checksum mismatch")
        encryption, payload = fields["encryption"], fields["payload"]
        if encryption is not None:
            _check_encryption_header(encryption)
        if not isinstance(payload, str if encryption is not None else dict):
            raise _Damage("payload of the wrong type")
        return _Envelope(encryption, payload)

    def _open(self, envelope: _Envelope, passphrase: Passphrase | None, path: Path) -> dict[str, Any]:
        if envelope.encryption is None:
            document: dict[str, Any] = envelope.payload
            return document
        if passphrase is None:
            raise self.errors.passphrase_required(path)
        return self._decrypt(envelope, passphrase, path)

    def _decrypt(self, envelope: _Envelope, passphrase: Passphrase, path: Path) -> dict[str, Any]:
        header = envelope.encryption
        assert header is not None
        try:
            ciphertext = base64.b64decode(envelope.payload, validate=True)
        except ValueError:
            raise _Damage("payload is not base64") from None
        key = passphrase.derive_key(bytes.fromhex(header["salt"]), header["n"], header["r"], header["p"])
        try:
            plaintext = AESGCM(key).decrypt(bytes.fromhex(header["nonce"]), ciphertext, self._associated_data(header))
        except InvalidTag:
            # The checksum vouched for every byte of the file, so the key must be wrong.
            raise self.errors.wrong_passphrase(path) from None
        try:
            document = json.loads(plaintext)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise _Damage("decrypted content is not a JSON object")
        return document

    def _verify(self, file: Path, passphrase: Passphrase | None, reported_path: Path) -> None:
        """Raise unless ``file`` is intact and, given a passphrase, opens with it."""
        envelope = self._parse_envelope(self._read_bytes(file), file)
        if envelope.encryption is not None and passphrase is not None:
            self._decrypt(envelope, passphrase, reported_path)

    def _problem_with(self, file: Path, passphrase: Passphrase | None) -> str | None:
        try:
            self._verify(file, passphrase, file)
        except _Damage as damage:
            return str(damage)
        except WrongPassphraseError:
            return "the passphrase does not open it"
        except UnsupportedSealedFormatError as error:
            return f"format version {error.version!r} is not supported"
        except SealedFileError as error:
            return str(error)
        return None

    def _is_intact(self, raw: bytes, path: Path) -> bool:
        try:
            self._parse_envelope(raw, path)
        except (_Damage, UnsupportedSealedFormatError):
            return False
        return True

    def _damaged_error(self, path: Path, reason: str, passphrase: Passphrase | None) -> SealedFileDamagedError:
        good = self._newest_good_backup(path, passphrase)
        return self.errors.damaged(path, reason, good.path if good else None)

    def _check_passphrase_fits_current_file(self, path: Path, passphrase: Passphrase | None) -> None:
        """An intact encrypted file may only be rewritten by someone whose passphrase opens it."""
        try:
            envelope = self._parse_envelope(self._read_bytes(path), path)
            if envelope.encryption is not None:
                self._open(envelope, passphrase, path)
        except (SealedFileMissingError, _Damage):
            return  # nothing intact to protect; _replace sets a damaged file aside

    # --- backups ----------------------------------------------------------------------------

    def _newest_good_backup(self, path: Path, passphrase: Passphrase | None) -> Backup | None:
        for entry in _backup_entries(path):
            if self._problem_with(entry.path, passphrase) is None:
                return Backup(entry.number, entry.path, entry.saved_at, None)
        return None

    def _numbered_backup(self, path: Path, number: int, passphrase: Passphrase | None) -> Backup:
        entry = next((entry for entry in _backup_entries(path) if entry.number == number), None)
        if entry is None:
            raise self.errors.base(f"there is no backup number {number} of {path}")
        try:
            self._verify(entry.path, passphrase, path)
        except _Damage as damage:
            good = self._newest_good_backup(path, passphrase)
            raise self.errors.damaged(entry.path, str(damage), good.path if good else None) from None
        return Backup(entry.number, entry.path, entry.saved_at, None)

    def _keep_as_backup(self, path: Path, raw: bytes) -> None:
        directory = self._ensure_private_directory(_backups_directory(path))
        entries = _backup_entries(path)
        if entries and self._read_bytes_if_exists(entries[0].path) == raw:
            return  # already kept, e.g. by a save that then failed
        number = entries[0].number + 1 if entries else 1
        stamp = datetime.now(UTC).strftime(_BACKUP_TIME_FORMAT)
        write_atomically(directory / f"{number:06d}-{stamp}.json", raw, mode=PRIVATE_FILE_MODE)

    # --- writing ----------------------------------------------------------------------------

    def _replace(self, path: Path, content: bytes, keep_backups: int) -> None:
        """Put ``content`` at ``path``; the version it replaces goes to the backups (or aside if damaged).

        Order matters: the old version is safe elsewhere before the rename, and backups are
        pruned only once the new file is in place.
        """
        self._ensure_private_directory(path.parent)
        _remove_crash_leftovers(path)
        previous = self._read_bytes_if_exists(path)
        if previous is not None:
            if self._is_intact(previous, path):
                self._keep_as_backup(path, previous)
            else:
                _set_aside_damaged(path, previous)
        write_atomically(path, content, mode=PRIVATE_FILE_MODE)
        _prune_backups(path, keep_backups)

    def _write_new_file(self, path: Path, content: bytes) -> None:
        """Write ``content`` to a ``path`` that must not exist: complete or not at all."""
        try:
            fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # 0600
        except OSError as exc:
            raise self.errors.base(f"cannot write {path}: {exc.strerror or exc}") from None
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(content)
                file.flush()
                os.fsync(file.fileno())
            os.link(temp, path)  # unlike rename, link never replaces: no check-then-write race
        except FileExistsError:
            raise self.errors.exists(path) from None
        except OSError as exc:
            raise self.errors.base(f"cannot write {path}: {exc.strerror or exc}") from None
        finally:
            Path(temp).unlink(missing_ok=True)
        _sync_directory(path.parent)

    def _ensure_private_directory(self, directory: Path) -> Path:
        """Create ``directory`` and its missing parents as 0700; existing folders are left alone."""
        missing = [folder for folder in (directory, *directory.parents) if not folder.exists()]
        for folder in reversed(missing):
            try:
                folder.mkdir(mode=PRIVATE_DIRECTORY_MODE)
                os.chmod(folder, PRIVATE_DIRECTORY_MODE)  # mkdir's mode passes through the umask
            except FileExistsError:
                continue
            except OSError as exc:
                raise self.errors.base(f"cannot create {folder}: {exc.strerror or exc}") from None
        return directory

    def _read_bytes(self, path: Path) -> bytes:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise self.errors.missing(path) from None
        except OSError as exc:
            raise self.errors.base(f"cannot read {path}: {exc.strerror or exc}") from None

    def _read_bytes_if_exists(self, path: Path) -> bytes | None:
        try:
            return self._read_bytes(path)
        except SealedFileMissingError:
            return None


# --- helpers that need no format ----------------------------------------------------------------


def _canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode("ascii")


def _checksum(fields: Mapping[str, Any]) -> str:
    covered = {name: fields[name] for name in ("format", "version", "encryption", "payload")}
    return hashlib.sha256(_canonical_json(covered)).hexdigest()


def _new_encryption_header(scrypt_n: int) -> dict[str, Any]:
    problem = _scrypt_parameters_problem(scrypt_n, SCRYPT_R, SCRYPT_P)
    if problem:
        raise ValueError(problem)  # we never write a file we would refuse to read
    return {"kdf": "scrypt", "n": scrypt_n, "r": SCRYPT_R, "p": SCRYPT_P,
            "salt": secrets.token_hex(SALT_BYTES), "cipher": CIPHER, "nonce": secrets.token_hex(NONCE_BYTES)}


def _refuse_json_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _check_encryption_header(header: Any) -> None:
    if not isinstance(header, dict) or set(header) != _ENCRYPTION_FIELDS:
        raise _Damage("encryption header malformed")
    if header["kdf"] != "scrypt" or header["cipher"] != CIPHER:
        raise _Damage("unknown key derivation or cipher")
    problem = _scrypt_parameters_problem(header["n"], header["r"], header["p"])
    if problem:
        raise _Damage(problem)
    if not _is_hex(header["salt"], SALT_BYTES) or not _is_hex(header["nonce"], NONCE_BYTES):
        raise _Damage("salt or nonce malformed")


def _scrypt_parameters_problem(n: Any, r: Any, p: Any) -> str | None:
    if not (_is_int(n) and _is_int(r) and _is_int(p)):
        return "scrypt parameters are not integers"
    if not SCRYPT_N_RANGE[0] <= n <= SCRYPT_N_RANGE[1] or n & (n - 1):
        return f"scrypt n={n} is not a power of two in 2**10..2**20"
    if not SCRYPT_R_RANGE[0] <= r <= SCRYPT_R_RANGE[1] or not SCRYPT_P_RANGE[0] <= p <= SCRYPT_P_RANGE[1]:
        return f"scrypt r={r} p={p} out of range"
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_hex(value: Any, length: int) -> bool:
    return isinstance(value, str) and len(value) == 2 * length and all(c in "0123456789abcdef" for c in value)


def _backups_directory(path: Path) -> Path:
    return Path(f"{path}.backups")


def _backup_entries(path: Path) -> list[_BackupEntry]:
    """Backup files by number, newest first (anything else in the folder is ignored)."""
    try:
        names = os.listdir(_backups_directory(path))
    except FileNotFoundError:
        return []
    entries = []
    for name in names:
        match = _BACKUP_NAME.fullmatch(name)
        if match:
            saved_at = datetime.strptime(match[2], _BACKUP_TIME_FORMAT).replace(tzinfo=UTC)
            entries.append(_BackupEntry(int(match[1]), saved_at, _backups_directory(path) / name))
    return sorted(entries, key=lambda entry: entry.number, reverse=True)


def _prune_backups(path: Path, keep: int) -> None:
    for entry in _backup_entries(path)[keep:]:
        entry.path.unlink(missing_ok=True)


def _check_backups_kept(keep_backups: int) -> None:
    if not _is_int(keep_backups) or keep_backups < 1:
        raise ValueError(f"keep_backups must be at least 1, not {keep_backups!r}")


def _set_aside_damaged(path: Path, raw: bytes) -> Path:
    # A copy, not a rename: between a rename and the next write there would be no file at path.
    pattern = re.compile(re.escape(path.name) + r"\.damaged-(\d+)")
    used = [int(match[1]) for name in os.listdir(path.parent) if (match := pattern.fullmatch(name))]
    aside = path.with_name(f"{path.name}.damaged-{max(used, default=0) + 1}")
    write_atomically(aside, raw, mode=PRIVATE_FILE_MODE)
    return aside


def _sync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _remove_crash_leftovers(path: Path) -> None:
    """Delete the temp files of writes a crash interrupted (safe: callers hold the lock)."""
    siblings = re.compile(re.escape(f".{path.name}.") + r"(damaged-\d+\.)?" + _TEMP_NAME)
    backups = re.compile(r"\." + _BACKUP_NAME.pattern + r"\." + _TEMP_NAME)
    for directory, pattern in ((path.parent, siblings), (_backups_directory(path), backups)):
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            continue
        for name in names:
            if pattern.fullmatch(name):
                (directory / name).unlink(missing_ok=True)
