"""One home directory for every zkmargin command: ``$ZKMARGIN_HOME`` if set to something, else
``~/.zkmargin``; set but empty counts as unset."""

from pathlib import Path

import pytest

from circuits.protocol.home import HOME_ENV, home_from, zkmargin_home


@pytest.fixture
def home_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))  # Path.home() reads it
    return tmp_path


def test_unset_means_the_default(home_dir, monkeypatch):
    monkeypatch.delenv(HOME_ENV, raising=False)
    assert zkmargin_home() == home_dir / ".zkmargin"


def test_set_but_empty_means_the_default_not_the_current_directory(home_dir, monkeypatch):
    monkeypatch.setenv(HOME_ENV, "")
    assert zkmargin_home() == home_dir / ".zkmargin"
    assert home_from("") == home_from(None) == home_dir / ".zkmargin"


def test_a_set_value_is_used_as_given(home_dir, monkeypatch, tmp_path):
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "elsewhere"))
    assert zkmargin_home() == tmp_path / "elsewhere"
    assert home_from("relative/home") == Path("relative/home")
