"""Messages print as written: rich markup must not eat bracketed words such as ``zkmargin[bench]``."""

from __future__ import annotations

import sys

import pytest
import typer

import prover.bench.report
import prover.cli
import prover.trader.cli
from circuits.protocol.exit_codes import ExitCode
from prover.console import fail, say
from zkmargin.errors import ZkMarginError

MESSAGE = "plots need matplotlib: pip install 'zkmargin[bench]' (see [red] and [/] and [link=x])"


def test_say_prints_brackets_intact_after_a_markup_label(capsys):
    say(MESSAGE, "[red]error:[/red] ", soft_wrap=True)
    assert capsys.readouterr().err == f"error: {MESSAGE}\n"


@pytest.mark.parametrize("code", [ExitCode.INVALID, ExitCode.ERROR, ExitCode.SERVICE_UNAVAILABLE])
def test_command_failures_print_brackets_intact(capsys, code):
    """``fail`` ends every command of zkmargin and of the trader's CLI."""
    with pytest.raises(typer.Exit) as done:
        fail(MESSAGE, code)
    assert done.value.exit_code == code
    assert capsys.readouterr().err == f"error: {MESSAGE}\n"


def test_the_trader_commands_explain_errors_through_fail(capsys):
    with pytest.raises(typer.Exit) as done, prover.trader.cli._explained_errors():
        raise ZkMarginError(MESSAGE)
    assert done.value.exit_code == ExitCode.ERROR
    assert capsys.readouterr().err == f"error: {MESSAGE}\n"


def test_bench_report_without_matplotlib_names_the_extra(capsys, monkeypatch, tmp_path):
    """The issue's case: `zkmargin bench report` without matplotlib (the benchmarks themselves skipped)."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    monkeypatch.setattr(prover.bench.report, "run_report",
                        lambda plan, out, compare, say: prover.bench.report.plot({}, out))
    monkeypatch.setattr(sys, "argv", ["zkmargin", "bench", "report", "--quick", "--out", str(tmp_path)])
    with pytest.raises(SystemExit) as done:
        prover.cli.main()
    assert done.value.code == ExitCode.ERROR
    assert capsys.readouterr().err == "error: plots need matplotlib: pip install 'zkmargin[bench]'\n"
