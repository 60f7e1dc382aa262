"""Catalog (providers, places, resources, offerings, hours), occurrences and bookings."""

from __future__ import annotations

import enum
import itertools
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
from returns.result import Failure, Result, Success

from core.shared.errors import DomainError, InvalidInput
from core.shared.events import Event
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
from core.shared.text import clean_text
from core.shared.time import TimeRange

MINUTE = timedelta(minutes=1)
DAY_MINUTES = 24 * 60


def _span(field: str, value: timedelta, low: timedelta, high: timedelta) -> InvalidInput | None:
    if not low <= value <= high:
        return InvalidInput(field=field, reason=f"must be between {low} and {high}")
    if value % MINUTE:
        return InvalidInput(field=field, reason="must be whole minutes")
    return None


# ---------------------------------------------------------------- catalog


@attrs.frozen(kw_only=True)
class Provider:
    id: ProviderId
    name: str

    @classmethod
    def create(cls, id: ProviderId, name: str) -> Result[Provider, InvalidInput]:
        return clean_text("name", name).map(lambda n: cls(id=id, name=n))


@attrs.frozen(kw_only=True)
class Address:
    line1: str
    city: str
    postal_code: str
    country: str  # ISO 3166-1 alpha-2

    def cleaned(self) -> Result[Address, InvalidInput]:
        """Lines may be empty (not every country has postal codes), never unreadable."""
        if len(self.country) != 2 or not self.country.isalpha() or not self.country.isascii():
            return Failure(InvalidInput(field="address.country", reason="ISO 3166 alpha-2 code"))
        return clean_text("address.line1", self.line1, required=False).bind(
            lambda line1: clean_text("address.city", self.city, required=False).bind(
                lambda city: clean_text(
                    "address.postal_code", self.postal_code, 20, required=False
                ).map(
                    lambda postal_code: Address(
                        line1=line1,
                        city=city,
                        postal_code=postal_code,
                        country=self.country.upper(),
                    )
                )
            )
        )


def zone_of(name: str) -> Result[ZoneInfo, InvalidInput]:
    try:
        return Success(ZoneInfo(name))
    except (ZoneInfoNotFoundError, ValueError):
        return Failure(InvalidInput(field="timezone", reason=f"unknown IANA time zone {name!r}"))


@attrs.frozen(kw_only=True)
class Place:
    id: PlaceId
    provider_id: ProviderId
    name: str
    address: Address
    point: GeoPoint
    timezone: str  # IANA name; validated on creation

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def create(
        cls,
        *,
        id: PlaceId,
        provider_id: ProviderId,
        name: str,
        address: Address,
        point: GeoPoint,
        timezone: str,
    ) -> Result[Place, InvalidInput]:
        return address.cleaned().bind(
            lambda cleaned: (
                zone_of(timezone)
                .bind(lambda _: clean_text("name", name))
                .map(
                    lambda n: cls(
                        id=id,
                        provider_id=provider_id,
                        name=n,
                        address=cleaned,
                        point=point,
                        timezone=timezone,
                    )
                )
            )
        )


@attrs.frozen(kw_only=True)
class Resource:
    """A bookable unit used by one booking at a time: a court, a chair, a room, a guide."""

    id: ResourceId
    provider_id: ProviderId
    place_id: PlaceId
    name: str


@attrs.frozen(order=True)
class LocalInterval:
    """Wall-clock minutes since local midnight, [opens, closes); closes may be 1440 (midnight)."""

    opens: int
    closes: int

    @classmethod
    def of(cls, opens: int, closes: int) -> Result[LocalInterval, InvalidInput]:
        if not 0 <= opens < closes <= DAY_MINUTES:
            return Failure(InvalidInput(field="hours", reason="need 0 <= opens < closes <= 1440"))
        return Success(cls(opens, closes))


def _disjoint(intervals: Sequence[LocalInterval]) -> bool:
    ordered = sorted(intervals)
    return all(a.closes <= b.opens for a, b in itertools.pairwise(ordered))


