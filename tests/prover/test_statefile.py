"""The private state file is sacred: it round-trips, stays private, survives crashes and damage,
tells a wrong passphrase from a damaged file, and is never used by two commands at once."""

import base64
import hashlib
import json
import multiprocessing
import os
import stat
import tempfile
from pathlib import Path

import pytest

from prover import statefile
from prover.statefile import (
    DEFAULT_SCRYPT_N,
    Passphrase,
    PassphraseRequiredError,
    StateFileBusyError,
    StateFileDamagedError,
    StateFileError,
    StateFileExistsError,
    StateFileMissingError,
    UnsupportedStateFormatError,
    WrongPassphraseError,
    change_passphrase,
    create,
    is_encrypted,
    list_backups,
    load,
    locked,
    restore,
    save,
)
from zkmargin.errors import ZkMarginError
from zkmargin.formats import sealed_json

FAST_N = 2**10  # the smallest cost a file may carry: keeps the suite fast
PASSPHRASE = "correct horse battery staple"
BEARER_TOKEN = "tok-3f9a61c0-very-secret"


def document(version: int = 0) -> dict:
    return {
        "account": {"service": "https://margin.example", "bearer_token": BEARER_TOKEN},
        "keys": {"signing": "0x" + "ab" * 32},
        "positions": [{"market": "BTC-PERP", "size": "1.5", "version": version}],
        "salt": "0x" + "cd" * 31,
    }


@pytest.fixture
def path(tmp_path) -> Path:
    return tmp_path / "home" / "zkmargin" / "state.json"  # parents missing on purpose


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def save_versions(path: Path, count: int, **options) -> None:
    """create version 0, then save versions 1..count."""
    create(path, document(0), **{k: v for k, v in options.items() if k in ("passphrase", "scrypt_n")})
    for version in range(1, count + 1):
        save(path, document(version), **options)


def temp_leftovers(directory: Path) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name.endswith(".tmp"))


def sealed_envelope(encryption, payload, version=1) -> bytes:
    """An envelope with a valid checksum, built from the format documented in the module."""
    fields = {"format": "zkmargin-state", "version": version, "encryption": encryption, "payload": payload}
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    fields["sha256"] = hashlib.sha256(canonical.encode()).hexdigest()
    return json.dumps(fields).encode()


# --- round trips --------------------------------------------------------------------------


def test_plain_round_trip(path):
    create(path, document(0))
    assert load(path) == document(0)
    save(path, document(1))
    assert load(path) == document(1)
    assert not is_encrypted(path)
    envelope = json.loads(path.read_bytes())
    assert envelope["format"] == "zkmargin-state" and envelope["version"] == 1
    assert envelope["encryption"] is None and envelope["payload"] == document(1)


def test_encrypted_round_trip_hides_the_secrets(path):
    create(path, document(0), PASSPHRASE, scrypt_n=FAST_N)
    assert load(path, PASSPHRASE) == document(0)
    save(path, document(1), PASSPHRASE, scrypt_n=FAST_N)
    assert load(path, PASSPHRASE) == document(1)
    assert is_encrypted(path)
    raw = path.read_bytes()
    assert BEARER_TOKEN.encode() not in raw and b"BTC-PERP" not in raw
    assert PASSPHRASE.encode() not in raw


def test_default_scrypt_cost_stays_2_pow_15(path):
    assert DEFAULT_SCRYPT_N == 2**15
    create(path, document(0), PASSPHRASE)
    encryption = json.loads(path.read_bytes())["encryption"]
    assert (encryption["kdf"], encryption["n"], encryption["r"], encryption["p"]) == ("scrypt", 2**15, 8, 1)
    assert encryption["cipher"] == "aes-256-gcm"
    assert len(bytes.fromhex(encryption["salt"])) == 16 and len(bytes.fromhex(encryption["nonce"])) == 12
    assert load(path, PASSPHRASE) == document(0)


def test_each_save_uses_a_fresh_salt_and_nonce(path):
    create(path, document(0), PASSPHRASE, scrypt_n=FAST_N)
    first = json.loads(path.read_bytes())["encryption"]
    save(path, document(0), PASSPHRASE, scrypt_n=FAST_N)
    second = json.loads(path.read_bytes())["encryption"]
    assert first["salt"] != second["salt"] and first["nonce"] != second["nonce"]


