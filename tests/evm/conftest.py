"""Fixtures for the tests that run exported Solidity verifiers in an in-memory EVM."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from prover.snarkjs import missing_tools
from tests.evm.runner import Evm, install_evm


@pytest.fixture(scope="session")
def evm() -> Iterator[Evm]:
    """solc-js and ethereumjs's EVM from this folder's lock file, in one Node.js process."""
    missing = missing_tools()
    if missing:
        pytest.skip(f"EVM tests need Node.js: {' and '.join(missing)} not on PATH")
    started = time.perf_counter()
    root = install_evm()  # a failing npm ci raises: that is a broken set-up, not a skip
    machine = Evm(root)
    print(f"\nEVM tools ready in {root} ({time.perf_counter() - started:.1f}s)")
    yield machine
    machine.close()
