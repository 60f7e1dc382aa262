"""Reads on a streaming replica, with read-your-writes for the person who just wrote.

Search and availability (the catalog's public reads) may be served by a replica: a read-only
copy of the primary a few milliseconds behind. Anyone may read slightly old data there, except
the person who has just written: their reads go to the replica only once it has replayed past
their last write's WAL position (`write_marks.py`), and to the primary until then.

Who reads is not a parameter of the core's read ports (public reads have no caller), so the
entrypoint names the reader for the duration of a request (`reading_as`, a context variable
that follows the request's task and nothing else).

The replay check rides on the read itself: one pipeline on a replica connection asks the
replica's replay position, then runs the read. The position is read first, and each statement
takes its snapshot when it starts, so the read sees at least what was replayed by then. If the
replica is behind the reader's mark, the answer is dropped and the read runs on the primary.
Checking on the same connection holds however many replicas stand behind one URL.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextvars import ContextVar
from typing import Literal, TypeVar

import psycopg
import sqlalchemy.exc
import structlog
from psycopg.rows import DictRow
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis.one_trip import Statement, one_trip
from adapters.postgis.write_marks import REPLAYED_LSN, WriteMarks
from core.shared.ids import UserId
from core.shared.unit_of_work import PUBLIC, Access

Server = Literal["replica", "primary"]

T = TypeVar("T")
# Unreachable, restarted (a pooled connection lost), or a query cancelled by a conflict with
# recovery (SQLSTATE 40001).
_REPLICA_UNAVAILABLE = (sqlalchemy.exc.OperationalError, psycopg.OperationalError)

_reader: ContextVar[UserId | None] = ContextVar("reserva_reader", default=None)
_log = structlog.get_logger(__name__)


@contextlib.contextmanager
def reading_as(user_id: UserId | None) -> Iterator[None]:
    """Reads in this block are made for `user_id` (None: for nobody in particular)."""
    token = _reader.set(user_id)
    try:
        yield
    finally:
        _reader.reset(token)


class ReplicaReads:
    """Runs read-only trips on the replica when the current reader may read there.

    `served` counts where reads went, per process (for tests and diagnostics).
    """

    def __init__(self, primary: AsyncEngine, replica: AsyncEngine, marks: WriteMarks) -> None:
        self._primary = primary
        self._replica = replica
        self._marks = marks
        self.served: dict[Server, int] = {"replica": 0, "primary": 0}

    async def read(self, access: Access, statements: Sequence[Statement]) -> list[list[DictRow]]:
        """`one_trip(..., end="rollback")` on the replica if the reader's last write is
        replayed there (or they wrote nothing lately), else on the primary."""
        reader = _reader.get()
        mark = await self._mark(reader) if reader is not None else None
        if not isinstance(mark, _Unknown):
            rows = await self._on_replica(access, statements, mark)
            if rows is not None:
                self.served["replica"] += 1
                return rows
        self.served["primary"] += 1
        return await one_trip(self._primary, access, statements, end="rollback")

    async def run(self, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
        """`work` on the replica if the current reader may read there, else (or if the replica
        cannot be reached) on the primary: for a unit of work that only reads. A reader with a
        mark costs one more round trip, to ask the replica's replay position (which one server
        reports: a URL with several replicas behind it needs the one-trip `read`, which checks
        on the connection that answers)."""
        if await self._server_for_reader() == "replica":
            try:
                done = await work(self._replica)
            except _REPLICA_UNAVAILABLE as error:
                _log.warning("replica unavailable; reading the primary", error=str(error))
            else:
                self.served["replica"] += 1
                return done
        self.served["primary"] += 1
        return await work(self._primary)

    async def _server_for_reader(self) -> Server:
        reader = _reader.get()
        mark = await self._mark(reader) if reader is not None else None
        if isinstance(mark, _Unknown):
            return "primary"
        if mark is None:
            return "replica"
        try:
            [[row]] = await one_trip(self._replica, PUBLIC, [(REPLAYED_LSN, {})], end="rollback")
        except _REPLICA_UNAVAILABLE:
            return "primary"
        replayed = row["replayed_lsn"]
        return "replica" if replayed is None or replayed >= mark else "primary"

    @property
    def primary(self) -> AsyncEngine:
        return self._primary

    async def _mark(self, reader: UserId) -> int | _Unknown | None:
        try:
            return await self._marks.of(reader)
        except Exception as error:  # whatever the store's client raises
            # Without the mark the replica may not have their write: the primary has.
            _log.warning("read-your-writes mark unreadable; reading the primary", error=repr(error))
            return _UNKNOWN

    async def _on_replica(
        self, access: Access, statements: Sequence[Statement], mark: int | None
    ) -> list[list[DictRow]] | None:
        """The rows, or None when the replica is behind `mark` or cannot answer."""
        checked = statements if mark is None else [(REPLAYED_LSN, {}), *statements]
        try:
            rows = await one_trip(self._replica, access, checked, end="rollback")
        except psycopg.errors.QueryCanceled:
            raise  # a statement timeout: the primary would take as long
        except _REPLICA_UNAVAILABLE as error:
            # Unreachable, restarted (a pooled connection lost), or a query cancelled by a
            # conflict with recovery (SQLSTATE 40001): the primary answers instead.
            _log.warning("replica read failed; reading the primary", error=str(error))
            return None
        if mark is None:
            return rows
        replayed = rows[0][0]["replayed_lsn"]
        if replayed is not None and replayed < mark:
            return None
        return rows[1:]


class _Unknown:
    """The reader's mark could not be read."""


_UNKNOWN = _Unknown()
