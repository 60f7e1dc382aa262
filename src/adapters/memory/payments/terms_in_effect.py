"""`TermsInEffect` over any payments unit of work (the memory store's, in tests)."""

from __future__ import annotations

from datetime import datetime

from core.payments.ports import PaymentsUnitOfWork, TermsInEffect
from core.payments.terms import OfferingTerms
from core.shared.ids import OfferingId
from core.shared.unit_of_work import PUBLIC, UnitOfWorkFactory


class UnitOfWorkTermsInEffect(TermsInEffect):
    def __init__(self, uow: UnitOfWorkFactory[PaymentsUnitOfWork]) -> None:
        self._uow = uow

    async def at(self, offering_id: OfferingId, at: datetime) -> OfferingTerms | None:
        async with self._uow(PUBLIC) as uow:
            return await uow.terms.in_effect_at(offering_id, at)
