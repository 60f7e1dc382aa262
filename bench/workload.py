"""What the load consists of: demo catalog, free slots to hold, customers, search points."""

from __future__ import annotations

import bisect
import json
import random
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import psycopg
from returns.result import Success

from core.bookings.model import Offering
from core.identity.common import TokenPair
from core.identity.model import ClientContext
from core.shared.ids import OfferingId, ResourceId
from core.shared.time import TimeRange
from entrypoints.cli import demo
from entrypoints.container import Container

DEMO_PROVIDERS = 3000
DEMO_SEED = 7
SEARCH_RADIUS_M = 5000
SEARCH_JITTER_DEG = 0.05  # ~5 km: points fall in and around the demo places of a city
PASSWORD = "correct horse battery staple 2024"  # noqa: S105 - a bench account's password


async def load_demo(container: Container, providers: int) -> dict[str, Any]:
    started = time.monotonic()
    summary = await demo.load(
        container.bookings_uow, count=providers, seed=DEMO_SEED, now=container.clock().now()
    )
    return {**attrs.asdict(summary), "seconds": round(time.monotonic() - started, 1)}


# ---------------------------------------------------------------- free slots to hold


@attrs.frozen(kw_only=True)
class Hold:
    offering_id: OfferingId
    start: datetime
    resource_id: ResourceId

    def body(self) -> str:
        return json.dumps(
            {
                "offering_id": str(self.offering_id),
                "start": self.start.isoformat().replace("+00:00", "Z"),
                "resource_id": str(self.resource_id),
            },
            separators=(",", ":"),
        )


def _one_appointment_offering_per_provider(libpq_url: str) -> list[OfferingId]:
    """Offerings of one provider share its resources; one each keeps the picks independent."""
    with psycopg.connect(libpq_url) as conn:
        rows = conn.execute(
            "SELECT DISTINCT ON (provider_id) id FROM offerings"
            " WHERE kind = 'appointment' ORDER BY provider_id, id"
        ).fetchall()
    return [OfferingId(row[0]) for row in rows]


async def free_holds(
    container: Container, libpq_url: str, *, wanted: int, days: int, seed: int
) -> list[Hold]:
    """At least `wanted` holds (if the catalog has them) that can all succeed together.

    Free slots come from the availability use case, starting two days ahead (past every demo
    lead time). A (slot, resource) pair is kept only if its blocked range (buffers included)
    overlaps no pair already kept on that resource, so no two holds can refuse each other.
    Shuffled, so consecutive requests go to different providers.
    """
    now = container.clock().now()
    window = TimeRange(now + timedelta(days=2), now + timedelta(days=2 + days))
    get_offering, availability = container.get_offering(), container.get_availability()
    holds: list[Hold] = []
    for offering_id in _one_appointment_offering_per_provider(libpq_url):
        offering = await get_offering(offering_id)
        slots = await availability(offering_id, window)
        if isinstance(offering, Success) and isinstance(slots, Success):
            holds.extend(_non_overlapping(offering.unwrap(), slots.unwrap()))
        if len(holds) >= wanted:
            break
    random.Random(seed).shuffle(holds)
    return holds


def _non_overlapping(offering: Offering, slots: Sequence[Any]) -> Iterator[Hold]:
    rules = offering.rules
    taken: dict[ResourceId, list[datetime]] = {}  # resource -> end of its last kept blocked range
    for slot in sorted(slots, key=lambda s: s.during.start):
        blocked = slot.during.widen(rules.buffer_before, rules.buffer_after)
        for resource_id in slot.resource_ids:
            ends = taken.setdefault(resource_id, [])
            if ends and blocked.start < ends[-1]:
                continue
            bisect.insort(ends, blocked.end)
            yield Hold(offering_id=offering.id, start=slot.during.start, resource_id=resource_id)


# ---------------------------------------------------------------- customers and their tokens


@attrs.frozen(kw_only=True)
class Customer:
    email: str
    access_token: str = attrs.field(repr=False)

    def login_body(self) -> str:
        return json.dumps({"email": self.email, "password": PASSWORD}, separators=(",", ":"))


async def register_customers(container: Container, count: int) -> list[str]:
    """`count` new customer accounts (their emails), through the identity use cases."""
    register = container.register()
    run = uuid.uuid4().hex[:8]
    emails = [f"bench-{run}-{n}@example.com" for n in range(count)]
    for email in emails:
        registered = await register(email=email, password=PASSWORD)
        if not isinstance(registered, Success):
            raise RuntimeError(f"registering {email}: {registered}")
    return emails


async def log_in(container: Container, emails: Sequence[str]) -> list[Customer]:
    """A fresh access token for each account (they live ACCESS_TTL_SECONDS, 10 minutes)."""
    login = container.login()
    client = ClientContext(ip="127.0.0.1", user_agent="reserva-bench")
    found = []
    for email in emails:
        logged_in = await login(email=email, password=PASSWORD, client=client)
        pair = logged_in.unwrap()
        if not isinstance(pair, TokenPair):  # a fresh account has no second factor
            raise RuntimeError(f"logging in {email}: {pair}")
        found.append(Customer(email=email, access_token=pair.access.token))
    return found


# ---------------------------------------------------------------- search points


def search_paths(count: int, seed: int, free: TimeRange | None = None) -> list[str]:
    """GET /search near demo cities, drawn by population as the demo places are; with `free`,
    only offerings with a free slot starting in that window (free_from, free_to)."""
    rng = random.Random(seed)
    cities = demo.world_cities()
    weights = [city.population for city in cities]
    window = f"&free_from={_instant(free.start)}&free_to={_instant(free.end)}" if free else ""
    paths = []
    for city in rng.choices(cities, weights=weights, k=count):
        lat = city.point.lat + rng.uniform(-SEARCH_JITTER_DEG, SEARCH_JITTER_DEG)
        lng = city.point.lng + rng.uniform(-SEARCH_JITTER_DEG, SEARCH_JITTER_DEG)
        lat = max(-90.0, min(90.0, lat))
        lng = (lng + 180) % 360 - 180
        paths.append(f"/search?lat={lat:.5f}&lng={lng:.5f}&radius_m={SEARCH_RADIUS_M}{window}")
    return paths


def free_window(now: datetime, days_ahead: int) -> TimeRange:
    """One whole UTC day, `days_ahead` days after today: past the demo's lead times."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = day + timedelta(days=days_ahead)
    return TimeRange(start, start + timedelta(days=1))


def _instant(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")
