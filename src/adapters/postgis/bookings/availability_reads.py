"""Search and availability, each one query in one round trip (`one_trip`, read-only).

`candidates` is the search statement itself (`search_sql`, the query of "Geo search plan" in
docs/benchmarks.md) in a CTE, and for each hit that survives its LIMIT, correlated subqueries
that aggregate as JSON what the core needs to decide free slots: for an appointment the place's
weekly hours, its dated exceptions around the window, and the live bookings blocking the
offering's resources near the window; for a session its runs starting in the window with the
seats live bookings take. `calendar` puts the same subqueries on one offering.
"""

# ruff: noqa: S608  (SQL text made of this module's constants and compiled statements only)

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from psycopg.rows import DictRow
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis.bookings.offerings import (
    PSYCOPG,
    offering_from_values,
    search_sql,
    search_values,
)
from adapters.postgis.bookings.places import place_columns, place_from_values
from adapters.postgis.bookings.tables import offering_resources, offerings, places
from adapters.postgis.one_trip import one_trip
from adapters.postgis.replica import ReplicaReads
from core.bookings.cursors import search_cursor
from core.bookings.model import DatedException, LocalInterval, Occurrence, OpeningHours, WeeklyRule
from core.bookings.ports import AvailabilityReads, Calendar, Candidate, SearchHit, SearchQuery
from core.shared.ids import OccurrenceId, OfferingId, PlaceId, ResourceId
from core.shared.time import TimeRange, to_utc
from core.shared.unit_of_work import PUBLIC

# Bookings occupying capacity at %(now)s (an expired hold never does), as the booking
# repository's `_LIVE_AT_NOW`: the first term is the exclusion constraint's index predicate.
_LIVE = (
    "b.status IN ('held', 'confirmed') AND (b.status = 'confirmed' OR b.hold_expires_at > %(now)s)"
)

# What deciding free slots takes, per row of `hits` (offering columns, resource_ids, place__*).
# Exceptions: every UTC date from the day before the window to the day after it, a superset
# of the local dates the window touches in any zone. Busy: the window widened on both sides by
# duration + buffers; one probe (resource, range) of the exclusion constraint's GiST index per
# resource: the OFFSET 0 fence keeps the planner from scanning the range for every resource
# and filtering by resource afterwards (its choice on small tables).
_CALENDAR_COLUMNS = f"""
  CASE WHEN hits.kind = 'appointment' THEN (
    SELECT json_agg(json_build_array(h.weekday, h.opens, h.closes) ORDER BY h.weekday, h.opens)
    FROM opening_hours h WHERE h.place_id = hits.place_id
  ) END AS weekly,
  CASE WHEN hits.kind = 'appointment' THEN (
    SELECT json_agg(json_build_array(e.day, i.opens, i.closes) ORDER BY e.day, i.opens)
    FROM opening_exceptions e
    LEFT JOIN opening_exception_intervals i ON i.place_id = e.place_id AND i.day = e.day
    WHERE e.place_id = hits.place_id AND e.day BETWEEN %(first_day)s AND %(last_day)s
  ) END AS exceptions,
  CASE WHEN hits.kind = 'appointment' THEN (
    SELECT json_agg(json_build_array(r.id, lower(b.blocked), upper(b.blocked)))
    FROM unnest(hits.resource_ids) AS r(id)
    CROSS JOIN LATERAL (
      SELECT b.blocked FROM booking_occupancy b
      WHERE b.resource_id = r.id
        AND b.blocked && tstzrange(
          %(window_start)s - (hits.duration + hits.buffer_before + hits.buffer_after),
          %(window_end)s + (hits.duration + hits.buffer_before + hits.buffer_after))
        AND {_LIVE}
      OFFSET 0
    ) AS b
  ) END AS busy,
  CASE WHEN hits.kind = 'session' THEN (
    SELECT json_agg(
      json_build_array(o.id, lower(o.during), upper(o.during), o.capacity, (
        SELECT sum(b.seats) FROM booking_occupancy b WHERE b.occurrence_id = o.id AND {_LIVE}
      )) ORDER BY lower(o.during), o.id)
    FROM occurrences o
    WHERE o.offering_id = hits.id
      AND lower(o.during) >= %(window_start)s AND lower(o.during) < %(window_end)s
  ) END AS runs
"""


def _with_calendars(hits_sql: str) -> str:
    return (
        f"WITH hits AS ({hits_sql})\n"
        f"SELECT hits.*, {_CALENDAR_COLUMNS}\n"
        "FROM hits ORDER BY hits.distance_m, hits.id"
    )


@functools.cache
def _candidates_sql(parameters: frozenset[str]) -> tuple[str, Mapping[str, object]]:
    sql, constants = search_sql(parameters)
    return _with_calendars(sql), constants