@attrs.frozen(kw_only=True)
class WeeklyRule:
    weekday: int  # Monday 0 .. Sunday 6, as date.weekday()
    interval: LocalInterval


@attrs.frozen(kw_only=True)
class DatedException:
    """Changed hours on one local date; no intervals means closed all day."""

    day: date
    intervals: tuple[LocalInterval, ...] = ()


@attrs.frozen(kw_only=True)
class OpeningHours:
    place_id: PlaceId
    weekly: tuple[WeeklyRule, ...] = ()
    exceptions: tuple[DatedException, ...] = ()

    @classmethod
    def create(
        cls,
        place_id: PlaceId,
        weekly: Sequence[WeeklyRule],
        exceptions: Sequence[DatedException],
    ) -> Result[OpeningHours, InvalidInput]:
        for weekday in range(7):
            if not _disjoint([r.interval for r in weekly if r.weekday == weekday]):
                return Failure(InvalidInput(field="weekly", reason="overlapping intervals"))
        if any(not 0 <= r.weekday <= 6 for r in weekly):
            return Failure(InvalidInput(field="weekly.weekday", reason="must be 0 (Mon) to 6"))
        days = [e.day for e in exceptions]
        if len(days) != len(set(days)):
            return Failure(InvalidInput(field="exceptions", reason="one entry per date"))
        if not all(_disjoint(e.intervals) for e in exceptions):
            return Failure(InvalidInput(field="exceptions", reason="overlapping intervals"))
        return Success(
            cls(
                place_id=place_id,
                weekly=tuple(sorted(weekly, key=lambda r: (r.weekday, r.interval))),
                exceptions=tuple(sorted(exceptions, key=lambda e: e.day)),
            )
        )

    def intervals_on(self, day: date) -> tuple[LocalInterval, ...]:
        for exception in self.exceptions:
            if exception.day == day:
                return tuple(sorted(exception.intervals))
        return tuple(r.interval for r in self.weekly if r.weekday == day.weekday())


def normal_category(category: str) -> str:
    """Categories compare case- and space-insensitively: stored and searched the same way."""
    return category.strip().lower()


class OfferingKind(enum.StrEnum):
    APPOINTMENT = "appointment"  # any aligned start on one exclusive resource
    SESSION = "session"  # scheduled occurrences with seats


@attrs.frozen(kw_only=True)
class BookingRules:
    duration: timedelta
    slot_step: timedelta
    buffer_before: timedelta = timedelta(0)
    buffer_after: timedelta = timedelta(0)
    lead_time: timedelta = timedelta(0)  # no booking starting sooner than this
    horizon: timedelta = timedelta(days=90)  # no booking starting later than this

    def validate(self) -> InvalidInput | None:
        checks = (
            _span("duration", self.duration, 5 * MINUTE, timedelta(hours=24)),
            _span("slot_step", self.slot_step, 5 * MINUTE, timedelta(hours=24)),
            _span("buffer_before", self.buffer_before, timedelta(0), timedelta(hours=12)),
            _span("buffer_after", self.buffer_after, timedelta(0), timedelta(hours=12)),
            _span("lead_time", self.lead_time, timedelta(0), timedelta(days=365)),
            _span("horizon", self.horizon, timedelta(days=1), timedelta(days=730)),
        )
        return next((c for c in checks if c is not None), None)

    def bookable(self, start: datetime, now: datetime) -> bool:
        return now + self.lead_time <= start <= now + self.horizon


