"""The catalog: providers, their places, opening hours, resources, offerings and scheduled
sessions, managed by admins and provider staff and read by anyone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import attrs
from returns.result import Failure, Result, Success

from core.bookings import availability
from core.bookings.cursors import id_cursor
from core.bookings.model import (
    Address,
    BookingRules,
    DatedException,
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
from core.bookings.service import BookingsUseCase, managed_provider
from core.shared.errors import DomainError, NotFound
from core.shared.events import Event
from core.shared.geo import GeoPoint
from core.shared.ids import OccurrenceId, OfferingId, PlaceId, ProviderId, ResourceId, new_id
from core.shared.money import Money
from core.shared.principal import Principal, require_admin
from core.shared.text import clean_text
from core.shared.time import Clock, TimeRange
from core.shared.unit_of_work import PUBLIC, Access


async def _managed_place(
    uow: BookingsUnitOfWork, caller: Principal, place_id: PlaceId
) -> Result[Place, DomainError]:
    place = await uow.places.get(place_id)
    if place is None:
        return Failure(NotFound(kind="place", id=str(place_id)))
    return (await managed_provider(uow, caller, place.provider_id)).map(lambda _: place)


# ---------------------------------------------------------------- catalog management


class CreateProvider(BookingsUseCase):
    async def __call__(self, caller: Principal, name: str) -> Result[Provider, DomainError]:
        allowed = require_admin(caller)
        if isinstance(allowed, Failure):
            return Failure(allowed.failure())
        created = Provider.create(ProviderId(new_id()), name)
        if isinstance(created, Failure):
            return created
        provider = created.unwrap()
        async with self.uow(Access.of(caller)) as uow:
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


class AddPlace(BookingsUseCase):
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
        async with self.uow(Access.of(caller)) as uow:
            provider = await managed_provider(uow, caller, cmd.provider_id)
            if isinstance(provider, Failure):
                return provider
            await uow.places.add(built.unwrap())
            await uow.commit()
        return built


class SetOpeningHours(BookingsUseCase):
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
        async with self.uow(Access.of(caller)) as uow:
            place = await _managed_place(uow, caller, place_id)
            if isinstance(place, Failure):
                return place
            await uow.places.set_hours(hours.unwrap())
            await uow.commit()
        return hours


class AddResource(BookingsUseCase):
    async def __call__(
        self, caller: Principal, place_id: PlaceId, name: str
    ) -> Result[Resource, DomainError]:
        cleaned = clean_text("name", name)
        if isinstance(cleaned, Failure):
            return cleaned
        async with self.uow(Access.of(caller)) as uow:
            place = await _managed_place(uow, caller, place_id)
            if isinstance(place, Failure):
                return place
            resource = Resource(
                id=ResourceId(new_id()),
                provider_id=place.unwrap().provider_id,
                place_id=place_id,
                name=cleaned.unwrap(),
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


class CreateOffering(BookingsUseCase):
    async def __call__(self, caller: Principal, cmd: NewOffering) -> Result[Offering, DomainError]:
        async with self.uow(Access.of(caller)) as uow:
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


class ScheduleSessions(BookingsUseCase):
    async def __call__(
        self, caller: Principal, cmd: NewSchedule
    ) -> Result[Sequence[Occurrence], DomainError]:
        async with self.uow(Access.of(caller)) as uow:
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


class ListProviders(BookingsUseCase):
    async def __call__(self, page: Page) -> Result[Sequence[Provider], DomainError]:
        checked = id_cursor(page.after)  # any id is a position in a list ordered by id
        if isinstance(checked, Failure):
            return checked
        async with self.uow(PUBLIC) as uow:
            return Success(await uow.providers.list(page))


class GetCatalog(BookingsUseCase):
    async def __call__(self, provider_id: ProviderId) -> Result[Catalog, DomainError]:
        async with self.uow(PUBLIC) as uow:
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


class GetOffering(BookingsUseCase):
    async def __call__(self, offering_id: OfferingId) -> Result[Offering, DomainError]:
        async with self.uow(PUBLIC) as uow:
            offering = await uow.offerings.get(offering_id)
        if offering is None:
            return Failure(NotFound(kind="offering", id=str(offering_id)))
        return Success(offering)
