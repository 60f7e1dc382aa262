"""How far each person's writes reached in the primary's WAL: what read-your-writes needs.

A replica is a little behind its primary. Someone who has just held a slot and reads the
offering's availability must see their hold, so after each write made for a person the
primary's WAL insert position (an LSN, a byte offset; past the commit record once COMMIT has
returned) is remembered for that person, for a short while (`WriteMarks`, Redis in the
service). Their reads go to a replica only once it has replayed that far (`replica.py`).

Which engines mark their writes is said once, at composition (`mark_writes`): every write
path on such an engine (a unit of work's commit, a one-trip write) then marks, and none can
forget to. Only writes whose caller is a person (`Access.user_id`) are marked; the service's
own jobs write for nobody who reads.
"""

from __future__ import annotations

import weakref
from typing import Protocol

import structlog
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from core.shared.ids import UserId
from core.shared.unit_of_work import Access

# The LSN as a number of bytes (pg_lsn minus the origin is numeric): compared in Python and Redis.
# On a primary pg_last_wal_replay_lsn() is null: it holds everything, so it has "replayed" all.
WRITTEN_LSN = "SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint AS written_lsn"
REPLAYED_LSN = (
    "SELECT CASE WHEN pg_is_in_recovery()"
    " THEN (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint END AS replayed_lsn"
)

_log = structlog.get_logger(__name__)


class WriteMarks(Protocol):
    """Per person, the highest WAL position their writes reached, kept for a short while."""

    async def note(self, user_id: UserId, lsn: int) -> None:
        """Remember `lsn` for `user_id` unless a higher one is remembered already."""
        ...

    async def of(self, user_id: UserId) -> int | None:
        """The position remembered for `user_id`; None when nothing recent is."""
        ...


_MARKS: weakref.WeakKeyDictionary[Engine, WriteMarks] = weakref.WeakKeyDictionary()


def mark_writes(engine: AsyncEngine, marks: WriteMarks | None) -> AsyncEngine:
    """From now on, every write on `engine` made for a person is noted in `marks` (None: no
    replica is configured, so there is nothing to note). Returns `engine`."""
    if marks is not None:
        _MARKS[engine.sync_engine] = marks
    return engine


def marks_of(engine: AsyncEngine, access: Access) -> WriteMarks | None:
    """Where a write on `engine` as `access` must be noted, if anywhere."""
    if access.user_id is None:
        return None
    return _MARKS.get(engine.sync_engine)


async def note_write(marks: WriteMarks, access: Access, lsn: int) -> None:
    """After COMMIT: the write is durable whatever happens here, so a failure to remember it
    is logged, not raised (the person may then read a replica's older view for a moment)."""
    if access.user_id is None:
        return
    try:
        await marks.note(access.user_id, lsn)
    except Exception as error:  # whatever the store's client raises
        _log.warning("read-your-writes mark not saved", error=repr(error))
