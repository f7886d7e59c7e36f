"""One translation of every refusal into an HTTP status and a JSON body.

Body: ``{"detail": "<one clear sentence>", "code": "<machine-readable>"}`` (plus ``errors`` for
schema violations, ``accepted`` for an already accepted statement and ``trips``, the markets and
figures, for a circuit-breaker refusal). Bad input is always 4xx;
5xx means the operator must look (a broken ledger, a missing key), never the client's fault.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from circuits.protocol.closeout import CloseoutError, UnclosablePositionError
from circuits.protocol.errors import (
    FillCommitmentMismatchError,
    FillDecryptionError,
    PriceRangeError,
)
from verifier.errors import (
    AccountInDefaultError,
    AccountLiquidatingError,
    BadShareError,
    BadSignatureError,
    CircuitBreakerError,
    ConflictError,
    DatabaseConfigurationError,
    DuplicateError,
    EpochStateError,
    EquivocationError,
    FutureReportError,
    InvalidOracleKeyError,
    LedgerIntegrityError,
    NotFoundError,
    NotLiquidatableError,
    OpeningMismatchError,
    OracleConfigError,
    OutOfOrderError,
    QuorumError,
    RevokedOracleError,
    StaleCommitmentError,
    StaleReportError,
    UnknownMarketError,
    UnknownOracleError,
    first_line,
)
from verifier.services.errors import (
    AlreadyAcceptedError,
    AuthenticationError,
    ForbiddenError,
    MarketExpiredError,
    NoOpenEpochError,
    ProofRejectedError,
    RateLimitedError,
)
from circuits.protocol.vol_report import (
    VolBreakerError,
    VolFreshnessError,
    VolQuorumError,
    VolRangeError,
    VolSignatureError,
)
from zkmargin.errors import KeyFileError, MalformedInputError, ZkMarginError

log = logging.getLogger("zkmargin.verifier")

# First match wins: specific classes before their bases.
ERROR_TABLE: list[tuple[type[BaseException], int, str]] = [
    (AlreadyAcceptedError, 409, "already_accepted"),
    (StaleCommitmentError, 409, "stale_commitment"),
    (NoOpenEpochError, 409, "no_open_epoch"),
    (AccountInDefaultError, 409, "account_in_default"),
    (AccountLiquidatingError, 409, "account_liquidating"),
    (NotLiquidatableError, 409, "not_liquidatable"),
    (OpeningMismatchError, 409, "opening_mismatch"),
    (BadShareError, 422, "bad_share"),
    (UnclosablePositionError, 409, "unclosable_position"),  # portfolio mode: an option valued at 0
    (CloseoutError, 409, "closeout_refused"),  # the opened state cannot be closed out as configured
    (OutOfOrderError, 409, "out_of_order"),
    (EpochStateError, 409, "epoch_state"),
    (DuplicateError, 409, "duplicate"),
    (QuorumError, 409, "no_price_quorum"),
    (VolQuorumError, 409, "no_vol_quorum"),
    (VolBreakerError, 409, "vol_circuit_breaker"),
    (VolSignatureError, 401, "bad_signature"),
    (VolRangeError, 422, "vol_out_of_range"),
    (VolFreshnessError, 422, "stale_report"),
    (EquivocationError, 409, "oracle_equivocation"),
    (CircuitBreakerError, 409, "circuit_breaker"),
    (InvalidOracleKeyError, 422, "invalid_oracle_key"),
    (OracleConfigError, 409, "oracle_configuration"),
    (ConflictError, 409, "conflict"),
    (NotFoundError, 404, "not_found"),
    (AuthenticationError, 401, "unauthenticated"),
    (UnknownOracleError, 401, "unknown_oracle"),
    (BadSignatureError, 401, "bad_signature"),
    (RevokedOracleError, 403, "oracle_revoked"),
    (ForbiddenError, 403, "forbidden"),
    (RateLimitedError, 429, "rate_limited"),
    (StaleReportError, 422, "stale_report"),
    (FutureReportError, 422, "report_from_the_future"),
    (PriceRangeError, 422, "price_out_of_range"),
    (MarketExpiredError, 422, "market_expired"),
    (UnknownMarketError, 422, "unknown_market"),
    (ProofRejectedError, 422, "invalid_proof"),
    (FillDecryptionError, 400, "fill_decryption"),
    (FillCommitmentMismatchError, 400, "fill_commitment_mismatch"),
    (LedgerIntegrityError, 500, "ledger_integrity"),
    (DatabaseConfigurationError, 500, "database_configuration"),
    (KeyFileError, 500, "key_file"),
    (MalformedInputError, 400, "malformed_input"),
    (ZkMarginError, 400, "bad_request"),
]


def classify(exc: BaseException) -> tuple[int, str]:
    for cls, status, code in ERROR_TABLE:
        if isinstance(exc, cls):
            return status, code
    return 500, "internal_error"


def error_response(status: int, code: str, detail: str, *, headers: dict[str, str] | None = None,
                   **extra: Any) -> JSONResponse:
    headers = {**({"WWW-Authenticate": "Bearer"} if status == 401 else {}), **(headers or {})} or None
    return JSONResponse({"detail": detail, "code": code, **extra}, status_code=status, headers=headers)


# PostgreSQL's serialization failure and deadlock: the transaction lost a race and may be retried
SERIALIZATION_FAILURES = ("40001", "40P01")


def _sqlstate(exc: OperationalError) -> str | None:
    return getattr(getattr(exc, "orig", None), "sqlstate", None)


async def zkmargin_error(request: Request, exc: ZkMarginError) -> JSONResponse:
    status, code = classify(exc)
    if status >= 500:
        log.error("operator attention: %s", exc, extra={"event": "server_error", "code": code,
                                                        "path": request.url.path})
    extra = {"accepted": exc.accepted} if isinstance(exc, AlreadyAcceptedError) else {}
    if isinstance(exc, CircuitBreakerError):
        extra = {"trips": [trip.to_dict() for trip in exc.trips]}
    if isinstance(exc, NotLiquidatableError):
        extra = {"rule": exc.rule}
    if isinstance(exc, BadShareError):
        extra = {"guardian": exc.guardian}
    if isinstance(exc, UnclosablePositionError):
        extra = {"market": exc.market, "size": str(exc.size)}
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimitedError) else None
    return error_response(status, code, first_line(exc), headers=headers, **_jsonable(extra))


def _jsonable(value: Any) -> Any:
    from pydantic_core import to_jsonable_python  # the same encoding FastAPI gives responses

    return to_jsonable_python(value)


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = []
    for error in exc.errors():
        message = error.get("msg", "invalid value")
        if error.get("type") == "extra_forbidden":
            message = "unknown field (not part of this request: private state is never sent to the service)"
        elif error.get("type") == "json_invalid":
            message = "the body is not valid JSON"
        errors.append({"field": _location(tuple(error.get("loc", ()))), "message": message})
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5]) or "invalid request"
    return error_response(422, "invalid_request", detail, errors=errors[:50])


async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    codes = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large", 400: "bad_request"}
    return error_response(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))


async def database_error(request: Request, exc: SQLAlchemyError) -> JSONResponse:
    if isinstance(exc, IntegrityError):
        return error_response(409, "conflict", "the request conflicts with a concurrent change; re-read and retry")
    if isinstance(exc, DataError):
        return error_response(400, "bad_request", "a value does not fit the database column it belongs in")
    if isinstance(exc, OperationalError) and _sqlstate(exc) in SERIALIZATION_FAILURES:
        return error_response(409, "conflict", "the request lost a race with a concurrent change; retry")
    log.error("database error: %s", first_line(exc), extra={"event": "database_error", "path": request.url.path})
    return error_response(503, "database_unavailable", "the database is unavailable; retry later")


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", extra={"event": "internal_error", "path": request.url.path})
    return error_response(500, "internal_error", "internal error (logged for the operator)")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ZkMarginError, zkmargin_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(SQLAlchemyError, database_error)
    app.add_exception_handler(Exception, unexpected_error)
