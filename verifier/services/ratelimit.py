"""Per-client-address rate limits, kept in the worker process's memory.

Used for account opening, the one write anyone may make without credentials. The limit is
``limit`` requests per ``window`` seconds per address, as a generic cell rate algorithm (GCRA):
one number per address (its "theoretical arrival time"), a burst of up to ``limit`` requests,
then one more every ``window / limit`` seconds. A refused request does not count.

**Per worker.** Each worker process (and each replica) keeps its own table, so a deployment of
N processes lets one address open up to N × ``limit`` accounts per window. That is a choice: the
check costs no database round trip, so a flood is refused before it reaches the database (the
shared resource it would otherwise exhaust), and it needs no schema. Set the limit to the
deployment's intended figure divided by its process count for a tighter bound.

Addresses are grouped the way they are handed out: an IPv4 address on its own, an IPv6 address
by its /64 network (one subscriber's allocation; a client could otherwise rotate through 2^64
addresses). The table holds at most ``max_addresses`` entries; beyond that the oldest are
forgotten (each then starts afresh), so memory stays bounded whatever the number of clients.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections.abc import Callable

from verifier.services.errors import RateLimitedError

DEFAULT_MAX_ADDRESSES = 100_000


def address_key(address: str | None) -> str:
    """The key an address is counted under: itself (IPv4), its /64 (IPv6), else the text given."""
    if not address:
        return "unknown"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


class AddressRateLimiter:
    """At most ``limit`` events per ``window`` seconds per address; ``limit`` 0 means no limit."""

    def __init__(self, limit: int, window: float = 60.0, *, what: str = "requests",
                 max_addresses: int = DEFAULT_MAX_ADDRESSES, clock: Callable[[], float] = time.monotonic):
        if limit < 0 or window <= 0 or max_addresses < 1:
            raise ValueError("a rate limit needs limit >= 0, window > 0 and max_addresses >= 1")
        self.limit, self.window, self.what = limit, window, what
        self.max_addresses = max_addresses
        self._clock = clock
        self._interval = window / limit if limit else 0.0
        self._tolerance = window - self._interval  # a burst of `limit` fits
        self._arrivals: dict[str, float] = {}  # address key -> theoretical arrival time
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def check(self, address: str | None) -> None:
        """Count one event from ``address``, or raise ``RateLimitedError`` (with ``retry_after``)."""
        if not self.enabled:
            return
        key = address_key(address)
        with self._lock:
            now = self._clock()
            arrival = max(self._arrivals.get(key, now), now)
            wait = arrival - self._tolerance - now
            if wait > 0:
                raise RateLimitedError(
                    f"too many {self.what} from this address: at most {self.limit} per {self.window:g} s "
                    f"(in this server process); retry in {math.ceil(wait)} s", retry_after=math.ceil(wait))
            self._arrivals.pop(key, None)  # re-insert: the table stays ordered by last use
            self._arrivals[key] = arrival + self._interval
            if len(self._arrivals) > self.max_addresses:
                self._forget(now)

    def _forget(self, now: float) -> None:
        """Drop the entries that no longer limit anyone, then the least recently used down to 90 %
        of the table (so that the sweep, linear in the table, runs once per many insertions)."""
        for key in [k for k, arrival in self._arrivals.items() if arrival <= now]:
            del self._arrivals[key]
        keep = max(1, self.max_addresses * 9 // 10)
        while len(self._arrivals) > keep:
            del self._arrivals[next(iter(self._arrivals))]
