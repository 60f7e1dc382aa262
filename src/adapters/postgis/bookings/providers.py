"""Providers: the businesses that offer bookings."""

from __future__ import annotations

from collections.abc import Sequence

from adapters.postgis.bookings.tables import providers
from adapters.postgis.unit_of_work import PostgisPart
from core.bookings.cursors import parse_uuid
from core.bookings.model import Provider
from core.bookings.ports import Page, ProviderRepository
from core.shared.ids import ProviderId


class PostgisProviderRepository(PostgisPart, ProviderRepository):
    async def add(self, provider: Provider) -> None:
        await self._conn.execute(providers.insert().values(id=provider.id, name=provider.name))

    async def get(self, id: ProviderId) -> Provider | None:
        row = (await self._conn.execute(providers.select().where(providers.c.id == id))).first()
        return None if row is None else Provider(id=ProviderId(row.id), name=row.name)

    async def list(self, page: Page) -> Sequence[Provider]:
        query = providers.select().order_by(providers.c.id).limit(page.limit)
        if page.after is not None:
            after = parse_uuid(page.after)
            if after is None:
                return []
            query = query.where(providers.c.id > after)
        rows = await self._conn.execute(query)
        return [Provider(id=ProviderId(row.id), name=row.name) for row in rows]
