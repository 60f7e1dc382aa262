"""PostGIS repositories and unit of work of the bookings context.

Every integrity rule is the database's (ADR 4): an exclusion constraint refuses overlapping
appointments, a row lock on the occurrence serialises seat counts, and transitions are
conditional updates. Rows become attrs domain values here and nowhere else (ADR 2).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from geoalchemy2 import Geography
from psycopg import errors as pg_errors
from returns.result import Failure, Result, Success
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.cursors import parse_uuid, search_cursor, search_key
from adapters.postgis.tables import (
    LIVE_STATUSES,
    bookings,
    occurrences,
    offering_resources,
    offerings,
    opening_exception_intervals,
    opening_exceptions,
    opening_hours,
    places,
    providers,
    resources,
)
from adapters.postgis.unit_of_work import PostgisPart, PostgisUnitOfWork
from core.bookings.model import (
    Address,
    Booking,
    BookingRules,
    BookingStatus,
    DatedException,
    LocalInterval,
    Occurrence,
    Offering,
    OfferingKind,
    OpeningHours,
    Place,
    Provider,
    Resource,
    SessionFull,
    SlotUnavailable,
    WeeklyRule,
    normal_category,
)
from core.bookings.ports import (
    BookingRepository,
    BookingsUnitOfWork,
    OccurrenceRepository,
    OfferingRepository,
    Page,
    PlaceRepository,
    ProviderRepository,
    ResourceRepository,
    SearchHit,
    SearchQuery,
)
from core.shared.geo import GeoPoint
from core.shared.ids import (
    BookingId,
    OccurrenceId,
    OfferingId,
    PlaceId,
    ProviderId,
    ResourceId,
    UserId,
)
from core.shared.money import Money
from core.shared.time import TimeRange, to_utc

Row = sa.Row[*tuple[Any, ...]]
EXCLUSIVE_INSERT_ATTEMPTS = 3


# ---------------------------------------------------------------- conversions


def _range(value: TimeRange) -> Range[datetime]:
    return Range(value.start, value.end, bounds="[)")


def _time_range(value: Range[datetime]) -> TimeRange:
    if value.lower is None or value.upper is None:
        raise ValueError(f"unbounded range in the database: {value}")
    return TimeRange(to_utc(value.lower), to_utc(value.upper))


def _money(minor: int, currency: str) -> Money:
    return Money.of(minor, currency).unwrap()


def _geography(lng: Any, lat: Any) -> sa.ColumnElement[Any]:
    # Longitude first: PostGIS points are (x, y).
    located = sa.func.ST_SetSRID(sa.func.ST_MakePoint(lng, lat), 4326)
    return sa.cast(located, Geography(geometry_type="POINT", srid=4326))


# The statements of holds, availability and search are built once with bind parameters:
# building a statement and its cache key costs more Python than running it (docs/benchmarks.md),
# a prebuilt one only gets new values and hits SQLAlchemy's compiled cache.


def _param(name: str, column: sa.Column[Any]) -> sa.BindParameter[Any]:
    return sa.bindparam(name, type_=column.type)


def _each(name: str, column: sa.Column[Any]) -> sa.BindParameter[Any]:
    """A list of values for `column.in_(...)`."""
    return sa.bindparam(name, type_=column.type, expanding=True)


def _place_columns(prefix: str = "") -> tuple[sa.ColumnElement[Any], ...]:
    """Place columns, labelled with `prefix` where they share a query with another table."""
    point = sa.func.geometry(places.c.location)
    return (
        *(column.label(prefix + column.name) for column in places.c if column.name != "location"),
        sa.func.ST_Y(point).label(prefix + "lat"),
        sa.func.ST_X(point).label(prefix + "lng"),
    )


def _place(row: Row, prefix: str = "") -> Place:
    def get(name: str) -> Any:
        return row._mapping[prefix + name]

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


def _resource_ids(offering_id: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """The offering's resources, in their stored order, as an array column of the same row."""
    ordered = (
        sa.select(offering_resources.c.resource_id)
        .where(offering_resources.c.offering_id == offering_id)
        .order_by(offering_resources.c.position)
    )
    return sa.func.array(ordered.scalar_subquery()).label("resource_ids")


