"""Resources: what an appointment occupies (a court, a chair, a room)."""

from __future__ import annotations

from collections.abc import Sequence

from adapters.postgis.bookings.tables import resources
from adapters.postgis.sql import Row
from adapters.postgis.unit_of_work import PostgisPart
from core.bookings.model import Resource
from core.bookings.ports import ResourceRepository
from core.shared.ids import PlaceId, ProviderId, ResourceId


class PostgisResourceRepository(PostgisPart, ResourceRepository):
    async def add(self, resource: Resource) -> None:
        await self._conn.execute(
            resources.insert().values(
                id=resource.id,
                provider_id=resource.provider_id,
                place_id=resource.place_id,
                name=resource.name,
            )
        )

    async def get(self, id: ResourceId) -> Resource | None:
        row = (await self._conn.execute(resources.select().where(resources.c.id == id))).first()
        return None if row is None else self._resource(row)

    async def for_provider(self, provider_id: ProviderId) -> Sequence[Resource]:
        query = (
            resources.select()
            .where(resources.c.provider_id == provider_id)
            .order_by(resources.c.id)
        )
        return [self._resource(row) for row in await self._conn.execute(query)]

    @staticmethod
    def _resource(row: Row) -> Resource:
        return Resource(
            id=ResourceId(row.id),
            provider_id=ProviderId(row.provider_id),
            place_id=PlaceId(row.place_id),
            name=row.name,
        )
