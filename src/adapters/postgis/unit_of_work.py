"""The transaction plumbing every PostGIS unit of work shares, and the one outbox they write.

One connection and one transaction per unit of work (per use-case call); whatever was not
committed is rolled back on leaving. Outbox rows go into that same transaction, so an event
exists exactly when the change that caused it does.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.postgis.metadata import outbox
from core.shared.events import Event
from core.shared.unit_of_work import Outbox


class PostgisUnitOfWork:
    """Base of the contexts' units of work: they add repositories built on `self`, which reach
    the connection through `connection` once the block is entered."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None
        self.outbox: Outbox = PostgisOutbox(self)

    @property
    def connection(self) -> AsyncConnection:
        if self._connection is None:
            raise RuntimeError("use the unit of work inside `async with`")
        return self._connection

    async def __aenter__(self) -> Self:
        self._connection = await self._engine.connect()
        # No round trip: psycopg opens the transaction with the first statement.
        await self._connection.begin()
        return self

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