_OFFERING_COLUMNS = (*offerings.c, _resource_ids(offerings.c.id))
_OFFERING_BY_ID = sa.select(*_OFFERING_COLUMNS).where(
    offerings.c.id == _param("id", offerings.c.id)
)
_PLACE_BY_ID = sa.select(*_place_columns()).where(places.c.id == _param("id", places.c.id))


def _opening_hours() -> sa.CompoundSelect[Any]:
    """Weekly rules (day NULL) then dated exceptions (weekday NULL) in one round trip.

    An exception without intervals (closed that day) is one row whose `opens` is NULL.
    """
    weekly = sa.select(
        opening_hours.c.weekday,
        sa.cast(sa.null(), sa.Date).label("day"),
        opening_hours.c.opens,
        opening_hours.c.closes,
    ).where(opening_hours.c.place_id == _param("place_id", opening_hours.c.place_id))
    dated = (
        sa.select(
            sa.cast(sa.null(), sa.SmallInteger).label("weekday"),
            opening_exceptions.c.day,
            opening_exception_intervals.c.opens,
            opening_exception_intervals.c.closes,
        )
        .select_from(opening_exceptions.outerjoin(opening_exception_intervals))
        .where(opening_exceptions.c.place_id == _param("place_id", opening_exceptions.c.place_id))
    )
    both = sa.union_all(weekly, dated)
    order = both.selected_columns
    # Weekly rows (day NULL, sorted last) by weekday and time; exceptions by day and time,
    # a closed day's lone row (opens NULL) among them.
    return both.order_by(order.day, order.weekday, order.opens)


_HOURS = _opening_hours()


def _offering(row: Row) -> Offering:
    return Offering(
        id=OfferingId(row.id),
        provider_id=ProviderId(row.provider_id),
        place_id=PlaceId(row.place_id),
        kind=OfferingKind(row.kind),
        name=row.name,
        category=row.category,
        price=_money(row.price_minor, row.currency),
        rules=BookingRules(
            duration=row.duration,
            slot_step=row.slot_step,
            buffer_before=row.buffer_before,
            buffer_after=row.buffer_after,
            lead_time=row.lead_time,
            horizon=row.horizon,
        ),
        resource_ids=tuple(ResourceId(r) for r in row.resource_ids),
        capacity=row.capacity,
    )


def _occurrence(row: Row) -> Occurrence:
    return Occurrence(
        id=OccurrenceId(row.id),
        offering_id=OfferingId(row.offering_id),
        during=_time_range(row.during),
        capacity=row.capacity,
    )


def _booking_values(booking: Booking) -> dict[str, object]:
    return {
        "id": booking.id,
        "offering_id": booking.offering_id,
        "provider_id": booking.provider_id,
        "customer_id": booking.customer_id,
        "kind": booking.kind.value,
        "during": _range(booking.during),
        "blocked": _range(booking.blocked),
        "resource_id": booking.resource_id,
        "occurrence_id": booking.occurrence_id,
        "seats": booking.seats,
        "price_minor": booking.price.minor,
        "currency": booking.price.currency.code,
        "status": booking.status.value,
        "hold_expires_at": booking.hold_expires_at,
        "created_at": booking.created_at,
        "rescheduled_from": booking.rescheduled_from,
    }


def _booking(row: Row) -> Booking:
    return Booking(
        id=BookingId(row.id),
        offering_id=OfferingId(row.offering_id),
        provider_id=ProviderId(row.provider_id),
        customer_id=UserId(row.customer_id),
        kind=OfferingKind(row.kind),
        during=_time_range(row.during),
        blocked=_time_range(row.blocked),
        resource_id=None if row.resource_id is None else ResourceId(row.resource_id),
        occurrence_id=None if row.occurrence_id is None else OccurrenceId(row.occurrence_id),
        seats=row.seats,
        price=_money(row.price_minor, row.currency),
        status=BookingStatus(row.status),
        hold_expires_at=None if row.hold_expires_at is None else to_utc(row.hold_expires_at),
        created_at=to_utc(row.created_at),
        rescheduled_from=(
            None if row.rescheduled_from is None else BookingId(row.rescheduled_from)
        ),
    )


