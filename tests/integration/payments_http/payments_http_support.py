"""Helpers of the payments end-to-end tests: test tokens, a shop built over HTTP, the customer's
browser at the Stripe fake, and waiting for what webhooks do in the background."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import attrs
import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.clock import FixedClock
from api_test_support import TokenTable as TokenTable
from api_test_support import eventually as shared_eventually
from api_test_support import ok as ok

T = TypeVar("T")
Client = httpx.AsyncClient
SECRET_KEY = "sk_test_reserva_e2e"
PUBLISHABLE_KEY = "pk_test_reserva_e2e"
WEBHOOK_SECRET = "whsec_reserva_e2e_0123456789"
RETURN_URL = "https://app.reserva.test/paid"
PRICE = 2050  # EUR minor units
COMMISSION = 205  # 10 % (the default PAYMENTS_COMMISSION_PERCENT)
HOUR = timedelta(hours=1)


async def eventually(
    check: Callable[[], Awaitable[T | None]], what: str, within: float = 15.0
) -> T:
    """Poll until `check` answers something truthy (webhooks are processed after their answer,
    in the background); its answer."""
    return await shared_eventually(check, what, within=within, every=0.05)


@attrs.frozen(kw_only=True)
class Shop:
    """A provider open around the clock, onboarded at the Stripe fake, with one priced court."""

    provider_id: str
    staff: dict[str, str]
    offering: dict[str, Any]


@attrs.frozen(kw_only=True)
class Browser:
    """What the customer's browser does with Stripe.js: confirm with a test card, answer the
    bank's 3-D Secure page, follow Connect's onboarding link. Never through our API."""

    http: httpx.AsyncClient  # the Stripe fake's base URL

    async def confirm(self, checkout: dict[str, Any], card: str) -> dict[str, Any]:
        intent_id = checkout["client_secret"].split("_secret_")[0]
        answer = await self.http.post(
            f"/v1/payment_intents/{intent_id}/confirm",
            data={
                "client_secret": checkout["client_secret"],
                "payment_method": card,
                "return_url": RETURN_URL,
            },
            headers={"Authorization": f"Bearer {checkout['publishable_key']}"},
        )
        assert answer.status_code in (200, 402), answer.text  # 402: the card was declined
        body: dict[str, Any] = answer.json()
        return body

    async def authenticate(self, intent_id: str, *, succeed: bool = True) -> None:
        outcome = "authenticate" if succeed else "fail"
        answer = await self.http.post(f"/_3ds/{intent_id}", params={"outcome": outcome})
        assert answer.status_code in (200, 303), answer.text

    async def visit(self, url: str) -> None:
        answer = await self.http.get(url)
        assert answer.status_code in (200, 303), answer.text


async def created(client: Client, path: str, body: Any, headers: dict[str, str]) -> Any:
    return ok(await client.post(path, json=body, headers=headers), 201)


async def open_shop(
    client: Client, tokens: TokenTable, browser: Browser, *, price: int = PRICE
) -> Shop:
    """A provider somewhere random, open all day, that finished Stripe onboarding."""
    admin = tokens.admin()
    lat, lng = round(random.uniform(-60, 60), 4), round(random.uniform(-170, 170), 4)
    provider = await created(client, "/providers", {"name": "Paid Club"}, admin)
    place = await created(
        client,
        f"/providers/{provider['id']}/places",
        {"name": "Centre", "address": {"line1": "1 Main St", "city": "Lisbon",
         "postal_code": "1100", "country": "PT"}, "lat": lat, "lng": lng, "timezone": "UTC"},
        admin,
    )  # fmt: skip
    staff = tokens.staff(provider["id"])
    all_day = [{"weekday": d, "opens": "00:00", "closes": "24:00"} for d in range(7)]
    ok(await client.put(f"/places/{place['id']}/hours", json={"weekly": all_day}, headers=staff))
    court = await created(client, f"/places/{place['id']}/resources", {"name": "Court"}, staff)
    offering = await created(
        client,
        f"/places/{place['id']}/offerings",
        {"kind": "appointment", "name": "Court hire", "category": "Tennis",
         "price": {"amount_minor": price, "currency": "EUR"}, "duration_minutes": 60,
         "resource_ids": [court["id"]]},
        staff,
    )  # fmt: skip
    await onboard(client, provider["id"], staff, browser)
    return Shop(provider_id=provider["id"], staff=staff, offering=offering)


async def onboard(
    client: Client, provider_id: str, staff: dict[str, str], browser: Browser
) -> None:
    link = ok(
        await client.post(
            f"/providers/{provider_id}/payments/onboarding",
            json={"return_url": "https://app.reserva.test/done",
                  "refresh_url": "https://app.reserva.test/again"},
            headers=staff,
        )
    )  # fmt: skip
    await browser.visit(link["url"])  # Stripe's hosted onboarding, finished in one visit

    async def can_take_charges() -> bool:
        balance = ok(await client.get(f"/providers/{provider_id}/balance", headers=staff))
        return bool(balance["charges_enabled"])

    await eventually(can_take_charges, "the provider's account.updated webhook")


async def hold(
    client: Client, customer: dict[str, str], shop: Shop, start: datetime
) -> dict[str, Any]:
    body = {"offering_id": shop.offering["id"], "start": start.isoformat()}
    held: dict[str, Any] = await created(client, "/bookings", body, customer)
    return held


async def pay(client: Client, customer: dict[str, str], booking_id: str) -> httpx.Response:
    return await client.post(f"/bookings/{booking_id}/payment", headers=customer)


async def booking_status(client: Client, customer: dict[str, str], booking_id: str) -> str:
    status: str = ok(await client.get(f"/bookings/{booking_id}", headers=customer))["status"]
    return status


async def payments_of(
    client: Client, headers: dict[str, str], booking_id: str
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ok(
        await client.get(f"/bookings/{booking_id}/payment", headers=headers)
    )
    return found


def start_in(clock: FixedClock, hours: float) -> datetime:
    """A whole UTC hour about `hours` from the test's now: a slot of the hourly court."""
    base = clock.now().replace(minute=0, second=0, microsecond=0) + HOUR
    return base + timedelta(hours=hours)


async def outbox(owner: AsyncEngine, name: str, **payload: str) -> list[dict[str, Any]]:
    """Events of that name whose payload has these values (read as the schema owner)."""
    query = sa.text("SELECT payload FROM outbox WHERE name = :name ORDER BY occurred_at")
    async with owner.connect() as connection:
        rows = (await connection.execute(query, {"name": name})).scalars().all()
    return [row for row in rows if all(row.get(k) == v for k, v in payload.items())]


async def scalar(owner: AsyncEngine, sql: str, **params: Any) -> Any:
    async with owner.connect() as connection:
        return (await connection.execute(sa.text(sql), params)).scalar_one()


async def in_thread(work: Callable[[], T]) -> T:
    """The fake's test controls are blocking HTTP calls: off the event loop, which serves the
    app the fake may be calling back (webhooks) meanwhile."""
    return await asyncio.to_thread(work)
