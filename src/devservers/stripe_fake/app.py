"""The ASGI app: Stripe's /v1 API with its keys, Stripe-Account, Idempotency-Key and the
injected faults; everything else goes to the controls (controls.py).

API handlers are synchronous and the server has one event loop, so a request's work is atomic:
two requests never interleave. The events a request emits are held until its response has
been sent (or dropped), then delivered in creation order.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from devservers.asgi import send_response
from devservers.stripe_fake import routes
from devservers.stripe_fake.call import Call
from devservers.stripe_fake.controls import Controls, Fault
from devservers.stripe_fake.errors import StripeError, invalid
from devservers.stripe_fake.forms import Form, Params, decode
from devservers.stripe_fake.store import API_VERSION, PLATFORM, Obj, RequestInfo, Store, new_id
from devservers.stripe_fake.store import public as shown
from devservers.stripe_fake.web import (
    Client,
    Receive,
    Request,
    Response,
    Scope,
    Send,
    json_response,
    read_request,
)
from devservers.stripe_fake.webhooks import Webhooks

_log = logging.getLogger(__name__)
_CORS = [
    ("access-control-allow-origin", "*"),
    ("access-control-allow-headers", "authorization, content-type, idempotency-key, "
     "stripe-account, stripe-version"),
    ("access-control-allow-methods", "GET, POST, DELETE"),
]  # fmt: skip
# The events emitted by the request being served (each request is its own asyncio task).
_request_events: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "request_events", default=None
)


@dataclass(frozen=True)
class Settings:
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_attempts: int = 4
    webhook_backoff: float = 0.1  # seconds before the first retry; doubles each time
    webhook_concurrency: int = 1  # 1: strictly in order; more: side by side, as Stripe does
    # Where the objects outlive a restart (what `reserva serve` keeps in ./.data/stripe): the
    # ids our database stored stay known to the next run. None: memory only, as tests want.
    state_file: Path | None = None
    refund_failure_delay: float = 0.3  # how long pm_card_refundFail's refunds stay pending


@dataclass(frozen=True)
class _Stored:
    """An idempotency key's first request and the response to replay for it."""

    fingerprint: tuple[str, str, Form]
    response: Response


