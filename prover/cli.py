"""The ``zkmargin`` command: the one composition root of the project's CLI.

Proofs, keys and benchmarks are defined here and in ``prover.bench``: ``groth16 verify``
(snarkjs's command and default file names), ``circuit list`` / ``circuit info``, ``bench prove``
/ ``verify`` / ``report``, and two verbs that take a statement's name, ``setup NAME`` and
``prove NAME``. The trader's commands (``prover.trader.cli``) are mounted directly. Commands of
other packages are mounted through the entry points of the group ``zkmargin.commands`` (each a
``register(app)`` function): the operator's ``serve`` and ``ledger verify`` (``verifier.cli``),
the guardian's ``guardian ...`` (``guardian.cli``) and ``demo`` (``demo.cli``). So the trader's
package never imports the service, and an installation without one of them simply has no such
command.

Every command exits with a code of ``circuits.protocol.exit_codes.ExitCode``; the message is one
line on stderr, never a traceback.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Annotated, Optional

import typer

from circuits import CIRCUITS, get_circuit
from circuits.protocol.exit_codes import ExitCode
from prover.bench.cli import register as register_bench_commands
from prover.console import emit_json, err_console, phase_progress, say, say_error
from prover.inputs import load_input_json
from prover.options import BackendOpt, CurveOpt, EscrowOpt, JsonOpt, Log2Opt, MarketsOpt, ScenariosOpt
from prover.portfolio_status import register as register_portfolio_commands
from prover.trader.cli import register as register_trader_commands
from zkmargin.errors import ZkMarginError

COMMANDS_GROUP = "zkmargin.commands"
CORE_PANEL = "Proofs, keys and benchmarks"
# the help's panels in the order a reader meets them; a panel not listed comes last
PANEL_ORDER = ("Operator", "Trader", CORE_PANEL, "Start here")

groth16_app = typer.Typer(help="Groth16 proofs in snarkjs's file formats.", no_args_is_help=True)
circuit_app = typer.Typer(help="The statements zkmargin can prove.", no_args_is_help=True)


def _circuit(name: str, log2: int | None = None, markets: int | None = None, escrow: bool = False,
             scenarios: int | None = None):
    return get_circuit(name, log2=log2, markets=markets, escrow=escrow or None, scenarios=scenarios)


# --- groth16 ---------------------------------------------------------------------------
@groth16_app.command("verify")
def groth16_verify(
    verification_key: Annotated[Path, typer.Argument()] = Path("verification_key.json"),
    public: Annotated[Path, typer.Argument()] = Path("public.json"),
    proof: Annotated[Path, typer.Argument()] = Path("proof.json"),
    backend: BackendOpt = None,
) -> None:
    """Verify a proof. Exit 0 valid, 1 invalid, 2 malformed input."""
    from zkmargin.backends import get_backend
    from zkmargin.formats.snarkjs import (
        load_json,
        proof_from_json,
        public_from_json,
        vk_from_json,
    )
    from zkmargin.groth16 import verify

    vk_data = load_json(verification_key)
    vk = vk_from_json(vk_data, backend=None if backend is None else get_backend(vk_data.get("curve"), backend))
    be = get_backend(vk.curve, backend)
    the_proof = proof_from_json(load_json(proof), be, curve=vk.curve)
    inputs = public_from_json(load_json(public), vk.curve)
    if verify(vk, inputs, the_proof, be):
        err_console.print("[green]OK[/green]: the proof is valid")
        raise typer.Exit(ExitCode.OK)
    err_console.print("[red]INVALID[/red]: the proof does not verify")
    raise typer.Exit(ExitCode.INVALID)


export_app = typer.Typer(
    help="Ethereum: a Solidity verifier contract and proof calldata (BN254).", no_args_is_help=True)
groth16_app.add_typer(export_app, name="export")


@export_app.command("solidity")
def groth16_export_solidity(
    verification_key: Annotated[Path, typer.Argument()] = Path("verification_key.json"),
    verifier: Annotated[Path, typer.Argument(help="the Solidity file to write")] = Path("verifier.sol"),
) -> None:
    """Write a Solidity verifier for a BN254 key, callable like snarkjs's (verifyProof(a, b, c, input))."""
    from zkmargin.formats.files import write_atomically
    from zkmargin.formats.snarkjs import load_json, vk_from_json
    from zkmargin.formats.solidity import CONTRACT_NAME, solidity_verifier

    vk = vk_from_json(load_json(verification_key), source=str(verification_key))
    write_atomically(verifier, solidity_verifier(vk).encode())
    err_console.print(
        f"wrote {verifier}: contract {CONTRACT_NAME}, {vk.num_public} public inputs", highlight=False
    )


