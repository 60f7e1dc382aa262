"""Offering terms: versions, never edited; the primary key (offering, version) lets only one
writer add a given version."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis.one_trip import one_trip
from adapters.postgis.payments.tables import offering_terms
from adapters.postgis.unit_of_work import PostgisPart
from core.payments.ports import TermsInEffect, TermsRepository
from core.payments.terms import OfferingTerms, from_snapshot
from core.shared.ids import OfferingId
from core.shared.unit_of_work import PUBLIC

T = offering_terms.c


class PostgisTermsRepository(PostgisPart, TermsRepository):
    async def add(self, terms: OfferingTerms) -> bool:
        if terms.offering_id is None:
            raise ValueError("the platform default terms are settings, not rows")
        statement = (
            insert(offering_terms)
            .values(
                offering_id=terms.offering_id,
                version=terms.version,
                effective_from=terms.effective_from,
                terms=dict(terms.snapshot()),
            )
            .on_conflict_do_nothing(index_elements=[T.offering_id, T.version])
            .execution_options(preserve_rowcount=True)  # an INSERT's count is not kept by default
        )
        return (await self._run(statement)).rowcount == 1

    async def latest(self, offering_id: OfferingId) -> OfferingTerms | None:
        return await self._newest(T.offering_id == offering_id)

    async def in_effect_at(self, offering_id: OfferingId, at: datetime) -> OfferingTerms | None:
        return await self._newest(sa.and_(T.offering_id == offering_id, T.effective_from <= at))

    async def _newest(self, where: sa.ColumnElement[bool]) -> OfferingTerms | None:
        query = sa.select(T.terms).where(where).order_by(T.version.desc()).limit(1)
        snapshot = (await self._run(query)).scalar_one_or_none()
        return None if snapshot is None else from_snapshot(snapshot)


_IN_EFFECT_AT = (
    "SELECT terms FROM offering_terms WHERE offering_id = %(offering_id)s"
    " AND effective_from <= %(at)s ORDER BY version DESC LIMIT 1"
)


class PostgisTermsInEffect(TermsInEffect):
    """`in_effect_at` in one round trip of its own (adapters.postgis.one_trip)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def at(self, offering_id: OfferingId, at: datetime) -> OfferingTerms | None:
        values = {"offering_id": offering_id, "at": at}
        [rows] = await one_trip(self._engine, PUBLIC, [(_IN_EFFECT_AT, values)], end="rollback")
        return from_snapshot(rows[0]["terms"]) if rows else None
