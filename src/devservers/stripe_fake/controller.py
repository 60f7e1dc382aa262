"""Start and stop the fake as a child process, and drive its /_test controls."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import httpx

from devservers.child_process import ChildFake, ChildServer, ChildServerError, Control


class LocalStripeError(ChildServerError):
    """The fake did not come up, or a control call failed; the message says why."""


class LocalStripe(ChildFake["StripeControl"]):
    """The Stripe fake on 127.0.0.1:`port`, memory only; point the SDK at `api_base`.

    `stripe.StripeClient(key, base_addresses={"api": fake.api_base})` with any sk_test_ key.
    Events are POSTed to `webhook_url`, signed with `webhook_secret` (both may be set later
    with `control.configure_webhook`). The child process exits with its parent.
    """

    def __init__(
        self,
        port: int,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        *,
        refund_failure_delay: float = 0.3,
        webhook_attempts: int = 4,
        webhook_concurrency: int = 1,
        state_file: Path | None = None,
        log_file: Path | None = None,
    ) -> None:
        self.webhook_url, self.webhook_secret = webhook_url, webhook_secret
        self.refund_failure_delay = refund_failure_delay
        self.webhook_attempts = webhook_attempts
        self.webhook_concurrency = webhook_concurrency
        self.state_file = state_file
        self.log_file = log_file
        server = ChildServer(
            "devservers.stripe_fake", port, log_file=log_file, error=LocalStripeError
        )
        super().__init__(server, StripeControl)
        self.api_base = self.base_url

    def start(self) -> str:
        self.server.arguments = self._arguments()  # as the attributes are when it starts
        return super().start()

    def _arguments(self) -> list[str]:
        arguments = ["--refund-failure-delay", str(self.refund_failure_delay)]
        arguments += ["--webhook-attempts", str(self.webhook_attempts)]
        arguments += ["--webhook-concurrency", str(self.webhook_concurrency)]
        if self.state_file is not None:
            arguments += ["--state-file", str(self.state_file)]
        if self.webhook_url is not None and self.webhook_secret is not None:
            arguments += [
                "--webhook-url",
                self.webhook_url,
                "--webhook-secret",
                self.webhook_secret,
            ]
        return arguments


class StripeControl(Control):
    """Thin calls to the fake's test-only endpoints (no authentication)."""

    error = LocalStripeError

    def __init__(self, api_base: str) -> None:
        super().__init__(api_base)
        self.api_base = api_base

    def configure_webhook(self, url: str | None, secret: str | None) -> None:
        self._post("/_test/webhook", json={"url": url, "secret": secret})

    def pause_webhooks(self) -> None:
        self._post("/_test/webhooks/pause")

    def resume_webhooks(self) -> None:
        self._post("/_test/webhooks/resume")

    def flush_webhooks(self, timeout: float = 10) -> int:
        """Wait until every queued event was delivered (or given up on); the number left
        queued (non-zero while paused)."""
        queued: int = self._post("/_test/webhooks/flush", params={"timeout": timeout})["queued"]
        return queued

    def events(self) -> list[dict[str, Any]]:
        """Every event so far, oldest first: {"event", "queued", "deliveries": [...]}."""
        events: list[dict[str, Any]] = self._call("GET", "/_test/events")["events"]
        return events

    def deliver_event(self, event_id: str, times: int = 1) -> list[dict[str, Any]]:
        """Deliver an event again, `times` times (a replay, as Stripe's retries are)."""
        return self._deliveries(f"/_test/events/{event_id}/deliver", {"times": times})

    def deliver_shuffled(
        self, order: Literal["random", "reversed"] = "random", seed: int | None = None
    ) -> list[dict[str, Any]]:
        """Deliver the queued events (pause first so they queue) out of creation order."""
        params: dict[str, Any] = {"order": order} | ({"seed": seed} if seed is not None else {})
        return self._deliveries("/_test/events/deliver_shuffled", params)

    def drop_responses(self, path_prefix: str, method: str = "POST", times: int = 1) -> None:
        """The next `times` matching API requests are carried out, then their connection is
        reset without a response (what the SDK sees when the network fails after Stripe acted)."""
        fault = {
            "method": method,
            "path_prefix": path_prefix,
            "mode": "drop_response",
            "times": times,
        }
        self._post("/_test/faults", json=fault)

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/_test/stats")

    def reset(self) -> None:
        """Forget every object, event, idempotency key and fault; resume webhooks."""
        self._post("/_test/reset")

    def settle_refunds(self) -> list[str]:
        """Fail the pending (pm_card_refundFail) refunds now; their ids."""
        failed: list[str] = self._post("/_test/refunds/settle")["failed"]
        return failed

    def create_payout(self, account: str, amount: int, currency: str) -> dict[str, Any]:
        return self._post(
            "/_test/payouts", json={"account": account, "amount": amount, "currency": currency}
        )

    def complete_onboarding(self, account: str) -> str | None:
        """Visit the account link, as the provider finishing onboarding; the return_url the
        browser is sent on to, if a link named one."""
        response = self._http.get(f"/_connect/onboard/{account}")
        self._check(response)
        location: str | None = response.headers.get("location")
        return location

    def complete_3ds(self, payment_intent: str, *, succeed: bool = True) -> str | None:
        """Answer the bank's 3-D Secure page; the return_url the browser is sent on to."""
        outcome = "authenticate" if succeed else "fail"
        response = self._http.post(f"/_3ds/{payment_intent}", params={"outcome": outcome})
        self._check(response)
        location: str | None = response.headers.get("location")
        return location

    def _deliveries(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        deliveries: list[dict[str, Any]] = self._post(path, params=params)["deliveries"]
        return deliveries

    def _post(self, path: str, **kwargs: Any) -> dict[str, Any]:
        return self._call("POST", path, **kwargs)

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self._http.request(method, path, **kwargs)
        self._check(response)
        body: dict[str, Any] = response.json()
        return body

    def _check(self, response: httpx.Response) -> None:
        if response.status_code >= 400:
            request = response.request
            raise LocalStripeError(
                f"{request.method} {request.url}: {response.status_code} {response.text}"
            )
