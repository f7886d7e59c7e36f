"""``zkmargin serve`` and ``zkmargin ledger verify``: typer commands for the project's CLI.

The ``zkmargin`` command mounts them through the entry point ``zkmargin.commands:operator``
(``register(app)``); ``python -m verifier.cli`` runs them alone. Library errors are caught here
and reported as one line, exit code 2 (``ExitCode.ERROR``); no tracebacks for users.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, NoReturn, Optional

import typer

from circuits.protocol.exit_codes import ExitCode
from zkmargin.errors import ZkMarginError

ledger_app = typer.Typer(help="The settlement ledger.", no_args_is_help=True)


def _say_error(message: str) -> None:
    """One ``error: ...`` line on stderr: how every operator command reports a failure."""
    typer.echo(f"error: {message}", err=True)


def _fail(message: str) -> NoReturn:
    """End the command with one error line and ``ExitCode.ERROR``."""
    _say_error(message)
    raise typer.Exit(ExitCode.ERROR)


def serve_command(
    host: Annotated[str, typer.Option("--host", envvar="ZKMARGIN_HOST", help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", envvar="ZKMARGIN_PORT", help="port to bind")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, envvar="ZKMARGIN_WORKERS",
                                         help="worker processes (each verifies in batches on its own)")] = 1,
) -> None:
    """Run the verifier HTTP service (settings from ZKMARGIN_* variables; embedded defaults otherwise).

    With several workers on Linux each worker listens on a socket of its own (SO_REUSEPORT), so
    that the kernel spreads connections over them (see ``verifier.serving``). A port another
    server already serves is refused before anything starts; workers stop when the supervisor
    dies."""
    from verifier.serving import claim_port

    try:
        # first: a second server on a served port stops here, before it migrates or loads anything
        claim = claim_port(host, port)
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    with claim:
        _serve(host, port, workers)


def _serve(host: str, port: int, workers: int) -> None:
    """The rest of ``serve``, while the port's claim is held."""
    import uvicorn
    from pydantic import ValidationError

    from verifier.core.bootstrap import prepare_runtime
    from verifier.core.config import Settings
    from verifier.core.logging import configure_logging
    from verifier.serving import WORKERS_ENV, reuse_port_supported, serve_workers

    try:
        settings = Settings()
        configure_logging(settings.log_level, settings.log_json)
        # once, before any worker starts: migrations, development credentials and keys
        prepare_runtime(settings)
    except ValidationError as exc:
        _fail(f"invalid configuration: {_first_error(exc)}")
    except (ZkMarginError, OSError) as exc:
        _fail(str(exc))
    options = {"app": "verifier.main:app_factory", "factory": True, "log_config": None, "access_log": False,
               "timeout_graceful_shutdown": 5}
    os.environ[WORKERS_ENV] = str(workers)  # each worker sizes its verification threads by it
    if workers > 1 and reuse_port_supported():
        try:
            code = serve_workers(host, port, workers, options)
        except OSError as exc:
            _fail(f"cannot listen on {host}:{port}: {exc}")
        if code:
            raise typer.Exit(code)
        return
    app = options.pop("app")
    uvicorn.run(app, host=host, port=port, workers=workers, **options)


def _first_error(exc) -> str:
    error = exc.errors()[0]
    return f"ZKMARGIN_{'_'.join(map(str, error['loc'])).upper()}: {error['msg']}"


@ledger_app.command("verify")
def ledger_verify(
    database_url: Annotated[Optional[str], typer.Option("--database-url", envvar="ZKMARGIN_DATABASE_URL",
                                                        help="default: the SQLite file under ZKMARGIN_HOME")] = None,
) -> None:
    """Recompute the ledger's hash chain and balances: exit 0 intact, 1 broken, 2 error."""
    raise typer.Exit(ledger_verify_command(database_url))



def ledger_verify_command(database_url: str | None = None) -> int:
    """``zkmargin ledger verify``: print a one-line verdict; exit 0 intact, 1 broken, 2 error.

    The exit codes are the CLI's (``ExitCode``: OK, INVALID for a broken ledger, ERROR).
    """
    from sqlalchemy.exc import SQLAlchemyError

    from verifier.db.engine import Database
    from verifier.db.ledger import verify_ledger
    from verifier.db.migrate import require_current_schema
    from verifier.errors import first_line

    try:
        database = Database.connect(database_url)
    except ZkMarginError as exc:
        _say_error(str(exc))
        return ExitCode.ERROR
    try:
        require_current_schema(database.engine)
        with database.reader() as session:
            report = verify_ledger(session)
    except (ZkMarginError, SQLAlchemyError) as exc:
        _say_error(f"cannot verify the ledger at {database.url}: {first_line(exc)}")
        return ExitCode.ERROR
    finally:
        database.dispose()
    print(report.verdict(), file=sys.stdout if report.ok else sys.stderr)
    return ExitCode.OK if report.ok else ExitCode.INVALID


def register(app: typer.Typer) -> None:
    """Mount ``serve`` and ``ledger verify`` on the project's CLI."""
    app.command("serve", rich_help_panel="Operator")(serve_command)
    app.add_typer(ledger_app, name="ledger", rich_help_panel="Operator")


app = typer.Typer(help="zkmargin verifier service.", no_args_is_help=True)
register(app)


def main() -> None:
    app(prog_name="zkmargin")


if __name__ == "__main__":
    sys.exit(main())