@export_app.command("calldata")
def groth16_export_calldata(
    public: Annotated[Path, typer.Argument()] = Path("public.json"),
    proof: Annotated[Path, typer.Argument()] = Path("proof.json"),
) -> None:
    """Print verifyProof's arguments for a BN254 proof, as snarkjs's soliditycalldata prints them."""
    from zkmargin.curves import BN254, get_curve
    from zkmargin.formats.snarkjs import load_json, proof_from_json, public_from_json
    from zkmargin.formats.solidity import solidity_calldata

    proof_data = load_json(proof)
    named = proof_data.get("curve") if isinstance(proof_data, dict) else None
    curve = get_curve(named) if isinstance(named, str) else BN254  # rapidsnark writes no curve
    the_proof = proof_from_json(proof_data, curve=curve, source=str(proof))
    inputs = public_from_json(load_json(public), curve, source=str(public))
    print(solidity_calldata(the_proof, inputs))


# --- circuit ---------------------------------------------------------------------------
@circuit_app.command("list")
def circuit_list(as_json: JsonOpt = False) -> None:
    """The registered circuits."""
    rows = [{"name": name, "description": factory.description} for name, factory in CIRCUITS.items()]
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        typer.echo(f"{row['name']:<10} {row['description']}")


@circuit_app.command("info")
def circuit_info(
    name: str, curve: CurveOpt = "bls12381", log2: Log2Opt = None, markets: MarketsOpt = None,
    escrow: EscrowOpt = False, scenarios: ScenariosOpt = None, as_json: JsonOpt = False,
) -> None:
    """Constraints, variables, public inputs and the under-constraint audit of a circuit."""
    from zkmargin.curves import get_curve
    from zkmargin.groth16.qap import domain_size_for

    the_curve = get_curve(curve)
    circuit = _circuit(name, log2, markets, escrow, scenarios)
    cs = circuit.synthesize(the_curve)
    audit = cs.audit()
    info = {
        "name": circuit.name,
        "parameters": circuit.parameters(),
        "curve": the_curve.name,
        **cs.summary(),
        "domain_size": domain_size_for(cs.num_constraints, cs.num_public),
        "public_input_names": cs.public_names,
        "audit": audit.as_dict(),
    }
    if as_json:
        emit_json(info)
        return
    for key in ("name", "curve", "constraints", "variables", "public_inputs", "private_variables", "domain_size"):
        typer.echo(f"{key:<18} {info[key]}")
    typer.echo(f"{'public order':<18} {', '.join(cs.public_names)}")
    verdict = "ok" if audit.ok else "UNDER-CONSTRAINED"
    typer.echo(f"{'audit':<18} {verdict}")
    for label, names in (("unconstrained", audit.unconstrained), ("undetermined", audit.undetermined),
                         ("advice", audit.advice), ("existential", audit.existential)):
        if names:
            typer.echo(f"  {label}: {', '.join(names[:20])}{' ...' if len(names) > 20 else ''}")


# --- setup and prove -------------------------------------------------------------------
def setup_command(
    name: str,
    curve: CurveOpt = "bls12381",
    out: Annotated[Optional[Path], typer.Option("--out", help="key directory")] = None,
    log2: Log2Opt = None,
    markets: MarketsOpt = None,
    escrow: EscrowOpt = False,
    scenarios: ScenariosOpt = None,
    backend: BackendOpt = None,
) -> None:
    """Single-party setup (development): writes proving_key.bin and verification_key.json."""
    from circuits.protocol.keystore import default_key_dir, run_setup
    from zkmargin.backends import get_backend
    from zkmargin.curves import get_curve

    the_curve = get_curve(curve)
    circuit = _circuit(name, log2, markets, escrow, scenarios)
    out = out or default_key_dir(circuit, the_curve)
    start = time.perf_counter()
    with phase_progress(f"setup {circuit.key_name()}") as on_phase:
        run_setup(circuit, the_curve, out, get_backend(the_curve, backend), progress=on_phase)
    say(f"keys for {circuit.key_name()} on {the_curve.name} written to {out} "
        f"({time.perf_counter() - start:.1f} s)")


