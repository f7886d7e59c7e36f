"""The guardian file: 0600 in a 0700 folder, optionally sealed with a passphrase that a wrong one
does not open, and `show` never prints a secret."""

from __future__ import annotations

import os
import stat

import pytest

from guardian.keyfile import state_to_document
from tests.guardian.helpers import Ceremony, ok, run

PASSPHRASE = "correct horse battery staple"
FAST = {"ZKMARGIN_PASSPHRASE": PASSPHRASE}


def mode_of(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def secrets_of(ceremony: Ceremony, j: int, passphrase: str | None = None) -> list[str]:
    """Every secret the guardian file holds, as text it could be printed as."""
    document = state_to_document(ceremony.state(j, passphrase))
    found = [document["transport_key"], document["signing_key"]]
    if document["share"] is not None:
        found.append(document["share"]["share"])
    return found + list((document["dealing"] or {}).get("sub_shares", []))


@pytest.fixture
def finished(tmp_path) -> Ceremony:
    ceremony = Ceremony(tmp_path, 2, 3, "bn254")
    ceremony.up_to("finish")
    return ceremony


def test_the_guardian_file_is_private(tmp_path):
    ceremony = Ceremony(tmp_path, 2, 3, "bn254")
    old = os.umask(0o022)
    try:
        ceremony.up_to("finish")
    finally:
        os.umask(old)
    path = ceremony.home(1) / "guardian.json"
    assert mode_of(path) == 0o600 and mode_of(ceremony.home(1)) == 0o700
    backups = list((ceremony.home(1) / "guardian.json.backups").iterdir())
    assert backups and {mode_of(b) for b in backups} == {0o600}


def test_show_never_prints_a_secret(finished):
    for j in finished.indices():
        hidden = secrets_of(finished, j)
        for args in (["show"], ["show", "--json"]):
            shown = ok(*args, "--home", str(finished.home(j))).output
            assert f"index              {j}" in shown or f'"index": {j}' in shown
            assert not [secret for secret in hidden if secret in shown]


def test_show_before_finishing_has_no_key_yet_and_no_secret(tmp_path):
    ceremony = Ceremony(tmp_path, 2, 3, "bn254")
    ceremony.up_to("deal")
    hidden = secrets_of(ceremony, 1)
    shown = ceremony.show(1)
    assert shown["group_key"] is None and shown["step"].startswith("dealt")
    assert not [secret for secret in hidden if secret in str(shown)]


def test_an_encrypted_guardian_file_needs_its_passphrase(tmp_path):
    ceremony = Ceremony(tmp_path, 2, 3, "bn254")
    for j in ceremony.indices():
        result = ceremony.init(j, env=FAST)
        assert result.exit_code == 0 and "(encrypted)" in result.output
    for step in ("deal", "check", "answer", "finish"):
        ceremony.all(step, env=FAST)
    path = ceremony.home(1) / "guardian.json"
    raw = path.read_text()
    assert not [secret for secret in secrets_of(ceremony, 1, PASSPHRASE) if secret in raw]
    assert mode_of(path) == 0o600

    wrong = run("show", "--home", str(ceremony.home(1)), env={"ZKMARGIN_PASSPHRASE": "not it"})
    assert wrong.exit_code == 2
    assert wrong.output.strip() == (f"error: the passphrase does not open {path} (the file itself is intact): "
                                    "check --passphrase-file or ZKMARGIN_PASSPHRASE")
    none = run("show", "--home", str(ceremony.home(1)), env={"ZKMARGIN_PASSPHRASE": ""})
    assert none.exit_code == 2
    assert f"guardian file {path} is encrypted: pass --passphrase-file FILE or set ZKMARGIN_PASSPHRASE" \
        in none.output
    passphrase_file = tmp_path / "passphrase"
    passphrase_file.write_text(PASSPHRASE + "\n")
    by_file = ok("show", "--json", "--home", str(ceremony.home(1)), "--passphrase-file", str(passphrase_file),
                 env={"ZKMARGIN_PASSPHRASE": ""})
    assert '"step": "finished: holds its share"' in by_file.output


def test_init_never_overwrites_a_guardian_file(tmp_path):
    ceremony = Ceremony(tmp_path, 2, 3, "bn254")
    ok_first = ceremony.init(1)
    assert ok_first.exit_code == 0
    before = (ceremony.home(1) / "guardian.json").read_bytes()
    again = ceremony.init(1)
    assert again.exit_code == 2 and "a guardian file already exists at" in again.output
    assert (ceremony.home(1) / "guardian.json").read_bytes() == before


def test_a_missing_guardian_file_says_how_to_make_one(tmp_path):
    result = run("show", "--home", str(tmp_path / "nobody"))
    assert result.exit_code == 2
    assert result.output.strip() == (f"error: no guardian file at {tmp_path / 'nobody' / 'guardian.json'}: "
                                     "run `zkmargin guardian init` (or pass --home)")


@pytest.mark.parametrize(("option", "value", "expected"), [
    ("--index", "4", "index: expected a guardian index in 1..3"),
    ("--threshold", "4", "threshold: expected t in 1..3"),
    ("--curve", "ed25519", "unknown curve 'ed25519'"),
    ("--session", "two words", "session: expected 1-128 characters"),
])
def test_init_refuses_bad_parameters_in_one_line(tmp_path, option, value, expected):
    args = {"--index": "1", "--guardians": "3", "--threshold": "2", "--curve": "bn254", "--session": "s"}
    args[option] = value
    flat = [item for pair in args.items() for item in pair]
    result = run("init", *flat, "--home", str(tmp_path / "g"), "--out", str(tmp_path))
    assert result.exit_code == 2 and expected in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "g" / "guardian.json").exists()
