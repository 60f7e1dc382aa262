"""Messages: planned once per dedupe key, moved forward only.

`add` inserts ON CONFLICT DO NOTHING, so a redelivered event plans nothing twice. `update` is a
compare-and-set (WHERE status = the status the writer read): a report that `advance` committed
after that read makes it match nothing, and the writer reads again. `advance`
is one conditional UPDATE whose WHERE compares ranks (`MessageStatus.rank`, as a CASE over the
status column): concurrent reports of one message serialise on its row, and PostgreSQL
re-checks the WHERE against the row the earlier one left, so the highest rank wins whatever the
order of arrival. Lists are newest first with a keyset cursor: (created_at, id) below the
cursor message's.

A message's address is sealed under its recipient's key (`PersonalData`, field
"messaging.address"; migration 0016) and opens to None once the recipient was erased. It is
written once, on `add`: updates never seal again. Errors are kept without addresses: a
provider's bounce reason or refusal may quote the address or number, and is scrubbed first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from adapters.postgis.messaging.personal import ADDRESS, scrub
from adapters.postgis.messaging.tables import messages
from adapters.postgis.sql import Row
from adapters.postgis.unit_of_work import PostgisPart, PostgisUnitOfWork
from core.messaging.model import (
    Channel,
    Message,
    MessageId,
    MessageKind,
    MessageStatus,
    StatusReport,
)
from core.messaging.ports import Messages
from core.shared.ids import BookingId, EventId, ProviderId, UserId
from core.shared.personal import PersonalData
from core.shared.time import to_utc

M = messages.c
MAX_PAGE = 500


def rank_of(status: sa.ColumnElement[Any]) -> sa.ColumnElement[int]:
    """`MessageStatus.rank` in SQL: the domain's table, not a copy of it."""
    return sa.case({s.value: s.rank for s in MessageStatus}, value=status, else_=-1)


def _values(message: Message) -> dict[str, Any]:
    """The columns an update may write (never the sealed address)."""
    return {
        "dedupe_key": message.dedupe_key,
        "kind": message.kind.value,
        "channel": message.channel.value,
        "recipient_id": message.recipient_id,
        "locale": message.locale,
        "event_id": message.event_id,
        "booking_id": message.booking_id,
        "provider_id": message.provider_id,
        "status": message.status.value,
        "provider_message_id": message.provider_message_id,
        "attempts": message.attempts,
        "last_error": scrub(message.last_error, message.address),
        "created_at": message.created_at,
        "updated_at": message.updated_at,
    }


def _message(row: Row, address: str | None) -> Message:
    return Message(
        id=MessageId(row.id),
        dedupe_key=row.dedupe_key,
        kind=MessageKind(row.kind),
        channel=Channel(row.channel),
        recipient_id=UserId(row.recipient_id) if row.recipient_id is not None else None,
        address=address,
        locale=row.locale,
        event_id=EventId(row.event_id) if row.event_id is not None else None,
        booking_id=BookingId(row.booking_id) if row.booking_id is not None else None,
        provider_id=ProviderId(row.provider_id) if row.provider_id is not None else None,
        status=MessageStatus(row.status),
        provider_message_id=row.provider_message_id,
        attempts=row.attempts,
        last_error=row.last_error,
        created_at=to_utc(row.created_at),
        updated_at=to_utc(row.updated_at),
    )


class PostgisMessages(PostgisPart, Messages):
    def __init__(self, uow: PostgisUnitOfWork, personal: PersonalData) -> None:
        super().__init__(uow)
        self._personal = personal

    async def _open(self, row: Row) -> Message:
        address = await self._personal.open(row.recipient_id, row.address_sealed, field=ADDRESS)
        return _message(row, address)

    async def add(self, message: Message) -> bool:
        if message.recipient_id is None or message.address is None:
            raise ValueError("a message needs a recipient and an address: it is sealed for them")
        sealed = await self._personal.seal(message.recipient_id, message.address, field=ADDRESS)
        statement = (
            insert(messages)
            .values(id=message.id, address_sealed=sealed, **_values(message))
            # No named target: naming one would need the read policy on the conflicting row.
            .on_conflict_do_nothing()
            .execution_options(preserve_rowcount=True)
        )
        return (await self._run(statement)).rowcount == 1

    async def get(self, message_id: MessageId) -> Message | None:
        row = (await self._run(messages.select().where(M.id == message_id))).first()
        return await self._open(row) if row is not None else None

    async def by_provider_id(self, provider_message_id: str) -> Message | None:
        query = messages.select().where(M.provider_message_id == provider_message_id)
        row = (await self._run(query)).first()
        return await self._open(row) if row is not None else None

    async def update(self, message: Message, *, expected: MessageStatus) -> bool:
        values = _values(message)
        del values["created_at"], values["dedupe_key"]  # never change
        statement = (
            messages.update()
            .where(M.id == message.id, M.status == expected.value)
            .values(**values)
            .execution_options(preserve_rowcount=True)
        )
        return (await self._run(statement)).rowcount == 1

    async def advance(self, report: StatusReport) -> Message | None:
        # Our id when the provider echoes it and we know it, else the provider's id. (Never
        # `== None`: SQLAlchemy would make it IS NULL and match any message not sent yet.)
        known = messages.alias("known").c
        candidates = [
            sa.select(known.id).where(column == value).scalar_subquery()
            for column, value in (
                (known.id, report.message_id),
                (known.provider_message_id, report.provider_message_id),
            )
            if value is not None
        ]
        if not candidates:
            return None
        which = M.id == sa.func.coalesce(*candidates)
        statement = (
            messages.update()
            .where(which, rank_of(M.status) < report.status.rank)
            .values(
                status=report.status.value,
                last_error=sa.func.coalesce(scrub(report.detail), M.last_error),
                provider_message_id=sa.func.coalesce(
                    M.provider_message_id, report.provider_message_id
                ),
                updated_at=sa.func.greatest(M.updated_at, report.at),
            )
            .returning(*messages.c)
        )
        row = (await self._run(statement)).first()
        return await self._open(row) if row is not None else None

    async def list(
        self,
        *,
        recipient_id: UserId | None = None,
        provider_id: ProviderId | None = None,
        status: MessageStatus | None = None,
        before: MessageId | None = None,
        limit: int = 50,
    ) -> Sequence[Message]:
        query = messages.select().order_by(M.created_at.desc(), M.id.desc())
        query = query.limit(max(0, min(limit, MAX_PAGE)))
        if recipient_id is not None:
            query = query.where(M.recipient_id == recipient_id)
        if provider_id is not None:
            query = query.where(M.provider_id == provider_id)
        if status is not None:
            query = query.where(M.status == status.value)
        if before is not None:
            # Read first, so the page itself is a plain range scan of a newest-first index.
            cursor = (await self._run(sa.select(M.created_at).where(M.id == before))).first()
            if cursor is None:
                return []
            query = query.where(sa.tuple_(M.created_at, M.id) < (cursor.created_at, before))
        return [await self._open(row) for row in await self._run(query)]
