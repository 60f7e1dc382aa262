"""`Ga4MeasurementProtocol`: the `Analytics` port over GA4's Measurement Protocol, with httpx.

`POST {endpoint}/mp/collect?measurement_id=G-...&api_secret=...` with
`{"client_id", "timestamp_micros", "events": [{"name", "params"}]}`, 25 events a request at
most (longer lists go in several). Google answers 2xx even to malformed events (it drops them
silently), so only a transport failure, a timeout, a 429 or a 5xx is an error: raised as
`Ga4Unavailable`, for the job to retry.

`validate()` asks the validation server (`/debug/mp/collect`) what it thinks of a body; with
`validation=True` every send is validated first and refused (`Ga4InvalidEvents`) if it would be
dropped: for staging, never for production (twice the requests).

The api secret travels in the query string, as the protocol wants: no error message, log line
or exception raised here repeats the URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from core.consent.analytics import (
    MAX_EVENTS_PER_REQUEST,
    Analytics,
    AnalyticsEvent,
    measurement_body,
)

GA4_ENDPOINT = "https://www.google-analytics.com"
TIMEOUT_SECONDS = 5.0


class Ga4Unavailable(RuntimeError):
    """GA4 could not be reached or answered 429/5xx: a later try may get through."""


class Ga4InvalidEvents(ValueError):
    """The validation server found problems with events (validation mode only)."""

    def __init__(self, messages: Sequence[dict[str, Any]]) -> None:
        described = "; ".join(
            f"{m.get('validationCode')}: {m.get('description')}" for m in messages
        )
        super().__init__(f"GA4 would drop these events: {described}")
        self.messages = list(messages)


class Ga4MeasurementProtocol(Analytics):
    def __init__(
        self,
        measurement_id: str,
        api_secret: str,
        *,
        endpoint: str = GA4_ENDPOINT,
        timeout: float = TIMEOUT_SECONDS,
        validation: bool = False,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if not measurement_id.strip() or not api_secret.strip():
            raise ValueError("the GA4 measurement id and api secret must not be empty")
        self._endpoint = endpoint.rstrip("/")
        self._query = {"measurement_id": measurement_id, "api_secret": api_secret}
        self._validation = validation
        self._client = client or httpx.AsyncClient(timeout=timeout)
        self._owns_client = client is None

    @property
    def enabled(self) -> bool:
        return True

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def send(self, client_id: str, events: Sequence[AnalyticsEvent]) -> None:
        for start in range(0, len(events), MAX_EVENTS_PER_REQUEST):
            body = measurement_body(client_id, events[start : start + MAX_EVENTS_PER_REQUEST])
            if self._validation:
                messages = await self.validate(body)
                if messages:
                    raise Ga4InvalidEvents(messages)
            await self._post("/mp/collect", body)

    async def validate(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The validation server's messages about `body` ([] if GA4 would take it all)."""
        response = await self._post("/debug/mp/collect", body)
        try:
            messages = response.json()["validationMessages"]
        except (ValueError, KeyError, TypeError):
            raise Ga4Unavailable("GA4's validation server answered no validationMessages") from None
        if not isinstance(messages, list):
            raise Ga4Unavailable("GA4's validation server answered no validationMessages")
        return messages

    async def _post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        try:
            response = await self._client.post(self._endpoint + path, params=self._query, json=body)
        except httpx.HTTPError as error:  # refused, reset, timed out; its text has no URL
            raise Ga4Unavailable(f"GA4 unreachable ({type(error).__name__})") from None
        # Google answers 2xx to any payload: 429 and 5xx are outages, another 4xx a wrong
        # endpoint; all retried, and listed with the job once it gives up.
        if not response.is_success:
            raise Ga4Unavailable(f"GA4 answered {response.status_code} to {path}")
        return response
