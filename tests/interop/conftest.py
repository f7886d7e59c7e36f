"""Fixtures for tests that run the real snarkjs (see prover/snarkjs)."""

from __future__ import annotations

import time

import pytest
from prover.snarkjs import SnarkjsRunner, install_snarkjs, missing_tools


@pytest.fixture(scope="session")
def snarkjs() -> SnarkjsRunner:
    """The pinned snarkjs, installed once per lock file into the user's cache directory."""
    missing = missing_tools()
    if missing:
        pytest.skip(f"snarkjs interop tests need Node.js: {' and '.join(missing)} not on PATH")
    started = time.perf_counter()
    runner = install_snarkjs()  # a failing npm ci raises: that is a broken set-up, not a skip
    print(f"\nsnarkjs ready in {runner.root} ({time.perf_counter() - started:.1f}s)")
    return runner
