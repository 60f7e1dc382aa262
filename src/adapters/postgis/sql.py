"""Small helpers every PostGIS repository uses: row types, value conversions, bind parameters."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from geoalchemy2 import Geography
from sqlalchemy.dialects.postgresql import Range

from core.shared.money import Money
from core.shared.time import TimeRange, to_utc

Row = sa.Row[*tuple[Any, ...]]


def pg_range(value: TimeRange) -> Range[datetime]:
    return Range(value.start, value.end, bounds="[)")


class Bounds(Protocol):
    """A range as SQLAlchemy (`Range`) or psycopg (`psycopg.types.range.Range`) reads one."""

    @property
    def lower(self) -> datetime | None: ...
    @property
    def upper(self) -> datetime | None: ...


def time_range(value: Bounds) -> TimeRange:
    if value.lower is None or value.upper is None:
        raise ValueError(f"unbounded range in the database: {value}")
    return TimeRange(to_utc(value.lower), to_utc(value.upper))


def utc_or_none(value: datetime | None) -> datetime | None:
    return to_utc(value) if value is not None else None


def money(minor: int, currency: str) -> Money:
    return Money.of(minor, currency).unwrap()


def geography(lng: Any, lat: Any) -> sa.ColumnElement[Any]:
    # Longitude first: PostGIS points are (x, y).
    located = sa.func.ST_SetSRID(sa.func.ST_MakePoint(lng, lat), 4326)
    return sa.cast(located, Geography(geometry_type="POINT", srid=4326))


# The statements of holds, availability and search are built once with bind parameters:
# building a statement and its cache key costs more Python than running it (docs/benchmarks.md),
# a prebuilt one only gets new values and hits SQLAlchemy's compiled cache.


def param(name: str, column: sa.Column[Any]) -> sa.BindParameter[Any]:
    return sa.bindparam(name, type_=column.type)


def each(name: str, column: sa.Column[Any]) -> sa.BindParameter[Any]:
    """A list of values for `column.in_(...)`."""
    return sa.bindparam(name, type_=column.type, expanding=True)
