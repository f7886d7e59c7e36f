"""The trader's HTTP client for the verifier service: one method per endpoint a trader uses.

Answers are parsed into the response models of ``circuits.protocol.api`` (the ones the service
declares), so a command reads typed fields, never dictionary keys. Failures become three
exceptions a command can explain: the service could not be reached
(``ServiceUnreachableError``: connection refused, DNS, timeout), it refused the request
(``ServiceRefusedError``: 4xx, with the service's one-line ``detail`` and ``code``), or it failed
(``ServiceFailedError``: 5xx, the operator's problem; retry later).

The account token goes to one service only: the one the account was opened at, whose URL the
state file keeps. ``ServiceClient`` attaches it to a request only when the request's URL lies
under that service's (same scheme, host, port and path prefix); pointed anywhere else it sends
no token at all and says so (``token_withheld``). Plain ``http://`` is refused unless the host
is this machine (a loopback address or ``localhost``) or the caller says ``insecure``: the token
and the proofs would otherwise cross the network readable by anyone on the way.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from circuits.protocol.api import (
    AccountView,
    Epoch,
    EpochRecordView,
    EpochRisk,
    Health,
    LiquidationJson,
    Market,
    OpenedAccount,
    SealedFill,
    ServiceConfig,
    VerificationKeyJson,
)
from circuits.protocol.service_url import DEFAULT_PORTS, error_fields, parse_service_url, plain_http_refusal
from zkmargin.errors import ZkMarginError
from zkmargin.formats.files import write_atomically

Model = TypeVar("Model", bound=BaseModel)
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
MAX_KEY_BYTES = 1 << 30  # a proving key larger than 1 GiB is not one we asked for


class ServiceError(ZkMarginError):
    """Anything that went wrong talking to the service."""


class ServiceUnreachableError(ServiceError):
    pass


class InsecureServiceError(ServiceError):
    """Plain http:// to another machine, not allowed explicitly."""


def _parse(url: str) -> httpx.URL:
    return parse_service_url(url, ServiceError)


def check_service_url(url: str, *, insecure: bool = False) -> str:
    """``url`` without its trailing slash, if it may be used: https anywhere; plain http only to
    this machine unless ``insecure`` (``InsecureServiceError`` otherwise)."""
    refusal = plain_http_refusal(_parse(url), insecure=insecure, what_travels="the account token and the proofs")
    if refusal is not None:
        raise InsecureServiceError(refusal)
    return url.rstrip("/")


def _location(url: httpx.URL) -> tuple[str, str, int, str]:
    return (url.scheme, url.host.lower(), url.port or DEFAULT_PORTS[url.scheme], url.path.rstrip("/"))


def same_service(a: str, b: str) -> bool:
    """Whether two service URLs name the same service (scheme, host, port and path; default
    ports and trailing slashes do not matter)."""
    return _location(_parse(a)) == _location(_parse(b))


class BoundToken(httpx.Auth):
    """The account's bearer token, attached only to requests for the service it belongs to."""

    def __init__(self, token: str, service: str):
        self._header = f"Bearer {token}"
        self._scheme, self._host, self._port, self._path = _location(_parse(service))

    def covers(self, url: httpx.URL) -> bool:
        scheme, host, port, path = _location(url)
        return ((scheme, host, port) == (self._scheme, self._host, self._port)
                and (path == self._path or path.startswith(self._path + "/")))

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.covers(request.url):
            request.headers["Authorization"] = self._header
        yield request


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


