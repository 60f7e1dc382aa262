"""Webhooks for integrators through the whole stack: a provider's staff register an HTTPS
endpoint over the API, a booking is held and confirmed over the API, the real worker turns the
outbox events into signed deliveries, and the integrator's server verifies each signature
with code written from the documentation alone (HMAC-SHA256 over "<t>.<body>", constant-time
compare, 5 minutes of tolerance)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from dependency_injector import providers
from messaging_http_support import (
    Authenticators,
    Client,
    Fake,
    book,
    eventually,
    ok,
    open_shop,
    verified_person,
)

from adapters.webhooks_out import HttpxWebhookPoster
from entrypoints.container import Container
from webhook_receiver import Receiver, https_receiver

pytestmark = pytest.mark.usefixtures("worker")
START = datetime(2027, 3, 28, 8, 0, tzinfo=UTC)


def verify(header: str, body: bytes, secret: str, now: float) -> bool:
    fields = [part.split("=", 1) for part in header.split(",") if "=" in part]
    stamps = [value for key, value in fields if key == "t"]
    signatures = [value for key, value in fields if key == "v1"]
    if len(stamps) != 1 or not stamps[0].isdigit() or abs(now - int(stamps[0])) > 300:
        return False
    expected = hmac.new(secret.encode(), f"{stamps[0]}.".encode() + body, hashlib.sha256)
    return any(hmac.compare_digest(expected.hexdigest(), given) for given in signatures)


@pytest.fixture
def receiver(container: Container) -> Iterator[Receiver]:
    """The integrator's HTTPS server; the poster trusts its certificate and may reach
    127.0.0.1 (INTEGRATION_WEBHOOKS_ALLOW_PRIVATE, as in development)."""
    with https_receiver(lambda: datetime.now(UTC)) as receiver:
        poster = HttpxWebhookPoster(allow_private_addresses=True, verify=receiver.trust)
        container.webhook_poster.override(providers.Object(poster))
        yield receiver


async def test_a_confirmed_booking_reaches_the_integrator_signed(
    client: Client, fake: Fake, people: Authenticators, receiver: Receiver
) -> None:
    person = await verified_person(client, fake, "integrator")
    shop = await open_shop(client, people)
    endpoints = f"/providers/{shop.provider_id}/webhook-endpoints"
    created = ok(
        await client.post(
            endpoints,
            json={"url": receiver.url, "event_types": ["held", "confirmed"]},
            headers=shop.staff,
        ),
        201,
    )

    booking = await book(client, person, shop, START)

    async def both() -> bool:
        return len(receiver.received) >= 2

    await eventually(both, "two deliveries at the integrator")
    bodies = []
    for request in receiver.received:
        headers = {name.lower(): value for name, value in request.headers.items()}
        assert verify(headers["reserva-signature"], request.body, created["secret"], time.time())
        assert not verify(headers["reserva-signature"], request.body + b" ", created["secret"],
                          time.time())  # fmt: skip
        bodies.append(json.loads(request.body))
    assert sorted(body["type"] for body in bodies) == ["confirmed", "held"]
    assert {body["data"]["booking_id"] for body in bodies} == {booking["id"]}
    assert all("email" not in json.dumps(body) for body in bodies)  # no personal data

    endpoint_id = created["endpoint"]["id"]

    async def recorded() -> list[dict[str, object]] | None:
        answer = await client.get(f"{endpoints}/{endpoint_id}/deliveries", headers=shop.staff)
        items: list[dict[str, object]] = ok(answer)["items"]
        return items if all(d["status"] == "succeeded" for d in items) and items else None

    deliveries = await eventually(recorded, "the deliveries recorded as succeeded")
    assert len(deliveries) == 2
    assert all(d["responses"][0]["response_status"] == 200 for d in deliveries)
