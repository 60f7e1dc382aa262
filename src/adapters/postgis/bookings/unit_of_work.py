"""The bookings unit of work: one connection and transaction, every bookings repository."""

from __future__ import annotations

from collections.abc import Callable
from typing import Self

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis.bookings.bookings import PostgisBookingRepository
from adapters.postgis.bookings.erased import PostgisErasedCustomers
from adapters.postgis.bookings.occurrences import PostgisOccurrenceRepository
from adapters.postgis.bookings.offerings import PostgisOfferingRepository
from adapters.postgis.bookings.places import PostgisPlaceRepository
from adapters.postgis.bookings.providers import PostgisProviderRepository
from adapters.postgis.bookings.resources import PostgisResourceRepository
from adapters.postgis.unit_of_work import PostgisUnitOfWork
from core.bookings.ports import BookingsUnitOfWork
from core.shared.unit_of_work import Access


class PostgisBookingsUnitOfWork(PostgisUnitOfWork, BookingsUnitOfWork):
    def __init__(self, engine: AsyncEngine, access: Access) -> None:
        super().__init__(engine, access)
        self.providers = PostgisProviderRepository(self)
        self.places = PostgisPlaceRepository(self)
        self.resources = PostgisResourceRepository(self)
        self.offerings = PostgisOfferingRepository(self)
        self.occurrences = PostgisOccurrenceRepository(self)
        self.bookings = PostgisBookingRepository(self)
        self.erased_customers = PostgisErasedCustomers(self)

    @classmethod
    def factory(cls, engine: AsyncEngine) -> Callable[[Access], Self]:
        return lambda access: cls(engine, access)
