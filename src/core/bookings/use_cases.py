"""Application services of the bookings context: one class per use case, each one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import attrs
from returns.result import Failure, Result, Success

from core.bookings import availability
from core.bookings.model import (
    Address,
    Booking,
    BookingRules,
    BookingStatus,
    DatedException,
    HoldExpired,
    Occurrence,
    Offering,
    OfferingKind,
    OpeningHours,
    OutsideBookingWindow,
    Place,
    Provider,
    Resource,
    Slot,
    SlotUnavailable,
    WeeklyRule,
)
from core.bookings.ports import (
    BookingsUnitOfWork,
    Page,
    SearchHit,
    SearchQuery,
)
from core.shared.errors import DomainError, InvalidInput, NotFound
from core.shared.events import Event
from core.shared.geo import GeoPoint
from core.shared.ids import (
    BookingId,
    OccurrenceId,
    OfferingId,
    PlaceId,
    ProviderId,
    ResourceId,
    new_id,
)
from core.shared.money import Money
from core.shared.principal import Principal, may_manage, require_admin
from core.shared.time import Clock, TimeRange, to_utc
from core.shared.unit_of_work import UnitOfWorkFactory
from core.shared.use_case import UseCase

MAX_WINDOW = timedelta(days=31)
MAX_SEATS_PER_BOOKING = 50


@attrs.frozen(kw_only=True)
class BookingSettings:
    hold_ttl: timedelta = timedelta(minutes=10)
    max_search_scan: int = 500  # candidates examined per search page when filtering by free slot


@attrs.frozen(kw_only=True)
class _Service(UseCase):
    uow: UnitOfWorkFactory[BookingsUnitOfWork]
    clock: Clock
    settings: BookingSettings = BookingSettings()


def _window(window: TimeRange) -> Result[TimeRange, InvalidInput]:
    if window.duration > MAX_WINDOW:
        return Failure(InvalidInput(field="to", reason="window longer than 31 days"))
    return Success(window)


async def _managed_provider(
    uow: BookingsUnitOfWork, caller: Principal, provider_id: ProviderId
) -> Result[Provider, DomainError]:
    provider = await uow.providers.get(provider_id)
    if provider is None:
        return Failure(NotFound(kind="provider", id=str(provider_id)))
    allowed = may_manage(caller, provider_id)
    if isinstance(allowed, Failure):
        return allowed
    return Success(provider)


async def _managed_place(
    uow: BookingsUnitOfWork, caller: Principal, place_id: PlaceId
) -> Result[Place, DomainError]:
    place = await uow.places.get(place_id)
    if place is None:
        return Failure(NotFound(kind="place", id=str(place_id)))
    return (await _managed_provider(uow, caller, place.provider_id)).map(lambda _: place)


# ---------------------------------------------------------------- catalog management


class CreateProvider(_Service):
    async def __call__(self, caller: Principal, name: str) -> Result[Provider, DomainError]:
        allowed = require_admin(caller)
        if isinstance(allowed, Failure):
            return Failure(allowed.failure())
        created = Provider.create(ProviderId(new_id()), name)
        if isinstance(created, Failure):
            return created
        provider = created.unwrap()
        async with self.uow() as uow:
            await uow.providers.add(provider)
            await uow.outbox.add(_catalog_event("provider_created", provider.id, self.clock))
            await uow.commit()
        return Success(provider)


def _catalog_event(name: str, provider_id: ProviderId, clock: Clock, **more: str) -> Event:
    payload = {"provider_id": str(provider_id), **more}
    return Event(name=f"bookings.{name}", occurred_at=clock.now(), payload=payload)


@attrs.frozen(kw_only=True)
class NewPlace:
    provider_id: ProviderId
    name: str
    address: Address
    lat: float
    lng: float
    timezone: str


class AddPlace(_Service):
    async def __call__(self, caller: Principal, cmd: NewPlace) -> Result[Place, DomainError]:
        point = GeoPoint.of(cmd.lat, cmd.lng)
        if isinstance(point, Failure):
            return point
        built = Place.create(
            id=PlaceId(new_id()),
            provider_id=cmd.provider_id,
            name=cmd.name,
            address=cmd.address,
            point=point.unwrap(),
            timezone=cmd.timezone,
        )
        if isinstance(built, Failure):
            return built
        async with self.uow() as uow:
            provider = await _managed_provider(uow, caller, cmd.provider_id)
            if isinstance(provider, Failure):
                return provider
            await uow.places.add(built.unwrap())
            await uow.commit()
        return built


class SetOpeningHours(_Service):
    async def __call__(
        self,
        caller: Principal,
        place_id: PlaceId,
        weekly: Sequence[WeeklyRule],
        exceptions: Sequence[DatedException],
    ) -> Result[OpeningHours, DomainError]:
        hours = OpeningHours.create(place_id, weekly, exceptions)
        if isinstance(hours, Failure):
            return hours
        async with self.uow() as uow:
            place = await _managed_place(uow, caller, place_id)
            if isinstance(place, Failure):
                return place
            await uow.places.set_hours(hours.unwrap())
            await uow.commit()
        return hours


class AddResource(_Service):
    async def __call__(
        self, caller: Principal, place_id: PlaceId, name: str
    ) -> Result[Resource, DomainError]:
        if not 1 <= len(name.strip()) <= 200:
            return Failure(InvalidInput(field="name", reason="must be 1 to 200 characters"))
        async with self.uow() as uow:
            place = await _managed_place(uow, caller, place_id)
            if isinstance(place, Failure):
                return place
            resource = Resource(
                id=ResourceId(new_id()),
                provider_id=place.unwrap().provider_id,
                place_id=place_id,
                name=name.strip(),
            )
            await uow.resources.add(resource)
            await uow.commit()
        return Success(resource)


@attrs.frozen(kw_only=True)
class NewOffering:
    place_id: PlaceId
    kind: OfferingKind
    name: str
    category: str
    price: Money
    rules: BookingRules
    resource_ids: tuple[ResourceId, ...] = ()
    capacity: int = 1


class CreateOffering(_Service):
    async def __call__(self, caller: Principal, cmd: NewOffering) -> Result[Offering, DomainError]:
        async with self.uow() as uow:
            place = await _managed_place(uow, caller, cmd.place_id)
            if isinstance(place, Failure):
                return place
            for resource_id in cmd.resource_ids:
                resource = await uow.resources.get(resource_id)
                if resource is None or resource.place_id != cmd.place_id:
                    return Failure(NotFound(kind="resource", id=str(resource_id)))
            built = Offering(
                id=OfferingId(new_id()),
                provider_id=place.unwrap().provider_id,
                **attrs.asdict(cmd, recurse=False),
            ).validated()
            if isinstance(built, Failure):
                return built
            await uow.offerings.add(built.unwrap())
            await uow.commit()
        return built


@attrs.frozen(kw_only=True)
class NewSchedule:
    """A one-off run, or the same local wall-clock time every week until `repeat_until`."""

    offering_id: OfferingId
    first_start: datetime  # aware; its wall-clock time in the place's zone repeats weekly
    repeat_until: date | None = None


MAX_OCCURRENCES = 200


class ScheduleSessions(_Service):
    async def __call__(
        self, caller: Principal, cmd: NewSchedule
    ) -> Result[Sequence[Occurrence], DomainError]:
        async with self.uow() as uow:
            offering = await uow.offerings.get(cmd.offering_id)
            if offering is None or offering.kind is not OfferingKind.SESSION:
                return Failure(NotFound(kind="session offering", id=str(cmd.offering_id)))
            place = await _managed_place(uow, caller, offering.place_id)
            if isinstance(place, Failure):
                return place
            starts = availability.weekly_starts(
                cmd.first_start, place.unwrap().zone, cmd.repeat_until, MAX_OCCURRENCES
            )
            if isinstance(starts, Failure):
                return starts
            runs = [
                Occurrence(
                    id=OccurrenceId(new_id()),
                    offering_id=offering.id,
                    during=TimeRange(start, start + offering.rules.duration),
                    capacity=offering.capacity,
                )
                for start in starts.unwrap()
            ]
            await uow.occurrences.add(runs)
            await uow.commit()
        return Success(runs)


# ---------------------------------------------------------------- public reads


@attrs.frozen(kw_only=True)
class Catalog:
    provider: Provider
    places: Sequence[Place]
    resources: Sequence[Resource]
    offerings: Sequence[Offering]


class ListProviders(_Service):
    async def __call__(self, page: Page) -> Sequence[Provider]:
        async with self.uow() as uow:
            return await uow.providers.list(page)


class GetCatalog(_Service):
    async def __call__(self, provider_id: ProviderId) -> Result[Catalog, DomainError]:
        async with self.uow() as uow:
            provider = await uow.providers.get(provider_id)
            if provider is None:
                return Failure(NotFound(kind="provider", id=str(provider_id)))
            return Success(
                Catalog(
                    provider=provider,
                    places=await uow.places.for_provider(provider_id),
                    resources=await uow.resources.for_provider(provider_id),
                    offerings=await uow.offerings.for_provider(provider_id),
                )
            )


class GetOffering(_Service):
    async def __call__(self, offering_id: OfferingId) -> Result[Offering, DomainError]:
        async with self.uow() as uow:
            offering = await uow.offerings.get(offering_id)
        if offering is None:
            return Failure(NotFound(kind="offering", id=str(offering_id)))
        return Success(offering)


async def _free_slots(
    uow: BookingsUnitOfWork, offering: Offering, window: TimeRange, now: datetime
) -> list[Slot]:
    if offering.kind is OfferingKind.SESSION:
        runs = await uow.occurrences.starting_in([offering.id], window)
        taken = await uow.bookings.seats_taken([r.id for r in runs], now)
        return availability.session_slots(offering, runs, taken, window, now)
    place = await uow.places.get(offering.place_id)
    if place is None:
        return []
    hours = await uow.places.hours(place.id)
    # Bookings whose buffers reach into the window still block it.
    reach = offering.rules.duration + offering.rules.buffer_before + offering.rules.buffer_after
    busy = await uow.bookings.busy(offering.resource_ids, window.widen(reach, reach), now)
    return availability.appointment_slots(offering, place.zone, hours, busy, window, now)


class GetAvailability(_Service):
    async def __call__(
        self, offering_id: OfferingId, window: TimeRange
    ) -> Result[Sequence[Slot], DomainError]:
        checked = _window(window)
        if isinstance(checked, Failure):
            return checked
        async with self.uow() as uow:
            offering = await uow.offerings.get(offering_id)
            if offering is None:
                return Failure(NotFound(kind="offering", id=str(offering_id)))
            return Success(await _free_slots(uow, offering, window, self.clock.now()))


class SearchOfferings(_Service):
    """Geo search; with `free_in`, only offerings with a free slot starting in that window."""

    async def __call__(
        self, query: SearchQuery, free_in: TimeRange | None = None
    ) -> Result[Sequence[SearchHit], DomainError]:
        if free_in is None:
            async with self.uow() as uow:
                return Success(await uow.offerings.search(query))
        checked = _window(free_in)
        if isinstance(checked, Failure):
            return checked
        return Success(await self._with_free_slot(query, free_in))

    async def _with_free_slot(self, query: SearchQuery, free_in: TimeRange) -> list[SearchHit]:
        wanted, scanned, found = query.page.limit, 0, list[SearchHit]()
        page = query.page
        now = self.clock.now()
        async with self.uow() as uow:
            while len(found) < wanted and scanned < self.settings.max_search_scan:
                batch = await uow.offerings.search(attrs.evolve(query, page=page))
                for hit in batch:
                    if await _free_slots(uow, hit.offering, free_in, now):
                        found.append(hit)
                        if len(found) == wanted:
                            break
                scanned += len(batch)
                if len(batch) < page.limit:
                    break
                page = attrs.evolve(page, after=batch[-1].cursor)
        return found


# ---------------------------------------------------------------- bookings


@attrs.frozen(kw_only=True)
class SlotRequest:
    """Appointments name `start` (and optionally a resource); sessions name the occurrence."""

    offering_id: OfferingId
    start: datetime | None = None
    resource_id: ResourceId | None = None
    occurrence_id: OccurrenceId | None = None
    seats: int = 1


class _BookingService(_Service):
    async def _new_booking(
        self, uow: BookingsUnitOfWork, caller: Principal, req: SlotRequest, now: datetime
    ) -> Result[Booking, DomainError]:
        """Build a hold for the request and write it with the database's integrity checks."""
        if not 1 <= req.seats <= MAX_SEATS_PER_BOOKING:
            return Failure(InvalidInput(field="seats", reason=f"1 to {MAX_SEATS_PER_BOOKING}"))
        offering = await uow.offerings.get(req.offering_id)
        if offering is None:
            return Failure(NotFound(kind="offering", id=str(req.offering_id)))
        if offering.kind is OfferingKind.SESSION:
            return await self._hold_seats(uow, caller, offering, req, now)
        return await self._hold_appointment(uow, caller, offering, req, now)

    def _hold(
        self, caller: Principal, offering: Offering, during: TimeRange, now: datetime
    ) -> Booking:
        rules = offering.rules
        return Booking(
            id=BookingId(new_id()),
            offering_id=offering.id,
            provider_id=offering.provider_id,
            customer_id=caller.user_id,
            kind=offering.kind,
            during=during,
            blocked=during.widen(rules.buffer_before, rules.buffer_after),
            price=offering.price,
            status=BookingStatus.HELD,
            hold_expires_at=now + self.settings.hold_ttl,
            created_at=now,
        )

    async def _hold_appointment(
        self,
        uow: BookingsUnitOfWork,
        caller: Principal,
        offering: Offering,
        req: SlotRequest,
        now: datetime,
    ) -> Result[Booking, DomainError]:
        if req.start is None or req.seats != 1:
            return Failure(InvalidInput(field="start", reason="appointments need start, 1 seat"))
        start = to_utc(req.start)  # callers may pass any aware time; ranges are UTC
        if not offering.rules.bookable(start, now):
            return Failure(OutsideBookingWindow(reason="start is before lead time or past horizon"))
        probe = TimeRange(start, start + timedelta(seconds=1))
        offered = [
            s for s in await _free_slots(uow, offering, probe, now) if s.during.start == start
        ]
        if not offered:
            return Failure(SlotUnavailable(reason="no free slot starts at that time"))
        candidates = offered[0].resource_ids
        if req.resource_id is not None:
            candidates = tuple(r for r in candidates if r == req.resource_id)
        for resource_id in candidates:
            booking = attrs.evolve(
                self._hold(caller, offering, offered[0].during, now), resource_id=resource_id
            )
            added = await uow.bookings.add_exclusive(booking, now)
            if isinstance(added, Success):
                return Success(booking)
        return Failure(SlotUnavailable())

    async def _hold_seats(
        self,
        uow: BookingsUnitOfWork,
        caller: Principal,
        offering: Offering,
        req: SlotRequest,
        now: datetime,
    ) -> Result[Booking, DomainError]:
        if req.occurrence_id is None:
            return Failure(InvalidInput(field="occurrence_id", reason="sessions need a run"))
        run = await uow.occurrences.get(req.occurrence_id)
        if run is None or run.offering_id != offering.id:
            return Failure(NotFound(kind="occurrence", id=str(req.occurrence_id)))
        if not offering.rules.bookable(run.during.start, now):
            return Failure(OutsideBookingWindow(reason="run is before lead time or past horizon"))
        booking = attrs.evolve(
            self._hold(caller, offering, run.during, now),
            occurrence_id=run.id,
            seats=req.seats,
            price=offering.price.times(req.seats),
        )
        added = await uow.bookings.add_seated(booking, run.capacity, now)
        if isinstance(added, Failure):
            return added
        return Success(booking)


