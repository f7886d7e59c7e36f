"""``zkmargin bench prove``, ``bench verify`` and ``bench report``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from circuits import get_circuit
from prover.console import emit_json, say
from prover.options import BackendOpt, CurveOpt, JsonOpt, Log2Opt, MarketsOpt, ScenariosOpt

bench_app = typer.Typer(help="Proof generation and verification benchmarks.", no_args_is_help=True)


@bench_app.command("prove")
def bench_prove(
    circuit: Annotated[str, typer.Option("--circuit")] = "chain",
    log2: Log2Opt = None,
    markets: MarketsOpt = None,
    scenarios: ScenariosOpt = None,
    curve: CurveOpt = "bls12381",
    repeat: Annotated[int, typer.Option("--repeat", min=1)] = 3,
    backend: BackendOpt = None,
    compare_snarkjs: Annotated[
        bool, typer.Option("--compare-snarkjs", help="also time snarkjs on the same chain (needs Node.js)")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Median prove time with per-phase breakdown (and the ratio to snarkjs, if asked)."""
    from prover.bench.proof_timings import bench_prove as run

    the_circuit = get_circuit(_with_scenarios(circuit, scenarios), log2=log2, markets=markets, scenarios=scenarios)
    result = run(the_circuit, curve, repeat, backend, compare_snarkjs, say)
    emit_json(result) if as_json else _print_bench(result)


@bench_app.command("verify")
def bench_verify(
    curve: CurveOpt = "bls12381",
    batch: Annotated[int, typer.Option("--batch", min=1)] = 64,
    repeat: Annotated[int, typer.Option("--repeat", min=1)] = 5,
    backend: BackendOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Single and batch verification figures (the mult circuit)."""
    from prover.bench.proof_timings import bench_verify as run

    result = run(curve, batch, repeat, backend)
    emit_json(result) if as_json else _print_bench(result)


@bench_app.command("report")
def bench_report(
    out: Annotated[Path, typer.Option("--out", help="folder for results.json, table.md and the plots")] = Path(
        "docs/benchmarks"
    ),
    quick: Annotated[bool, typer.Option("--quick", help="tiny sizes: checks the pipeline, not speed")] = False,
    compare_snarkjs: Annotated[bool, typer.Option("--compare-snarkjs", help="time snarkjs at 2^14")] = False,
) -> None:
    """The whole benchmark matrix: JSON, a markdown table and PNG plots."""
    from prover.bench.report import Plan, run_report

    run_report(Plan.quick() if quick else Plan.full(), out, compare_snarkjs, say)
    say(f"benchmark report written to {out}")


def _with_scenarios(circuit: str, scenarios: int | None) -> str:
    """``--scenarios`` asks for a statement in portfolio mode: ``margin`` is then the ``portfolio``
    statement, ``transfer`` and ``fill`` their portfolio variants (the circuits the service verifies
    in that mode); any other name is taken as it is."""
    from circuits.protocol.keystore import PORTFOLIO_VARIANTS

    if scenarios is None or circuit not in PORTFOLIO_VARIANTS:
        return circuit
    say(f"--scenarios: benchmarking {circuit}'s portfolio variant, {PORTFOLIO_VARIANTS[circuit]}")
    return PORTFOLIO_VARIANTS[circuit]


def _print_bench(result: dict[str, Any]) -> None:
    for key, value in result.items():
        if isinstance(value, dict):
            typer.echo(f"{key}:")
            for k, v in value.items():
                typer.echo(f"  {k:<24} {v}")
        else:
            typer.echo(f"{key:<26} {value}")


def register(app: typer.Typer, panel: str) -> None:
    """Mount ``bench`` on the project's CLI, in ``panel`` of its help."""
    app.add_typer(bench_app, name="bench", rich_help_panel=panel)
