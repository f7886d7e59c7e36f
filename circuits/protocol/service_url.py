"""How a client of the verifier service reads its URL and its refusals (trader and guardian alike).

Plain ``http://`` is allowed only to this machine (``localhost`` or a loopback address) unless
the caller says ``insecure``: what a client sends (an account token and proofs, or decryption
shares) would otherwise cross the network readable by anyone on the way.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import httpx

DEFAULT_PORTS = {"http": 80, "https": 443}


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` names this machine: ``localhost`` or a loopback address."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_service_url(url: str, error: type[Exception]) -> httpx.URL:
    """``url`` parsed, or ``error`` naming what is wrong with it."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise error(f"not a service URL: {url!r} ({exc})") from None
    if parsed.scheme not in DEFAULT_PORTS or not parsed.host:
        raise error(f"not a service URL: {url!r}: expected https://HOST[:PORT] (or http:// to this machine)")
    return parsed


def plain_http_refusal(parsed: httpx.URL, *, insecure: bool, what_travels: str) -> str | None:
    """Why ``parsed`` may not be used (plain http to another machine, not allowed explicitly), or None."""
    if parsed.scheme == "http" and not insecure and not is_loopback_host(parsed.host):
        return (f"refusing plain http:// to {parsed.host}: {what_travels} would travel unencrypted; "
                "use https://, or pass --insecure if this network is trusted")
    return None


def error_fields(response: httpx.Response) -> tuple[str, str, dict[str, Any]]:
    """A refusal's machine-readable ``code``, its one-line ``detail`` and its JSON body ({} if none)."""
    try:
        body = response.json()
    except ValueError:
        return "http_error", response.text.strip()[:200] or response.reason_phrase, {}
    if not isinstance(body, dict):
        return "http_error", str(body)[:200], {}
    return str(body.get("code", "http_error")), str(body.get("detail", response.reason_phrase)), body
