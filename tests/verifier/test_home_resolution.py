"""``zkmargin serve`` and ``zkmargin ledger verify`` look at the same database, whatever
``ZKMARGIN_HOME`` says; set but empty once made ``serve`` use the current directory while
``ledger verify`` used ``~/.zkmargin``."""

import os
import subprocess
import sys

import pytest

from verifier.core.config import Settings
from verifier.db.engine import resolve_database_url


@pytest.mark.parametrize("home_value", ["", None], ids=["empty", "unset"])
def test_serve_and_ledger_verify_resolve_the_same_database(tmp_path, monkeypatch, home_value):
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("ZKMARGIN_HOME", "ZKMARGIN_DATABASE_URL")}
    environment["HOME"] = str(tmp_path)
    if home_value is not None:
        environment["ZKMARGIN_HOME"] = home_value
    for key in ("HOME", "ZKMARGIN_HOME", "ZKMARGIN_DATABASE_URL"):
        monkeypatch.delenv(key, raising=False)
        if key in environment:
            monkeypatch.setenv(key, environment[key])
    expected = f"sqlite:///{tmp_path / '.zkmargin' / 'verifier.sqlite3'}"

    served = Settings().resolved_database_url  # what `zkmargin serve` migrates and serves
    assert served == resolve_database_url() == expected

    # `zkmargin ledger verify` in its own process: an empty database there, and it says which one
    verified = subprocess.run([sys.executable, "-m", "prover", "ledger", "verify"], env=environment,
                              capture_output=True, text=True, timeout=120, check=False)
    assert verified.returncode == 2, verified.stderr
    assert f"cannot verify the ledger at {expected}:" in verified.stderr
