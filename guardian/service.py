"""The guardian's HTTP client for the verifier service: the operator key, liquidations, shares.

A guardian trusts nothing it reads here: the request is checked against the operator key the
guardian pinned, the rules, the statement and the proof (:mod:`guardian.liquidation`). Failures
become three exceptions the commands explain with the project's exit codes: the service could
not be reached or failed (``ServiceUnavailableError``: retry later), or it refused the request
(``ServiceRefusedError``: 4xx, with the service's ``code`` and one-line ``detail``).

Plain ``http://`` is refused unless the host is this machine or the caller says ``insecure``:
whoever sits on the path could otherwise read the decryption shares a guardian posts (with t of
them, the account's state).
"""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from circuits.protocol.api import Epoch, LiquidationJson, OperatorKey
from circuits.protocol.service_url import error_fields, parse_service_url, plain_http_refusal
from zkmargin.errors import ZkMarginError

Model = TypeVar("Model", bound=BaseModel)
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
STATUSES = ("requested", "opened", "closed", "failed")


class ServiceError(ZkMarginError):
    """Anything that went wrong talking to the service."""


class ServiceUnavailableError(ServiceError):
    """Unreachable, too slow, or failing (5xx): nothing was done; retry later."""


class ServiceRefusedError(ServiceError):
    """A 4xx answer; ``code`` is the service's machine-readable reason."""

    def __init__(self, status: int, code: str, detail: str):
        super().__init__(f"the service refused (HTTP {status}, {code}): {detail}")
        self.status, self.code, self.detail = status, code, detail


def checked_service_url(url: str, *, insecure: bool = False) -> str:
    """``url`` without its trailing slash: https anywhere, plain http only to this machine unless ``insecure``."""
    refusal = plain_http_refusal(parse_service_url(url, ServiceError), insecure=insecure,
                                 what_travels="the shares posted")
    if refusal is not None:
        raise ServiceError(refusal)
    return url.rstrip("/")


class LiquidationService:
    """One verifier service, as a guardian sees it (no token: shares authenticate themselves)."""

    def __init__(self, url: str, *, insecure: bool = False, transport: httpx.BaseTransport | None = None,
                 timeout: httpx.Timeout | float = DEFAULT_TIMEOUT):
        self.url = checked_service_url(url, insecure=insecure)
        self._http = httpx.Client(base_url=self.url, timeout=timeout, transport=transport)

    def __enter__(self) -> LiquidationService:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise ServiceUnavailableError(f"the service at {self.url} did not answer in time") from None
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            raise ServiceUnavailableError(f"cannot reach the service at {self.url}: {reason}") from None
        if response.status_code >= 500:
            raise ServiceUnavailableError(f"the service failed (HTTP {response.status_code}): "
                                          f"{error_fields(response)[1]}; retry later")
        if response.status_code >= 400:
            raise ServiceRefusedError(response.status_code, *error_fields(response)[:2])
        try:
            return response.json()
        except ValueError:
            raise ServiceError(f"the service at {self.url} answered {path} with something other than JSON") from None

    def _parsed(self, model: type[Model], answer: Any, path: str) -> Model:
        try:
            return model.model_validate(answer)
        except ValidationError as exc:
            raise ServiceError(f"the service at {self.url} answered {path} with an unreadable {model.__name__} "
                               f"({exc.errors()[0]['msg']})") from None

    def operator_key(self) -> str:
        """The operator signing key the service publishes (64 hex)."""
        return self._parsed(OperatorKey, self._send("GET", "/operator"), "/operator").signing_key

    def epoch(self, epoch_id: int) -> Epoch:
        """The epoch's public view: its deadlines and prices."""
        path = f"/epochs/{epoch_id}"
        return self._parsed(Epoch, self._send("GET", path), path)

    def liquidation(self, liquidation_id: int) -> LiquidationJson:
        path = f"/liquidations/{liquidation_id}"
        return self._parsed(LiquidationJson, self._send("GET", path), path)

    def liquidations(self, status: str | None = None) -> list[LiquidationJson]:
        answer = self._send("GET", "/liquidations", params={"status": status} if status else None)
        try:
            return TypeAdapter(list[LiquidationJson]).validate_python(answer)
        except ValidationError as exc:
            raise ServiceError(f"the service at {self.url} answered /liquidations with an unreadable list "
                               f"({exc.errors()[0]['msg']})") from None

    def post_share(self, liquidation_id: int, guardian: int, share: dict[str, Any]) -> LiquidationJson:
        path = f"/liquidations/{liquidation_id}/shares"
        answer = self._send("POST", path, json={"guardian": guardian, "share": share})
        return self._parsed(LiquidationJson, answer, path)
