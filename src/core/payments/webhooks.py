"""Processor events (webhooks): received fast, processed later from the inbox.

Receiving only verifies the signature and stores the event's identity by its id, so a
redelivery is recognised and answered 2xx without doing anything twice. Processing re-reads
each object from the processor, so an event delivered late or out of order cannot move a
payment backwards (see settlement.handle_event).
"""

from __future__ import annotations

import attrs
from returns.result import Failure, Result, Success

from core.payments.model import BadSignature
from core.payments.ports import PaymentsUnitOfWork, WebhookVerifier
from core.payments.service import PaymentsUseCase
from core.payments.settlement import process_events
from core.shared.time import Clock
from core.shared.unit_of_work import MAINTENANCE, UnitOfWorkFactory
from core.shared.use_case import UseCase


@attrs.frozen(kw_only=True)
class ReceiveProcessorEvent(UseCase):
    """No processor call here: the processor waits for our answer."""

    uow: UnitOfWorkFactory[PaymentsUnitOfWork]
    verifier: WebhookVerifier
    clock: Clock

    async def __call__(self, payload: bytes, signature: str) -> Result[bool, BadSignature]:
        """True for an event seen for the first time, False for a redelivery."""
        verified = self.verifier.verify(payload, signature)
        if isinstance(verified, Failure):
            return verified
        async with self.uow(MAINTENANCE) as uow:
            new = await uow.inbox.record(verified.unwrap(), self.clock.now())
            await uow.commit()
        return Success(new)


class ProcessProcessorEvents(PaymentsUseCase):
    """Handle the events due in the inbox; returns how many were attempted."""

    async def __call__(self, limit: int = 50) -> int:
        return await process_events(self, limit)