class HoldSlot(_BookingService):
    async def __call__(self, caller: Principal, req: SlotRequest) -> Result[Booking, DomainError]:
        now = self.clock.now()
        async with self.uow() as uow:
            held = await self._new_booking(uow, caller, req, now)
            if isinstance(held, Failure):
                return held
            await uow.outbox.add(held.unwrap().held_event())
            await uow.commit()
        return held


async def _visible(
    uow: BookingsUnitOfWork, caller: Principal, booking_id: BookingId, *, staff_only: bool
) -> Result[Booking, DomainError]:
    """A booking its customer, its provider's staff or an admin may see; others get 404."""
    booking = await uow.bookings.get(booking_id)
    if booking is None:
        return Failure(NotFound(kind="booking", id=str(booking_id)))
    if caller.manages(booking.provider_id):
        return may_manage(caller, booking.provider_id).map(lambda _: booking)
    if booking.customer_id == caller.user_id and not staff_only:
        return Success(booking)
    return Failure(NotFound(kind="booking", id=str(booking_id)))


class GetBooking(_Service):
    async def __call__(
        self, caller: Principal, booking_id: BookingId
    ) -> Result[Booking, DomainError]:
        async with self.uow() as uow:
            return await _visible(uow, caller, booking_id, staff_only=False)