@attrs.frozen(kw_only=True)
class Offering:
    id: OfferingId
    provider_id: ProviderId
    place_id: PlaceId
    kind: OfferingKind
    name: str
    category: str
    price: Money  # per booking (appointment) or per seat (session)
    rules: BookingRules
    resource_ids: tuple[ResourceId, ...] = ()  # appointments: any one of these serves
    capacity: int = 1  # sessions: seats per occurrence

    def validated(self) -> Result[Offering, InvalidInput]:
        """Offerings are built from user input, then checked as a whole."""
        problem = self.rules.validate()
        if problem is not None:
            return Failure(problem)
        if self.kind is OfferingKind.APPOINTMENT and not self.resource_ids:
            return Failure(InvalidInput(field="resource_ids", reason="at least one resource"))
        if not 1 <= self.capacity <= 10_000:
            return Failure(InvalidInput(field="capacity", reason="must be 1 to 10000"))
        return clean_text("category", self.category, 60).bind(
            lambda category: clean_text("name", self.name).map(
                lambda n: attrs.evolve(self, name=n, category=normal_category(category))
            )
        )


@attrs.frozen(kw_only=True)
class Occurrence:
    """One scheduled run of a session offering."""

    id: OccurrenceId
    offering_id: OfferingId
    during: TimeRange
    capacity: int


# ---------------------------------------------------------------- bookings


class BookingStatus(enum.StrEnum):
    HELD = "held"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    EXPIRED = "expired"
    RESCHEDULED = "rescheduled"  # replaced by a new booking in the same transaction


class CancelledBy(enum.StrEnum):
    CUSTOMER = "customer"
    PROVIDER = "provider"  # the provider's staff or a platform admin


@attrs.frozen
class SlotUnavailable(DomainError):
    reason: str = "that slot is no longer available"

    @property
    def detail(self) -> str:
        return self.reason


@attrs.frozen
class SessionFull(DomainError):
    seats_left: int

    @property
    def detail(self) -> str:
        return f"only {self.seats_left} seat(s) left"


@attrs.frozen
class OutsideBookingWindow(DomainError):
    reason: str

    @property
    def detail(self) -> str:
        return self.reason


@attrs.frozen
class InvalidTransition(DomainError):
    status: BookingStatus
    action: str

    @property
    def detail(self) -> str:
        return f"cannot {self.action} a booking that is {self.status}"


@attrs.frozen
class HoldExpired(DomainError):
    @property
    def detail(self) -> str:
        return "the hold expired; book the slot again"


@attrs.frozen
class PaymentRequired(DomainError):
    """A priced hold is confirmed by paying for it, not by its customer's word."""

    booking_id: BookingId

    @property
    def detail(self) -> str:
        return f"this hold is confirmed by paying for it: POST /bookings/{self.booking_id}/payment"


BookingError = (
    SlotUnavailable | SessionFull | OutsideBookingWindow | InvalidTransition | HoldExpired
)