def prove_command(
    name: str,
    input: Annotated[Path, typer.Option("--input", "-i", help="input.json: signal name -> value")],
    curve: CurveOpt = "bls12381",
    keys: Annotated[Optional[Path], typer.Option("--keys", help="key directory")] = None,
    proof: Annotated[Path, typer.Option("--proof")] = Path("proof.json"),
    public: Annotated[Path, typer.Option("--public")] = Path("public.json"),
    new_state: Annotated[Path, typer.Option("--new-state", help="transitions: where the successor state goes")] = Path(
        "new_state.json"
    ),
    escrow_out: Annotated[Path, typer.Option("--escrow-out", help="--escrow: where the new state's escrow goes")] = (
        Path("escrow.json")
    ),
    log2: Log2Opt = None,
    markets: MarketsOpt = None,
    escrow: EscrowOpt = False,
    scenarios: ScenariosOpt = None,
    backend: BackendOpt = None,
) -> None:
    """Prove a statement and write proof.json and public.json (snarkjs formats).

    Margin statements read an account state from input.json (see circuits/inputs.py) and, for a
    transition, write the successor state (keep it private: it holds the salt). The escrow
    variant (--escrow, input.json's "escrow_key") also writes the escrow the proof seals. The
    portfolio statement reads {"state": ..., "risk": the epoch's published arrays} (see
    circuits/portfolio.py; --markets and --scenarios give its shape); portfolio-transfer and
    portfolio-fill also the amount or the fill and "initial_factor" (circuits/portfolio_transitions.py).
    """
    from circuits.inputs import state_to_json
    from circuits.protocol.keystore import default_key_dir, load_keys
    from zkmargin.backends import get_backend
    from zkmargin.curves import get_curve
    from zkmargin.formats.files import write_atomically
    from zkmargin.formats.snarkjs import dump_json, proof_to_json, public_to_json
    from zkmargin.groth16 import PhaseTimer, prove

    the_curve = get_curve(curve)
    be = get_backend(the_curve, backend)
    circuit = _circuit(name, log2, markets, escrow, scenarios)
    values, successor = circuit.prepare(load_input_json(input), the_curve, source=str(input))
    key_dir = keys or default_key_dir(circuit, the_curve)
    pk = load_keys(key_dir, be)
    started = time.perf_counter()
    with phase_progress(f"prove {circuit.key_name()}") as on_phase:
        timer = PhaseTimer(on_phase)
        with timer.phase("witness"):
            cs = circuit.synthesize(the_curve, values)
        the_proof = prove(pk, cs, be, timer=timer)
    dump_json(proof_to_json(the_proof, be), proof)
    dump_json(public_to_json(cs.public_values()), public)
    if successor is not None:
        write_atomically(new_state, json.dumps(state_to_json(successor), indent=1).encode(), mode=0o600)
        say(f"successor state written to {new_state} (private: it holds the new salt)")
    if "escrow" in values:
        dump_json(values["escrow"].to_json(), escrow_out)
        say(f"escrow of the successor state written to {escrow_out} (send it with the proof)")
    say(f"proof written to {proof}, public inputs to {public} ({time.perf_counter() - started:.2f} s)")


# --- the composition root --------------------------------------------------------------
def installed_command_entry_points() -> list[EntryPoint]:
    """The installed ``zkmargin.commands`` entry points, one per name, in name order."""
    unique = {entry_point.name: entry_point for entry_point in entry_points(group=COMMANDS_GROUP)}
    return [unique[name] for name in sorted(unique)]


def register_entry_point_commands(app: typer.Typer, command_entry_points: Iterable[EntryPoint]) -> None:
    """Mount each entry point's commands; one whose package is not installed adds none, silently."""
    for entry_point in command_entry_points:
        try:
            register = entry_point.load()
        except ModuleNotFoundError as missing:
            if missing.name is not None and _inside(entry_point.module, missing.name):
                continue  # the package providing these commands is not installed
            raise
        register(app)


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(f"{package}.")


def order_panels(app: typer.Typer) -> None:
    """Sort the help's commands by panel (``PANEL_ORDER``), keeping their order within a panel."""
    def rank(panel: object) -> int:
        return PANEL_ORDER.index(panel) if panel in PANEL_ORDER else len(PANEL_ORDER)

    app.registered_commands.sort(key=lambda info: rank(info.rich_help_panel))
    app.registered_groups.sort(key=lambda info: rank(info.rich_help_panel))


def build_app(command_entry_points: Iterable[EntryPoint]) -> typer.Typer:
    """The ``zkmargin`` command: this package's commands and those of ``command_entry_points``."""
    root = typer.Typer(
        help="Zero-knowledge private margin verification: prove, verify and benchmark Groth16 statements.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    root.add_typer(groth16_app, name="groth16", rich_help_panel=CORE_PANEL)
    root.add_typer(circuit_app, name="circuit", rich_help_panel=CORE_PANEL)
    register_trader_commands(root)  # account, deposit, withdraw, fills, attest, settle, status
    root.command("setup", rich_help_panel=CORE_PANEL)(setup_command)
    root.command("prove", rich_help_panel=CORE_PANEL)(prove_command)
    register_bench_commands(root, CORE_PANEL)
    register_portfolio_commands(root, CORE_PANEL)  # portfolio status
    register_entry_point_commands(root, command_entry_points)  # serve, ledger verify; guardian; demo
    order_panels(root)
    return root


app = build_app(installed_command_entry_points())


def main() -> None:
    """Console entry point: every zkmargin error becomes a one-line message and exit code 2 (ERROR)."""
    try:
        code = app(standalone_mode=False)
    except ZkMarginError as err:
        say_error(err)
        sys.exit(ExitCode.ERROR)
    except OSError as err:  # a file or folder the user named cannot be used
        where = f" {err.filename}" if err.filename else ""
        say_error(f"{err.strerror or err}{where}")
        sys.exit(ExitCode.ERROR)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(ExitCode.ABORTED)
    except Exception as err:  # click usage errors
        import click

        if isinstance(err, click.ClickException):
            err.show()
            sys.exit(ExitCode.ERROR)
        raise
    sys.exit(code if isinstance(code, int) else ExitCode.OK)
