"""Places, their opening hours (weekly rules and dated exceptions) and their rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa

from adapters.postgis.bookings.tables import (
    opening_exception_intervals,
    opening_exceptions,
    opening_hours,
    places,
)
from adapters.postgis.sql import Row, geography, param
from adapters.postgis.unit_of_work import PostgisPart
from core.bookings.model import (
    Address,
    DatedException,
    LocalInterval,
    OpeningHours,
    Place,
    WeeklyRule,
)
from core.bookings.ports import PlaceRepository
from core.shared.geo import GeoPoint
from core.shared.ids import PlaceId, ProviderId


def place_columns(prefix: str = "") -> tuple[sa.ColumnElement[Any], ...]:
    """Place columns, labelled with `prefix` where they share a query with another table."""
    point = sa.func.geometry(places.c.location)
    return (
        *(column.label(prefix + column.name) for column in places.c if column.name != "location"),
        sa.func.ST_Y(point).label(prefix + "lat"),
        sa.func.ST_X(point).label(prefix + "lng"),
    )


def place_from_row(row: Row, prefix: str = "") -> Place:
    return place_from_values(row._mapping, prefix)


def place_from_values(row: Mapping[Any, Any], prefix: str = "") -> Place:
    """A place from the columns of `place_columns(prefix)`, as a SQLAlchemy row's mapping or
    a psycopg dict row holds them."""

    def get(name: str) -> Any:
        return row[prefix + name]

    return Place(
        id=PlaceId(get("id")),
        provider_id=ProviderId(get("provider_id")),
        name=get("name"),
        address=Address(
            line1=get("line1"),
            city=get("city"),
            postal_code=get("postal_code"),
            country=get("country"),
        ),
        point=GeoPoint(get("lat"), get("lng")),
        timezone=get("timezone"),
    )


_PLACE_BY_ID = sa.select(*place_columns()).where(places.c.id == param("id", places.c.id))


def _opening_hours() -> sa.CompoundSelect[Any]:
    """Weekly rules (day NULL) then dated exceptions (weekday NULL) in one round trip.

    An exception without intervals (closed that day) is one row whose `opens` is NULL.
    """
    weekly = sa.select(
        opening_hours.c.weekday,
        sa.cast(sa.null(), sa.Date).label("day"),
        opening_hours.c.opens,
        opening_hours.c.closes,
    ).where(opening_hours.c.place_id == param("place_id", opening_hours.c.place_id))
    dated = (
        sa.select(
            sa.cast(sa.null(), sa.SmallInteger).label("weekday"),
            opening_exceptions.c.day,
            opening_exception_intervals.c.opens,
            opening_exception_intervals.c.closes,
        )
        .select_from(opening_exceptions.outerjoin(opening_exception_intervals))
        .where(opening_exceptions.c.place_id == param("place_id", opening_exceptions.c.place_id))
    )
    both = sa.union_all(weekly, dated)
    order = both.selected_columns
    # Weekly rows (day NULL, sorted last) by weekday and time; exceptions by day and time,
    # a closed day's lone row (opens NULL) among them.
    return both.order_by(order.day, order.weekday, order.opens)


_HOURS = _opening_hours()


class PostgisPlaceRepository(PostgisPart, PlaceRepository):
    async def add(self, place: Place) -> None:
        await self._conn.execute(
            places.insert().values(
                id=place.id,
                provider_id=place.provider_id,
                name=place.name,
                line1=place.address.line1,
                city=place.address.city,
                postal_code=place.address.postal_code,
                country=place.address.country,
                location=geography(place.point.lng, place.point.lat),
                timezone=place.timezone,
            )
        )

    async def get(self, id: PlaceId) -> Place | None:
        row = (await self._conn.execute(_PLACE_BY_ID, {"id": id})).first()
        return None if row is None else place_from_row(row)

    async def for_provider(self, provider_id: ProviderId) -> Sequence[Place]:
        query = (
            sa.select(*place_columns())
            .where(places.c.provider_id == provider_id)
            .order_by(places.c.id)
        )
        return [place_from_row(row) for row in await self._conn.execute(query)]

    async def hours(self, id: PlaceId) -> OpeningHours:
        weekly: list[WeeklyRule] = []
        intervals: dict[date, list[LocalInterval]] = {}
        for row in await self._conn.execute(_HOURS, {"place_id": id}):
            if row.day is None:
                weekly.append(
                    WeeklyRule(weekday=row.weekday, interval=LocalInterval(row.opens, row.closes))
                )
                continue
            found = intervals.setdefault(row.day, [])
            if row.opens is not None:
                found.append(LocalInterval(row.opens, row.closes))
        return OpeningHours(
            place_id=id,
            weekly=tuple(weekly),
            exceptions=tuple(
                DatedException(day=day, intervals=tuple(found)) for day, found in intervals.items()
            ),
        )

    async def set_hours(self, hours: OpeningHours) -> None:
        """Replaces every rule of the place; the place's row lock orders concurrent writers."""
        place_id = hours.place_id
        await self._conn.execute(
            sa.select(places.c.id).where(places.c.id == place_id).with_for_update()
        )
        await self._conn.execute(opening_hours.delete().where(opening_hours.c.place_id == place_id))
        await self._conn.execute(
            opening_exceptions.delete().where(opening_exceptions.c.place_id == place_id)
        )
        await self._insert(
            opening_hours,
            [
                {
                    "place_id": place_id,
                    "weekday": rule.weekday,
                    "opens": rule.interval.opens,
                    "closes": rule.interval.closes,
                }
                for rule in hours.weekly
            ],
        )
        await self._insert(
            opening_exceptions,
            [{"place_id": place_id, "day": exception.day} for exception in hours.exceptions],
        )
        await self._insert(
            opening_exception_intervals,
            [
                {"place_id": place_id, "day": e.day, "opens": i.opens, "closes": i.closes}
                for e in hours.exceptions
                for i in e.intervals
            ],
        )

    async def _insert(self, table: sa.Table, rows: Sequence[Mapping[str, object]]) -> None:
        if rows:
            await self._conn.execute(table.insert(), rows)