_NOW = _param("now", bookings.c.hold_expires_at)

# Bookings occupying capacity at :now; an expired hold never does, swept or not. The first
# term repeats the exclusion constraint's predicate so its partial index applies.
_LIVE_AT_NOW = sa.and_(
    bookings.c.status.in_(LIVE_STATUSES),
    sa.or_(
        bookings.c.status == BookingStatus.CONFIRMED.value,
        bookings.c.hold_expires_at > _NOW,
    ),
)


# ---------------------------------------------------------------- repositories


class PostgisProviderRepository(PostgisPart, ProviderRepository):
    async def add(self, provider: Provider) -> None:
        await self._conn.execute(providers.insert().values(id=provider.id, name=provider.name))

    async def get(self, id: ProviderId) -> Provider | None:
        row = (await self._conn.execute(providers.select().where(providers.c.id == id))).first()
        return None if row is None else Provider(id=ProviderId(row.id), name=row.name)

    async def list(self, page: Page) -> Sequence[Provider]:
        query = providers.select().order_by(providers.c.id).limit(page.limit)
        if page.after is not None:
            after = parse_uuid(page.after)
            if after is None:
                return []
            query = query.where(providers.c.id > after)
        rows = await self._conn.execute(query)
        return [Provider(id=ProviderId(row.id), name=row.name) for row in rows]


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
                location=_geography(place.point.lng, place.point.lat),
                timezone=place.timezone,
            )
        )

    async def get(self, id: PlaceId) -> Place | None:
        row = (await self._conn.execute(_PLACE_BY_ID, {"id": id})).first()
        return None if row is None else _place(row)

    async def for_provider(self, provider_id: ProviderId) -> Sequence[Place]:
        query = (
            sa.select(*_place_columns())
            .where(places.c.provider_id == provider_id)
            .order_by(places.c.id)
        )
        return [_place(row) for row in await self._conn.execute(query)]

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


class PostgisResourceRepository(PostgisPart, ResourceRepository):
    async def add(self, resource: Resource) -> None:
        await self._conn.execute(
            resources.insert().values(
                id=resource.id,
                provider_id=resource.provider_id,
                place_id=resource.place_id,
                name=resource.name,
            )
        )

    async def get(self, id: ResourceId) -> Resource | None:
        row = (await self._conn.execute(resources.select().where(resources.c.id == id))).first()
        return None if row is None else self._resource(row)

    async def for_provider(self, provider_id: ProviderId) -> Sequence[Resource]:
        query = (
            resources.select()
            .where(resources.c.provider_id == provider_id)
            .order_by(resources.c.id)
        )
        return [self._resource(row) for row in await self._conn.execute(query)]

    @staticmethod
    def _resource(row: Row) -> Resource:
        return Resource(
            id=ResourceId(row.id),
            provider_id=ProviderId(row.provider_id),
            place_id=PlaceId(row.place_id),
            name=row.name,
        )


class PostgisOfferingRepository(PostgisPart, OfferingRepository):
    async def add(self, offering: Offering) -> None:
        rules = offering.rules
        await self._conn.execute(
            offerings.insert().values(
                id=offering.id,
                provider_id=offering.provider_id,
                place_id=offering.place_id,
                kind=offering.kind.value,
                name=offering.name,
                category=offering.category,
                price_minor=offering.price.minor,
                currency=offering.price.currency.code,
                duration=rules.duration,
                slot_step=rules.slot_step,
                buffer_before=rules.buffer_before,
                buffer_after=rules.buffer_after,
                lead_time=rules.lead_time,
                horizon=rules.horizon,
                capacity=offering.capacity,
            )
        )
        if offering.resource_ids:
            await self._conn.execute(
                offering_resources.insert(),
                [
                    {"offering_id": offering.id, "resource_id": resource_id, "position": n}
                    for n, resource_id in enumerate(offering.resource_ids)
                ],
            )

    async def get(self, id: OfferingId) -> Offering | None:
        row = (await self._conn.execute(_OFFERING_BY_ID, {"id": id})).first()
        return None if row is None else _offering(row)

    async def for_provider(self, provider_id: ProviderId) -> Sequence[Offering]:
        query = (
            sa.select(*_OFFERING_COLUMNS)
            .where(offerings.c.provider_id == provider_id)
            .order_by(offerings.c.id)
        )
        return [_offering(row) for row in await self._conn.execute(query)]

    async def search(self, query: SearchQuery) -> Sequence[SearchHit]:
        """One query: the GiST index on places.location finds the places within the radius,
        each place's matching offerings come from the place_id index, and a top-N sort orders
        them by (distance, id). See docs/benchmarks.md, "Geo search plan"."""
        values = {
            "lng": query.near.lng,
            "lat": query.near.lat,
            "radius_m": query.radius_m,
            "limit": query.page.limit,
            **_search_filter_values(query),
        }
        if query.page.after is not None:
            after = search_key(query.page.after)
            if after is None:
                return []
            values["after_distance_m"], values["after_id"] = after
        statement = _search_statement(frozenset(values))
        rows = await self._conn.execute(statement, values)
        return [self._hit(row) for row in rows]

    @staticmethod
    def _hit(row: Row) -> SearchHit:
        offering = _offering(row)
        return SearchHit(
            offering=offering,
            place=_place(row, "place__"),
            distance_m=row.distance_m,
            cursor=search_cursor(row.distance_m, offering.id),
        )


