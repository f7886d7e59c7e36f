"""The one place that says where zkmargin keeps its files on this machine.

``$ZKMARGIN_HOME`` when it is set to something, else ``~/.zkmargin``. A variable that is set but
empty counts as unset: a shell line such as ``ZKMARGIN_HOME= zkmargin serve`` must not make one
command use the current directory while another uses the default.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "ZKMARGIN_HOME"
DEFAULT_HOME_NAME = ".zkmargin"


def zkmargin_home() -> Path:
    """The data directory: ``$ZKMARGIN_HOME`` if set and not empty, else ``~/.zkmargin``."""
    return home_from(os.environ.get(HOME_ENV))


def home_from(value: str | os.PathLike[str] | None) -> Path:
    """A configured home as a path; nothing or an empty string means the default."""
    if value is None or os.fspath(value) == "":
        return Path.home() / DEFAULT_HOME_NAME
    return Path(value)
