"""The transaction plumbing every PostGIS unit of work shares, and the one outbox they write.

One connection and one transaction per unit of work (per use-case call); whatever was not
committed is rolled back on leaving. Outbox rows go into that same transaction, so an event
exists exactly when the change that caused it does.

The transaction carries its caller (`Access`) in transaction-local settings (`app.user_id`,
`app.provider_ids`, `app.all_rows`, `app.key`) that the row-level security policies of migration
0004 read. They are sent in one pipeline with the BEGIN, which psycopg sends in a round trip of
its own anyway: the caller costs no extra round trip.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

import psycopg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.postgis.metadata import outbox
from adapters.postgis.write_marks import WRITTEN_LSN, marks_of, note_write
from core.shared.events import Event
from core.shared.ids import EventId, UserId
from core.shared.request_id import current_request_id
from core.shared.time import to_utc
from core.shared.unit_of_work import Access, Outbox

SET_CALLER = (
    "SELECT set_config('app.user_id', %(user_id)s, true),"
    " set_config('app.provider_ids', %(provider_ids)s, true),"
    " set_config('app.all_rows', %(all_rows)s, true),"
    " set_config('app.key', %(key)s, true),"
    # The request (or job) this transaction works for: outbox rows and jobs written in it
    # take it as their default (migration 0024, docs/adr/0033). Same pipeline: no extra trip.
    " set_config('app.request_id', %(request_id)s, true)"
)
SET_USER = sa.text("SELECT set_config('app.user_id', :user_id, true)")


def caller_settings(access: Access) -> dict[str, str]:
    """The settings' values: text, '' for none (a setting once set cannot be unset)."""
    return {
        "user_id": str(access.user_id or ""),
        "provider_ids": "{" + ",".join(sorted(map(str, access.provider_ids))) + "}",
        "all_rows": "on" if access.all_rows else "",
        "key": access.key or "",
        "request_id": current_request_id() or "",
    }


class PostgisUnitOfWork:
    """Base of the contexts' units of work: they add repositories built on `self`, which reach
    the connection through `connection` once the block is entered."""

    def __init__(self, engine: AsyncEngine, access: Access) -> None:
        self._engine = engine
        self._access = access
        self._connection: AsyncConnection | None = None
        self.outbox: Outbox = PostgisOutbox(self)

    @property
    def connection(self) -> AsyncConnection:
        if self._connection is None:
            raise RuntimeError("use the unit of work inside `async with`")
        return self._connection

    async def __aenter__(self) -> Self:
        connection = await self._engine.connect()
        try:
            await connection.begin()  # SQLAlchemy's bookkeeping only: no statement is sent
            driver = (await connection.get_raw_connection()).driver_connection
            if not isinstance(driver, psycopg.AsyncConnection):
                raise TypeError("PostgisUnitOfWork needs the psycopg driver")
            # psycopg queues its BEGIN in the pipeline too: both travel in one round trip.
            async with driver.pipeline():
                await driver.execute(SET_CALLER, caller_settings(self._access))
        except BaseException:
            await connection.close()
            raise
        self._connection = connection
        return self

    async def act_as(self, user_id: UserId) -> None:
        await self.connection.execute(SET_USER, {"user_id": str(user_id)})

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, self._connection = self.connection, None
        try:
            await connection.rollback()  # whatever was not committed
        finally:
            await connection.close()

    async def commit(self) -> None:
        await self.connection.commit()
        marks = marks_of(self._engine, self._access)
        if marks is not None:  # read-your-writes (write_marks.py): one more trip, after COMMIT
            await note_write(marks, self._access, await _written_lsn(self.connection))


class PostgisPart:
    """A repository of a PostGIS unit of work."""

    def __init__(self, uow: PostgisUnitOfWork) -> None:
        self._uow = uow

    @property
    def _conn(self) -> AsyncConnection:
        return self._uow.connection

    async def _run(self, statement: sa.Executable) -> sa.CursorResult[Any]:
        return await self._conn.execute(statement)


class PostgisOutbox(PostgisPart, Outbox):
    async def add(self, *events: Event) -> None:
        if not events:
            return
        await self._conn.execute(
            outbox.insert(),
            [
                {
                    "id": event.id,
                    "name": event.name,
                    "occurred_at": event.occurred_at,
                    "payload": event.payload,
                }
                for event in events
            ],
        )


async def outbox_event(connection: AsyncConnection, event_id: EventId) -> Event | None:
    """The event the outbox holds under `event_id`, as it was added; None if it holds none."""
    o = outbox.c
    query = sa.select(o.id, o.name, o.occurred_at, o.payload).where(o.id == event_id)
    row = (await connection.execute(query)).first()
    if row is None:
        return None
    return Event(
        id=EventId(row.id),
        name=row.name,
        occurred_at=to_utc(row.occurred_at),
        payload=dict(row.payload),
    )


async def _written_lsn(connection: AsyncConnection) -> int:
    """The primary's WAL position now, asked outside any transaction (autocommit, so psycopg
    sends no BEGIN of its own first): past the commit record just written."""
    driver = (await connection.get_raw_connection()).driver_connection
    if not isinstance(driver, psycopg.AsyncConnection):
        raise TypeError("PostgisUnitOfWork needs the psycopg driver")
    await driver.set_autocommit(True)
    try:
        cursor = await driver.execute(WRITTEN_LSN)
        row = await cursor.fetchone()
    finally:
        await driver.set_autocommit(False)
    if row is None:
        raise RuntimeError("the WAL position query returned no row")
    lsn: int = row[0]
    return lsn
