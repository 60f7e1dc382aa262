"""Bearer authentication: every route needs a principal unless its handler is marked public."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import attrs
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp, Scope

from core.shared.principal import Authenticator, Principal

# Handlers opt out with `opt={PUBLIC: True}`; forgetting it fails closed (401), never open.
PUBLIC = "public"
SECURITY: list[dict[str, list[str]]] = [{"bearer": []}]  # OpenAPI requirement when not public


def _challenge(detail: str, error: str | None = None) -> NotAuthorizedException:
    # RFC 6750: a missing token gets a bare challenge, a bad one says why.
    challenge = 'Bearer realm="reserva"' + (f', error="{error}"' if error else "")
    return NotAuthorizedException(detail=detail, headers={"WWW-Authenticate": challenge})


def bearer_token(header: str | None) -> str | None:
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


_VERIFIED = "reserva.verified_bearer"


async def verify_once(scope: Scope, token: str, authenticator: Authenticator) -> Principal | None:
    """Verify a bearer token once per request: the rate limiter and authentication share it."""
    state: dict[str, Any] = scope.setdefault("state", {})
    cached = state.get(_VERIFIED)
    if cached is not None and cached[0] == token:
        return cast("Principal | None", cached[1])
    principal = await authenticator(token)
    state[_VERIFIED] = (token, principal)
    return principal


class BearerAuthentication(AbstractAuthenticationMiddleware):
    def __init__(
        self, app: ASGIApp, authenticator: Callable[[], Authenticator], **options: Any
    ) -> None:
        super().__init__(app, exclude_from_auth_key=PUBLIC, **options)
        self._authenticator = authenticator

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        token = bearer_token(connection.headers.get("authorization"))
        if token is None:
            raise _challenge("this endpoint needs an `Authorization: Bearer <token>` header")
        principal = await verify_once(connection.scope, token, self._authenticator())
        if principal is None:
            raise _challenge("the access token is invalid or expired", "invalid_token")
        return AuthenticationResult(user=principal, auth=token)


async def current_principal(request: Request[Principal, Any, Any]) -> Principal:
    """The `principal` dependency of authenticated handlers."""
    return principal_of(request.user)


def principal_of(user: Principal) -> Principal:
    """Exactly a Principal, as handlers declare it (an authenticator may return a subclass
    that carries token details); for HTTP handlers and WebSocket handlers alike."""
    return Principal(**{field.name: getattr(user, field.name) for field in attrs.fields(Principal)})
