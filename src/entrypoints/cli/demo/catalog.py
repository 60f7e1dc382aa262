"""One demo provider, drawn from its own seeded random generator, and the lazy catalog of them."""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import attrs

from core.bookings import availability
from core.bookings.model import (
    Address,
    Occurrence,
    Offering,
    OfferingKind,
    OpeningHours,
    Place,
    Provider,
    Resource,
)
from core.shared.ids import OccurrenceId, OfferingId, PlaceId, ProviderId, ResourceId
from core.shared.money import Currency, Money
from core.shared.time import TimeRange, to_utc
from entrypoints.cli.demo.kinds import (
    KINDS,
    ExceptionPlan,
    Kind,
    Template,
    Week,
    dated_exceptions,
    plan_exceptions,
    weekly_rules,
)
from entrypoints.cli.demo.world import (
    UNITS_PER_EUR,
    City,
    cumulative_population,
    near,
    valid,
    world_cities,
)

SESSION_WEEKS = 4  # weekly sessions are scheduled this many weeks ahead


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


def _price(template: Template, currency: str, rng: random.Random) -> Money:
    euros = rng.randint(*template.price_eur)
    major = _nice_amount(euros * UNITS_PER_EUR[currency])
    code = valid(Currency.of(currency), "currency")
    return valid(Money.of(major * 10**code.exponent, currency), "price")


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


def _session_times(week: Week, minutes: int, rng: random.Random) -> list[_WeeklySlot]:
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
            for start in valid(starts, "weekly starts")
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
        point=near(city.point, rng),
        timezone=city.timezone,
    )
    return valid(place, f"place in {city.name}")


def _offering(
    template: Template,
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
    return valid(offering.validated(), f"offering {template.name}")


def _hours(place: Place, week: Week, plan: ExceptionPlan, now: datetime) -> OpeningHours:
    today = now.astimezone(place.zone).date()
    hours = OpeningHours.create(place.id, weekly_rules(week), dated_exceptions(plan, today))
    return valid(hours, f"hours of {place.name}")


def _resources(kind: Kind, place: Place, rng: random.Random) -> tuple[Resource, ...]:
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
    city = rng.choices(world_cities(), cum_weights=cumulative_population())[0]
    kind = rng.choice(KINDS)
    label = city.name if rng.random() < 0.4 else rng.choice(_NAME_WORDS)
    provider_id = ProviderId(_uuid(rng))
    provider = valid(Provider.create(provider_id, f"{label} {rng.choice(kind.nouns)}"), "name")
    place = _place(provider, city, rng)
    week = rng.choice(kind.weeks)
    hours = _hours(place, week, plan_exceptions(rng), now)
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
