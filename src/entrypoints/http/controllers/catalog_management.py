"""Providers build their catalog: places, opening hours, resources, offerings, session runs."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from functools import partial
from typing import Annotated

import msgspec
from litestar import post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from returns.result import Result

from core.bookings import (
    AddPlace,
    AddResource,
    Address,
    BookingRules,
    CreateOffering,
    CreateProvider,
    DatedException,
    LocalInterval,
    NewOffering,
    NewPlace,
    NewSchedule,
    OfferingKind,
    OpeningHours,
    ScheduleSessions,
    SetOpeningHours,
    WeeklyRule,
)
from core.shared.errors import InvalidInput
from core.shared.ids import OfferingId, PlaceId, ProviderId, ResourceId
from core.shared.money import Money
from core.shared.principal import Principal
from entrypoints.http.auth import SECURITY
from entrypoints.http.dto import (
    AwareDatetime,
    OccurrenceOut,
    OfferingOut,
    PlaceOut,
    ProviderOut,
    ResourceOut,
    calendar_day,
    collect,
    instant,
)
from entrypoints.http.problems import SIGNED_IN_PROBLEMS, ok

# Generous bounds that only keep absurd numbers out; the domain enforces the real limits.
Minutes = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
Clock = Annotated[str, msgspec.Meta(pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")]


class NewProviderIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str


class AddressIn(msgspec.Struct, forbid_unknown_fields=True):
    line1: str
    city: str
    postal_code: str
    country: str  # ISO 3166-1 alpha-2


class NewPlaceIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    address: AddressIn
    lat: float
    lng: float
    timezone: str  # IANA name, e.g. Europe/Madrid

    def command(self, provider_id: ProviderId) -> NewPlace:
        a = self.address
        return NewPlace(
            provider_id=provider_id,
            name=self.name,
            address=Address(
                line1=a.line1, city=a.city, postal_code=a.postal_code, country=a.country
            ),
            lat=self.lat,
            lng=self.lng,
            timezone=self.timezone,
        )


def _minute_of_day(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


class IntervalIn(msgspec.Struct, forbid_unknown_fields=True):
    opens: Clock  # local wall-clock "HH:MM"; closes may be "24:00"
    closes: Clock

    def interval(self) -> Result[LocalInterval, InvalidInput]:
        return LocalInterval.of(_minute_of_day(self.opens), _minute_of_day(self.closes))


class WeeklyIn(msgspec.Struct, forbid_unknown_fields=True):
    weekday: Annotated[int, msgspec.Meta(ge=0, le=6)]  # Monday 0 .. Sunday 6
    opens: Clock
    closes: Clock

    def rule(self) -> Result[WeeklyRule, InvalidInput]:
        return (
            IntervalIn(opens=self.opens, closes=self.closes)
            .interval()
            .map(lambda interval: WeeklyRule(weekday=self.weekday, interval=interval))
        )


class DatedIn(msgspec.Struct, forbid_unknown_fields=True):
    day: date = msgspec.field(name="date")  # a local date of the place
    intervals: Annotated[list[IntervalIn], msgspec.Meta(max_length=24)] = []  # empty: closed

    def exception(self) -> Result[DatedException, InvalidInput]:
        return calendar_day("exceptions.date", self.day).bind(
            lambda day: collect(i.interval() for i in self.intervals).map(
                lambda intervals: DatedException(day=day, intervals=tuple(intervals))
            )
        )


class HoursIn(msgspec.Struct, forbid_unknown_fields=True):
    weekly: Annotated[list[WeeklyIn], msgspec.Meta(max_length=7 * 24)]
    exceptions: Annotated[list[DatedIn], msgspec.Meta(max_length=1000)] = []

    def rules(self) -> Result[tuple[list[WeeklyRule], list[DatedException]], InvalidInput]:
        return collect(r.rule() for r in self.weekly).bind(
            lambda weekly: collect(e.exception() for e in self.exceptions).map(
                lambda dated: (weekly, dated)
            )
        )


class HoursOut(msgspec.Struct, frozen=True):
    place_id: uuid.UUID
    weekly: list[WeeklyIn]
    exceptions: list[DatedIn]

    @classmethod
    def of(cls, hours: OpeningHours) -> HoursOut:
        return cls(
            place_id=hours.place_id,
            weekly=[
                WeeklyIn(
                    weekday=r.weekday,
                    opens=_clock(r.interval.opens),
                    closes=_clock(r.interval.closes),
                )
                for r in hours.weekly
            ],
            exceptions=[
                DatedIn(
                    day=e.day,
                    intervals=[
                        IntervalIn(opens=_clock(i.opens), closes=_clock(i.closes))
                        for i in e.intervals
                    ],
                )
                for e in hours.exceptions
            ],
        )


def _clock(minute_of_day: int) -> str:
    return f"{minute_of_day // 60:02d}:{minute_of_day % 60:02d}"


class NewResourceIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str


class MoneyIn(msgspec.Struct, forbid_unknown_fields=True):
    amount_minor: int  # integer minor units: 1250 EUR is 12.50 EUR
    currency: Annotated[str, msgspec.Meta(min_length=3, max_length=3)]


class NewOfferingIn(msgspec.Struct, forbid_unknown_fields=True):
    kind: OfferingKind
    name: str
    category: str
    price: MoneyIn  # per booking (appointment) or per seat (session)
    duration_minutes: Minutes
    slot_step_minutes: Minutes | None = None  # defaults to the duration
    buffer_before_minutes: Minutes = 0
    buffer_after_minutes: Minutes = 0
    lead_time_minutes: Minutes = 0
    horizon_days: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 90
    resource_ids: Annotated[list[uuid.UUID], msgspec.Meta(max_length=100)] = []
    capacity: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 1

    def command(self, place_id: PlaceId) -> Result[NewOffering, InvalidInput]:
        minutes = timedelta(minutes=1)
        rules = BookingRules(
            duration=self.duration_minutes * minutes,
            slot_step=(self.slot_step_minutes or self.duration_minutes) * minutes,
            buffer_before=self.buffer_before_minutes * minutes,
            buffer_after=self.buffer_after_minutes * minutes,
            lead_time=self.lead_time_minutes * minutes,
            horizon=timedelta(days=self.horizon_days),
        )
        return Money.of(self.price.amount_minor, self.price.currency).map(
            lambda price: NewOffering(
                place_id=place_id,
                kind=self.kind,
                name=self.name,
                category=self.category,
                price=price,
                rules=rules,
                resource_ids=tuple(ResourceId(r) for r in self.resource_ids),
                capacity=self.capacity,
            )
        )


class NewScheduleIn(msgspec.Struct, forbid_unknown_fields=True):
    first_start: AwareDatetime  # its local wall-clock time repeats weekly
    repeat_until: date | None = None  # inclusive local date; absent: a one-off run

    def command(self, offering_id: OfferingId) -> Result[NewSchedule, InvalidInput]:
        start = instant("first_start", self.first_start)
        last_day = self.repeat_until
        if last_day is None:
            return start.map(lambda at: NewSchedule(offering_id=offering_id, first_start=at))
        return start.bind(
            lambda at: calendar_day("repeat_until", last_day).map(
                lambda until: NewSchedule(
                    offering_id=offering_id, first_start=at, repeat_until=until
                )
            )
        )


# Writes need staff of the provider (or an admin) with MFA; creating providers needs an admin.
_write = partial(post, tags=["catalog management"], security=SECURITY, responses=SIGNED_IN_PROBLEMS)


@_write("/providers", summary="Create a provider (platform admins)")
async def create_provider(
    data: JSONBody[NewProviderIn],
    principal: NamedDependency[Principal],
    create_provider: NamedDependency[CreateProvider],
) -> ProviderOut:
    return ProviderOut.of(ok(await create_provider(principal, data.name)))


@_write("/providers/{provider_id:str}/places", summary="Add a place")
async def add_place(
    provider_id: FromPath[uuid.UUID],
    data: JSONBody[NewPlaceIn],
    principal: NamedDependency[Principal],
    add_place: NamedDependency[AddPlace],
) -> PlaceOut:
    return PlaceOut.of(ok(await add_place(principal, data.command(ProviderId(provider_id)))))


@put(
    "/places/{place_id:str}/hours",
    summary="Replace a place's opening hours",
    description="Local wall-clock hours in the place's time zone; dated exceptions win.",
    tags=["catalog management"],
    security=SECURITY,
    responses=SIGNED_IN_PROBLEMS,
)
async def set_hours(
    place_id: FromPath[uuid.UUID],
    data: JSONBody[HoursIn],
    principal: NamedDependency[Principal],
    set_opening_hours: NamedDependency[SetOpeningHours],
) -> HoursOut:
    weekly, dated = ok(data.rules())
    return HoursOut.of(ok(await set_opening_hours(principal, PlaceId(place_id), weekly, dated)))


@_write("/places/{place_id:str}/resources", summary="Add a bookable resource")
async def add_resource(
    place_id: FromPath[uuid.UUID],
    data: JSONBody[NewResourceIn],
    principal: NamedDependency[Principal],
    add_resource: NamedDependency[AddResource],
) -> ResourceOut:
    return ResourceOut.of(ok(await add_resource(principal, PlaceId(place_id), data.name)))


@_write("/places/{place_id:str}/offerings", summary="Create an offering")
async def create_offering(
    place_id: FromPath[uuid.UUID],
    data: JSONBody[NewOfferingIn],
    principal: NamedDependency[Principal],
    create_offering: NamedDependency[CreateOffering],
) -> OfferingOut:
    command = ok(data.command(PlaceId(place_id)))
    return OfferingOut.of(ok(await create_offering(principal, command)))


@_write("/offerings/{offering_id:str}/sessions", summary="Schedule runs of a session")
async def schedule_sessions(
    offering_id: FromPath[uuid.UUID],
    data: JSONBody[NewScheduleIn],
    principal: NamedDependency[Principal],
    schedule_sessions: NamedDependency[ScheduleSessions],
) -> list[OccurrenceOut]:
    command = ok(data.command(OfferingId(offering_id)))
    return [OccurrenceOut.of(o) for o in ok(await schedule_sessions(principal, command))]


ROUTES = [create_provider, add_place, set_hours, add_resource, create_offering, schedule_sessions]
