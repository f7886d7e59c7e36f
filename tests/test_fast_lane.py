"""The fast lane's list of slow tests (tests/conftest.py) names tests that exist."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SLOW_MODULES, SLOW_TESTS

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_every_listed_slow_module_and_test_is_collected():
    listing = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    ).stdout.splitlines()
    node_ids = [line for line in listing if "::" in line]
    stale = [prefix for prefix in (*SLOW_MODULES, *SLOW_TESTS) if not any(n.startswith(prefix) for n in node_ids)]
    assert node_ids and not stale, f"tests/conftest.py lists tests that no longer exist: {stale}"