def _search_filter_values(query: SearchQuery) -> dict[str, object]:
    """The optional filters present in `query`, named as in _SEARCH_FILTERS."""
    given = {
        "category": None if query.category is None else normal_category(query.category),
        "currency": None if query.currency is None else query.currency.upper(),
        "min_price_minor": query.min_price_minor,
        "max_price_minor": query.max_price_minor,
    }
    return {name: value for name, value in given.items() if value is not None}


_SEARCH_FILTERS: Mapping[str, sa.ColumnElement[bool]] = {
    "category": offerings.c.category == _param("category", offerings.c.category),
    "currency": offerings.c.currency == _param("currency", offerings.c.currency),
    "min_price_minor": (
        offerings.c.price_minor >= _param("min_price_minor", offerings.c.price_minor)
    ),
    "max_price_minor": (
        offerings.c.price_minor <= _param("max_price_minor", offerings.c.price_minor)
    ),
}


@functools.cache
def _search_statement(parameters: frozenset[str]) -> sa.Select[Any]:
    """The search statement for one combination of filters and cursor, built once.

    `parameters` names the values bound at execution: the point, radius and limit always, the
    filters of _SEARCH_FILTERS and the cursor's key (after_distance_m, after_id) when given.
    """
    near = _geography(sa.bindparam("lng", type_=sa.Float), sa.bindparam("lat", type_=sa.Float))
    # Sphere distance (WGS84 mean radius), as core's GeoPoint.distance_m: fakes agree.
    distance = sa.func.ST_Distance(places.c.location, near, False)
    filters = [where for name, where in _SEARCH_FILTERS.items() if name in parameters]
    # PostGIS estimates ST_DWithin at one row whatever the radius, and its high declared
    # cost makes the planner's join choices look equal; for a wide radius it then scanned
    # every offering once per place (25 s on 5,000 places). OFFSET 0 keeps this lateral
    # subquery from being flattened, so each place costs one index lookup.
    matching = (
        sa.select(offerings)
        .where(offerings.c.place_id == places.c.id, *filters)
        .offset(0)
        .lateral("matching")
    )
    radius = sa.bindparam("radius_m", type_=sa.Float)
    statement = (
        sa.select(
            *matching.c,
            _resource_ids(matching.c.id),
            *_place_columns("place__"),
            distance.label("distance_m"),
        )
        .select_from(places.join(matching, sa.true()))
        .where(sa.func.ST_DWithin(places.c.location, near, radius, False))
        .order_by(distance, matching.c.id)
        .limit(sa.bindparam("limit", type_=sa.Integer))
    )
    if "after_id" in parameters:
        after = sa.tuple_(
            sa.bindparam("after_distance_m", type_=sa.Float),
            sa.bindparam("after_id", type_=matching.c.id.type),
        )
        statement = statement.where(sa.tuple_(distance, matching.c.id) > after)
    return statement


