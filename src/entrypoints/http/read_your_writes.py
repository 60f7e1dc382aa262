"""Who reads, for read-your-writes on a replica (ADR 34).

Public reads (search, availability) carry no caller through the core, yet a person who has
just held a slot must see it when they look again. This middleware names the request's bearer
as the reader for the adapter that routes reads (`reading_as`); without a valid bearer the
request reads for nobody in particular. The token is verified once per request: the rate
limiter's verification, made before, is reused (`verify_once`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from litestar.datastructures import Headers
from litestar.types import ASGIApp, Receive, Scope, Send
from redis.exceptions import RedisError

from core.shared.ids import UserId
from core.shared.principal import Authenticator
from entrypoints.http.auth import bearer_token, verify_once

ReadingAs = Callable[[UserId | None], AbstractContextManager[None]]


class ReaderMiddleware:
    def __init__(
        self, app: ASGIApp, *, authenticator: Callable[[], Authenticator], reading_as: ReadingAs
    ) -> None:
        self._app = app
        self._authenticator = authenticator
        self._reading_as = reading_as

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with self._reading_as(await self._reader(scope)):
            await self._app(scope, receive, send)

    async def _reader(self, scope: Scope) -> UserId | None:
        token = bearer_token(Headers.from_scope(scope).get("authorization"))
        if token is None:
            return None
        try:
            principal = await verify_once(scope, token, self._authenticator())
        except (RedisError, OSError):
            return None  # authentication asks again, and fails closed where it must
        return None if principal is None else principal.user_id
