"""Helpers for the HTTP tests: a test-token authenticator and a small shop built over HTTP.

The container is the production one; only the authenticator (no identity service here) and the
clock (so tests can move time) are overridden, with `override`, never by patching.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import attrs
import httpx

from adapters.memory.clock import FixedClock
from api_test_support import TokenTable as TokenTable

# Litestar's AsyncTestClient or a plain httpx client of a live server: the helpers take either.
Client = httpx.AsyncClient


@attrs.frozen(kw_only=True)
class Shop:
    """A provider with one place open around the clock, and its staff's credentials."""

    provider_id: str
    place_id: str
    staff: dict[str, str]
    lat: float
    lng: float


async def created(client: Client, path: str, body: Any, headers: dict[str, str]) -> Any:
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def open_shop(client: Client, tokens: TokenTable, timezone: str = "Europe/Madrid") -> Shop:
    """Somewhere random on Earth, so that searches of one test never see another's shops."""
    admin = tokens.admin()
    lat, lng = round(random.uniform(-60, 60), 4), round(random.uniform(-170, 170), 4)
    provider = await created(client, "/providers", {"name": "Test Club"}, admin)
    place = await created(
        client,
        f"/providers/{provider['id']}/places",
        {
            "name": "Test Club Centre",
            "address": {"line1": "1 Main St", "city": "Madrid", "postal_code": "28001",
                        "country": "ES"},
            "lat": lat,
            "lng": lng,
            "timezone": timezone,
        },
        admin,
    )  # fmt: skip
    staff = tokens.staff(provider["id"])
    all_day = [{"weekday": d, "opens": "00:00", "closes": "24:00"} for d in range(7)]
    response = await client.put(
        f"/places/{place['id']}/hours", json={"weekly": all_day}, headers=staff
    )
    assert response.status_code == 200, response.text
    return Shop(provider_id=provider["id"], place_id=place["id"], staff=staff, lat=lat, lng=lng)


async def appointment(
    client: Client, shop: Shop, *, resources: int = 1, price_minor: int = 2050
) -> dict[str, Any]:
    """An hour-long appointment on the shop's resources, bookable from now to 90 days out."""
    resource_ids = [
        (await created(client, f"/places/{shop.place_id}/resources", {"name": f"Court {n}"},
                       shop.staff))["id"]
        for n in range(resources)
    ]  # fmt: skip
    body = {
        "kind": "appointment",
        "name": "Court hire",
        "category": "Tennis",
        "price": {"amount_minor": price_minor, "currency": "EUR"},
        "duration_minutes": 60,
        "resource_ids": resource_ids,
    }
    offering: dict[str, Any] = await created(
        client, f"/places/{shop.place_id}/offerings", body, shop.staff
    )
    return offering


async def session(
    client: Client, shop: Shop, *, capacity: int, first_start: datetime
) -> tuple[dict[str, Any], str]:
    """A session offering and one scheduled run of it; returns (offering, occurrence id)."""
    body = {
        "kind": "session",
        "name": "Yoga",
        "category": "yoga",
        "price": {"amount_minor": 1200, "currency": "EUR"},
        "duration_minutes": 60,
        "capacity": capacity,
    }
    offering = await created(client, f"/places/{shop.place_id}/offerings", body, shop.staff)
    runs = await created(
        client,
        f"/offerings/{offering['id']}/sessions",
        {"first_start": first_start.isoformat()},
        shop.staff,
    )
    return offering, runs[0]["id"]


def next_hour(clock: FixedClock, days: int = 2, hours: int = 0) -> datetime:
    """A whole UTC hour some days ahead: a slot start of any hour-stepped appointment."""
    base = clock.now().replace(minute=0, second=0, microsecond=0)
    return base + timedelta(days=days, hours=hours)
