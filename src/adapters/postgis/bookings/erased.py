"""Which customers were erased: the tombstones of `person_keys` (adapters/postgis/personal.py).

Erasure shreds a person's data key and keeps the row with `shredded_at` (docs/adr/0025); a
booking of theirs stays in its provider's schedule and is shown as "erased customer". One
query per page of bookings, by the table's primary key; the table has no row-level security
(it holds no personal value: ids, times and wrapped keys, of which this reads none).
"""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from adapters.postgis.personal import person_keys
from adapters.postgis.unit_of_work import PostgisPart
from core.bookings.ports import ErasedCustomers
from core.shared.ids import UserId


class PostgisErasedCustomers(PostgisPart, ErasedCustomers):
    async def among(self, ids: Collection[UserId]) -> frozenset[UserId]:
        if not ids:
            return frozenset()
        # `= ANY(array)`: one statement text and one parameter, whatever the page size.
        wanted = sa.bindparam("ids", list(ids), type_=pg.ARRAY(pg.UUID(as_uuid=True)))
        query = sa.select(person_keys.c.person_id).where(
            person_keys.c.shredded_at.is_not(None), person_keys.c.person_id == sa.any_(wanted)
        )
        rows = await self._conn.execute(query)
        return frozenset(UserId(person_id) for person_id in rows.scalars())
