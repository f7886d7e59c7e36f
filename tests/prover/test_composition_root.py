"""``zkmargin`` mounts the service's, the guardian's and the demo's commands through entry points, so the trader's
package never imports them; without one of them installed the command still works, quietly."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest
from typer.testing import CliRunner

from prover.cli import COMMANDS_GROUP, build_app, installed_command_entry_points

OPERATOR = EntryPoint(name="operator", value="verifier.cli:register", group=COMMANDS_GROUP)
DEMO = EntryPoint(name="demo", value="demo.cli:register", group=COMMANDS_GROUP)
GUARDIAN = EntryPoint(name="guardian", value="guardian.cli:register", group=COMMANDS_GROUP)
NOT_INSTALLED = EntryPoint(name="ghost", value="zkmargin_ghost_package.cli:register", group=COMMANDS_GROUP)
TRADER_AND_CORE = ("account", "deposit", "withdraw", "fills", "attest", "settle", "status",
                   "setup", "prove", "groth16", "circuit", "bench", "portfolio")


def command_names(app) -> list[str]:
    commands = [info.name for info in app.registered_commands]
    return commands + [info.name for info in app.registered_groups]


def help_of(app) -> tuple[int, str, str]:
    done = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "160"})
    return done.exit_code, done.stdout, done.stderr


def test_the_installed_entry_points_are_the_service_the_guardian_and_the_demo():
    names = {entry_point.name: entry_point.value for entry_point in installed_command_entry_points()}
    assert names == {"operator": OPERATOR.value, "demo": DEMO.value, "guardian": GUARDIAN.value}


def test_entry_points_mount_serve_ledger_guardian_and_demo_next_to_the_trader_commands():
    names = command_names(build_app([OPERATOR, GUARDIAN, DEMO]))
    assert {"serve", "ledger", "guardian", "demo", *TRADER_AND_CORE} == set(names)
    assert len(names) == len(set(names))


@pytest.mark.parametrize("entry_points", [[], [NOT_INSTALLED], [NOT_INSTALLED, DEMO]], ids=["none", "missing", "one"])
def test_without_an_entry_point_the_root_works_and_says_nothing_odd(entry_points):
    app = build_app(entry_points)
    names = set(command_names(app))
    assert set(TRADER_AND_CORE) <= names and not {"serve", "ledger"} & names
    assert ("demo" in names) == (DEMO in entry_points)
    code, out, err = help_of(app)
    assert code == 0 and "setup" in out and "deposit" in out
    assert err == "" and "ghost" not in out and "rror" not in out


def test_an_entry_point_whose_own_code_is_broken_is_not_hidden():
    broken = EntryPoint(name="broken", value="demo.cli:no_such_function", group=COMMANDS_GROUP)
    with pytest.raises(AttributeError):
        build_app([broken])


def test_the_help_lists_panels_in_reading_order():
    _, out, _ = help_of(build_app(installed_command_entry_points()))
    panels = [out.index(panel) for panel in ("Operator", "Trader", "Proofs, keys and benchmarks", "Start here")]
    assert panels == sorted(panels)
