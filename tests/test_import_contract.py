"""The import contract in pyproject.toml holds for the tree, and it bites: the same contract,
run on a small tree of the same packages with one forbidden edge, fails on that edge."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("demo", "prover", "verifier", "guardian", "circuits", "zkmargin")
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def contract_section() -> str:
    """The ``[tool.importlinter]`` tables of pyproject.toml, verbatim."""
    text = (ROOT / "pyproject.toml").read_text()
    start = text.index("[tool.importlinter]")
    end = text.index("\n[tool.", start + 1)
    while text[end:].startswith("\n[tool.importlinter"):
        end = text.index("\n[tool.", end + 1)
    return text[start:end]


def lint_imports(cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([LINT_IMPORTS, "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def test_the_tree_keeps_the_import_contract():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 kept, 0 broken" in done.stdout


def small_tree(root: Path, importer: str | None, imported: str | None) -> Path:
    """The six packages, each with a module ``edge``; ``importer.edge`` imports ``imported.edge``."""
    for package in PACKAGES:
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
        body = f"import {imported}.edge\n" if package == importer else ""
        (root / package / "edge.py").write_text(body)
    (root / "pyproject.toml").write_text(contract_section())
    return root


ALLOWED = [("demo", "prover"), ("demo", "verifier"), ("demo", "guardian"), ("prover", "circuits"),
           ("verifier", "circuits"), ("guardian", "circuits"), ("circuits", "zkmargin"), ("prover", "zkmargin"),
           ("guardian", "zkmargin")]
FORBIDDEN = [("prover", "verifier"), ("verifier", "prover"), ("circuits", "prover"), ("circuits", "verifier"),
             ("zkmargin", "circuits"), ("zkmargin", "verifier"), ("prover", "demo"), ("verifier", "demo"),
             ("guardian", "prover"), ("prover", "guardian"), ("guardian", "verifier"), ("verifier", "guardian"),
             ("circuits", "guardian"), ("zkmargin", "guardian"), ("guardian", "demo")]


@pytest.mark.parametrize(("importer", "imported"), FORBIDDEN, ids=[f"{a}->{b}" for a, b in FORBIDDEN])
def test_the_contract_fails_on_a_forbidden_edge(tmp_path, importer, imported):
    done = lint_imports(small_tree(tmp_path, importer, imported), pythonpath=tmp_path)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 kept, 1 broken" in done.stdout
    assert f"{importer}.edge -> {imported}.edge" in done.stdout


@pytest.mark.parametrize(("importer", "imported"), ALLOWED, ids=[f"{a}->{b}" for a, b in ALLOWED])
def test_the_contract_allows_imports_downwards(tmp_path, importer, imported):
    done = lint_imports(small_tree(tmp_path, importer, imported), pythonpath=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