class ListMyBookings(_Service):
    async def __call__(self, caller: Principal, page: Page) -> Sequence[Booking]:
        async with self.uow() as uow:
            return await uow.bookings.for_customer(caller.user_id, page)


class ListProviderBookings(_Service):
    async def __call__(
        self, caller: Principal, provider_id: ProviderId, page: Page
    ) -> Result[Sequence[Booking], DomainError]:
        async with self.uow() as uow:
            provider = await _managed_provider(uow, caller, provider_id)
            if isinstance(provider, Failure):
                return provider
            return Success(await uow.bookings.for_provider(provider_id, page))


class _Transition(_Service):
    """Load, check who may act, apply the transition, write it iff nobody moved it first."""

    staff_only = False

    def _apply(self, booking: Booking, at: datetime) -> Result[tuple[Booking, Event], DomainError]:
        raise NotImplementedError

    async def __call__(
        self, caller: Principal, booking_id: BookingId
    ) -> Result[Booking, DomainError]:
        now = self.clock.now()
        async with self.uow() as uow:
            found = await _visible(uow, caller, booking_id, staff_only=self.staff_only)
            if isinstance(found, Failure):
                return found
            booking = found.unwrap()
            moved = self._apply(booking, now)
            if isinstance(moved, Failure):
                return moved
            after, event = moved.unwrap()
            if not await uow.bookings.save(after, booking.status, now):
                return Failure(_moved_meanwhile(booking))
            await uow.outbox.add(event)
            await uow.commit()
        return Success(after)


