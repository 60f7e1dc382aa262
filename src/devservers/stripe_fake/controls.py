"""What is not the API: the pages a customer's browser visits instead of Stripe's (3-D Secure,
Connect onboarding) and the test controls under /_test (no authentication)."""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from devservers.asgi import BadJson
from devservers.stripe_fake import connect, money, payments, refunds
from devservers.stripe_fake.errors import StripeError, invalid, no_such
from devservers.stripe_fake.forms import decode
from devservers.stripe_fake.routes import pattern
from devservers.stripe_fake.store import Store, public
from devservers.stripe_fake.web import Request, Response, json_response, redirect
from devservers.stripe_fake.webhooks import Webhooks

Control = Callable[[Request, str], Awaitable[Response]]


@dataclass
class Fault:
    """The next `times` API requests matching method and path prefix are carried out, then
    their connection is reset without a response (mode "drop_response", the only one)."""

    method: str
    path_prefix: str
    times: int

    def matches(self, request: Request) -> bool:
        return self.method in (request.method, "*") and request.path.startswith(self.path_prefix)


class Controls:
    def __init__(
        self, store: Store, webhooks: Webhooks, faults: list[Fault], reset: Callable[[], None]
    ) -> None:
        self.store, self.webhooks, self.faults, self.reset = store, webhooks, faults, reset
        routes: list[tuple[str, str, Control]] = [
            ("GET", "/_test/health", self._health),
            ("GET", "/_3ds/{id}", self._three_d_secure_page),
            ("POST", "/_3ds/{id}", self._three_d_secure),
            ("*", "/_connect/onboard/{id}", self._onboard),
            ("POST", "/_test/webhook", self._configure_webhook),
            ("POST", "/_test/webhooks/pause", self._pause),
            ("POST", "/_test/webhooks/resume", self._resume),
            ("POST", "/_test/webhooks/flush", self._flush),
            ("GET", "/_test/events", self._events),
            ("POST", "/_test/events/deliver_shuffled", self._deliver_shuffled),
            ("POST", "/_test/events/{id}/deliver", self._redeliver),
            ("POST", "/_test/faults", self._add_fault),
            ("GET", "/_test/stats", self._stats),
            ("POST", "/_test/reset", self._reset),
            ("POST", "/_test/refunds/settle", self._settle_refunds),
            ("POST", "/_test/payouts", self._payout),
        ]
        self.routes = [(method, pattern(path), handler) for method, path, handler in routes]

    async def handle(self, request: Request) -> Response | None:
        """The control's response; None when no control has this path."""
        for method, path, handler in self.routes:
            found = path.match(request.path)
            if found and method in (request.method, "*"):
                try:
                    return await handler(request, found.groupdict().get("id", ""))
                except BadJson as bad:
                    return json_response(400, invalid(str(bad)).body())
                except StripeError as error:
                    return json_response(error.status, error.body())
        return None

    async def _health(self, request: Request, _: str) -> Response:
        return json_response(200, {"ok": True})

    async def _three_d_secure_page(self, request: Request, pi_id: str) -> Response:
        """The bank's challenge page, for a person clicking through in a browser."""
        pi = self.store.find(pi_id, "payment_intent")
        amount = html.escape(money.display(pi["amount"], pi["currency"]))
        buttons = "".join(
            f'<form method="post" action="/_3ds/{html.escape(pi_id)}?outcome={outcome}">'
            f"<button>{label}</button></form>"
            for outcome, label in (("authenticate", "Complete"), ("fail", "Fail"))
        )
        page = (
            "<!doctype html><title>3-D Secure</title><h1>Stripe fake: 3-D Secure</h1>"
            f"<p>Pay {amount}</p>{buttons}"
        )
        return Response(200, page.encode(), [("content-type", "text/html; charset=utf-8")])

    async def _three_d_secure(self, request: Request, pi_id: str) -> Response:
        """The answer from the bank page (?outcome=authenticate|fail); like Stripe, back to
        the return_url with redirect_status, or the PaymentIntent when there is none."""
        outcome = request.arg("outcome") or decode(request.body.decode()).get("outcome")
        if outcome not in ("authenticate", "fail"):
            raise invalid("outcome must be authenticate or fail", param="outcome")
        pi = self.store.find(pi_id, "payment_intent")
        return_url = ((pi["next_action"] or {}).get("redirect_to_url") or {}).get("return_url")
        pi = payments.authenticate(self.store, pi_id, outcome == "authenticate")
        if return_url is None:
            return json_response(200, public(pi))
        failed = pi["status"] == "requires_payment_method"
        return redirect(
            return_url,
            payment_intent=pi_id,
            payment_intent_client_secret=pi["client_secret"],
            redirect_status="failed" if failed else "succeeded",
        )

    async def _onboard(self, request: Request, account_id: str) -> Response:
        account = connect.complete_onboarding(self.store, account_id)
        if account["_return_url"] is None:
            return json_response(200, public(account))
        return redirect(account["_return_url"])

    async def _configure_webhook(self, request: Request, _: str) -> Response:
        body = request.json()
        self.webhooks.configure(body.get("url"), body.get("secret"))
        return json_response(200, {"url": self.webhooks.url})

    async def _pause(self, request: Request, _: str) -> Response:
        self.webhooks.pause()
        return json_response(200, {"paused": True})

    async def _resume(self, request: Request, _: str) -> Response:
        self.webhooks.resume()
        return json_response(200, {"paused": False})

    async def _flush(self, request: Request, _: str) -> Response:
        left = await self.webhooks.flush(float(request.arg("timeout") or 10))
        return json_response(200, {"queued": left, "paused": self.webhooks.paused})

    async def _events(self, request: Request, _: str) -> Response:
        queued = self.webhooks.queued()
        listed = [
            {
                "event": public(obj),
                "queued": obj["id"] in queued,
                "deliveries": self.webhooks.attempts.get(obj["id"], []),
            }
            for obj in self.store.objects.values()
            if obj["object"] == "event"
        ]
        return json_response(200, {"events": listed})

    async def _redeliver(self, request: Request, event_id: str) -> Response:
        event = self.store.objects.get(event_id)
        if event is None or event["object"] != "event":
            raise no_such("event", event_id)
        times = int(request.arg("times") or 1)
        return json_response(200, {"deliveries": await self.webhooks.replay(event, times)})

    async def _deliver_shuffled(self, request: Request, _: str) -> Response:
        order: Literal["random", "reversed"] = (
            "reversed" if request.arg("order") == "reversed" else "random"
        )
        seed = request.arg("seed")
        deliveries = await self.webhooks.deliver_out_of_order(
            order, int(seed) if seed is not None else None
        )
        return json_response(200, {"deliveries": deliveries})

    async def _add_fault(self, request: Request, _: str) -> Response:
        body = request.json()
        if body.get("mode", "drop_response") != "drop_response":
            raise invalid("The only fault mode is drop_response.", param="mode")
        method = str(body.get("method", "*")).upper()
        self.faults.append(
            Fault(method, str(body.get("path_prefix", "/v1/")), int(body.get("times", 1)))
        )
        return json_response(200, {"faults": [vars(fault) for fault in self.faults]})

    async def _stats(self, request: Request, _: str) -> Response:
        return json_response(200, self.store.stats())

    async def _reset(self, request: Request, _: str) -> Response:
        self.reset()
        return json_response(200, {"reset": True})

    async def _settle_refunds(self, request: Request, _: str) -> Response:
        return json_response(200, {"failed": refunds.settle_pending(self.store)})

    async def _payout(self, request: Request, _: str) -> Response:
        body = request.json()
        account, amount = str(body.get("account")), int(body.get("amount", 0))
        currency = str(body.get("currency", "usd"))
        payout = connect.create_payout(self.store, account, amount, currency)
        return json_response(200, public(payout))
