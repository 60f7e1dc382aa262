"""Every row of every table, as a schema owner's dump would hold it: for tests that check no
usable secret or personal value is stored in clear."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine


async def raw_database(engine: AsyncEngine) -> str:
    """Each row as PostgreSQL prints it (bytea as \\x hex), prefixed by its table. Row-level
    security does not hide rows from the owner."""
    async with engine.connect() as connection:
        tables = (
            await connection.execute(
                sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            )
        ).scalars()
        rows = []
        for table in list(tables):
            query = sa.text(f'SELECT t::text FROM "{table}" t')  # noqa: S608 (catalog names)
            rows += [f"{table}: {row}" for row in (await connection.execute(query)).scalars()]
    return "\n".join(rows)
