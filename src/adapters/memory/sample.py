"""A small catalog to book against in tests and examples: one Berlin club with a padel court
(appointments on the hour, 08:00-22:00 every day) and a yoga class (twelve seats, every day at
07:00 local time for four weeks). Built through the use cases, as an administrator would."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import attrs

from adapters.memory.setup import InMemory
from core.bookings import (
    AddPlace,
    AddResource,
    Address,
    BookingRules,
    CreateOffering,
    CreateProvider,
    LocalInterval,
    NewOffering,
    NewPlace,
    NewSchedule,
    Offering,
    OfferingKind,
    Place,
    Provider,
    ScheduleSessions,
    SetOpeningHours,
    WeeklyRule,
)
from core.shared import Money, ResourceId

BERLIN = "Europe/Berlin"
HOUR = timedelta(hours=1)


@attrs.frozen(kw_only=True)
class SampleCatalog:
    provider: Provider
    place: Place
    court: Offering  # appointments
    yoga: Offering  # seated sessions


async def sample_catalog(app: InMemory) -> SampleCatalog:
    admin = app.admin
    provider = (await app(CreateProvider)(admin, "Court & Flow Berlin")).unwrap()
    address = Address(line1="Torstr. 1", city="Berlin", postal_code="10119", country="DE")
    new_place = NewPlace(
        provider_id=provider.id,
        name="Torstr.",
        address=address,
        lat=52.53,
        lng=13.40,
        timezone=BERLIN,
    )
    place = (await app(AddPlace)(admin, new_place)).unwrap()
    daily = [
        WeeklyRule(weekday=day, interval=LocalInterval.of(8 * 60, 22 * 60).unwrap())
        for day in range(7)
    ]
    (await app(SetOpeningHours)(admin, place.id, daily, ())).unwrap()
    resource = (await app(AddResource)(admin, place.id, "Court 1")).unwrap()
    hourly = BookingRules(duration=HOUR, slot_step=HOUR)
    court = await _offering(
        app, place, OfferingKind.APPOINTMENT, "Padel", "24.00", hourly, resource_ids=(resource.id,)
    )
    yoga = await _offering(
        app, place, OfferingKind.SESSION, "Morning flow", "15.00", hourly, capacity=12
    )
    first = datetime.combine(app.clock.now().date() + timedelta(days=1), time(7), place.zone)
    until = first.date() + timedelta(weeks=4)
    schedule = NewSchedule(offering_id=yoga.id, first_start=first, repeat_until=until)
    (await app(ScheduleSessions)(admin, schedule)).unwrap()
    return SampleCatalog(provider=provider, place=place, court=court, yoga=yoga)


async def _offering(
    app: InMemory,
    place: Place,
    kind: OfferingKind,
    name: str,
    price: str,
    rules: BookingRules,
    *,
    resource_ids: tuple[ResourceId, ...] = (),
    capacity: int = 1,
) -> Offering:
    command = NewOffering(
        place_id=place.id,
        kind=kind,
        name=name,
        category=name.lower(),
        price=Money.parse(price, "EUR").unwrap(),
        rules=rules,
        resource_ids=resource_ids,
        capacity=capacity,
    )
    return (await app(CreateOffering)(app.admin, command)).unwrap()
