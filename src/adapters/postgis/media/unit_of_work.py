"""The media unit of work: one connection and transaction, photos, owners and jobs."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis.media.photos import (
    PostgisCatalogOwners,
    PostgisMediaJobs,
    PostgisPhotoRepository,
)
from adapters.postgis.unit_of_work import PostgisUnitOfWork
from core.media import MediaUnitOfWork
from core.shared.unit_of_work import Access, UnitOfWorkFactory


class PostgisMediaUnitOfWork(PostgisUnitOfWork, MediaUnitOfWork):
    def __init__(self, engine: AsyncEngine, access: Access) -> None:
        super().__init__(engine, access)
        self.photos = PostgisPhotoRepository(self)
        self.owners = PostgisCatalogOwners(self)
        self.jobs = PostgisMediaJobs(self)

    @classmethod
    def factory(cls, engine: AsyncEngine) -> UnitOfWorkFactory[PostgisMediaUnitOfWork]:
        """What the use cases hold: a fresh unit of work per call."""

        def open_unit(access: Access) -> PostgisMediaUnitOfWork:
            return cls(engine, access)

        return open_unit