class PostgisOccurrenceRepository(PostgisPart, OccurrenceRepository):
    async def add(self, occurrences_to_add: Sequence[Occurrence]) -> None:
        if not occurrences_to_add:
            return
        await self._conn.execute(
            occurrences.insert(),
            [
                {
                    "id": run.id,
                    "offering_id": run.offering_id,
                    "during": _range(run.during),
                    "capacity": run.capacity,
                }
                for run in occurrences_to_add
            ],
        )

    async def get(self, id: OccurrenceId) -> Occurrence | None:
        query = occurrences.select().where(occurrences.c.id == id)
        row = (await self._conn.execute(query)).first()
        return None if row is None else _occurrence(row)

    async def starting_in(
        self, offering_ids: Sequence[OfferingId], window: TimeRange
    ) -> Sequence[Occurrence]:
        start = sa.func.lower(occurrences.c.during)
        query = (
            occurrences.select()
            .where(occurrences.c.offering_id.in_(offering_ids))
            .where(start >= window.start, start < window.end)
            .order_by(start, occurrences.c.id)
        )
        return [_occurrence(row) for row in await self._conn.execute(query)]


_WINDOW = _param("window", bookings.c.blocked)

_BUSY = (
    sa.select(bookings.c.resource_id, bookings.c.blocked)
    .where(bookings.c.resource_id.in_(_each("resource_ids", bookings.c.resource_id)))
    .where(bookings.c.blocked.overlaps(_WINDOW))
    .where(_LIVE_AT_NOW)
    .order_by(bookings.c.resource_id, bookings.c.blocked)
)

_SEATS_TAKEN = (
    sa.select(bookings.c.occurrence_id, sa.func.sum(bookings.c.seats).label("seats"))
    .where(bookings.c.occurrence_id.in_(_each("occurrence_ids", bookings.c.occurrence_id)))
    .where(_LIVE_AT_NOW)
    .group_by(bookings.c.occurrence_id)
)


def _expire_overlapping_holds() -> sa.Update:
    """Holds of :hold_resource_id past their expiry at :now whose blocked range overlaps :window."""
    stale = (
        sa.select(bookings.c.id)
        .where(bookings.c.resource_id == _param("hold_resource_id", bookings.c.resource_id))
        .where(bookings.c.status == BookingStatus.HELD.value)
        .where(bookings.c.hold_expires_at <= _NOW)
        .where(bookings.c.blocked.overlaps(_WINDOW))
        .order_by(bookings.c.id)
        .with_for_update()
    )
    return (
        bookings.update()
        .where(bookings.c.id.in_(stale.scalar_subquery()))
        .values(status=BookingStatus.EXPIRED.value)
    )


_EXPIRE_OVERLAPPING_HOLDS = _expire_overlapping_holds()


