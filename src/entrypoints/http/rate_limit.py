"""Limits at the HTTP edge: who the client is and the general API rate limit (the identity use
cases throttle their own failures).

The client's IP is the socket peer. Behind a reverse proxy that is the proxy, so every client
would share one budget: run uvicorn with `--proxy-headers --forwarded-allow-ips=<proxy ips>` so
that it takes the client from X-Forwarded-For, and only when the peer is that trusted proxy
(never trust forwarded headers from anyone else: they are free to forge).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import structlog
from litestar import Request
from litestar.datastructures import Headers
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send
from redis.exceptions import RedisError

from core.identity import ClientContext, RateLimiter, TooManyRequests
from core.shared.principal import Authenticator
from entrypoints.http.auth import bearer_token, verify_once
from entrypoints.http.edge import SIGNED_WEBHOOKS
from entrypoints.http.problems import DomainProblem

MAX_USER_AGENT = 512  # enough for any real browser; the rest is noise in sessions and audit

_log = structlog.get_logger(__name__)
# Paths never counted: signed webhooks, and (observe, issue 12) health probes and /metrics.
UNCOUNTED = (SIGNED_WEBHOOKS, "/health/", "/metrics")


def client_ip(scope: Scope) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


async def client_context(request: Request[Any, Any, Any]) -> ClientContext:
    """The `client` dependency: where the request came from, for sessions and the audit log."""
    agent = request.headers.get("user-agent")
    return ClientContext(
        ip=client_ip(request.scope), user_agent=agent[:MAX_USER_AGENT] if agent else None
    )


# ---------------------------------------------------------------- the general rate limit


@attrs.frozen(kw_only=True)
class RateLimitPolicy:
    requests: int  # per window and client; 0 turns the limit off
    window_seconds: float


class RateLimitMiddleware:
    """Counts every request against its client: the user of a valid access token, otherwise
    the IP. Runs before authentication, so a flood of bad tokens is limited per IP too.

    Fails open: if Redis is unreachable the request goes through (logged). The limit guards
    capacity, not access; the login back-off, which does guard access, fails closed (503).

    Signed webhooks are not counted: the processor retries from a few addresses in bursts,
    and a dropped delivery is only delayed work; their signature is checked before anything
    else is done with them. Nor are probes and scrapes (observe, issue 12): a load balancer
    asks every few seconds from one address, and liveness must not depend on the database
    that the limiter's keying reads.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: Callable[[], RateLimiter],
        authenticator: Callable[[], Authenticator],
        policy: Callable[[], RateLimitPolicy],
    ) -> None:
        self._app = app
        self._limiter = limiter
        self._authenticator = authenticator
        self._policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        policy = self._policy()
        limited = not str(scope.get("path", "")).startswith(UNCOUNTED)
        if scope["type"] == ScopeType.HTTP and policy.requests > 0 and limited:
            wait = await self._hit(await self._client_key(scope), policy)
            if wait is not None:
                raise DomainProblem(TooManyRequests(wait))
        await self._app(scope, receive, send)

    async def _client_key(self, scope: Scope) -> str:
        token = bearer_token(Headers.from_scope(scope).get("authorization"))
        try:
            principal = await verify_once(scope, token, self._authenticator()) if token else None
        except (RedisError, OSError):
            principal = None  # counted per IP; authentication asks again, and fails closed
        if principal is not None:
            return f"user:{principal.user_id}"
        return f"ip:{client_ip(scope)}"

    async def _hit(self, key: str, policy: RateLimitPolicy) -> float | None:
        try:
            return await self._limiter().hit(key, policy.requests, policy.window_seconds)
        except (RedisError, OSError) as error:
            _log.warning("rate limit unavailable; letting the request through", error=str(error))
            return None