def test_a_document_that_is_not_plain_json_is_refused_before_any_write(path):
    with pytest.raises(StateFileError, match="not plain JSON"):
        create(path, {"when": object()})
    with pytest.raises(StateFileError, match="not plain JSON"):
        create(path, {"size": float("nan")})
    assert not path.exists()


# --- permissions ----------------------------------------------------------------------------


@pytest.fixture
def permissive_umask():
    previous = os.umask(0)  # modes must not depend on the trader's umask
    yield
    os.umask(previous)


@pytest.fixture(params=[0o000, 0o177], ids=["umask 000", "umask 177"])
def any_umask(request):
    previous = os.umask(request.param)  # 177 would leave mkdir'ed folders without x
    yield
    os.umask(previous)


def test_files_are_0600_and_folders_0700(path, any_umask):
    save_versions(path, 2)
    with locked(path):
        pass
    assert mode_of(path) == 0o600
    assert mode_of(path.parent) == 0o700 and mode_of(path.parent.parent) == 0o700
    backups = Path(f"{path}.backups")
    assert mode_of(backups) == 0o700
    assert len(list(backups.iterdir())) == 2
    assert all(mode_of(backup) == 0o600 for backup in backups.iterdir())
    assert mode_of(Path(f"{path}.lock")) == 0o600


def test_an_existing_parent_folder_is_left_alone(tmp_path):
    os.chmod(tmp_path, 0o755)
    create(tmp_path / "state.json", document(0))
    assert mode_of(tmp_path) == 0o755


def test_temp_files_are_private_from_their_creation(path, permissive_umask, monkeypatch):
    modes_at_creation = []
    real_mkstemp = tempfile.mkstemp

    def recording_mkstemp(*args, **kwargs):
        fd, name = real_mkstemp(*args, **kwargs)
        modes_at_creation.append(stat.S_IMODE(os.stat(name).st_mode))
        return fd, name

    monkeypatch.setattr(tempfile, "mkstemp", recording_mkstemp)
    save_versions(path, 2)
    assert len(modes_at_creation) == 5  # create, then per save: the backup and the state
    assert set(modes_at_creation) == {0o600}


def test_save_rewrites_a_loosened_file_as_0600(path):
    create(path, document(0))
    os.chmod(path, 0o644)
    save(path, document(1))
    assert mode_of(path) == 0o600


# --- create ---------------------------------------------------------------------------------


def test_create_refuses_an_existing_file(path):
    create(path, document(0))
    before = path.read_bytes()
    with pytest.raises(StateFileExistsError, match=str(path)):
        create(path, document(1))
    assert path.read_bytes() == before


def test_create_loses_a_race_without_overwriting(path, monkeypatch):
    create(path, document(0))
    monkeypatch.setattr(sealed_json.os.path, "lexists", lambda _: False)  # as if created meanwhile
    with pytest.raises(StateFileExistsError):
        create(path, document(1))
    assert load(path) == document(0)
    assert temp_leftovers(path.parent) == []


# --- backups --------------------------------------------------------------------------------


@pytest.mark.parametrize("keep", [None, 3])
def test_saves_keep_exactly_the_last_n_versions_newest_first(path, keep):
    kept = keep or statefile.DEFAULT_BACKUPS_KEPT
    options = {} if keep is None else {"keep_backups": keep}
    save_versions(path, kept + 3, **options)
    backups = list_backups(path)
    assert len(backups) == kept
    assert [b.number for b in backups] == sorted((b.number for b in backups), reverse=True)
    expected_versions = list(range(kept + 2, 2, -1))  # versions 0..kept+2 were replaced; newest kept
    assert [load(b.path)["positions"][0]["version"] for b in backups] == expected_versions
    assert all(b.loads for b in backups)
    assert load(path) == document(kept + 3)


def test_list_backups_says_which_load(path):
    save_versions(path, 3)
    _, middle, _ = list_backups(path)
    middle.path.write_bytes(middle.path.read_bytes()[:40])
    listed = list_backups(path)
    assert [b.loads for b in listed] == [True, False, True]
    assert listed[1].problem == "truncated or not JSON"
    assert listed[0].saved_at.tzinfo is not None


def test_list_backups_with_a_passphrase_checks_it_opens_them(path):
    save_versions(path, 2, passphrase=PASSPHRASE, scrypt_n=FAST_N)
    assert all(b.loads for b in list_backups(path))  # intact, passphrase not checked
    assert all(b.loads for b in list_backups(path, PASSPHRASE))
    assert [b.problem for b in list_backups(path, "not it")] == ["the passphrase does not open it"] * 2


