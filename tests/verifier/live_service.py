"""A live service for the end-to-end tests: the app under uvicorn on a loopback port in this
process, and the ``zkmargin`` CLI run in process against it."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from prover.cli import app as zkmargin_app
from tests.verifier.conftest import free_port

runner = CliRunner()


class LocalServer:
    """The app under uvicorn in a thread of this process, on a free loopback port."""

    def __init__(self, settings) -> None:
        import uvicorn

        from verifier.main import create_app

        self.url = f"http://127.0.0.1:{free_port()}"
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=int(self.url.rpartition(":")[2]),
                                log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "the server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)


def zkmargin(*args: str) -> dict[str, Any] | list[Any]:
    """A ``zkmargin`` command in this process; its --json answer."""
    result = runner.invoke(zkmargin_app, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def trader_folder(tmp_path: Path, keys_dir: Path, name: str = "traders") -> Path:
    """A folder for the traders' CLI whose keys dir is the given one (the session's keys: no downloads)."""
    home = tmp_path / name
    home.mkdir()
    (home / "keys").symlink_to(keys_dir, target_is_directory=True)
    return home
