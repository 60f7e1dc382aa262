"""The live relay: booking changes from the database to a `LivePublisher`, in commit order.

Migration 0023's trigger queues every change that frees or takes a slot in `live_changes`,
in the changing transaction, and NOTIFYs `live_changes` at its commit. One relay across all
processes (the holder of a session advisory lock) LISTENs, and on each wake-up, in one
transaction, deletes the queued rows (oldest first), publishes them, and commits: a failed
publish rolls the delete back and the rows wait for the next try; a relay killed after
publishing and before committing publishes them again (at least once; every change carries
its booking id and status, so a repeat says nothing new). Processes that are not the relay
retry the lock every `standby_seconds`, so a relay that dies is replaced within that time
(its connection's end releases the lock).

Commit order: the queue's ids come from a sequence, taken when the row is written, not when
it commits; a row of an earlier id can commit after a later one was published. Deleting what
exists at each wake-up publishes it whenever it commits, so nothing is skipped; the stream's
order is the order the relay saw the commits in.

The LISTEN connection is a direct one (a transaction pooler cannot LISTEN): `listen_url`.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any

import psycopg
import sqlalchemy as sa
import structlog
from psycopg.rows import dict_row
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.engine import make_url

from adapters.postgis.metadata import metadata
from core.bookings.live import LiveChange, LiveKind, LivePublisher
from core.shared.geo import GeoPoint
from core.shared.ids import BookingId, OfferingId, PlaceId, UserId
from core.shared.time import TimeRange

_log = structlog.get_logger(__name__)

CHANNEL = "live_changes"
# pg_advisory_lock's key of the relay: "live" in ASCII, clear of other locks (they key by uuid).
RELAY_LOCK = 0x6C697665
BATCH = 500

# Migration 0023's queue, declared for the migration tests (the relay speaks SQL text).
live_changes = sa.Table(
    "live_changes",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("booking_id", pg.UUID, nullable=False),
    sa.Column("offering_id", pg.UUID, nullable=False),
    sa.Column("place_id", pg.UUID, nullable=False),
    sa.Column("customer_id", pg.UUID, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("during", pg.TSTZRANGE, nullable=False),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("lng", sa.Float, nullable=False),
    sa.Column(
        "changed_at",
        sa.DateTime(timezone=True),
        nullable=False,
        server_default=sa.text("clock_timestamp()"),
    ),
    sa.CheckConstraint(
        "kind IN ('held', 'confirmed', 'cancelled', 'expired', 'rescheduled')", name="kind"
    ),
)

# Migration 0023's function: deletes the oldest rows and returns them (the app role reads the
# queue only through it). No row locks: only the lock's holder takes, and a relay whose
# connection died lost its lock and its transaction together.
TAKE = "SELECT * FROM live_take_changes(%(batch)s)"


def libpq_url(url: str) -> str:
    """A libpq URL from the service's SQLAlchemy one (`postgresql+psycopg://`)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _change(row: dict[str, Any]) -> LiveChange:
    start: datetime = row["start"]
    end: datetime = row["end"]
    return LiveChange(
        kind=LiveKind(row["kind"]),
        booking_id=BookingId(row["booking_id"]),
        offering_id=OfferingId(row["offering_id"]),
        place_id=PlaceId(row["place_id"]),
        customer_id=UserId(row["customer_id"]),
        status=row["status"],
        during=TimeRange(start, end),
        location=GeoPoint(row["lat"], row["lng"]),
        changed_at=row["changed_at"],
    )


class PostgisLiveRelay:
    def __init__(
        self,
        listen_url: str,
        publisher: LivePublisher,
        *,
        standby_seconds: float = 2.0,
        sweep_seconds: float = 1.0,
    ) -> None:
        self._url = libpq_url(listen_url)
        self._publisher = publisher
        self._standby = standby_seconds
        self._sweep = sweep_seconds  # also looks when no NOTIFY came (a missed wake-up costs this)
        self.leading = False
        self._stop = asyncio.Event()

    async def run(self) -> None:
        """Relay for ever, or stand by while another process does; cancel to stop (within
        `sweep_seconds`). The cancellation never reaches psycopg: a cancelled `notifies()`
        waits for one more notification before it gives up, which may never come."""
        self._stop = asyncio.Event()
        contending = asyncio.create_task(self._contend())
        try:
            await asyncio.shield(contending)
        except asyncio.CancelledError:
            self._stop.set()
            with contextlib.suppress(Exception):
                await contending
            raise

    async def _contend(self) -> None:
        while not self._stop.is_set():
            try:
                await self._lead_if_free()
            except Exception as error:  # the database or the publisher failed: try again
                _log.warning("live relay interrupted", error=repr(error))
            self.leading = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._standby)

    async def _lead_if_free(self) -> None:
        async with await psycopg.AsyncConnection.connect(
            self._url, autocommit=True, row_factory=dict_row
        ) as conn:
            row = await (
                await conn.execute("SELECT pg_try_advisory_lock(%s) AS got", [RELAY_LOCK])
            ).fetchone()
            if row is None or not row["got"]:
                return
            self.leading = True
            await conn.execute(f"LISTEN {CHANNEL}")
            while not self._stop.is_set():
                while await self._relay_batch(conn) == BATCH:
                    pass
                # Wake at the first notification or after the sweep interval, whichever first;
                # notifications that arrive while relaying wait in psycopg's backlog.
                async for _ in conn.notifies(timeout=self._sweep, stop_after=1):
                    pass
                async for _ in conn.notifies(timeout=0):  # the rest of a burst: one take serves all
                    pass

    async def _relay_batch(self, conn: psycopg.AsyncConnection[dict[str, Any]]) -> int:
        # Pipelined: BEGIN travels with the take, and COMMIT after the publish is off the
        # changes' way to subscribers: one database round trip, then Redis.
        async with conn.pipeline(), conn.transaction():
            rows = await (await conn.execute(TAKE, {"batch": BATCH})).fetchall()
            if rows:
                rows.sort(key=lambda row: row["id"])
                await self._publisher.publish([_change(row) for row in rows])
        return len(rows)
