"""A whole transaction in one network round trip: the hot paths' way to the database.

Every round trip through SQLAlchemy and psycopg costs ~0.25 ms of Python CPU here, several
times what PostgreSQL spends on a hold's writes (docs/benchmarks.md). The hot paths (a hold, a
booking's transition, a search) therefore send their transaction as one psycopg pipeline on a
connection of the engine's pool: BEGIN, the caller's settings for row-level security (as
`PostgisUnitOfWork` sets them), the statements, and COMMIT (or ROLLBACK for reads), then read
every answer at once (counted with strace: the messages leave together, one wait for the
answers). SQL text with psycopg placeholders (`%(name)s`); psycopg prepares a statement on a
connection after its fifth use.

Note: psycopg sends its own implicit BEGIN and waits for it, even in a pipeline, so
`PostgisUnitOfWork` pays two round trips before its first statement; here the connection is
put in autocommit for the pipeline and the transaction is an explicit BEGIN ... COMMIT.

A statement that fails aborts the rest: the error is raised and the transaction rolled back.

On an engine whose writes are marked for read-your-writes (`write_marks`), a committing trip
made for a person also asks for the WAL position after its COMMIT, in the same pipeline: the
mark costs no round trip to PostgreSQL (one to the marks' store).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import psycopg
from psycopg.rows import DictRow, dict_row
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis.unit_of_work import SET_CALLER, caller_settings
from adapters.postgis.write_marks import WRITTEN_LSN, marks_of, note_write
from core.shared.unit_of_work import Access

Statement = tuple[str, Mapping[str, Any]]


async def one_trip(
    engine: AsyncEngine,
    access: Access,
    statements: Sequence[Statement],
    *,
    end: Literal["commit", "rollback"],
) -> list[list[DictRow]]:
    """Run `statements` in one transaction as `access`, ended by `end`, in one round trip.

    Returns each statement's rows (empty for a statement that returns none), in order.
    """
    marks = marks_of(engine, access) if end == "commit" else None
    after: list[Statement] = [] if marks is None else [(WRITTEN_LSN, {})]
    async with engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        if not isinstance(driver, psycopg.AsyncConnection):
            raise TypeError("one_trip needs the psycopg driver")
        cursors = await _send(driver, access, statements, end, after=after)
        rows = [await cursor.fetchall() if cursor.description else [] for cursor in cursors]
    if marks is not None:
        written = rows.pop()
        await note_write(marks, access, written[0]["written_lsn"])
    return rows


async def _send(
    driver: psycopg.AsyncConnection[Any],
    access: Access,
    statements: Sequence[Statement],
    end: Literal["commit", "rollback"],
    *,
    after: Sequence[Statement] = (),
) -> list[psycopg.AsyncCursor[DictRow]]:
    """Autocommit only for the pipeline's sake: psycopg's own BEGIN would wait for its answer
    (a round trip of its own); ours leaves with the rest, and the transaction is explicit.

    `after` runs once the transaction has ended, outside it (autocommit): the WAL position
    asked there lies past the commit record."""
    cursors: list[psycopg.AsyncCursor[DictRow]] = []
    await driver.set_autocommit(True)  # no round trip: a flag of the connection
    try:
        async with driver.pipeline():
            await driver.execute("BEGIN")
            await driver.execute(SET_CALLER, caller_settings(access))
            for sql, values in statements:
                cursors.append(await _execute(driver, sql, values))
            await driver.execute("COMMIT" if end == "commit" else "ROLLBACK")
            for sql, values in after:
                cursors.append(await _execute(driver, sql, values))
    except BaseException:
        await driver.rollback()  # a failed statement leaves the transaction aborted, not ended
        raise
    finally:
        await driver.set_autocommit(False)  # as the pool lends it to SQLAlchemy
    return cursors


async def _execute(
    driver: psycopg.AsyncConnection[Any], sql: str, values: Mapping[str, Any]
) -> psycopg.AsyncCursor[DictRow]:
    cursor = driver.cursor(row_factory=dict_row)
    await cursor.execute(sql, values)
    return cursor