@attrs.frozen(kw_only=True)
class Booking:
    id: BookingId
    offering_id: OfferingId
    provider_id: ProviderId
    customer_id: UserId
    kind: OfferingKind
    during: TimeRange
    blocked: TimeRange  # `during` widened by the offering's buffers; what the resource is busy for
    resource_id: ResourceId | None = None
    occurrence_id: OccurrenceId | None = None
    seats: int = 1
    price: Money
    status: BookingStatus
    hold_expires_at: datetime | None
    created_at: datetime
    rescheduled_from: BookingId | None = None
    cancelled_at: datetime | None = None
    cancelled_by: CancelledBy | None = None

    def is_live(self, at: datetime) -> bool:
        """Live bookings occupy capacity; an expired hold never does, swept or not."""
        if self.status is BookingStatus.CONFIRMED:
            return True
        return (
            self.status is BookingStatus.HELD
            and self.hold_expires_at is not None
            and at < self.hold_expires_at
        )

    def _event(self, name: str, at: datetime, **extra: object) -> Event:
        return Event(
            name=f"bookings.{name}",
            occurred_at=at,
            payload={
                "booking_id": str(self.id),
                "offering_id": str(self.offering_id),
                "provider_id": str(self.provider_id),
                "customer_id": str(self.customer_id),
                "start": self.during.start.isoformat(),
                "end": self.during.end.isoformat(),
                "seats": self.seats,
                "status": str(self.status),
                "rescheduled_from": str(self.rescheduled_from) if self.rescheduled_from else None,
                **extra,
            },
        )

    def held_event(self) -> Event:
        """A new booking: a fresh hold, or the new side of a reschedule (status as carried)."""
        return self._event("slot_held", self.created_at)

    def _move(
        self, to: BookingStatus, at: datetime, event: str, **extra: object
    ) -> Result[tuple[Booking, Event], BookingError]:
        moved = attrs.evolve(self, status=to)
        return Success((moved, moved._event(event, at, **extra)))

    def as_of(self, at: datetime) -> Booking:
        """The booking as it reads at `at`: a hold past its expiry is expired, whether or not
        a later booking of its slot has swept it yet. Every read shows bookings this way."""
        status = self.status_at(at)
        return self if status is self.status else attrs.evolve(self, status=status)

    def status_at(self, at: datetime) -> BookingStatus:
        if self.status is BookingStatus.HELD and not self.is_live(at):
            return BookingStatus.EXPIRED
        return self.status

    def confirm(self, at: datetime) -> Result[tuple[Booking, Event], BookingError]:
        status = self.status_at(at)
        if status is BookingStatus.EXPIRED:  # swept or not: the same answer
            return Failure(HoldExpired())
        if status is not BookingStatus.HELD:
            return Failure(InvalidTransition(status, "confirm"))
        return self._move(BookingStatus.CONFIRMED, at, "booking_confirmed", paid=False)

    def confirm_paid(self, at: datetime) -> Result[tuple[Booking, Event], BookingError]:
        """Its money arrived: a hold confirms, live or expired, and no longer expires. Whether
        an expired hold's slot is still free is the repository's to decide (`reinstate`)."""
        if self.status not in (BookingStatus.HELD, BookingStatus.EXPIRED):
            return Failure(InvalidTransition(self.status, "confirm"))
        confirmed = attrs.evolve(self, status=BookingStatus.CONFIRMED, hold_expires_at=None)
        return Success((confirmed, confirmed._event("booking_confirmed", at, paid=True)))

    def cancel(self, at: datetime, by: CancelledBy) -> Result[tuple[Booking, Event], BookingError]:
        if not self.is_live(at):
            return Failure(InvalidTransition(self.status_at(at), "cancel"))
        cancelled = attrs.evolve(
            self, status=BookingStatus.CANCELLED, cancelled_at=at, cancelled_by=by
        )
        event = cancelled._event(
            "booking_cancelled", at, cancelled_at=at.isoformat(), cancelled_by=str(by)
        )
        return Success((cancelled, event))

    def complete(self, at: datetime) -> Result[tuple[Booking, Event], BookingError]:
        if self.status is not BookingStatus.CONFIRMED or at < self.during.end:
            return Failure(InvalidTransition(self.status_at(at), "complete before its end"))
        return self._move(BookingStatus.COMPLETED, at, "booking_completed")

    def no_show(self, at: datetime) -> Result[tuple[Booking, Event], BookingError]:
        if self.status is not BookingStatus.CONFIRMED or at < self.during.start:
            return Failure(InvalidTransition(self.status_at(at), "mark no-show before its start"))
        return self._move(BookingStatus.NO_SHOW, at, "booking_no_show")

    def replace(self, at: datetime) -> Result[tuple[Booking, Event], BookingError]:
        """The old side of a reschedule; the new booking is written in the same transaction."""
        if not self.is_live(at) or at >= self.during.start:
            return Failure(InvalidTransition(self.status_at(at), "reschedule"))
        return self._move(BookingStatus.RESCHEDULED, at, "booking_rescheduled")


@attrs.frozen(kw_only=True)
class Slot:
    """A free start: for appointments the resource that would serve it, for sessions the run."""

    during: TimeRange
    resource_ids: tuple[ResourceId, ...] = ()
    occurrence_id: OccurrenceId | None = None
    seats_left: int = 1
