"""Geo search over the public catalog, optionally only offerings with a free slot."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter
from returns.result import Failure, Result, Success

from core.bookings import Page, SearchHit, SearchOfferings, SearchQuery, normal_category
from core.shared.errors import InvalidInput
from core.shared.geo import GeoPoint
from core.shared.money import Currency
from core.shared.time import TimeRange
from entrypoints.http.auth import PUBLIC
from entrypoints.http.dto import (
    DEFAULT_LIMIT,
    After,
    Limit,
    OfferingOut,
    PlaceOut,
    time_window,
)
from entrypoints.http.problems import PUBLIC_PROBLEMS, ok

MAX_PRICE_MINOR = 10**15


class HitOut(msgspec.Struct, frozen=True):
    offering: OfferingOut
    place: PlaceOut
    distance_m: float

    @classmethod
    def of(cls, hit: SearchHit) -> HitOut:
        return cls(
            offering=OfferingOut.of(hit.offering),
            place=PlaceOut.of(hit.place),
            distance_m=round(hit.distance_m, 1),
        )


class SearchPage(msgspec.Struct, frozen=True):
    items: list[HitOut]
    next: str | None  # null only when the search reached its end


def _free_window(
    start: datetime | None, end: datetime | None
) -> Result[TimeRange | None, InvalidInput]:
    if start is None and end is None:
        return Success(None)
    if start is None or end is None:
        missing = "free_from" if start is None else "free_to"
        return Failure(InvalidInput(field=missing, reason="give both free_from and free_to"))
    return time_window(start, end, names=("free_from", "free_to"))


def _currency(code: str | None) -> Result[str | None, InvalidInput]:
    if code is None:
        return Success(None)
    return Currency.of(code).map(lambda currency: currency.code)


Price = Annotated[int | None, QueryParameter(ge=0, le=MAX_PRICE_MINOR)]
Instant = FromQuery[datetime | None]


@get(
    "/search",
    summary="Offerings near a point",
    description="Nearest first, within radius_m (1 m to 200 km). With free_from and free_to, "
    "only offerings with a free slot starting in that window (at most 31 days). One request "
    "examines a bounded number of offerings, so a page may hold fewer items than `limit`, even "
    "none: follow `next` until it is null to see every match, each once, in order.",
    tags=["search"],
    opt={PUBLIC: True},
    responses=PUBLIC_PROBLEMS,
)
async def search(
    search_offerings: NamedDependency[SearchOfferings],
    lat: FromQuery[float],
    lng: FromQuery[float],
    radius_m: Annotated[float, QueryParameter(ge=1, le=200_000)],
    category: Annotated[str | None, QueryParameter(max_length=60)] = None,
    min_price_minor: Price = None,
    max_price_minor: Price = None,
    currency: Annotated[str | None, QueryParameter(min_length=3, max_length=3)] = None,
    free_from: Instant = None,
    free_to: Instant = None,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
) -> SearchPage:
    query = SearchQuery(
        near=ok(GeoPoint.of(lat, lng)),
        radius_m=radius_m,
        category=normal_category(category) if category else None,
        min_price_minor=min_price_minor,
        max_price_minor=max_price_minor,
        currency=ok(_currency(currency)),
        page=Page(limit=limit, after=after),
    )
    found = ok(await search_offerings(query, ok(_free_window(free_from, free_to))))
    return SearchPage(items=[HitOut.of(h) for h in found.hits], next=found.next)


ROUTES = [search]