class PostgisBookingRepository(PostgisPart, BookingRepository):
    async def get(self, id: BookingId) -> Booking | None:
        row = (await self._conn.execute(bookings.select().where(bookings.c.id == id))).first()
        return None if row is None else _booking(row)

    async def for_customer(self, customer_id: UserId, page: Page) -> Sequence[Booking]:
        return await self._newest_first(bookings.c.customer_id == customer_id, page)

    async def for_provider(self, provider_id: ProviderId, page: Page) -> Sequence[Booking]:
        return await self._newest_first(bookings.c.provider_id == provider_id, page)

    async def _newest_first(self, owner: sa.ColumnElement[bool], page: Page) -> Sequence[Booking]:
        """Keyset paging on (created_at, id) descending, served by the owner's index. The
        cursor is the id of the last booking of the previous page, which every caller can name;
        its key is looked up in the same query. A cursor naming no booking matches nothing."""
        query = (
            bookings.select()
            .where(owner)
            .order_by(bookings.c.created_at.desc(), bookings.c.id.desc())
            .limit(page.limit)
        )
        if page.after is not None:
            after = parse_uuid(page.after)
            if after is None:
                return []
            last = sa.select(bookings.c.created_at, bookings.c.id).where(bookings.c.id == after)
            key = sa.tuple_(bookings.c.created_at, bookings.c.id)
            query = query.where(key < last.scalar_subquery())
        return [_booking(row) for row in await self._conn.execute(query)]

    async def busy(
        self, resource_ids: Sequence[ResourceId], window: TimeRange, now: datetime
    ) -> dict[ResourceId, list[TimeRange]]:
        values = {"resource_ids": list(resource_ids), "window": _range(window), "now": now}
        found: dict[ResourceId, list[TimeRange]] = {}
        for row in await self._conn.execute(_BUSY, values):
            found.setdefault(ResourceId(row.resource_id), []).append(_time_range(row.blocked))
        return found

    async def seats_taken(
        self, occurrence_ids: Sequence[OccurrenceId], now: datetime
    ) -> dict[OccurrenceId, int]:
        values = {"occurrence_ids": list(occurrence_ids), "now": now}
        rows = await self._conn.execute(_SEATS_TAKEN, values)
        return {OccurrenceId(row.occurrence_id): int(row.seats) for row in rows}

    async def add_exclusive(self, booking: Booking, now: datetime) -> Result[None, SlotUnavailable]:
        """The exclusion constraint decides; a savepoint keeps the transaction usable after a
        refusal so the caller can try another resource.

        Two writers of overlapping bookings may each insert, then each wait for the other's
        row while checking the constraint: PostgreSQL breaks the cycle by aborting one of them
        (DeadlockDetected, only our savepoint). That attempt is simply made again: the rival
        no longer waits for us, so this time we wait for its outcome and learn it exactly.
        """
        await self._expire_overlapping_holds(booking, now)
        for _ in range(EXCLUSIVE_INSERT_ATTEMPTS):
            try:
                async with self._conn.begin_nested():
                    await self._conn.execute(bookings.insert(), _booking_values(booking))
            except IntegrityError as error:
                if isinstance(error.orig, pg_errors.ExclusionViolation):
                    return Failure(SlotUnavailable())
                raise
            except OperationalError as error:
                if not isinstance(error.orig, pg_errors.DeadlockDetected):
                    raise
            else:
                return Success(None)
        # Still racing after several rounds: others keep claiming this very slot.
        return Failure(SlotUnavailable())

    async def _expire_overlapping_holds(self, booking: Booking, now: datetime) -> None:
        """Holds past their expiry must not block, even when no sweeper has run: mark them.

        Rows are locked in id order so two writers expiring the same holds cannot deadlock.
        """
        values = {
            "hold_resource_id": booking.resource_id,
            "now": now,
            "window": _range(booking.blocked),
        }
        await self._conn.execute(_EXPIRE_OVERLAPPING_HOLDS, values)

    async def add_seated(
        self, booking: Booking, capacity: int, now: datetime
    ) -> Result[None, SessionFull]:
        """The occurrence's row lock serialises writers of one run; the connection's
        lock_timeout (see database.create_engine) turns a pile-up into an error, not a hang."""
        if booking.occurrence_id is None:
            raise ValueError("a seated booking needs an occurrence")
        await self._conn.execute(
            sa.select(occurrences.c.id)
            .where(occurrences.c.id == booking.occurrence_id)
            .with_for_update()
        )
        taken = (await self.seats_taken([booking.occurrence_id], now)).get(booking.occurrence_id, 0)
        if taken + booking.seats > capacity:
            return Failure(SessionFull(seats_left=max(0, capacity - taken)))
        await self._conn.execute(bookings.insert(), _booking_values(booking))
        return Success(None)

    async def save(self, booking: Booking, expected: BookingStatus, now: datetime) -> bool:
        query = (
            bookings.update()
            .where(bookings.c.id == booking.id, bookings.c.status == expected.value)
            .values(_booking_values(booking))
        )
        if expected is BookingStatus.HELD:
            query = query.where(bookings.c.hold_expires_at > now)
        result = await self._conn.execute(query)
        return result.rowcount == 1


# ---------------------------------------------------------------- unit of work


class PostgisBookingsUnitOfWork(PostgisUnitOfWork, BookingsUnitOfWork):
    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self.providers = PostgisProviderRepository(self)
        self.places = PostgisPlaceRepository(self)
        self.resources = PostgisResourceRepository(self)
        self.offerings = PostgisOfferingRepository(self)
        self.occurrences = PostgisOccurrenceRepository(self)
        self.bookings = PostgisBookingRepository(self)