# --- passphrases ----------------------------------------------------------------------------


def test_wrong_passphrase(path):
    create(path, document(0), PASSPHRASE, scrypt_n=FAST_N)
    with pytest.raises(WrongPassphraseError, match="does not open") as caught:
        load(path, "Tr0ub4dor&3")
    assert "Tr0ub4dor" not in str(caught.value) and "Tr0ub4dor" not in repr(caught.value)


def test_encrypted_file_without_passphrase(path):
    create(path, document(0), PASSPHRASE, scrypt_n=FAST_N)
    with pytest.raises(PassphraseRequiredError) as caught:
        load(path)
    assert "--passphrase-file" in str(caught.value) and "ZKMARGIN_PASSPHRASE" in str(caught.value)


def test_the_passphrase_never_shows(path):
    secret = Passphrase(PASSPHRASE)
    assert PASSPHRASE not in repr(secret) and PASSPHRASE not in str(secret)
    create(path, document(0), secret, scrypt_n=FAST_N)
    assert load(path, secret) == document(0)
    with pytest.raises(StateFileError, match="empty"):
        Passphrase("")


def test_save_never_writes_an_encrypted_state_in_the_clear(path):
    create(path, document(0), PASSPHRASE, scrypt_n=FAST_N)
    with pytest.raises(PassphraseRequiredError):
        save(path, document(1))
    assert is_encrypted(path) and load(path, PASSPHRASE) == document(0)


def test_save_refuses_a_passphrase_that_does_not_open_the_current_file(path):
    create(path, document(0), PASSPHRASE, scrypt_n=FAST_N)
    with pytest.raises(WrongPassphraseError):
        save(path, document(1), "mistyped", scrypt_n=FAST_N)
    assert load(path, PASSPHRASE) == document(0)


def test_change_passphrase_encrypts_rekeys_and_decrypts(path):
    create(path, document(0))
    change_passphrase(path, None, PASSPHRASE, scrypt_n=FAST_N)
    assert is_encrypted(path) and load(path, PASSPHRASE) == document(0)
    change_passphrase(path, PASSPHRASE, "new passphrase", scrypt_n=FAST_N)
    with pytest.raises(WrongPassphraseError):
        load(path, PASSPHRASE)
    assert load(path, "new passphrase") == document(0)
    change_passphrase(path, "new passphrase", None)
    assert not is_encrypted(path) and load(path) == document(0)
    assert len(list_backups(path)) == 3


# --- missing and damaged files --------------------------------------------------------------


def test_missing_file_says_how_to_make_one(path):
    with pytest.raises(StateFileMissingError, match="zkmargin account new --service") as caught:
        load(path)
    assert str(path) in str(caught.value)


def truncate(raw: bytes) -> bytes:
    return raw[: len(raw) // 2]


def flip_a_payload_byte(raw: bytes) -> bytes:
    assert raw.count(b"BTC-PERP") == 1
    return raw.replace(b"BTC-PERP", b"BTC-PERQ")


DAMAGES = {
    "truncated": truncate,
    "flipped payload byte": flip_a_payload_byte,
    "garbage": lambda raw: b"\x00\xff\xfe garbage \x80" * 20,
    "empty": lambda raw: b"",
    "not an envelope": lambda raw: b'{"positions": []}',
}


@pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES.keys())
def test_damage_is_reported_with_the_backup_to_restore(path, damage):
    save_versions(path, 2)
    newest_backup = list_backups(path)[0].path
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(StateFileDamagedError) as caught:
        load(path)
    message = str(caught.value)
    assert caught.value.backup == newest_backup
    assert str(newest_backup) in message and "zkmargin account restore" in message
    assert "\n" not in message


def test_damage_without_any_good_backup_says_keep_the_file(path):
    create(path, document(0))
    path.write_bytes(truncate(path.read_bytes()))
    with pytest.raises(StateFileDamagedError, match="no backup of it loads") as caught:
        load(path)
    assert caught.value.backup is None


