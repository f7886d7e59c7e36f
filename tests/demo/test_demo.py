"""``zkmargin demo`` as a new user runs it: a fresh ZKMARGIN_HOME, embedded defaults only.

The demo exits 0 only when its own closing checks hold (both epochs finalized at zero, the
ledger verifies, and the liquidation's facts: ``demo.liquidation.failed_facts``); here its
output must also tell the story's figures, each computed by the service or a trader."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_demo(home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "ZKMARGIN_HOME": str(home), "COLUMNS": "400"}
    return subprocess.run([sys.executable, "-m", "prover", "demo"], env=env, capture_output=True, text=True,
                          timeout=900, cwd=ROOT)


def lines_with(out: str, *parts: str) -> list[str]:
    return [line for line in out.splitlines() if all(part in line for part in parts)]


def assert_the_trading_chapters(out: str) -> None:
    assert lines_with(out, "guardians 3 in-process guardians made a 2-of-3 liquidation key on jubjub", "0 complaints")
    assert "pnl: alice +6,400, bob -6,400: the sum is 0; epoch 1 finalized (2 settled)" in out


def assert_the_liquidation_chapters(out: str) -> None:
    # BTC at 26,000: Bob (long 2 from 30,000, collateral 3,597 after epoch 1) is below maintenance
    assert "bob      equity 1,997 vs maintenance margin 2,600 (ratio 0.76)" in out
    assert lines_with(out, "bob      `zkmargin attest` refuses at once, before any proving",
                      "below maintenance margin by 603 collateral units")
    assert lines_with(out, "alice    margin attested for epoch 2")
    assert lines_with(out, "bob      service health in epoch 2: margin_call")
    assert lines_with(out, "alice    service health in epoch 2: healthy")
    assert lines_with(out, "liquidation 1 of account 3: rule margin_call of epoch 2", "+ 2 s grace")
    assert lines_with(out, "guardian 1: 8 checks passed", "the service holds 1 of 2 (requested)")
    assert lines_with(out, "checked: the proof verifies against our settle-markets2-escrow verifying key")
    assert lines_with(out, "guardian 3: 8 checks passed", "the service holds 2 of 2 (closed)")
    assert lines_with(out, "guardian 2 was not needed")
    assert not lines_with(out, "guardian 2:")
    # what the opening revealed, and the close-out: 2 BTC to the backstop at the mark, 20 % of the
    # 2,600 maintenance margin to the insurance fund, the rest of the equity stays Bob's
    assert lines_with(out, "bob      +2 BTC-USD at a cost basis of 53,600; collateral 3,597")
    assert lines_with(out, "full close-out: his equity 1,997", "to the backstop (account 1)", "+2 BTC-USD at 26,000")
    assert lines_with(out, "penalty 520 (20 % of the maintenance margin closed) to the insurance fund; insurance fund "
                           "balance 520")
    assert lines_with(out, "realized pnl -1,600", "Bob continues flat, collateral 1,477, in epoch 3")
    # Bob's CLI checked the successor against the close-out rules and adopted it (one wrapped paragraph)
    paragraph = " ".join(out.split())
    assert "Liquidation 1 (margin_call): the guardians opened this account's state" in paragraph
    assert "Collateral now 1477 (was 3597); the state file adopted the service's successor state" in paragraph
    assert lines_with(out, "backstop fill accepted")
    assert "backstop holds +2 BTC-USD at a cost basis of 52,000" in out
    assert ("pnl: alice +800, backstop +800, bob -1,600 (booked by the close-out): the sum is 0; epoch 2 finalized "
            "(3 settled)") in out
    assert "17 journal entries, every one balanced, hash chain intact, the 2 epochs' open and close records " \
           "still those of their prices: OK; clearing account 0" in " ".join(out.split())
    assert "NOT SO" not in out


def test_the_demo_liquidates_bob_and_finalizes_both_epochs_at_zero_and_caches_its_keys(tmp_path):
    first = run_demo(tmp_path)
    assert first.returncode == 0, (first.stdout, first.stderr)
    out = first.stdout
    assert "(first run: the escrow variants are the big ones) and cached in" in out
    assert_the_trading_chapters(out)
    assert_the_liquidation_chapters(out)
    assert "demo complete" in out
    assert "Traceback" not in first.stderr

    second = run_demo(tmp_path)
    assert second.returncode == 0, (second.stdout, second.stderr)
    assert "loaded from" in second.stdout and "demo complete" in second.stdout
    assert_the_liquidation_chapters(second.stdout)
