"""The `caller` dependency: the principal of a request made with one of our access tokens."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import NotAuthorizedException

from core.identity import TokenPrincipal
from core.shared.principal import Principal


async def token_caller(request: Request[Principal, Any, Any]) -> TokenPrincipal:
    """The principal, known to hold an access token of ours (routes about the caller's own
    session need its id)."""
    if not isinstance(request.user, TokenPrincipal):
        raise NotAuthorizedException(
            detail="this endpoint needs an access token from POST /auth/login",
            headers={"WWW-Authenticate": 'Bearer realm="reserva", error="invalid_token"'},
        )
    return request.user
