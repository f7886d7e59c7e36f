"""The trader's commands: ``zkmargin account new|restore|backups``, ``deposit``, ``withdraw``,
``fills``, ``attest``, ``settle`` and ``status``.

Every command works on one state file (``--state``, default ``$ZKMARGIN_HOME/trader/state.json``),
locked for the command's duration. Before anything else it reconciles an interrupted
submission with the service. Proving commands show the proof's phases on stderr and end with a
one-line summary; ``--json`` prints machine-readable results on stdout instead.

Exit codes (``ExitCode``): 0 done; 1 the service refused (a rejected proof, a conflict, a closed
epoch); 2 a local problem (arguments, state file, passphrase, keys, an account too unhealthy for
the proof to exist); 3 the service is unreachable or failing (nothing was lost: retry).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from circuits.protocol.exit_codes import ExitCode
from circuits.protocol.home import zkmargin_home
from prover import statefile
from prover.console import emit_json, err_console, fail, say
from prover.portfolio_status import report_lines
from prover.trader.account import PROOF_STEPS, Outcome, TraderAccount
from prover.trader.client import (
    ServiceFailedError,
    ServiceRefusedError,
    ServiceUnreachableError,
)
from zkmargin.errors import ZkMarginError

PASSPHRASE_ENV = "ZKMARGIN_PASSPHRASE"

account_app = typer.Typer(help="Create, back up and restore the trader's private state.", no_args_is_help=True)


def default_state_path() -> Path:
    return zkmargin_home() / "trader" / "state.json"


StateOpt = Annotated[Optional[Path], typer.Option(
    "--state", envvar="ZKMARGIN_STATE", help="the private state file (default: $ZKMARGIN_HOME/trader/state.json)")]
PassphraseFileOpt = Annotated[Optional[Path], typer.Option(
    "--passphrase-file", envvar="ZKMARGIN_PASSPHRASE_FILE",
    help=f"read the state file's passphrase from this file (or set {PASSPHRASE_ENV})")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable results on stdout")]
ServiceOpt = Annotated[Optional[str], typer.Option("--service", help="the verifier service's URL (default: the one "
                                                                     "the account was opened at, the only one the "
                                                                     "account token is sent to)")]
InsecureOpt = Annotated[bool, typer.Option("--insecure", help="allow plain http:// to another machine (the token "
                                                              "and the proofs travel unencrypted)")]


# --- errors, passphrases, progress ---------------------------------------------------------

@contextmanager
def _explained_errors() -> Iterator[None]:
    """Every failure as one line and its exit code; never a traceback."""
    try:
        yield
    except ServiceRefusedError as exc:
        fail(str(exc), ExitCode.INVALID)
    except (ServiceUnreachableError, ServiceFailedError) as exc:
        fail(f"{exc} (nothing was lost: run the command again once the service answers)", ExitCode.SERVICE_UNAVAILABLE)
    except ZkMarginError as exc:
        fail(str(exc), ExitCode.ERROR)
    except OSError as exc:
        fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc), ExitCode.ERROR)
    except KeyboardInterrupt:
        fail("interrupted (the state file is intact; an interrupted submission is resolved by the next command)",
              ExitCode.ERROR)


def _read_passphrase(passphrase_file: Path | None) -> str | None:
    if passphrase_file is not None:
        text = passphrase_file.read_text().rstrip("\r\n")
        if not text:
            raise statefile.StateFileError(f"the passphrase file {passphrase_file} is empty")
        return text
    return os.environ.get(PASSPHRASE_ENV) or None


def _passphrase_for(path: Path, passphrase_file: Path | None) -> str | None:
    """The given passphrase; or, for an encrypted file on a terminal, one asked for."""
    passphrase = _read_passphrase(passphrase_file)
    if passphrase is None and path.exists() and statefile.is_encrypted(path) and err_console.is_terminal:
        passphrase = typer.prompt("passphrase of the state file", hide_input=True, err=True)
    return passphrase


@contextmanager
def _proof_progress(enabled: bool) -> Iterator[Callable[[str, bool], None]]:
    """A bar over a proof's phases (restarting at each proof), on stderr when it is a terminal."""
    if not enabled or not err_console.is_terminal:
        yield lambda step, finished: None
        return
    columns = (TextColumn("{task.description:<34}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task("proving", total=len(PROOF_STEPS))

        def report(step: str, finished: bool) -> None:
            if step == "witness" and not finished:
                progress.reset(task, total=len(PROOF_STEPS))
            if finished:
                progress.advance(task)
            else:
                progress.update(task, description=step, refresh=True)
        yield report


def _print(outcomes: list[Outcome], as_json: bool, empty: str) -> None:
    if as_json:
        emit_json([o.data for o in outcomes])
        return
    if not outcomes:
        typer.echo(empty)
    for outcome in outcomes:
        typer.echo(outcome.summary)


def _warn_if_token_withheld(account: TraderAccount) -> None:
    client = account.client
    if client.token_withheld:
        say(f"--service {client.url} is not the service this account was opened at ({client.token_service}); the "
            "account token is sent only there, so requests that need it will be refused", "[yellow]warning:[/yellow] ",
            soft_wrap=True)


def _run(state: Path | None, passphrase_file: Path | None, as_json: bool, service: str | None,
         operation: Callable[[TraderAccount], list[Outcome]], empty: str = "nothing to do",
         insecure: bool = False) -> None:
    """Load, lock, reconcile, run ``operation``, print."""
    path = state or default_state_path()
    with _explained_errors(), _proof_progress(not as_json) as progress, TraderAccount.locked(path):
        account = TraderAccount.load(path, _passphrase_for(path, passphrase_file), service=service, progress=progress,
                                     insecure=insecure)
        _warn_if_token_withheld(account)
        try:
            recovered = account.reconcile()
            outcomes = ([recovered] if recovered else []) + operation(account)
        finally:
            account.close()
    _print(outcomes, as_json, empty)


# --- account ---------------------------------------------------------------------------------

@account_app.command("new")
def account_new(
    service: Annotated[str, typer.Option("--service", help="the verifier service's URL")],
    state: StateOpt = None, passphrase_file: PassphraseFileOpt = None,
    encrypt: Annotated[bool, typer.Option("--encrypt", help="encrypt the state file with a passphrase "
                                                            "(asked for unless given by file or variable)")] = False,
    insecure: InsecureOpt = False, as_json: JsonOpt = False,
) -> None:
    """Open an account: a fresh private state and delivery key; the genesis commitment is registered."""
    path = state or default_state_path()
    with _explained_errors():
        passphrase = _read_passphrase(passphrase_file)
        if encrypt and passphrase is None:
            passphrase = typer.prompt("passphrase for the new state file", hide_input=True,
                                      confirmation_prompt=True, err=True)
        account = TraderAccount.open(path, service, passphrase, insecure=insecure)
        account.close()
    wallet = account.wallet
    data = {"account_id": wallet.account_id, "service": wallet.service, "curve": wallet.curve,
            "markets": wallet.markets, "state_file": str(path), "encrypted": passphrase is not None,
            "genesis_commitment": str(wallet.commitment())}
    _print([Outcome(f"account {wallet.account_id} opened at {wallet.service}; private state in {path}"
                    f"{' (encrypted)' if passphrase else ''}. Keep this file: it cannot be recreated.", data)],
           as_json, "")


@account_app.command("backups")
def account_backups(
    state: StateOpt = None, passphrase_file: PassphraseFileOpt = None, as_json: JsonOpt = False,
) -> None:
    """The state file's previous versions, newest first."""
    path = state or default_state_path()
    with _explained_errors():
        backups = statefile.list_backups(path, _read_passphrase(passphrase_file))
    rows = [{"backup": b.number, "saved_at": b.saved_at.isoformat(timespec="seconds"),
             "loads": b.loads, "problem": b.problem, "path": str(b.path)} for b in backups]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        typer.echo(f"no backups of {path}")
    for row in rows:
        verdict = "ok" if row["loads"] else f"does not load: {row['problem']}"
        typer.echo(f"#{row['backup']:<4} {row['saved_at']}  {verdict}")


@account_app.command("restore")
def account_restore(
    state: StateOpt = None, passphrase_file: PassphraseFileOpt = None,
    backup: Annotated[Optional[int], typer.Option("--backup", help="the backup's number (`zkmargin account "
                                                                   "backups`; default: the newest that loads)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Make a backup current again (the replaced file is kept aside, never deleted)."""
    path = state or default_state_path()
    with _explained_errors(), TraderAccount.locked(path):
        # the current file may be damaged: a given passphrase only checks that the backup opens
        restored = statefile.restore(path, backup, _read_passphrase(passphrase_file))
    data = {"state_file": str(path), "restored_backup": restored.number, "restored_from": str(restored.path)}
    message = (f"restored {path} from backup #{restored.number} ({restored.saved_at:%Y-%m-%d %H:%M:%S} UTC); "
               "the next command reconciles it with the service")
    _print([Outcome(message, data)], as_json, "")


# --- the trading commands --------------------------------------------------------------------

def deposit(
    amount: Annotated[Optional[int], typer.Argument(help="apply the credited deposit of this amount "
                                                         "(default: every credited deposit)", min=1)] = None,
    deposit_id: Annotated[Optional[int], typer.Option("--id", help="apply this credited deposit")] = None,
    state: StateOpt = None, passphrase_file: PassphraseFileOpt = None, service: ServiceOpt = None,
    insecure: InsecureOpt = False, as_json: JsonOpt = False,
) -> None:
    """Prove credited deposits into the private state (one transfer proof each)."""
    _run(state, passphrase_file, as_json, service, lambda a: a.deposit(amount, deposit_id), insecure=insecure)


def withdraw(
    amount: Annotated[int, typer.Argument(help="the amount to withdraw", min=1)],
    state: StateOpt = None, passphrase_file: PassphraseFileOpt = None, service: ServiceOpt = None,
    insecure: InsecureOpt = False, as_json: JsonOpt = False,
) -> None:
    """Withdraw collateral (a transfer proof that the rest still meets the initial margin; portfolio mode:
    every scenario at the initial factor)."""
    _run(state, passphrase_file, as_json, service, lambda a: a.withdraw(amount), insecure=insecure)


def fills(state: StateOpt = None, passphrase_file: PassphraseFileOpt = None, service: ServiceOpt = None,
          insecure: InsecureOpt = False, as_json: JsonOpt = False) -> None:
    """Fetch, decrypt and apply the pending fills, one proof each."""
    _run(state, passphrase_file, as_json, service, lambda a: a.apply_fills(), empty="no pending fills",
         insecure=insecure)


def attest(
    epoch: Annotated[Optional[int], typer.Option("--epoch", help="default: the open epoch")] = None,
    state: StateOpt = None, passphrase_file: PassphraseFileOpt = None, service: ServiceOpt = None,
    insecure: InsecureOpt = False, as_json: JsonOpt = False,
) -> None:
    """Prove maintenance margin at the epoch's mark prices (portfolio mode: every scenario of its risk record)."""
    _run(state, passphrase_file, as_json, service, lambda a: [a.attest(epoch)], insecure=insecure)


def settle(
    epoch: Annotated[Optional[int], typer.Option("--epoch", help="default: every closed epoch not yet settled")] = None,
    state: StateOpt = None, passphrase_file: PassphraseFileOpt = None, service: ServiceOpt = None,
    insecure: InsecureOpt = False, as_json: JsonOpt = False,
) -> None:
    """Settle closed epochs at their settlement prices (the pnl is public, the positions are not)."""
    _run(state, passphrase_file, as_json, service, lambda a: a.settle(epoch), empty="no epoch to settle",
         insecure=insecure)


def status(state: StateOpt = None, passphrase_file: PassphraseFileOpt = None, service: ServiceOpt = None,
           insecure: InsecureOpt = False, as_json: JsonOpt = False) -> None:
    """Positions, equity and margin ratio at the open epoch's prices (computed locally), and the service's view;
    in portfolio mode also the scenario P&L (the worst named), requirement, surplus and Greeks."""
    path = state or default_state_path()
    with _explained_errors(), TraderAccount.locked(path):
        account = TraderAccount.load(path, _passphrase_for(path, passphrase_file), service=service, insecure=insecure)
        _warn_if_token_withheld(account)
        try:
            recovered = account.reconcile()
            report = account.status()
        finally:
            account.close()
    if as_json:
        emit_json({**report, "reconciled": recovered.data if recovered else None})
        return
    if recovered:
        typer.echo(recovered.summary)
    _print_status(report)


def _print_status(report: dict[str, Any]) -> None:
    typer.echo(f"account {report['account_id']} at {report['service']}"
               f"{'' if report['in_sync'] else '  (NOT in sync with the service)'}")
    typer.echo(f"  collateral            {report['collateral']}")
    if not report["positions"]:
        typer.echo("  positions             none")
    for position in report["positions"]:
        typer.echo(f"  {position['market']:<20}  size {position['size']}  cost basis {position['cost_basis']}")
    if "equity" in report:
        epoch = report["epoch"]
        typer.echo(f"  epoch {epoch['epoch_id']} mark prices  {', '.join(map(str, epoch['mark_prices']))}")
        typer.echo(f"  equity                {report['equity']}")
        typer.echo(f"  maintenance margin    {report['maintenance_requirement']}"
                   f"  (ratio {report['margin_ratio'] or 'n/a: no position'})")
        typer.echo(f"  initial margin        {report['initial_requirement']}")
        typer.echo(f"  excess over maint.    {report['excess_over_maintenance']}")
        health = report["health"]
        typer.echo(f"  service health        {health['status']}"
                   f"{' (attested)' if health['attested'] else ''}"
                   f"{': ' + '; '.join(health['reasons']) if health['reasons'] else ''}")
    if report.get("portfolio"):
        _print_portfolio(report["portfolio"])
    if report.get("liquidation"):
        typer.echo(f"  liquidation           {_liquidation_line(report['liquidation'])}")
    view = report["service_view"]
    pending = [f"deposit #{d['deposit_id']} ({d['amount']})" for d in view["pending_deposits"]]
    pending += [f"fill #{f}" for f in view["pending_fills"]]
    typer.echo(f"  waiting to be proven  {', '.join(pending) or 'nothing'}")
    balances = view["ledger_balances"]
    typer.echo(f"  ledger                collateral {balances['collateral']}, deposits {balances['deposits']}, "
               f"payouts {balances['payouts']}")


def _print_portfolio(portfolio: dict[str, Any]) -> None:
    """Portfolio mode: the figures the margin attestation proves, computed here from the private
    state and the epoch's risk record (the flat figures above still rule deposits, withdrawals,
    fills and the service's health)."""
    if "unavailable" in portfolio:
        typer.echo(f"  portfolio margin      unavailable: {portfolio['unavailable']}")
        return
    typer.echo("  portfolio margin (what `zkmargin attest` proves)")
    for line in report_lines(portfolio):
        typer.echo(f"    {line}")


def _liquidation_line(liquidation: dict[str, Any]) -> str:
    """Frozen (shares collected / needed), closed out (what, at which prices, the penalty), or failed."""
    head = f"#{liquidation['id']} ({liquidation['reason']}, epoch {liquidation['epoch_id']}): "
    if liquidation["frozen"]:
        return (head + f"FROZEN, waiting for the guardians: {liquidation['shares']} of {liquidation['threshold']} "
                "shares; every transition and attestation is refused until it closes")
    if liquidation["status"] == "failed":
        return head + f"FAILED ({liquidation.get('failure')}); the account stays frozen: tell the operator"
    closeout = liquidation.get("closeout") or {}
    closed = ", ".join(f"{q} at {p}" for q, p in zip(closeout.get("closed") or [], closeout.get("prices") or [])
                       if int(q))
    kind = "fully closed out" if closeout.get("full") else f"partly closed out ({closeout.get('step')} millionths)"
    adopted = "adopted by this state file" if liquidation.get("adopted") else "successor NOT adopted"
    return (head + f"LIQUIDATED at {liquidation.get('closed_at')}: {kind}, closed {closed or 'nothing'}, "
            f"penalty {closeout.get('penalty')}; {adopted}")


def register(app: typer.Typer) -> None:
    """Mount the trader's commands on the project's CLI."""
    app.add_typer(account_app, name="account", rich_help_panel="Trader")
    for command in (deposit, withdraw, fills, attest, settle, status):
        app.command(command.__name__, rich_help_panel="Trader")(command)