def test_a_flipped_ciphertext_byte_is_damage_not_a_wrong_passphrase(path):
    save_versions(path, 1, passphrase=PASSPHRASE, scrypt_n=FAST_N)
    envelope = json.loads(path.read_bytes())
    ciphertext = bytearray(base64.b64decode(envelope["payload"]))
    ciphertext[5] ^= 0x01
    envelope["payload"] = base64.b64encode(bytes(ciphertext)).decode()
    path.write_text(json.dumps(envelope))  # checksum left as it was, as a disk error would
    with pytest.raises(StateFileDamagedError, match="checksum mismatch") as caught:
        load(path, PASSPHRASE)
    assert caught.value.backup == list_backups(path)[0].path


def test_a_forged_checksum_over_a_bad_ciphertext_reads_as_a_wrong_key(path):
    """Documents the rule: an intact envelope whose tag fails can only mean a wrong key."""
    create(path, document(0), PASSPHRASE, scrypt_n=FAST_N)
    envelope = json.loads(path.read_bytes())
    ciphertext = bytearray(base64.b64decode(envelope["payload"]))
    ciphertext[0] ^= 0x01
    path.write_bytes(sealed_envelope(envelope["encryption"], base64.b64encode(bytes(ciphertext)).decode()))
    with pytest.raises(WrongPassphraseError):
        load(path, PASSPHRASE)


ABSURD_SCRYPT = {
    "n=2**40": {"n": 2**40},
    "n not a power of two": {"n": 3 * 2**12},
    "n too small": {"n": 2},
    "r huge": {"r": 2**20},
    "p huge": {"p": 2**20},
    "n not an int": {"n": "32768"},
}


@pytest.mark.parametrize("override", ABSURD_SCRYPT.values(), ids=ABSURD_SCRYPT.keys())
def test_absurd_scrypt_parameters_are_refused_without_running_scrypt(path, monkeypatch, override):
    encryption = {"kdf": "scrypt", "n": 2**15, "r": 8, "p": 1, "salt": "00" * 16,
                  "cipher": "aes-256-gcm", "nonce": "00" * 12, **override}
    path.parent.mkdir(parents=True)
    path.write_bytes(sealed_envelope(encryption, base64.b64encode(b"\x00" * 40).decode()))

    def scrypt_must_not_run(*args, **kwargs):
        raise AssertionError("scrypt ran on untrusted parameters")

    monkeypatch.setattr(sealed_json, "Scrypt", scrypt_must_not_run)
    with pytest.raises(StateFileDamagedError, match="scrypt"):
        load(path, PASSPHRASE)


def test_an_unknown_format_version_is_refused(path):
    path.parent.mkdir(parents=True)
    path.write_bytes(sealed_envelope(None, document(0), version=2))
    with pytest.raises(UnsupportedStateFormatError, match="upgrade zkmargin"):
        load(path)
    with pytest.raises(UnsupportedStateFormatError):
        save(path, document(1))  # never overwrite what a newer zkmargin wrote
    assert json.loads(path.read_bytes())["version"] == 2


# --- restore --------------------------------------------------------------------------------


def test_restore_picks_the_newest_good_backup_and_keeps_the_damaged_file(path):
    save_versions(path, 3)  # backups hold versions 2, 1, 0
    damaged = truncate(path.read_bytes())
    path.write_bytes(damaged)
    newest = list_backups(path)[0]
    newest.path.write_bytes(b"")  # the newest backup is damaged too
    restored = restore(path)
    assert restored.number == newest.number - 1
    assert load(path) == document(1)
    aside = Path(f"{path}.damaged-1")
    assert aside.read_bytes() == damaged and mode_of(aside) == 0o600
    assert mode_of(path) == 0o600


def test_a_second_damaged_file_is_set_aside_next_to_the_first(path):
    save_versions(path, 2)
    for round_ in (1, 2):
        path.write_bytes(b"garbage %d" % round_)
        restore(path)
    assert Path(f"{path}.damaged-1").read_bytes() == b"garbage 1"
    assert Path(f"{path}.damaged-2").read_bytes() == b"garbage 2"


def test_restore_of_a_chosen_backup_keeps_the_intact_current_file_as_a_backup(path):
    save_versions(path, 2)
    oldest = list_backups(path)[-1]
    restore(path, backup=oldest.number)
    assert load(path) == document(0)
    assert load(list_backups(path)[0].path) == document(2)
    assert not list(path.parent.glob("*.damaged-*"))