def _one_offering() -> tuple[str, Mapping[str, object]]:
    """The columns the search statement selects, for one offering by id."""
    resource_ids = (
        sa.select(offering_resources.c.resource_id)
        .where(offering_resources.c.offering_id == offerings.c.id)
        .order_by(offering_resources.c.position)
    )
    statement = (
        sa.select(
            *offerings.c,
            sa.func.array(resource_ids.scalar_subquery()).label("resource_ids"),
            *place_columns("place__"),
            sa.literal(0.0, sa.Float).label("distance_m"),
        )
        .select_from(offerings.join(places, places.c.id == offerings.c.place_id))
        .where(offerings.c.id == sa.bindparam("offering_id", type_=offerings.c.id.type))
    )
    compiled = statement.compile(dialect=PSYCOPG)
    constants = {k: v for k, v in compiled.params.items() if k != "offering_id"}
    return _with_calendars(str(compiled)), constants


_CALENDAR_SQL, _CALENDAR_CONSTANTS = _one_offering()


class PostgisAvailabilityReads(AvailabilityReads):
    """With `replicas`, reads go to a replica when the reader may read there (ADR 34)."""

    def __init__(self, engine: AsyncEngine, replicas: ReplicaReads | None = None) -> None:
        self._engine = engine
        self._replicas = replicas

    async def search(self, query: SearchQuery) -> Sequence[SearchHit]:
        values = search_values(query)
        if values is None:
            return []
        sql, constants = search_sql(frozenset(values))
        return [_hit(row) for row in await self._read(sql, {**constants, **values})]

    async def candidates(
        self, query: SearchQuery, window: TimeRange, now: datetime
    ) -> Sequence[Candidate]:
        values = search_values(query)
        if values is None:
            return []
        sql, constants = _candidates_sql(frozenset(values))
        rows = await self._read(sql, {**constants, **values, **_window_values(window, now)})
        return [_candidate(row) for row in rows]

    async def calendar(
        self, offering_id: OfferingId, window: TimeRange, now: datetime
    ) -> Calendar | None:
        values = {**_CALENDAR_CONSTANTS, "offering_id": offering_id}
        rows = await self._read(_CALENDAR_SQL, values | _window_values(window, now))
        return _candidate(rows[0]).calendar if rows else None

    async def _read(self, sql: str, values: Mapping[str, Any]) -> list[DictRow]:
        if self._replicas is not None:
            (rows,) = await self._replicas.read(PUBLIC, [(sql, values)])
            return rows
        (rows,) = await one_trip(self._engine, PUBLIC, [(sql, values)], end="rollback")
        return rows


def _window_values(window: TimeRange, now: datetime) -> dict[str, object]:
    day = timedelta(days=1)
    return {
        "window_start": window.start,
        "window_end": window.end,
        "first_day": to_utc(window.start - day).date(),
        "last_day": to_utc(window.end + day).date(),
        "now": now,
    }


def _hit(row: DictRow) -> SearchHit:
    offering = offering_from_values(row)
    return SearchHit(
        offering=offering,
        place=place_from_values(row, "place__"),
        distance_m=row["distance_m"],
        cursor=search_cursor(row["distance_m"], offering.id),
    )


# JSON of the calendar columns: instants as ISO 8601 text with an offset, ids as text.


def _candidate(row: DictRow) -> Candidate:
    hit = _hit(row)
    runs = row["runs"] or ()
    calendar = Calendar(
        offering=hit.offering,
        place=hit.place,
        hours=_hours(hit.place.id, row["weekly"] or (), row["exceptions"] or ()),
        busy=_busy(row["busy"] or ()),
        runs=[_run(hit.offering.id, run) for run in runs],
        taken={OccurrenceId(uuid.UUID(id)): int(seats) for id, *_, seats in runs if seats},
    )
    return Candidate(calendar=calendar, distance_m=hit.distance_m, cursor=hit.cursor)


def _instant(text: str) -> datetime:
    return to_utc(datetime.fromisoformat(text))


def _hours(place_id: PlaceId, weekly: Sequence[Any], exceptions: Sequence[Any]) -> OpeningHours:
    """As `PostgisPlaceRepository.hours` reads them: an exception without intervals (closed
    that day) is one row whose interval is null."""
    days: dict[date, list[LocalInterval]] = {}
    for day, opens, closes in exceptions:
        found = days.setdefault(date.fromisoformat(day), [])
        if opens is not None:
            found.append(LocalInterval(opens, closes))
    return OpeningHours(
        place_id=place_id,
        weekly=tuple(WeeklyRule(weekday=d, interval=LocalInterval(o, c)) for d, o, c in weekly),
        exceptions=tuple(DatedException(day=d, intervals=tuple(i)) for d, i in days.items()),
    )


def _busy(rows: Sequence[Any]) -> dict[ResourceId, list[TimeRange]]:
    busy: dict[ResourceId, list[TimeRange]] = {}
    for resource_id, lower, upper in rows:
        blocked = TimeRange(_instant(lower), _instant(upper))
        busy.setdefault(ResourceId(uuid.UUID(resource_id)), []).append(blocked)
    return busy


def _run(offering_id: OfferingId, run: Sequence[Any]) -> Occurrence:
    id, lower, upper, capacity, _ = run
    return Occurrence(
        id=OccurrenceId(uuid.UUID(id)),
        offering_id=offering_id,
        during=TimeRange(_instant(lower), _instant(upper)),
        capacity=capacity,
    )
