"""``zkmargin serve`` and ``zkmargin ledger verify``: typer commands for the project's CLI.

The ``zkmargin`` command mounts them through the entry point ``zkmargin.commands:operator``
(``register(app)``); ``python -m verifier.cli`` runs them alone. Library errors are caught here
and reported as one line, exit code 2 (``ExitCode.ERROR``); no tracebacks for users.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Optional

import typer

from circuits.protocol.exit_codes import ExitCode
from zkmargin.errors import ZkMarginError

ledger_app = typer.Typer(help="The settlement ledger.", no_args_is_help=True)


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
        typer.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        raise typer.Exit(ExitCode.ERROR) from None
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
        typer.echo(f"error: invalid configuration: {_first_error(exc)}", err=True)
        raise typer.Exit(ExitCode.ERROR) from None
    except (ZkMarginError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(ExitCode.ERROR) from None
    options = {"app": "verifier.main:app_factory", "factory": True, "log_config": None, "access_log": False,
               "timeout_graceful_shutdown": 5}
    os.environ[WORKERS_ENV] = str(workers)  # each worker sizes its verification threads by it
    if workers > 1 and reuse_port_supported():
        try:
            code = serve_workers(host, port, workers, options)
        except OSError as exc:
            typer.echo(f"error: cannot listen on {host}:{port}: {exc}", err=True)
            raise typer.Exit(ExitCode.ERROR) from None
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
    from verifier.ledger import ledger_verify_command

    raise typer.Exit(ledger_verify_command(database_url))


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
