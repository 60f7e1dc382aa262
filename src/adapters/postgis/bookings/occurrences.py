"""Occurrences: the scheduled runs of a session offering."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from adapters.postgis.bookings.tables import occurrences
from adapters.postgis.sql import Row, pg_range, time_range
from adapters.postgis.unit_of_work import PostgisPart
from core.bookings.model import Occurrence
from core.bookings.ports import OccurrenceRepository
from core.shared.ids import OccurrenceId, OfferingId
from core.shared.time import TimeRange


def _occurrence(row: Row) -> Occurrence:
    return Occurrence(
        id=OccurrenceId(row.id),
        offering_id=OfferingId(row.offering_id),
        during=time_range(row.during),
        capacity=row.capacity,
    )


class PostgisOccurrenceRepository(PostgisPart, OccurrenceRepository):
    async def add(self, occurrences_to_add: Sequence[Occurrence]) -> None:
        if not occurrences_to_add:
            return
        await self._conn.execute(
            occurrences.insert(),
            [
                {
                    "id": run.id,
                    "offering_id": run.offering_id,
                    "during": pg_range(run.during),
                    "capacity": run.capacity,
                }
                for run in occurrences_to_add
            ],
        )

    async def get(self, id: OccurrenceId) -> Occurrence | None:
        query = occurrences.select().where(occurrences.c.id == id)
        row = (await self._conn.execute(query)).first()
        return None if row is None else _occurrence(row)

    async def starting_in(
        self, offering_ids: Sequence[OfferingId], window: TimeRange
    ) -> Sequence[Occurrence]:
        start = sa.func.lower(occurrences.c.during)
        query = (
            occurrences.select()
            .where(occurrences.c.offering_id.in_(offering_ids))
            .where(start >= window.start, start < window.end)
            .order_by(start, occurrences.c.id)
        )
        return [_occurrence(row) for row in await self._conn.execute(query)]
