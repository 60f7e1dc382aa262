"""Wire shapes shared by the controllers, and the checks every input value goes through.

Money travels as integer minor units plus a display string; instants as ISO 8601 in UTC.
Inputs must carry an offset and lie in 2000..2100: anything else is a client mistake, and
refusing it here keeps absurd values away from the database and the time-zone maths.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, TypeVar

import msgspec
from litestar.params import QueryParameter
from returns.result import Failure, Result, Success

from core.bookings import (
    Booking,
    BookingStatus,
    BookingView,
    CancelledBy,
    Occurrence,
    Offering,
    OfferingKind,
    Page,
    Place,
    Provider,
    Resource,
    Slot,
)
from core.shared.errors import InvalidInput
from core.shared.money import Money
from core.shared.time import TimeRange

T = TypeVar("T")
E = TypeVar("E")

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)

# Instants in bodies must say which offset they are in (msgspec refuses naive ones).
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]

# Query parameters of every paged list.
Limit = Annotated[int, QueryParameter(ge=1, le=100, description="page size, 1 to 100")]
DEFAULT_LIMIT = 20
After = Annotated[
    str | None,
    QueryParameter(min_length=1, max_length=500, description="`next` of the previous page"),
]


# ---------------------------------------------------------------- input checks


def instant(field: str, value: datetime) -> Result[datetime, InvalidInput]:
    """An aware instant in 2000..2100, normalised to UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        return Failure(InvalidInput(field=field, reason="needs a UTC offset, e.g. +02:00 or Z"))
    if not EARLIEST <= value < LATEST:
        return Failure(InvalidInput(field=field, reason="must be between 2000 and 2100"))
    return Success(value.astimezone(UTC))


def calendar_day(field: str, value: date) -> Result[date, InvalidInput]:
    if not EARLIEST.date() <= value < LATEST.date():
        return Failure(InvalidInput(field=field, reason="must be between 2000 and 2100"))
    return Success(value)


def collect(results: Iterable[Result[T, E]]) -> Result[list[T], E]:
    """All the values, or the first failure."""
    values: list[T] = []
    for result in results:
        if isinstance(result, Failure):
            return result
        values.append(result.unwrap())
    return Success(values)


def time_window(
    start: datetime, end: datetime, names: tuple[str, str] = ("from", "to")
) -> Result[TimeRange, InvalidInput]:
    """[start, end) from two query parameters, named as the client wrote them."""
    first_name, last_name = names
    return instant(first_name, start).bind(
        lambda first: instant(last_name, end).bind(
            lambda last: (
                Success(TimeRange(first, last))
                if last > first
                else Failure(InvalidInput(field=last_name, reason=f"must be after {first_name}"))
            )
        )
    )


def page(limit: int, after: str | None) -> Page:
    """One more than asked for: if it comes back, there is a next page."""
    return Page(limit=limit + 1, after=after)


# ---------------------------------------------------------------- outputs


class MoneyOut(msgspec.Struct, frozen=True):
    amount_minor: int
    currency: str
    display: str

    @classmethod
    def of(cls, money: Money) -> MoneyOut:
        return cls(
            amount_minor=money.minor,
            currency=money.currency.code,
            display=money.display(),
        )


class ProviderOut(msgspec.Struct, frozen=True):
    id: uuid.UUID
    name: str

    @classmethod
    def of(cls, provider: Provider) -> ProviderOut:
        return cls(id=provider.id, name=provider.name)


class AddressOut(msgspec.Struct, frozen=True):
    line1: str
    city: str
    postal_code: str
    country: str


class LocationOut(msgspec.Struct, frozen=True):
    lat: float
    lng: float


class PlaceOut(msgspec.Struct, frozen=True):
    id: uuid.UUID
    provider_id: uuid.UUID
    name: str
    address: AddressOut
    location: LocationOut
    timezone: str

    @classmethod
    def of(cls, place: Place) -> PlaceOut:
        a = place.address
        return cls(
            id=place.id,
            provider_id=place.provider_id,
            name=place.name,
            address=AddressOut(
                line1=a.line1, city=a.city, postal_code=a.postal_code, country=a.country
            ),
            location=LocationOut(lat=place.point.lat, lng=place.point.lng),
            timezone=place.timezone,
        )


class ResourceOut(msgspec.Struct, frozen=True):
    id: uuid.UUID
    provider_id: uuid.UUID
    place_id: uuid.UUID
    name: str

    @classmethod
    def of(cls, resource: Resource) -> ResourceOut:
        return cls(
            id=resource.id,
            provider_id=resource.provider_id,
            place_id=resource.place_id,
            name=resource.name,
        )


def _minutes(span: timedelta) -> int:
    return span // MINUTE


class RulesOut(msgspec.Struct, frozen=True):
    duration_minutes: int
    slot_step_minutes: int
    buffer_before_minutes: int
    buffer_after_minutes: int
    lead_time_minutes: int
    horizon_days: int