class StripeFake:
    """The ASGI application. `drop_connection` resets a client's connection (the
    drop_response fault); ASGI cannot, so `__main__` wires it to the server's."""

    def __init__(self, settings: Settings) -> None:
        self.webhooks = Webhooks(
            settings.webhook_url,
            settings.webhook_secret,
            settings.webhook_attempts,
            settings.webhook_backoff,
            settings.webhook_concurrency,
        )
        self.store = Store(self._on_event, self._later, settings.refund_failure_delay)
        self.state_file = settings.state_file
        if self.state_file is not None and self.state_file.exists():
            self.store.objects.update(json.loads(self.state_file.read_text()))
        self.idempotent: dict[tuple[str, str], _Stored] = {}
        self.faults: list[Fault] = []
        self.controls = Controls(self.store, self.webhooks, self.faults, self.reset)
        self.drop_connection: Callable[[Client], bool] = lambda _client: False
        self._worker: asyncio.Task[None] | None = None

    def reset(self) -> None:
        self.store.reset()
        self.webhooks.reset()
        self.idempotent.clear()
        self.faults.clear()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            events: list[str] = []
            token = _request_events.set(events)
            request = await read_request(scope, receive)
            try:
                await self._serve(request, receive, send)
            finally:
                _request_events.reset(token)
                self.webhooks.release(events)
                if self.state_file is not None and _may_change(request):
                    self._save(self.state_file)

    async def _serve(self, request: Request, receive: Receive, send: Send) -> None:
        if request.method == "OPTIONS":  # CORS preflight, for a browser talking to us directly
            response: Response | None = Response(204, b"")
        elif request.path.startswith("/v1/"):
            response = self._api(request)
        else:
            response = await self.controls.handle(request) or json_response(
                404, invalid(f"Unrecognized URL: {request.method} {request.path}").body()
            )
        if response is None:  # a drop_response fault: the work is done, the answer is lost
            if self.drop_connection(request.client):
                while (await receive())["type"] != "http.disconnect":
                    pass
                return
            response = json_response(500, StripeError(500, "api_error", "Dropped").body())
        await send_response(send, replace(response, headers=[*response.headers, *_CORS]))

    def _api(self, request: Request) -> Response | None:
        try:
            route, object_id = routes.match(request.method, request.path)
            if route is None:
                raise StripeError(
                    404,
                    "invalid_request_error",
                    f"Unrecognized request URL ({request.method}: {request.path}).",
                )
            publishable = self._authenticate(request, route)
            account = self._account(request, route)
            params = decode(request.query) | decode(request.body.decode("utf-8", "replace"))
        except StripeError as error:
            return json_response(error.status, error.body())
        key = request.headers.get("idempotency-key") if request.method == "POST" else None
        fingerprint = (request.method, request.path, params)
        stored = self.idempotent.get((account, key)) if key else None
        if stored is not None:
            return _replay(stored, fingerprint, key)
        call = Call(Params(params), object_id, account, request.base_url, publishable)
        response = self._run(route, call, request, key)
        # Like Stripe, keep what the endpoint executed (success, card errors, 5xx); a request
        # refused before any work (4xx validation) may be sent again with the same key.
        if key and (response.status < 400 or response.status == 402 or response.status >= 500):
            self.idempotent[(account, key)] = _Stored(fingerprint, response)
        return None if self._take_fault(request) else response

    def _run(self, route: routes.Route, call: Call, request: Request, key: str | None) -> Response:
        request_id = new_id("req", 14)
        self.store.request = RequestInfo(request_id, key)
        try:
            result = route.handler(self.store, call)
            expand = call.params.strings("expand") or []
            status, body = 200, self.store.expand(shown(result), expand)
        except StripeError as error:
            status, body = error.status, error.body()
        except Exception as error:  # a bug in the fake: answer as Stripe would, loudly logged
            _log.exception("%s %s failed", request.method, request.path)
            status, body = 500, StripeError(500, "api_error", f"Stripe fake bug: {error!r}").body()
        finally:
            self.store.request = None
        headers = [
            ("request-id", request_id),
            ("stripe-version", request.headers.get("stripe-version", API_VERSION)),
        ]
        if key:
            headers.append(("idempotency-key", key))
        return json_response(status, body, headers)

    def _authenticate(self, request: Request, route: routes.Route) -> bool:
        """Any sk_test_ (or rk_test_) key; pk_test_ only where Stripe.js may call. Whether the
        key is publishable."""
        key = _api_key(request.headers.get("authorization", ""))
        if key is None:
            raise StripeError(
                401,
                "invalid_request_error",
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
            )
        if key.startswith(("sk_test_", "rk_test_")):
            return False
        if key.startswith("pk_test_") and route.client:
            return True
        if key.startswith("pk_test_"):
            message = "This API call cannot be made with a publishable API key."
        else:
            message = f"Invalid API Key provided: {key[:8]}{'*' * max(len(key) - 12, 0)}{key[-4:]}"
        raise StripeError(401, "invalid_request_error", message)

    def _account(self, request: Request, route: routes.Route) -> str:
        account = request.headers.get("stripe-account", PLATFORM)
        if account == PLATFORM:
            return account
        known = self.store.objects.get(account)
        if known is None or known["object"] != "account":
            raise StripeError(
                403,
                "invalid_request_error",
                f"The provided key does not have access to account '{account}' (or that "
                "account does not exist). Application access may have been revoked.",
                code="account_invalid",
            )
        if not route.connect:
            raise invalid(
                f"The Stripe fake does not support {request.method} {request.path} on a "
                "connected account (Stripe-Account); it does balance, balance transactions, "
                "payouts and events."
            )
        return account

    def _take_fault(self, request: Request) -> bool:
        fault = next((fault for fault in self.faults if fault.matches(request)), None)
        if fault is None:
            return False
        fault.times -= 1
        if fault.times <= 0:
            self.faults.remove(fault)
        return True

    def _on_event(self, event: Obj) -> None:
        held = _request_events.get()
        if held is not None:
            held.append(event["id"])
        self.webhooks.enqueue(event, held=held is not None)

    def _later(self, delay: float, callback: Callable[[], None]) -> object:
        # A fresh context: the callback's events belong to no request, nothing holds them.
        loop = asyncio.get_running_loop()
        return loop.call_later(delay, callback, context=contextvars.Context())

    def _save(self, path: Path) -> None:
        """Write, then rename: a crash leaves the old state or the new one, never half."""
        partial = path.with_suffix(".tmp")
        partial.write_text(json.dumps(self.store.objects))
        os.replace(partial, path)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._worker = asyncio.create_task(self.webhooks.run())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._worker is not None:
                    self._worker.cancel()
                await self.webhooks.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _replay(stored: _Stored, fingerprint: tuple[str, str, Form], key: str | None) -> Response:
    if stored.fingerprint != fingerprint:
        error = StripeError(
            400,
            "idempotency_error",
            "Keys for idempotent requests can only be used with the same parameters they were "
            f"first used with. Try using a key other than '{key}' if you meant to execute a "
            "different request.",
        )
        return json_response(400, error.body())
    first = stored.response
    return Response(first.status, first.body, [*first.headers, ("idempotent-replayed", "true")])


def _api_key(authorization: str) -> str | None:
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    if scheme.lower() == "basic":  # curl -u sk_test_...: the key is the user name
        try:
            return base64.b64decode(credentials).decode().partition(":")[0] or None
        except ValueError:
            return None
    return None


def _may_change(request: Request) -> bool:
    """Writes, and the pages a browser visits to finish 3-D Secure or onboarding."""
    return request.method != "GET" or request.path.startswith(("/_3ds/", "/_connect/"))
