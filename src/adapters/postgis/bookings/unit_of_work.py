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
from adapters.postgis.replica import ReplicaReads
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


class ReplicaBookingsUnitOfWork(PostgisBookingsUnitOfWork):
    """replica (ADR 34): the unit of work of use cases that only read the public catalog, on
    the replica when the reader may read there (`ReplicaReads.run`), else on the primary;
    a replica that cannot be reached leaves the read to the primary. It never commits: a
    write on a replica fails (read-only transaction), loudly."""

    def __init__(self, replicas: ReplicaReads, access: Access) -> None:
        super().__init__(replicas.primary, access)
        self._replicas = replicas

    async def __aenter__(self) -> Self:
        enter = super().__aenter__

        async def enter_on(engine: AsyncEngine) -> Self:
            self._engine = engine
            return await enter()

        return await self._replicas.run(enter_on)


def bookings_read_unit_of_work(
    engine: AsyncEngine, replicas: ReplicaReads | None, access: Access
) -> PostgisBookingsUnitOfWork:
    """replica (ADR 34): a read-only use case's unit of work, on a replica when one is set."""
    if replicas is None:
        return PostgisBookingsUnitOfWork(engine, access)
    return ReplicaBookingsUnitOfWork(replicas, access)
