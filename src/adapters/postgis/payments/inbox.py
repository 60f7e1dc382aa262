"""The processor's events by id: a redelivery inserts nothing, and workers claim due events
with FOR UPDATE SKIP LOCKED, so two never handle the same event at once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from adapters.postgis.payments.tables import processor_events
from adapters.postgis.unit_of_work import PostgisPart
from core.payments.ports import InboxItem, ProcessorEvent, ProcessorInbox
from core.shared.time import to_utc

V = processor_events.c
# Never attempted nor leased (recorded with next_attempt_at = received_at): due to every
# claimer, whatever its clock says.
_UNTOUCHED = sa.and_(V.attempts == 0, V.next_attempt_at == V.received_at)


class PostgisProcessorInbox(PostgisPart, ProcessorInbox):
    async def record(self, event: ProcessorEvent, received_at: datetime) -> bool:
        statement = (
            insert(processor_events)
            .values(
                id=event.id,
                type=event.type,
                object_id=event.object_id,
                account_ref=event.account_ref,
                created_at=event.created_at,
                received_at=received_at,
                attempts=0,
                next_attempt_at=received_at,
            )
            .on_conflict_do_nothing()  # no named target: it would need the read policy
            .execution_options(preserve_rowcount=True)  # an INSERT's count is not kept by default
        )
        return (await self._run(statement)).rowcount == 1

    async def claim(self, now: datetime, limit: int) -> Sequence[InboxItem]:
        query = (
            processor_events.select()
            .where(V.processed_at.is_(None), sa.or_(_UNTOUCHED, V.next_attempt_at <= now))
            .order_by(V.received_at, V.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [
            InboxItem(
                event=ProcessorEvent(
                    id=row.id,
                    type=row.type,
                    object_id=row.object_id,
                    account_ref=row.account_ref,
                    created_at=to_utc(row.created_at),
                ),
                attempts=row.attempts,
                last_error=row.last_error,
            )
            for row in await self._run(query)
        ]

    async def lease(self, event_ids: Sequence[str], until: datetime) -> None:
        if event_ids:
            await self._run(
                processor_events.update().where(V.id.in_(event_ids)).values(next_attempt_at=until)
            )

    async def done(self, event_id: str, at: datetime) -> None:
        await self._run(
            processor_events.update()
            .where(V.id == event_id)
            .values(processed_at=at, attempts=V.attempts + 1)
        )

    async def failed(self, event_id: str, error: str, retry_at: datetime) -> None:
        await self._run(
            processor_events.update()
            .where(V.id == event_id)
            .values(last_error=error, next_attempt_at=retry_at, attempts=V.attempts + 1)
        )
