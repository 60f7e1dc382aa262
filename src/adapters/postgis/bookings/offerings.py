"""Offerings and geo search over them."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

from adapters.postgis.bookings.places import place_columns, place_from_row
from adapters.postgis.bookings.tables import offering_resources, offerings, places
from adapters.postgis.sql import Row, geography, money, param
from adapters.postgis.unit_of_work import PostgisPart
from core.bookings.cursors import search_cursor, search_key
from core.bookings.model import BookingRules, Offering, OfferingKind, normal_category
from core.bookings.ports import OfferingRepository, SearchHit, SearchQuery
from core.shared.ids import OfferingId, PlaceId, ProviderId, ResourceId


def _resource_ids(offering_id: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """The offering's resources, in their stored order, as an array column of the same row."""
    ordered = (
        sa.select(offering_resources.c.resource_id)
        .where(offering_resources.c.offering_id == offering_id)
        .order_by(offering_resources.c.position)
    )
    return sa.func.array(ordered.scalar_subquery()).label("resource_ids")


_OFFERING_COLUMNS = (*offerings.c, _resource_ids(offerings.c.id))
_OFFERING_BY_ID = sa.select(*_OFFERING_COLUMNS).where(offerings.c.id == param("id", offerings.c.id))


def _offering(row: Row) -> Offering:
    return offering_from_values(row._mapping)


def offering_from_values(row: Mapping[Any, Any]) -> Offering:
    """An offering from its columns and `resource_ids`, as a SQLAlchemy row's mapping or a
    psycopg dict row holds them."""
    return Offering(
        id=OfferingId(row["id"]),
        provider_id=ProviderId(row["provider_id"]),
        place_id=PlaceId(row["place_id"]),
        kind=OfferingKind(row["kind"]),
        name=row["name"],
        category=row["category"],
        price=money(row["price_minor"], row["currency"]),
        rules=BookingRules(
            duration=row["duration"],
            slot_step=row["slot_step"],
            buffer_before=row["buffer_before"],
            buffer_after=row["buffer_after"],
            lead_time=row["lead_time"],
            horizon=row["horizon"],
        ),
        resource_ids=tuple(ResourceId(r) for r in row["resource_ids"]),
        capacity=row["capacity"],
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
        values = search_values(query)
        if values is None:
            return []
        statement = _search_statement(frozenset(values))
        rows = await self._conn.execute(statement, values)
        return [self._hit(row) for row in rows]

    @staticmethod
    def _hit(row: Row) -> SearchHit:
        offering = _offering(row)
        return SearchHit(
            offering=offering,
            place=place_from_row(row, "place__"),
            distance_m=row.distance_m,
            cursor=search_cursor(row.distance_m, offering.id),
        )


def search_values(query: SearchQuery) -> dict[str, object] | None:
    """The values the search statement binds for `query`; None for a cursor not of ours."""
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
            return None
        values["after_distance_m"], values["after_id"] = after
    return values


# What SQL text for psycopg is compiled with (placeholders `%(name)s`).
PSYCOPG = PGDialect_psycopg()  # type: ignore[no-untyped-call]


@functools.cache
def search_sql(parameters: frozenset[str]) -> tuple[str, Mapping[str, object]]:
    """The search statement for these parameters as psycopg SQL text, compiled once, and the
    constant values SQLAlchemy binds into it (the SRID, the fence's OFFSET 0, ...): the same
    query `PostgisOfferingRepository.search` sends, for callers that skip SQLAlchemy."""
    compiled = _search_statement(parameters).compile(dialect=PSYCOPG)
    constants = {name: v for name, v in compiled.params.items() if name not in parameters}
    return str(compiled), constants


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
    "category": offerings.c.category == param("category", offerings.c.category),
    "currency": offerings.c.currency == param("currency", offerings.c.currency),
    "min_price_minor": (
        offerings.c.price_minor >= param("min_price_minor", offerings.c.price_minor)
    ),
    "max_price_minor": (
        offerings.c.price_minor <= param("max_price_minor", offerings.c.price_minor)
    ),
}


@functools.cache
def _search_statement(parameters: frozenset[str]) -> sa.Select[Any]:
    """The search statement for one combination of filters and cursor, built once.

    `parameters` names the values bound at execution: the point, radius and limit always, the
    filters of _SEARCH_FILTERS and the cursor's key (after_distance_m, after_id) when given.
    """
    near = geography(sa.bindparam("lng", type_=sa.Float), sa.bindparam("lat", type_=sa.Float))
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
            *place_columns("place__"),
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
