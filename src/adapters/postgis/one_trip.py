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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import psycopg
from psycopg.rows import DictRow, dict_row
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis.unit_of_work import SET_CALLER, caller_settings
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
    async with engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        if not isinstance(driver, psycopg.AsyncConnection):
            raise TypeError("one_trip needs the psycopg driver")
        cursors = await _send(driver, access, statements, end)
        return [await cursor.fetchall() if cursor.description else [] for cursor in cursors]


async def _send(
    driver: psycopg.AsyncConnection[Any],
    access: Access,
    statements: Sequence[Statement],
    end: Literal["commit", "rollback"],
) -> list[psycopg.AsyncCursor[DictRow]]:
    """Autocommit only for the pipeline's sake: psycopg's own BEGIN would wait for its answer
    (a round trip of its own); ours leaves with the rest, and the transaction is explicit."""
    cursors: list[psycopg.AsyncCursor[DictRow]] = []
    await driver.set_autocommit(True)  # no round trip: a flag of the connection
    try:
        async with driver.pipeline():
            await driver.execute("BEGIN")
            await driver.execute(SET_CALLER, caller_settings(access))
            for sql, values in statements:
                cursor = driver.cursor(row_factory=dict_row)
                await cursor.execute(sql, values)
                cursors.append(cursor)
            await driver.execute("COMMIT" if end == "commit" else "ROLLBACK")
    except BaseException:
        await driver.rollback()  # a failed statement leaves the transaction aborted, not ended
        raise
    finally:
        await driver.set_autocommit(False)  # as the pool lends it to SQLAlchemy
    return cursors
