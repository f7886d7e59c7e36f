"""The exit codes of every ``zkmargin`` command: one table, the one the README documents.

A command ends with one line on stderr when it fails, never a traceback; the code says what a
script calling it should do next.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What a ``zkmargin`` command's exit status means."""

    OK = 0
    """Done: the proof is valid, the ledger is intact, the service accepted the request."""

    INVALID = 1
    """The answer is no: the proof does not verify, the ledger's hash chain or balances are
    broken, the service refused the request (a rejected proof, a conflict, a closed epoch), or
    the demo's epoch did not end as told."""

    ERROR = 2
    """A problem the user can fix here: arguments, a malformed input file, the state file, the
    passphrase, keys, the configuration, or an account too unhealthy for the proof to exist."""

    SERVICE_UNAVAILABLE = 3
    """The service is unreachable or failing: nothing was lost, run the command again later."""

    ABORTED = 130
    """The user aborted a prompt (Ctrl-C), as shells report a SIGINT."""
