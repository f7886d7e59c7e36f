"""The proving commands' progress bar, as a terminal shows it."""

from __future__ import annotations

import io

from rich.console import Console

from prover.trader import cli as trader_cli
from prover.trader.account import PROOF_STEPS


def test_the_progress_bar_names_each_phase_on_a_terminal(monkeypatch):
    screen = io.StringIO()
    monkeypatch.setattr(trader_cli, "err_console", Console(file=screen, force_terminal=True, width=100))
    with trader_cli._proof_progress(True) as report:
        for step in PROOF_STEPS:
            report(step, False)
            report(step, True)
    text = screen.getvalue()
    assert "msm B (G2)" in text and f"{len(PROOF_STEPS)}/{len(PROOF_STEPS)}" in text
