"""``zkmargin demo`` as a new user runs it: a fresh ZKMARGIN_HOME, embedded defaults only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_demo(home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "ZKMARGIN_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "prover", "demo"], env=env, capture_output=True, text=True,
                          timeout=600, cwd=ROOT)


def test_the_demo_finalizes_a_zero_sum_epoch_and_caches_its_keys(tmp_path):
    first = run_demo(tmp_path)
    assert first.returncode == 0, (first.stdout, first.stderr)
    out = first.stdout
    assert "(first run) and cached in" in out
    assert "pnl: alice +6,400, bob -6,400: the sum is 0; epoch 1 finalized (2 settled)" in out
    assert "bob    equity 3,597 vs maintenance margin 3,320 (ratio 1.08)" in out
    assert "no attestation could exist" in out and "by 1403 collateral units" in out
    assert "hash chain intact: OK; clearing account 0" in out
    assert "demo complete" in out
    assert "Traceback" not in first.stderr

    second = run_demo(tmp_path)
    assert second.returncode == 0, (second.stdout, second.stderr)
    assert "loaded from" in second.stdout and "demo complete" in second.stdout
