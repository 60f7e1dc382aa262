"""The catalog as holds are decided with it: offering, place, opening hours and the place's
catalog version read in one query (one round trip), then kept in this process.

Nothing here expires by time: every hold names the version it was decided with and the
database refuses a stale one (`catalog_changed`, migration 0020), whichever process changed the
catalog. The use case then forgets the entry and reads it anew. The caches are bounded (least
recently used entries leave first) so that memory stays flat however many offerings are held.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from datetime import date
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis.bookings.holds import trip
from adapters.postgis.bookings.offerings import offering_from_values
from core.bookings.model import (
    Address,
    DatedException,
    LocalInterval,
    Occurrence,
    OpeningHours,
    Place,
    WeeklyRule,
)
from core.bookings.ports import BookableCatalog, BookableOffering
from core.shared.geo import GeoPoint
from core.shared.ids import OccurrenceId, OfferingId, PlaceId
from core.shared.time import TimeRange, to_utc
from core.shared.unit_of_work import PUBLIC

MAX_ENTRIES = 10_000

# One statement, so one snapshot: the version is the one these rows were read at.
OFFERING = """
SELECT o.id, o.provider_id, o.place_id, o.kind, o.name, o.category, o.price_minor, o.currency,
       o.duration, o.slot_step, o.buffer_before, o.buffer_after, o.lead_time, o.horizon,
       o.capacity,
       ARRAY(SELECT r.resource_id FROM offering_resources r
             WHERE r.offering_id = o.id ORDER BY r.position) AS resource_ids,
       p.name AS place_name, p.line1, p.city, p.postal_code, p.country, p.timezone,
       ST_Y(geometry(p.location)) AS lat, ST_X(geometry(p.location)) AS lng,
       p.catalog_version,
       ARRAY(SELECT ARRAY[h.weekday, h.opens, h.closes] FROM opening_hours h
             WHERE h.place_id = p.id ORDER BY h.weekday, h.opens) AS weekly,
       (SELECT coalesce(jsonb_agg(jsonb_build_object(
                  'day', e.day,
                  'intervals', ARRAY(SELECT ARRAY[i.opens, i.closes]
                                     FROM opening_exception_intervals i
                                     WHERE i.place_id = e.place_id AND i.day = e.day
                                     ORDER BY i.opens))
                  ORDER BY e.day), '[]')
        FROM opening_exceptions e WHERE e.place_id = p.id) AS exceptions
FROM offerings o JOIN places p ON p.id = o.place_id
WHERE o.id = %(id)s::uuid
"""
OCCURRENCE = "SELECT id, offering_id, during, capacity FROM occurrences WHERE id = %(id)s::uuid"

K = TypeVar("K")
V = TypeVar("V")


class Lru(Generic[K, V]):
    """At most `size` entries; reading one makes it the most recently used."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, key: K, value: V) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def pop(self, key: K) -> None:
        self._entries.pop(key, None)

    def keys_where(self, wanted: Callable[[V], bool]) -> list[K]:
        return [key for key, value in self._entries.items() if wanted(value)]


def _bookable(row: dict[str, Any]) -> BookableOffering:
    place_id = PlaceId(row["place_id"])
    offering = offering_from_values(row)  # the offering's columns and resource_ids
    place = Place(
        id=place_id,
        provider_id=offering.provider_id,
        name=row["place_name"],
        address=Address(
            line1=row["line1"],
            city=row["city"],
            postal_code=row["postal_code"],
            country=row["country"],
        ),
        point=GeoPoint(row["lat"], row["lng"]),
        timezone=row["timezone"],
    )
    hours = OpeningHours(
        place_id=place_id,
        weekly=tuple(
            WeeklyRule(weekday=weekday, interval=LocalInterval(opens, closes))
            for weekday, opens, closes in row["weekly"]
        ),
        exceptions=tuple(
            DatedException(
                day=date.fromisoformat(exception["day"]),
                intervals=tuple(LocalInterval(o, c) for o, c in exception["intervals"]),
            )
            for exception in row["exceptions"]
        ),
    )
    return BookableOffering(
        offering=offering, place=place, hours=hours, version=row["catalog_version"]
    )


class PostgisBookableCatalog(BookableCatalog):
    """One per process (the container's singleton): its caches serve every request."""

    def __init__(self, engine: AsyncEngine, max_entries: int = MAX_ENTRIES) -> None:
        self._engine = engine
        self._offerings: Lru[OfferingId, BookableOffering] = Lru(max_entries)
        self._runs: Lru[OccurrenceId, Occurrence] = Lru(max_entries)

    async def offering(self, id: OfferingId) -> BookableOffering | None:
        cached = self._offerings.get(id)
        if cached is not None:
            return cached
        rows = await trip(self._engine, PUBLIC, [(OFFERING, {"id": id})], end="rollback")
        if not rows[0]:
            return None
        loaded = _bookable(rows[0][0])
        self._offerings.put(id, loaded)
        return loaded

    async def occurrence(self, id: OccurrenceId) -> Occurrence | None:
        """A run rarely changes once scheduled; if it did, the write finds it changed."""
        cached = self._runs.get(id)
        if cached is not None:
            return cached
        rows = await trip(self._engine, PUBLIC, [(OCCURRENCE, {"id": id})], end="rollback")
        if not rows[0]:
            return None
        row = rows[0][0]
        run = Occurrence(
            id=OccurrenceId(row["id"]),
            offering_id=OfferingId(row["offering_id"]),
            during=TimeRange(to_utc(row["during"].lower), to_utc(row["during"].upper)),
            capacity=row["capacity"],
        )
        self._runs.put(id, run)
        return run

    def forget(self, offering_id: OfferingId) -> None:
        """Rare (after a catalog change): a scan of the runs cached is cheap enough."""
        self._offerings.pop(offering_id)
        for run_id in self._runs.keys_where(lambda run: run.offering_id == offering_id):
            self._runs.pop(run_id)
