"""The service's own refusals, in the verifier's error family (see verifier/errors.py)."""

from __future__ import annotations

from typing import Any

from verifier.errors import ConflictError, DuplicateError, VerifierError


class RequestError(VerifierError, ValueError):
    """A request is well formed JSON but asks for something impossible (a value out of range)."""


class MarketExpiredError(RequestError):
    """A fill names an option market past its expiry: nothing can trade it any more (HTTP 422)."""


class AuthenticationError(VerifierError):
    """No credentials, or credentials that are not valid for this endpoint (HTTP 401)."""


class ForbiddenError(VerifierError):
    """Valid credentials of a party that may not do this (HTTP 403)."""


class ProofRejectedError(VerifierError):
    """A well-formed proof that does not verify against the statement built from our records."""


class AlreadyAcceptedError(DuplicateError):
    """This exact statement was accepted before (a replay, a retry, or a re-randomized proof)."""

    def __init__(self, message: str, accepted: dict[str, Any] | None = None):
        super().__init__(message)
        self.accepted = accepted or {}


class NoOpenEpochError(ConflictError):
    """No epoch is open, so there are no mark prices to prove against."""


class RateLimitedError(VerifierError):
    """Too many requests of a kind from one client address (HTTP 429, ``Retry-After``)."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))