class OfferingOut(msgspec.Struct, frozen=True):
    id: uuid.UUID
    provider_id: uuid.UUID
    place_id: uuid.UUID
    kind: OfferingKind
    name: str
    category: str
    price: MoneyOut
    rules: RulesOut
    resource_ids: list[uuid.UUID]
    capacity: int

    @classmethod
    def of(cls, offering: Offering) -> OfferingOut:
        rules = offering.rules
        return cls(
            id=offering.id,
            provider_id=offering.provider_id,
            place_id=offering.place_id,
            kind=offering.kind,
            name=offering.name,
            category=offering.category,
            price=MoneyOut.of(offering.price),
            rules=RulesOut(
                duration_minutes=_minutes(rules.duration),
                slot_step_minutes=_minutes(rules.slot_step),
                buffer_before_minutes=_minutes(rules.buffer_before),
                buffer_after_minutes=_minutes(rules.buffer_after),
                lead_time_minutes=_minutes(rules.lead_time),
                horizon_days=rules.horizon.days,
            ),
            resource_ids=list(offering.resource_ids),
            capacity=offering.capacity,
        )


class OccurrenceOut(msgspec.Struct, frozen=True):
    id: uuid.UUID
    offering_id: uuid.UUID
    start: datetime
    end: datetime
    capacity: int

    @classmethod
    def of(cls, occurrence: Occurrence) -> OccurrenceOut:
        return cls(
            id=occurrence.id,
            offering_id=occurrence.offering_id,
            start=occurrence.during.start,
            end=occurrence.during.end,
            capacity=occurrence.capacity,
        )


class SlotOut(msgspec.Struct, frozen=True):
    start: datetime
    end: datetime
    resource_ids: list[uuid.UUID]
    occurrence_id: uuid.UUID | None
    seats_left: int

    @classmethod
    def of(cls, slot: Slot) -> SlotOut:
        return cls(
            start=slot.during.start,
            end=slot.during.end,
            resource_ids=list(slot.resource_ids),
            occurrence_id=slot.occurrence_id,
            seats_left=slot.seats_left,
        )


class CustomerOut(msgspec.Struct, frozen=True):
    """A booking's customer as the provider's staff and admins see them. `erased`: the person
    had their personal data erased; the booking stays in the schedule, as "erased customer"."""

    id: uuid.UUID
    erased: Annotated[
        bool,
        msgspec.Meta(
            description='The person was erased: show "erased customer" (the booking stays).'
        ),
    ]


STAFF_VIEW_OF_CUSTOMER = (
    "Only in what the provider's staff and admins see: the customer, and whether they were "
    'erased (shown as "erased customer"). Absent from a customer\'s own view.'
)


class BookingOut(msgspec.Struct, frozen=True):
    id: uuid.UUID
    offering_id: uuid.UUID
    provider_id: uuid.UUID
    customer_id: uuid.UUID
    kind: OfferingKind
    status: BookingStatus
    start: datetime
    end: datetime
    resource_id: uuid.UUID | None
    occurrence_id: uuid.UUID | None
    seats: int
    price: MoneyOut
    hold_expires_at: datetime | None
    created_at: datetime
    rescheduled_from: uuid.UUID | None
    cancelled_at: datetime | None
    cancelled_by: CancelledBy | None
    customer: Annotated[
        CustomerOut | msgspec.UnsetType, msgspec.Meta(description=STAFF_VIEW_OF_CUSTOMER)
    ] = msgspec.UNSET

    @classmethod
    def seen(cls, view: BookingView) -> BookingOut:
        """As the use case's reader sees it: with `customer` for staff and admins."""
        return cls.of(view.booking, customer_erased=view.customer_erased)

    @classmethod
    def of(cls, booking: Booking, *, customer_erased: bool | None = None) -> BookingOut:
        """`customer_erased` None: no `customer` (a customer's own view, an action's answer)."""
        customer: CustomerOut | msgspec.UnsetType = (
            msgspec.UNSET
            if customer_erased is None
            else CustomerOut(id=booking.customer_id, erased=customer_erased)
        )
        return cls(
            id=booking.id,
            offering_id=booking.offering_id,
            provider_id=booking.provider_id,
            customer_id=booking.customer_id,
            kind=booking.kind,
            status=booking.status,
            start=booking.during.start,
            end=booking.during.end,
            resource_id=booking.resource_id,
            occurrence_id=booking.occurrence_id,
            seats=booking.seats,
            price=MoneyOut.of(booking.price),
            hold_expires_at=booking.hold_expires_at,
            created_at=booking.created_at,
            rescheduled_from=booking.rescheduled_from,
            cancelled_at=booking.cancelled_at,
            cancelled_by=booking.cancelled_by,
            customer=customer,
        )


class ProvidersPage(msgspec.Struct, frozen=True):
    items: list[ProviderOut]
    next: str | None


class BookingsPage(msgspec.Struct, frozen=True):
    items: list[BookingOut]
    next: str | None


def next_cursor(items: Sequence[T], limit: int, cursor: Callable[[T], str]) -> str | None:
    """The cursor after the last item shown, if `page` fetched one more than shown."""
    return cursor(items[limit - 1]) if len(items) > limit else None


def provider_cursor(provider: Provider) -> str:
    return str(provider.id)


def booking_cursor(booking: Booking) -> str:
    """The bookings port pages by the id of the last booking seen."""
    return str(booking.id)
