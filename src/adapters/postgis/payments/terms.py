"""Offering terms: versions, never edited; the primary key (offering, version) lets only one
writer add a given version."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from adapters.postgis.payments.tables import offering_terms
from adapters.postgis.unit_of_work import PostgisPart
from core.payments.ports import TermsRepository
from core.payments.terms import OfferingTerms, from_snapshot
from core.shared.ids import OfferingId

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
