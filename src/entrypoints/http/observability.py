"""The request id and the request metrics, around the whole application (docs/adr/0033).

`RequestObservation` wraps Litestar's ASGI handler, outside routing, so that every request,
404s and framework errors included, gets a request id and is counted:

- the id is the trusted proxy's (`REQUEST_ID_HEADER` names its header; unset, no header is
  trusted: anyone may send one) when it looks like an id, else a new one; it is bound for the
  request (entrypoints.observability.request_bound) and answered in `X-Request-ID`;
- the request is counted and timed under its route *template* (`/bookings/{booking_id}`),
  which Litestar's router leaves in the scope.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

import attrs
from litestar import Litestar
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from adapters.postgis.metrics import OperationsState
from core.shared.request_id import acceptable_request_id, new_request_id
from entrypoints.metrics import UNMATCHED_ROUTE, record_request
from entrypoints.observability import init_sentry, request_bound

RESPONSE_HEADER = "x-request-id"
OBSERVABILITY = "reserva.observability"  # app.state key of the options below

ReadinessCheck = Callable[[], Awaitable[Mapping[str, str]]]  # problems found; raises if away


@attrs.frozen(kw_only=True)
class Observability:
    """What the composition root configures; the defaults observe nothing outside the process
    (no trusted header, /metrics closed, readiness of nothing)."""

    request_id_header: str | None = None  # the trusted proxy's header, e.g. X-Request-ID
    metrics_token: str | None = None  # scrapers send it as a bearer token
    metrics_public: bool = False  # /metrics open to anyone (a private network's scraper)
    operations_state: Callable[[], Awaitable[OperationsState]] | None = None
    readiness: Mapping[str, ReadinessCheck] = attrs.field(factory=dict)
    on_start: Callable[[], None] | None = None  # at app startup: watch the database pools
    sentry_dsn: str | None = None  # errors reported there, scrubbed; None: nowhere
    sentry_environment: str = "production"


class RequestObservation:
    def __init__(self, app: ASGIApp, trusted_header: str | None) -> None:
        self._app = app
        self._trusted = trusted_header.lower().encode("latin-1") if trusted_header else None

    def _request_id(self, scope: dict[str, Any]) -> str:
        if self._trusted is not None:
            for name, value in scope.get("headers", ()):
                if name == self._trusted:
                    offered = bytes(value).decode("latin-1")
                    if acceptable_request_id(offered):
                        return offered
                    break
        return new_request_id()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self._app(scope, receive, send)
            return
        await self._observed(cast("dict[str, Any]", scope), receive, send)

    async def _observed(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        request_id = self._request_id(scope)
        header = (RESPONSE_HEADER.encode(), request_id.encode("latin-1"))
        status = 500  # what an exception escaping everything amounts to

        async def send_with_id(message: Message) -> None:
            nonlocal status
            raw = cast("dict[str, Any]", message)
            if raw["type"] in ("http.response.start", "websocket.accept"):
                raw["headers"] = [*raw.get("headers", ()), header]
                status = int(raw.get("status", 101))
            await send(message)

        started = time.perf_counter()
        with request_bound(request_id):
            try:
                await self._app(cast("Scope", scope), receive, send_with_id)
            finally:
                if scope["type"] == "http":  # a websocket lasts as long as its client wants
                    route = scope.get("path_template") or UNMATCHED_ROUTE
                    elapsed = time.perf_counter() - started
                    record_request(scope["method"], route, status, elapsed)


def report_errors(options: Observability) -> None:
    """Start reporting errors to Sentry if configured (before the Litestar app is built)."""
    init_sentry(options.sentry_dsn, environment=options.sentry_environment)


def observe(app: Litestar, options: Observability) -> Litestar:
    """Put the observation around `app`'s whole handler and its options in its state."""
    app.state[OBSERVABILITY] = options
    app.asgi_handler = RequestObservation(app.asgi_handler, options.request_id_header)
    if options.on_start is not None:
        start = options.on_start

        async def on_startup() -> None:  # when served: building an app opens nothing
            start()

        app.on_startup.append(on_startup)
    return app
