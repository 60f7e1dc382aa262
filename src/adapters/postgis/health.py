"""What `/health/ready` asks PostgreSQL: is it there, is its schema at the code's revision, and
has a job worker beaten its heart lately (docs/adr/0033).

Each check answers None when healthy, or one short line saying what is wrong (never a
connection string or a server message that could quote one).
"""

from __future__ import annotations

import functools
from datetime import timedelta

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis.migrate import alembic_config

# One statement, one round trip: the revision (migration 0024's SECURITY DEFINER function, the
# app role cannot read alembic_version) and the age of the freshest worker heartbeat.
_STATE = sa.text(
    "SELECT schema_revision() AS revision,"
    " extract(epoch FROM now() - (SELECT max(last_heartbeat) FROM procrastinate_workers))"
    " AS heartbeat_age"
)


@functools.cache
def code_revision() -> str:
    """The head revision of the migrations shipped with this code."""
    head = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found")
    return head


class PostgisReadiness:
    """The database's part of readiness: reachable, migrated to head, a worker alive."""

    def __init__(self, engine: AsyncEngine, *, worker_silent_after: timedelta | None) -> None:
        self._engine = engine
        self._worker_silent_after = worker_silent_after

    async def problems(self) -> dict[str, str]:
        """Check name -> what is wrong; empty when ready. Raises if the database is away."""
        try:
            async with self._engine.connect() as connection:
                row = (await connection.execute(_STATE)).one()
        except sa.exc.ProgrammingError:  # schema_revision() missing: a schema before 0024
            return {"migrations": f"database behind the code's {code_revision()}"}
        found: dict[str, str] = {}
        if row.revision != code_revision():
            found["migrations"] = f"database at {row.revision}, code expects {code_revision()}"
        limit = self._worker_silent_after
        if limit is not None:
            if row.heartbeat_age is None:
                found["worker"] = "no job worker has ever started"
            elif float(row.heartbeat_age) > limit.total_seconds():
                found["worker"] = f"no worker heartbeat for {int(row.heartbeat_age)} s"
        return found