def _moved_meanwhile(booking: Booking) -> DomainError:
    if booking.status is BookingStatus.HELD:
        return HoldExpired()
    return SlotUnavailable(reason="the booking changed meanwhile; reload it")


class ConfirmBooking(_Transition):
    """Confirms a hold (payment plugs in here later)."""

    def _apply(self, booking: Booking, at: datetime) -> Result[tuple[Booking, Event], DomainError]:
        return booking.confirm(at)


class CancelBooking(_Transition):
    def _apply(self, booking: Booking, at: datetime) -> Result[tuple[Booking, Event], DomainError]:
        return booking.cancel(at)


class CompleteBooking(_Transition):
    staff_only = True

    def _apply(self, booking: Booking, at: datetime) -> Result[tuple[Booking, Event], DomainError]:
        return booking.complete(at)


class MarkNoShow(_Transition):
    staff_only = True

    def _apply(self, booking: Booking, at: datetime) -> Result[tuple[Booking, Event], DomainError]:
        return booking.no_show(at)


class RescheduleBooking(_BookingService):
    """Moves a booking atomically: the old slot is released only in the transaction that
    secures the new one, so a failure leaves the original booking untouched."""

    async def __call__(
        self, caller: Principal, booking_id: BookingId, to: SlotRequest
    ) -> Result[Booking, DomainError]:
        now = self.clock.now()
        async with self.uow() as uow:
            found = await _visible(uow, caller, booking_id, staff_only=False)
            if isinstance(found, Failure):
                return found
            old = found.unwrap()
            if to.offering_id != old.offering_id:
                return Failure(InvalidInput(field="offering_id", reason="same offering only"))
            released = old.replace(now)
            if isinstance(released, Failure):
                return released
            replaced, event = released.unwrap()
            if not await uow.bookings.save(replaced, old.status, now):
                return Failure(SlotUnavailable(reason="the booking changed meanwhile; reload it"))
            customer = attrs.evolve(caller, user_id=old.customer_id)
            moved = await self._new_booking(uow, customer, to, now)
            if isinstance(moved, Failure):
                return moved  # leaving without commit rolls the release back
            new = attrs.evolve(
                moved.unwrap(),
                status=old.status,
                hold_expires_at=old.hold_expires_at,
                rescheduled_from=old.id,
            )
            await uow.bookings.save(new, BookingStatus.HELD, now)
            await uow.outbox.add(event, new.held_event())
            await uow.commit()
        return Success(new)
