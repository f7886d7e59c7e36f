"""``zkmargin guardian`` comes from the installed entry point, in its own help panel, and its
errors are one line with the project's exit codes, never a traceback."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from prover.cli import build_app, installed_command_entry_points


def test_the_guardian_commands_are_mounted_in_their_panel():
    app = build_app(installed_command_entry_points())
    done = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "160"})
    assert done.exit_code == 0 and "─ Guardian ─" in done.stdout
    group = CliRunner().invoke(app, ["guardian", "--help"], env={"COLUMNS": "160"})
    assert group.exit_code == 0
    for command in ("init", "show", "dkg", "liquidation"):
        assert command in group.stdout
    assert "decryption shares for the service's liquidation requests" in " ".join(group.stdout.split())
    steps = CliRunner().invoke(app, ["guardian", "dkg", "--help"], env={"COLUMNS": "160"})
    for step in ("deal", "check", "answer", "finish"):
        assert step in steps.stdout


def test_the_installed_command_fails_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "prover", "guardian", "show", "--home", str(tmp_path / "[none]")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().startswith(f"error: no guardian file at {tmp_path / '[none]' / 'guardian.json'}")
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
