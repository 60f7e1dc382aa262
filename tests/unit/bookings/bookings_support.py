"""Shared helpers of the bookings unit tests: Hypothesis profiles, principals, a small catalog."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

import attrs
from hypothesis import settings
from returns.result import Failure, Result

from adapters.memory.availability_reads import MemoryAvailabilityReads
from adapters.memory.booking_moves import MemoryBookingMoves
from adapters.memory.bookings import MemoryBookingsStore
from adapters.memory.clock import FixedClock
from core.bookings import (
    AddPlace,
    AddResource,
    CreateOffering,
    CreateProvider,
    NewOffering,
    NewPlace,
    NewSchedule,
    ScheduleSessions,
    SetOpeningHours,
)
from core.bookings.model import (
    Address,
    BookingRules,
    LocalInterval,
    Occurrence,
    Offering,
    OfferingKind,
    Place,
    Provider,
    Resource,
    WeeklyRule,
)
from core.shared.errors import DomainError
from core.shared.ids import ProviderId, UserId
from core.shared.money import Money
from core.shared.principal import Principal, Role

# `RESERVA_HYPOTHESIS=thorough` runs many more examples (e.g. nightly); the default keeps the
# whole unit suite well under a minute.
settings.register_profile("bookings-fast", max_examples=60, deadline=timedelta(seconds=5))
settings.register_profile("bookings-thorough", max_examples=1000, deadline=None)
PROFILE = settings.get_profile(f"bookings-{os.environ.get('RESERVA_HYPOTHESIS', 'fast')}")

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
T = TypeVar("T")


def utc(year: int, month: int = 1, day: int = 1, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def ok(result: Result[T, DomainError]) -> T:
    if isinstance(result, Failure):
        raise AssertionError(f"expected a success, got {result}")
    return result.unwrap()


def customer() -> Principal:
    return Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.CUSTOMER}))


def admin() -> Principal:
    return Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.ADMIN}), mfa=True)


def staff(*provider_ids: ProviderId, mfa: bool = True) -> Principal:
    return Principal(
        user_id=UserId(uuid.uuid4()),
        roles=frozenset({Role.STAFF}),
        provider_ids=frozenset(provider_ids),
        mfa=mfa,
    )


def every_day(opens: int, closes: int) -> list[WeeklyRule]:
    interval = LocalInterval(opens, closes)
    return [WeeklyRule(weekday=day, interval=interval) for day in range(7)]


def transitions(zone: ZoneInfo, year: int) -> list[date]:
    """Local dates on which the zone's UTC offset changes."""
    days = [date(year, 1, 1) + timedelta(days=n) for n in range(366)]
    noon = [datetime(d.year, d.month, d.day, 12, tzinfo=zone).utcoffset() for d in days]
    return [days[n] for n in range(1, len(days)) if noon[n] != noon[n - 1]]


@attrs.frozen(kw_only=True)
class Shop:
    """A provider with one place, two resources, an appointment and a session offering."""

    store: MemoryBookingsStore
    clock: FixedClock
    admin: Principal
    manager: Principal
    provider: Provider
    place: Place
    resources: tuple[Resource, ...]
    appointment: Offering
    session: Offering
    runs: tuple[Occurrence, ...]

    @property
    def moves(self) -> MemoryBookingMoves:
        """The transitions' port, on the same store."""
        return MemoryBookingMoves(self.store)

    @property
    def reads(self) -> MemoryAvailabilityReads:
        """Search and availability's port, on the same store."""
        return MemoryAvailabilityReads(self.store)


APPOINTMENT_RULES = BookingRules(
    duration=60 * MINUTE,
    slot_step=30 * MINUTE,
    buffer_after=15 * MINUTE,
    lead_time=HOUR,
    horizon=timedelta(days=30),
)
SESSION_RULES = BookingRules(duration=90 * MINUTE, slot_step=30 * MINUTE, lead_time=HOUR)


async def open_shop(
    now: datetime,
    *,
    capacity: int = 3,
    runs_at: tuple[datetime, ...] = (),
    appointment_rules: BookingRules = APPOINTMENT_RULES,
) -> Shop:
    """Built through the real use cases: Berlin, open 08:00-20:00 every day."""
    store, clock, root = MemoryBookingsStore(), FixedClock(now), admin()
    provider = ok(await CreateProvider(uow=store, clock=clock)(root, "Court & Chair"))
    manager = staff(provider.id)
    address = Address(line1="Torstrasse 1", city="Berlin", postal_code="10119", country="de")
    place = ok(
        await AddPlace(uow=store, clock=clock)(
            manager,
            NewPlace(
                provider_id=provider.id,
                name="Mitte",
                address=address,
                lat=52.53,
                lng=13.40,
                timezone="Europe/Berlin",
            ),
        )
    )
    ok(await SetOpeningHours(uow=store, clock=clock)(manager, place.id, every_day(480, 1200), []))
    add_resource = AddResource(uow=store, clock=clock)
    resources = (
        ok(await add_resource(manager, place.id, "Court 1")),
        ok(await add_resource(manager, place.id, "Court 2")),
    )
    create = CreateOffering(uow=store, clock=clock)
    appointment = ok(
        await create(
            manager,
            NewOffering(
                place_id=place.id,
                kind=OfferingKind.APPOINTMENT,
                name="Court hour",
                category="Tennis",
                price=ok(Money.of(2500, "EUR")),
                rules=appointment_rules,
                resource_ids=tuple(r.id for r in resources),
            ),
        )
    )
    session = ok(
        await create(
            manager,
            NewOffering(
                place_id=place.id,
                kind=OfferingKind.SESSION,
                name="Group lesson",
                category="tennis",
                price=ok(Money.of(1500, "EUR")),
                rules=SESSION_RULES,
                capacity=capacity,
            ),
        )
    )
    schedule = ScheduleSessions(uow=store, clock=clock)
    runs = [
        run
        for start in runs_at
        for run in ok(
            await schedule(manager, NewSchedule(offering_id=session.id, first_start=start))
        )
    ]
    return Shop(
        store=store,
        clock=clock,
        admin=root,
        manager=manager,
        provider=provider,
        place=place,
        resources=resources,
        appointment=appointment,
        session=session,
        runs=tuple(runs),
    )
