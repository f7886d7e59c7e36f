"""Verification keys at start-up: the service refuses keys made for another circuit, names the
command that makes the right ones, and in development replaces outdated keys (moving them aside)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from circuits.protocol.keystore import circuit_id, statement_key_dir
from verifier.core.keys import STATEMENTS, load_statement_keys
from zkmargin.curves import get_curve
from zkmargin.errors import KeyFileError

CURVE = get_curve("bls12381")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def keys_dir(api_keys, tmp_path) -> Path:
    """A copy of the session's M = 2 plain keys (tests here move and replace files); the escrow
    variants ``api_escrow_keys`` writes into the same folder, when an earlier test asked for them,
    are left out."""
    copy = tmp_path / "keys"
    shutil.copytree(api_keys[0], copy, ignore=shutil.ignore_patterns("*-escrow-*"))
    return copy


def plant_foreign_margin_key(keys_dir: Path) -> Path:
    """Put the M = 2 margin key where the M = 3 margin key belongs."""
    target = statement_key_dir(keys_dir, "margin", 3, CURVE)
    shutil.copytree(statement_key_dir(keys_dir, "margin", 2, CURVE), target)
    return target


def test_matching_keys_load(keys_dir):
    keys = load_statement_keys(keys_dir, 2, CURVE.name, generate=False)
    assert set(keys) == set(STATEMENTS)
    assert all(key.circuit_id == circuit_id(name, 2, CURVE.name) for name, key in keys.items())
    assert all(key.insecure for key in keys.values())  # the session's keys come from a test seed


def test_a_key_made_for_another_circuit_is_refused(keys_dir):
    plant_foreign_margin_key(keys_dir)
    with pytest.raises(KeyFileError, match="was made for circuit .* builds the margin circuit"):
        load_statement_keys(keys_dir, 3, CURVE.name, generate=False)


def test_a_missing_key_names_the_setup_command(keys_dir):
    with pytest.raises(KeyFileError, match="zkmargin setup margin --markets 3"):
        load_statement_keys(keys_dir, 3, CURVE.name, generate=False)


def test_without_escrow_keys_a_service_with_guardians_names_the_escrow_setup(keys_dir):
    """The plain keys are there; the escrow variants (their own folders) are not."""
    with pytest.raises(KeyFileError, match="zkmargin setup transfer --markets 2 --escrow .*transfer-markets2-escrow"):
        load_statement_keys(keys_dir, 2, CURVE.name, generate=False, escrow=True)


def test_the_escrow_variants_load_beside_the_plain_keys(api_escrow_keys, api_keys):
    keys = load_statement_keys(api_keys[0], 2, CURVE.name, generate=False, escrow=True)
    assert keys["margin"].circuit_id == circuit_id("margin", 2, CURVE.name)  # margin moves no state
    for name in ("transfer", "fill", "settle"):
        assert keys[name].circuit.key_name() == f"{name}-markets2-escrow"
        assert keys[name].circuit_id == circuit_id(name, 2, CURVE.name, True) != circuit_id(name, 2, CURVE.name)


def test_in_development_an_outdated_key_is_moved_aside_and_replaced(keys_dir):
    target = plant_foreign_margin_key(keys_dir)
    old = (target / "proving_key.bin").read_bytes()
    keys = load_statement_keys(keys_dir, 3, CURVE.name, generate=True)
    assert keys["margin"].circuit_id == circuit_id("margin", 3, CURVE.name)
    [aside] = [p for p in keys_dir.iterdir() if ".outdated-" in p.name]
    assert (aside / "proving_key.bin").read_bytes() == old  # moved, not deleted


def test_serve_refuses_to_start_on_mismatched_keys(keys_dir, tmp_path):
    plant_foreign_margin_key(keys_dir)
    markets = [{"name": n, "maintenance_rate": 50_000, "initial_rate": 100_000} for n in ("A", "B", "C")]
    env = {**os.environ, "ZKMARGIN_HOME": str(tmp_path / "home"), "ZKMARGIN_KEYS_DIR": str(keys_dir),
           "ZKMARGIN_GENERATE_KEYS": "false", "ZKMARGIN_MARKETS": json.dumps(markets)}
    result = subprocess.run([sys.executable, "-m", "prover", "serve", "--port", "9"], env=env, capture_output=True,
                            text=True, timeout=120, cwd=ROOT, check=False)
    assert result.returncode == 2
    assert "error:" in result.stderr and "was made for circuit" in result.stderr
    assert "Traceback" not in result.stderr
