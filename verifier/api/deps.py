"""Dependencies: the service context and who is calling (bearer tokens from configuration).

They are ``async def`` although nothing in them waits: FastAPI runs a plain ``def`` dependency
in the thread pool, a thread hop (and a GIL hand-over) per dependency per request for work that
takes microseconds.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from verifier.services.context import ServiceContext, same_secret
from verifier.services.errors import AuthenticationError, ForbiddenError

_bearer = HTTPBearer(auto_error=False, description="operator, venue or account token")


async def get_context(request: Request) -> ServiceContext:
    return request.app.state.context


ContextDep = Annotated[ServiceContext, Depends(get_context)]
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def bearer_token(credentials: BearerDep) -> str | None:
    return credentials.credentials if credentials else None


TokenDep = Annotated[str | None, Depends(bearer_token)]


def _role(ctx: ServiceContext, token: str | None) -> str | None:
    if token is None:
        return None
    if same_secret(token, ctx.runtime.operator_token):
        return "operator"
    if same_secret(token, ctx.runtime.venue_token):
        return "venue"
    return None


async def require_operator(ctx: ContextDep, token: TokenDep) -> None:
    role = _role(ctx, token)
    if role == "operator":
        return
    if token is None:
        raise AuthenticationError("this endpoint needs the operator's token: Authorization: Bearer <operator token>")
    if role is not None:
        raise ForbiddenError(f"the {role} may not use this endpoint: it is the operator's")
    raise AuthenticationError("the bearer token is not the operator's token")


async def require_venue(ctx: ContextDep, token: TokenDep) -> None:
    role = _role(ctx, token)
    if role == "venue":
        return
    if token is None:
        raise AuthenticationError("this endpoint needs the venue's token: Authorization: Bearer <venue token>")
    if role is not None:
        raise ForbiddenError(f"the {role} may not use this endpoint: it is the venue's")
    raise AuthenticationError("the bearer token is not the venue's token")


async def is_operator(ctx: ContextDep, token: TokenDep) -> bool:
    return _role(ctx, token) == "operator"


OperatorDep = Depends(require_operator)
VenueDep = Depends(require_venue)
IsOperatorDep = Annotated[bool, Depends(is_operator)]
