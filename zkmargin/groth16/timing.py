"""Wall-clock seconds per named proving phase, announced as each phase starts."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

PhaseCallback = Callable[[str], None]


class PhaseTimer:
    """Collects wall-clock seconds per named phase and announces each phase as it starts.

    Phases may run concurrently (the MSMs do), so their sum can exceed the wall time.
    """

    def __init__(self, on_phase: PhaseCallback | None = None):
        self.seconds: dict[str, float] = {}
        self._on_phase = on_phase

    def announce(self, name: str) -> None:
        if self._on_phase:
            self._on_phase(name)

    def record(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self.announce(name)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.record(name, time.perf_counter() - start)

    def timed(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        start = time.perf_counter()
        result = fn(*args)
        self.record(name, time.perf_counter() - start)
        return result
