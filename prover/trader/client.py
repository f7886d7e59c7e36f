"""The trader's HTTP client for the verifier service: one method per endpoint a trader uses.

Failures become three exceptions a command can explain: the service could not be reached
(``ServiceUnreachableError``: connection refused, DNS, timeout), it refused the request
(``ServiceRefusedError``: 4xx, with the service's one-line ``detail`` and ``code``), or it failed
(``ServiceFailedError``: 5xx, the operator's problem; retry later).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from zkmargin.errors import ZkMarginError
from zkmargin.formats.files import write_atomically

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
MAX_KEY_BYTES = 1 << 30  # a proving key larger than 1 GiB is not one we asked for


class ServiceError(ZkMarginError):
    """Anything that went wrong talking to the service."""


class ServiceUnreachableError(ServiceError):
    pass


class ServiceFailedError(ServiceError):
    def __init__(self, status: int, detail: str):
        super().__init__(f"the service failed (HTTP {status}): {detail}; retry later")
        self.status = status


class ServiceRefusedError(ServiceError):
    """A 4xx answer: the request (or the proof) was refused; ``code`` is machine-readable."""

    def __init__(self, status: int, code: str, detail: str, body: dict[str, Any] | None = None):
        super().__init__(f"the service refused: {detail}")
        self.status, self.code, self.detail = status, code, detail
        self.body = body or {}


def _error_fields(response: httpx.Response) -> tuple[str, str, dict[str, Any]]:
    try:
        body = response.json()
    except ValueError:
        return "http_error", response.text.strip()[:200] or response.reason_phrase, {}
    if not isinstance(body, dict):
        return "http_error", str(body)[:200], {}
    return str(body.get("code", "http_error")), str(body.get("detail", response.reason_phrase)), body


class ServiceClient:
    """One service, optionally as one account (its bearer token)."""

    def __init__(self, url: str, token: str | None = None, *, transport: httpx.BaseTransport | None = None,
                 timeout: httpx.Timeout | float = DEFAULT_TIMEOUT):
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing -------------------------------------------------------------------------

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise ServiceUnreachableError(f"the service at {self.url} did not answer in time") from None
        except httpx.TransportError as exc:
            raise ServiceUnreachableError(f"cannot reach the service at {self.url}: {exc or type(exc).__name__}") from None
        if response.status_code >= 500:
            raise ServiceFailedError(response.status_code, _error_fields(response)[1])
        if response.status_code >= 400:
            code, detail, body = _error_fields(response)
            raise ServiceRefusedError(response.status_code, code, detail, body)
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self._send("GET", path, params=params or None).json()

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._send("POST", path, json=body).json()

    # --- public configuration ------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        return self.get("/config")

    def markets(self) -> list[dict[str, Any]]:
        return self.get("/markets")

    def verification_key(self, statement: str) -> dict[str, Any]:
        return self.get(f"/keys/{statement}")

    def download_proving_key(self, statement: str, destination: Path) -> str:
        """Stream the statement's proving key to ``destination`` (atomically); returns its circuit id."""
        chunks: list[bytes] = []
        size = 0
        try:
            with self._http.stream("GET", f"/keys/{statement}/proving-key") as response:
                if response.status_code >= 400:
                    response.read()
                    code, detail, body = _error_fields(response)
                    if response.status_code >= 500:
                        raise ServiceFailedError(response.status_code, detail)
                    raise ServiceRefusedError(response.status_code, code, detail, body)
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_KEY_BYTES:
                        raise ServiceError(f"the {statement} proving key exceeds {MAX_KEY_BYTES} bytes")
                    chunks.append(chunk)
                circuit_id = response.headers.get("X-Zkmargin-Circuit-Id", "")
        except httpx.TransportError as exc:
            raise ServiceUnreachableError(f"cannot download the {statement} key from {self.url}: {exc}") from None
        write_atomically(destination, b"".join(chunks))
        return circuit_id

    def epoch(self, epoch_id: int) -> dict[str, Any]:
        return self.get(f"/epochs/{epoch_id}")

    def current_epoch(self) -> dict[str, Any]:
        return self.get("/epochs/current")

    def epochs(self, limit: int = 50) -> list[dict[str, Any]]:
        return self.get("/epochs", limit=limit)

    # --- the account ---------------------------------------------------------------------

    def open_account(self, genesis_salt: int, encryption_public_key: str) -> dict[str, Any]:
        return self.post("/accounts", {"genesis_salt": str(genesis_salt),
                                       "encryption_public_key": encryption_public_key})

    def account(self, account_id: int) -> dict[str, Any]:
        return self.get(f"/accounts/{account_id}")

    def health(self, account_id: int, epoch_id: int) -> dict[str, Any]:
        return self.get(f"/accounts/{account_id}/health", epoch_id=epoch_id)

    def fills(self, account_id: int, pending: bool = True) -> list[dict[str, Any]]:
        return self.get(f"/accounts/{account_id}/fills", pending=str(pending).lower())