class ServiceClient:
    """One service, optionally as one account: its bearer token, bound to ``token_service`` (the
    URL the account was opened at; default ``url``) and sent nowhere else."""

    def __init__(self, url: str, token: str | None = None, *, token_service: str | None = None,
                 insecure: bool = False, transport: httpx.BaseTransport | None = None,
                 timeout: httpx.Timeout | float = DEFAULT_TIMEOUT):
        self.url = check_service_url(url, insecure=insecure)
        self.token_service = (token_service or self.url).rstrip("/") if token else None
        # True: a token was given for another service than this one, and is not sent here
        self.token_withheld = bool(token) and not same_service(self.url, self.token_service)
        auth = BoundToken(token, self.token_service) if token and not self.token_withheld else None
        # No keep-alive: a trader's requests are seconds of proving apart, longer than a server keeps an
        # idle connection, and a request sent as the server closes one is reset ("Connection reset by
        # peer"; seen in the clearing property test). A fresh connection per request costs nothing here.
        self._http = httpx.Client(base_url=self.url, auth=auth, timeout=timeout, transport=transport,
                                  limits=httpx.Limits(max_keepalive_connections=0))

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
            reason = str(exc) or type(exc).__name__  # some transport errors carry no message
            raise ServiceUnreachableError(f"cannot reach the service at {self.url}: {reason}") from None
        if response.status_code >= 500:
            raise ServiceFailedError(response.status_code, error_fields(response)[1])
        if response.status_code >= 400:
            code, detail, body = error_fields(response)
            raise ServiceRefusedError(response.status_code, code, detail, body)
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self._send("GET", path, params=params or None).json()

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """The answer as JSON: for saved proof submissions, replayed as they were and logged as answered."""
        return self._send("POST", path, json=body).json()

    def _parsed(self, model: type[Model], answer: Any, path: str) -> Model:
        try:
            return model.model_validate(answer)
        except ValidationError as exc:
            raise ServiceError(f"the service at {self.url} answered {path} with an unreadable {model.__name__} "
                               f"({exc.errors()[0]['msg']})") from None

    def _parsed_list(self, model: type[Model], answer: Any, path: str) -> list[Model]:
        try:
            return TypeAdapter(list[model]).validate_python(answer)  # type: ignore[valid-type]
        except ValidationError as exc:
            raise ServiceError(f"the service at {self.url} answered {path} with an unreadable list of "
                               f"{model.__name__} ({exc.errors()[0]['msg']})") from None

    def _get(self, model: type[Model], path: str, **params: Any) -> Model:
        return self._parsed(model, self.get(path, **params), path)

    def _get_list(self, model: type[Model], path: str, **params: Any) -> list[Model]:
        return self._parsed_list(model, self.get(path, **params), path)

    # --- public configuration ------------------------------------------------------------

    def config(self) -> ServiceConfig:
        return self._get(ServiceConfig, "/config")

    def markets(self) -> list[Market]:
        return self._get_list(Market, "/markets")

    def verification_key(self, statement: str) -> VerificationKeyJson:
        return self._get(VerificationKeyJson, f"/keys/{statement}")

    def download_proving_key(self, statement: str, destination: Path) -> str:
        """Stream the statement's proving key to ``destination`` (atomically); returns its circuit id."""
        chunks: list[bytes] = []
        size = 0
        try:
            with self._http.stream("GET", f"/keys/{statement}/proving-key") as response:
                if response.status_code >= 400:
                    response.read()
                    code, detail, body = error_fields(response)
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

    def guardians(self) -> dict[str, Any] | None:
        """The guardian set's JSON (``GET /guardians``), or None when the service has none (404):
        the caller checks it with the set's own validation."""
        try:
            answer: dict[str, Any] = self.get("/guardians")
        except ServiceRefusedError as exc:
            if exc.status == 404:
                return None
            raise
        return answer

    def epoch(self, epoch_id: int) -> Epoch:
        return self._get(Epoch, f"/epochs/{epoch_id}")

    def current_epoch(self) -> Epoch:
        return self._get(Epoch, "/epochs/current")

    def epoch_risk(self, epoch_id: int) -> EpochRisk:
        """Portfolio mode: the epoch's risk record (market inputs, risk arrays, their digest)."""
        return self.epoch_risk_with_json(epoch_id)[0]

    def epoch_risk_with_json(self, epoch_id: int) -> tuple[EpochRisk, dict[str, Any]]:
        """The risk record parsed, and as served (its journaled hash is over the JSON as served)."""
        path = f"/epochs/{epoch_id}/risk"
        answer = self.get(path)
        return self._parsed(EpochRisk, answer, path), answer

    def epoch_record(self, epoch_id: int) -> EpochRecordView:
        """The epoch's open and close documents as the journal records them."""
        return self._get(EpochRecordView, f"/epochs/{epoch_id}/record")

    def epochs(self, limit: int = 50) -> list[Epoch]:
        return self._get_list(Epoch, "/epochs", limit=limit)

    # --- the account ---------------------------------------------------------------------

    def open_account(self, genesis_salt: int, encryption_public_key: str) -> OpenedAccount:
        answer = self.post("/accounts", {"genesis_salt": str(genesis_salt),
                                         "encryption_public_key": encryption_public_key})
        return self._parsed(OpenedAccount, answer, "/accounts")

    def account(self, account_id: int) -> AccountView:
        return self._get(AccountView, f"/accounts/{account_id}")

    def health(self, account_id: int, epoch_id: int) -> Health:
        return self._get(Health, f"/accounts/{account_id}/health", epoch_id=epoch_id)

    def fills(self, account_id: int, pending: bool = True) -> list[SealedFill]:
        return self._get_list(SealedFill, f"/accounts/{account_id}/fills", pending=str(pending).lower())

    def liquidation(self, liquidation_id: int) -> LiquidationJson:
        """A liquidation's public record: the request, the shares so far, the close-out once closed."""
        return self._get(LiquidationJson, f"/liquidations/{liquidation_id}")