def test_restore_refuses_a_damaged_chosen_backup(path):
    save_versions(path, 2)
    oldest = list_backups(path)[-1]
    oldest.path.write_bytes(b"{")
    with pytest.raises(StateFileDamagedError, match=str(oldest.path)):
        restore(path, backup=oldest.number)
    assert load(path) == document(2)
    with pytest.raises(StateFileError, match="no backup number 99"):
        restore(path, backup=99)


def test_restore_with_a_passphrase_skips_backups_it_does_not_open(path):
    create(path, document(0), PASSPHRASE, scrypt_n=FAST_N)
    change_passphrase(path, PASSPHRASE, "new", scrypt_n=FAST_N)  # backup: version 0 under PASSPHRASE
    save(path, document(1), "new", scrypt_n=FAST_N)  # backup: version 0 under "new"
    path.write_bytes(b"")
    restore(path, passphrase=PASSPHRASE)
    assert load(path, PASSPHRASE) == document(0)


def test_save_over_a_damaged_file_sets_it_aside(path):
    save_versions(path, 1)
    path.write_bytes(b"garbage")
    save(path, document(2))
    assert Path(f"{path}.damaged-1").read_bytes() == b"garbage"
    assert [load(b.path) for b in list_backups(path)] == [document(0)]


# --- lock -----------------------------------------------------------------------------------


def test_a_second_lock_in_the_same_process_is_refused(path):
    busy = pytest.raises(StateFileBusyError, match=f"another zkmargin command is using {path}")
    with locked(path), busy, locked(path):  # the first lock is held while the second is tried
        pass
    with locked(path):  # released on exit
        pass


def hold_lock(path, held, release):
    with locked(path):
        held.set()
        release.wait(10)


def test_a_lock_held_by_another_process_is_refused_until_released(path):
    context = multiprocessing.get_context("fork")
    held, release = context.Event(), context.Event()
    holder = context.Process(target=hold_lock, args=(path, held, release))
    holder.start()
    try:
        assert held.wait(10)
        with pytest.raises(StateFileBusyError), locked(path):
            pass
    finally:
        release.set()
        holder.join(10)
    assert holder.exitcode == 0
    with locked(path):
        pass


# --- crashes --------------------------------------------------------------------------------


def test_a_failing_rename_leaves_the_old_file(path, monkeypatch):
    save_versions(path, 1)
    real_replace = os.replace

    def failing_replace(source, target):
        if Path(target) == path:
            raise OSError(5, "Input/output error")
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(ZkMarginError, match="cannot write"):
        save(path, document(2))
    monkeypatch.undo()
    assert load(path) == document(1)
    save(path, document(2))
    # the copy kept before the failed rename is not kept twice
    assert [load(b.path) for b in list_backups(path)] == [document(1), document(0)]


def crash_on_replace(path, crash_target):
    """Child process: save, dying (no clean-up at all) at the rename onto ``crash_target``."""
    real_replace = os.replace

    def dying_replace(source, target):
        if crash_target(Path(target)):
            os._exit(17)
        real_replace(source, target)

    os.replace = dying_replace
    save(path, document(99))
    os._exit(0)


CRASH_POINTS = {
    "renaming the state": lambda path: (lambda target: target == path),
    "writing the backup": lambda path: (lambda target: target.parent.name == f"{path.name}.backups"),
}


@pytest.mark.parametrize("crash_point", CRASH_POINTS.values(), ids=CRASH_POINTS.keys())
def test_a_crash_mid_save_leaves_the_old_file_and_its_leftovers_are_cleaned(path, crash_point):
    save_versions(path, 1)
    context = multiprocessing.get_context("fork")
    child = context.Process(target=crash_on_replace, args=(path, crash_point(path)))
    child.start()
    child.join(30)
    assert child.exitcode == 17
    backups = Path(f"{path}.backups")
    leftovers = temp_leftovers(path.parent) + temp_leftovers(backups)
    assert len(leftovers) == 1
    assert load(path) == document(1)  # the leftover is ignored
    save(path, document(2))
    assert temp_leftovers(path.parent) == [] and temp_leftovers(backups) == []
    assert load(path) == document(2)
    assert [load(b.path) for b in list_backups(path)] == [document(1), document(0)]


def test_leftovers_of_other_files_are_not_touched(path):
    save_versions(path, 1)
    neighbour = path.parent / ".state.json.other.abc12345.tmp"  # a temp of "state.json.other"
    neighbour.write_bytes(b"not ours")
    save(path, document(2))
    assert neighbour.read_bytes() == b"not ours"
