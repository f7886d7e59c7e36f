"""The core's sealed JSON file speaks of each kind of file in that kind's words, and never reads
a file of one kind as another (the format name is checked, and bound into the encryption)."""

from __future__ import annotations

import json

import pytest

from guardian.keyfile import GUARDIAN_FILE, GuardianFileError, GuardianFileMissingError
from prover.statefile import STATE_FORMAT, StateFileDamagedError, StateFileMissingError
from zkmargin.formats import sealed_json
from zkmargin.formats.sealed_json import SealedFileMissingError, SealedJsonFormat

FAST_N = 2**10
PLAIN = SealedJsonFormat(name="zkmargin-test-file")


def test_the_generic_format_has_generic_words(tmp_path):
    with pytest.raises(SealedFileMissingError, match=r"no sealed file at .*: create it first"):
        PLAIN.load(tmp_path / "absent.json")


def test_each_format_raises_its_own_classes_in_its_own_words(tmp_path):
    with pytest.raises(StateFileMissingError, match="no state file at .*zkmargin account new"):
        STATE_FORMAT.load(tmp_path / "absent.json")
    with pytest.raises(GuardianFileMissingError, match="no guardian file at .*zkmargin guardian init") as caught:
        GUARDIAN_FILE.load(tmp_path / "absent.json")
    assert isinstance(caught.value, SealedFileMissingError) and not isinstance(caught.value, StateFileMissingError)
    with pytest.raises(GuardianFileError, match="the passphrase is empty: check --passphrase-file"):
        GUARDIAN_FILE.create(tmp_path / "g.json", {}, "")


def test_a_file_of_one_format_is_not_read_as_another(tmp_path):
    path = tmp_path / "guardian.json"
    GUARDIAN_FILE.create(path, {"secret": "1"})
    with pytest.raises(StateFileDamagedError, match="not a zkmargin state file"):
        STATE_FORMAT.load(path)


def test_the_format_name_is_bound_into_the_encryption(tmp_path):
    """Renaming the format of an encrypted file (and fixing its checksum) does not make it open."""
    path = tmp_path / "guardian.json"
    GUARDIAN_FILE.create(path, {"secret": "1"}, "pass", scrypt_n=FAST_N)
    fields = json.loads(path.read_text())
    fields["format"] = PLAIN.name
    fields["sha256"] = sealed_json._checksum(fields)
    path.write_text(json.dumps(fields))
    with pytest.raises(sealed_json.WrongPassphraseError):
        PLAIN.load(path, "pass")
