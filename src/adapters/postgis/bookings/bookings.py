"""Bookings: holds, seat counts and transitions, each decided by the database.

An exclusion constraint refuses overlapping appointments, a row lock on the occurrence
serialises seat counts, and transitions are conditional updates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from psycopg import errors as pg_errors
from returns.result import Failure, Result, Success
from sqlalchemy.exc import IntegrityError, OperationalError

from adapters.postgis.bookings.tables import (
    LIVE_STATUSES,
    booking_occupancy,
    bookings,
    occurrences,
)
from adapters.postgis.sql import Row, each, money, param, pg_range, time_range, utc_or_none
from adapters.postgis.unit_of_work import PostgisPart
from core.bookings.cursors import parse_uuid
from core.bookings.model import (
    Booking,
    BookingStatus,
    CancelledBy,
    OfferingKind,
    SessionFull,
    SlotUnavailable,
)
from core.bookings.ports import NOT_REINSTATABLE, BookingRepository, Page
from core.shared.ids import BookingId, OccurrenceId, OfferingId, ProviderId, ResourceId, UserId
from core.shared.time import TimeRange, to_utc

EXCLUSIVE_WRITE_ATTEMPTS = 3
REINSTATABLE = ("held", "expired")


def _booking_values(booking: Booking) -> dict[str, object]:
    return {
        "id": booking.id,
        "offering_id": booking.offering_id,
        "provider_id": booking.provider_id,
        "customer_id": booking.customer_id,
        "kind": booking.kind.value,
        "during": pg_range(booking.during),
        "blocked": pg_range(booking.blocked),
        "resource_id": booking.resource_id,
        "occurrence_id": booking.occurrence_id,
        "seats": booking.seats,
        "price_minor": booking.price.minor,
        "currency": booking.price.currency.code,
        "status": booking.status.value,
        "hold_expires_at": booking.hold_expires_at,
        "created_at": booking.created_at,
        "rescheduled_from": booking.rescheduled_from,
        "cancelled_at": booking.cancelled_at,
        "cancelled_by": None if booking.cancelled_by is None else booking.cancelled_by.value,
    }


def _booking(row: Row) -> Booking:
    return booking_of(row._mapping)


def booking_of(row: Mapping[Any, Any]) -> Booking:
    """A bookings row by column name: SQLAlchemy's `row._mapping`, or psycopg's `dict_row`."""
    return Booking(
        id=BookingId(row["id"]),
        offering_id=OfferingId(row["offering_id"]),
        provider_id=ProviderId(row["provider_id"]),
        customer_id=UserId(row["customer_id"]),
        kind=OfferingKind(row["kind"]),
        during=time_range(row["during"]),
        blocked=time_range(row["blocked"]),
        resource_id=None if row["resource_id"] is None else ResourceId(row["resource_id"]),
        occurrence_id=(
            None if row["occurrence_id"] is None else OccurrenceId(row["occurrence_id"])
        ),
        seats=row["seats"],
        price=money(row["price_minor"], row["currency"]),
        status=BookingStatus(row["status"]),
        hold_expires_at=utc_or_none(row["hold_expires_at"]),
        created_at=to_utc(row["created_at"]),
        rescheduled_from=(
            None if row["rescheduled_from"] is None else BookingId(row["rescheduled_from"])
        ),
        cancelled_at=utc_or_none(row["cancelled_at"]),
        cancelled_by=None if row["cancelled_by"] is None else CancelledBy(row["cancelled_by"]),
    )


_NOW = param("now", bookings.c.hold_expires_at)
_WINDOW = param("window", bookings.c.blocked)
_SEEN = booking_occupancy.c  # everyone's bookings, without who booked (see tables.py)

# Bookings occupying capacity at :now; an expired hold never does, swept or not. The first
# term repeats the exclusion constraint's predicate so its partial index applies.
_LIVE_AT_NOW = sa.and_(
    _SEEN.status.in_(LIVE_STATUSES),
    sa.or_(_SEEN.status == BookingStatus.CONFIRMED.value, _SEEN.hold_expires_at > _NOW),
)

_BUSY = (
    sa.select(_SEEN.resource_id, _SEEN.blocked)
    .where(_SEEN.resource_id.in_(each("resource_ids", bookings.c.resource_id)))
    .where(_SEEN.blocked.overlaps(_WINDOW))
    .where(_LIVE_AT_NOW)
    .order_by(_SEEN.resource_id, _SEEN.blocked)
)

_SEATS_TAKEN = (
    sa.select(_SEEN.occurrence_id, sa.func.sum(_SEEN.seats).label("seats"))
    .where(_SEEN.occurrence_id.in_(each("occurrence_ids", bookings.c.occurrence_id)))
    .where(_LIVE_AT_NOW)
    .group_by(_SEEN.occurrence_id)
)

_BY_IDS = bookings.select().where(bookings.c.id.in_(each("ids", bookings.c.id)))

# Served by the partial index ix_bookings_cancelled (migration 0007).
_CANCELLED_SINCE = (
    bookings.select()
    .where(bookings.c.cancelled_at >= param("since", bookings.c.cancelled_at))
    .order_by(bookings.c.cancelled_at, bookings.c.id)
    .limit(sa.bindparam("limit", type_=sa.Integer))
)

# Seats of the bookings of :occurrence_id live at :now, but for :booking_id's own.
_SEATS_OF_OTHERS = (
    sa.select(sa.func.coalesce(sa.func.sum(_SEEN.seats), 0))
    .where(_SEEN.occurrence_id == param("occurrence_id", bookings.c.occurrence_id))
    .where(_SEEN.id != param("booking_id", bookings.c.id))
    .where(_LIVE_AT_NOW)
)

# Confirms :booking_id if it is still held or expired; the exclusion constraint checks it.
_REINSTATE = (
    bookings.update()
    .where(bookings.c.id == param("booking_id", bookings.c.id))
    .where(bookings.c.status.in_(REINSTATABLE))
    .values(status=BookingStatus.CONFIRMED.value, hold_expires_at=None)
)

# Holds of :hold_resource_id past their expiry at :now whose blocked range overlaps :window,
# whoever holds them; rows locked in id order (a SECURITY DEFINER function, migration 0004).
_EXPIRE_OVERLAPPING_HOLDS = sa.select(
    sa.func.expire_overlapping_holds(
        param("hold_resource_id", bookings.c.resource_id), _WINDOW, _NOW
    )
)


class PostgisBookingRepository(PostgisPart, BookingRepository):
    async def get(self, id: BookingId) -> Booking | None:
        row = (await self._conn.execute(bookings.select().where(bookings.c.id == id))).first()
        return None if row is None else _booking(row)

    async def get_many(self, ids: Sequence[BookingId]) -> Sequence[Booking]:
        return [_booking(row) for row in await self._conn.execute(_BY_IDS, {"ids": list(ids)})]

    async def cancelled_since(self, since: datetime, limit: int) -> Sequence[Booking]:
        found = await self._conn.execute(_CANCELLED_SINCE, {"since": since, "limit": limit})
        return [_booking(row) for row in found]

    async def for_customer(self, customer_id: UserId, page: Page) -> Sequence[Booking]:
        return await self._newest_first(bookings.c.customer_id == customer_id, page)

    async def for_provider(self, provider_id: ProviderId, page: Page) -> Sequence[Booking]:
        return await self._newest_first(bookings.c.provider_id == provider_id, page)

    async def _newest_first(self, owner: sa.ColumnElement[bool], page: Page) -> Sequence[Booking]:
        """Keyset paging on (created_at, id) descending, served by the owner's index. The
        cursor is the id of the last booking of the previous page, which every caller can name;
        its key is looked up in the same query. A cursor naming no booking matches nothing."""
        query = (
            bookings.select()
            .where(owner)
            .order_by(bookings.c.created_at.desc(), bookings.c.id.desc())
            .limit(page.limit)
        )
        if page.after is not None:
            after = parse_uuid(page.after)
            if after is None:
                return []
            last = sa.select(bookings.c.created_at, bookings.c.id).where(bookings.c.id == after)
            key = sa.tuple_(bookings.c.created_at, bookings.c.id)
            query = query.where(key < last.scalar_subquery())
        return [_booking(row) for row in await self._conn.execute(query)]

    async def busy(
        self, resource_ids: Sequence[ResourceId], window: TimeRange, now: datetime
    ) -> dict[ResourceId, list[TimeRange]]:
        values = {"resource_ids": list(resource_ids), "window": pg_range(window), "now": now}
        found: dict[ResourceId, list[TimeRange]] = {}
        for row in await self._conn.execute(_BUSY, values):
            found.setdefault(ResourceId(row.resource_id), []).append(time_range(row.blocked))
        return found

    async def seats_taken(
        self, occurrence_ids: Sequence[OccurrenceId], now: datetime
    ) -> dict[OccurrenceId, int]:
        values = {"occurrence_ids": list(occurrence_ids), "now": now}
        rows = await self._conn.execute(_SEATS_TAKEN, values)
        return {OccurrenceId(row.occurrence_id): int(row.seats) for row in rows}

    async def add_exclusive(self, booking: Booking, now: datetime) -> Result[None, SlotUnavailable]:
        """The exclusion constraint decides (see `_decided_by_exclusion`)."""
        await self._expire_overlapping_holds(booking, now)
        inserted = await self._decided_by_exclusion(bookings.insert(), _booking_values(booking))
        return inserted.map(lambda _: None)

    async def reinstate(
        self, booking: Booking, now: datetime
    ) -> Result[None, SlotUnavailable | SessionFull]:
        """Appointments: the exclusion constraint decides, as for `add_exclusive`, on an
        update of the row instead of an insert. Sessions: as `add_seated`, under the
        occurrence's row lock, counting every live seat but the booking's own."""
        if booking.occurrence_id is not None:
            return await self._reinstate_seats(booking, booking.occurrence_id, now)
        await self._expire_overlapping_holds(booking, now)
        updated = await self._decided_by_exclusion(_REINSTATE, {"booking_id": booking.id})
        return updated.bind(_one_row_reinstated)

    async def _decided_by_exclusion(
        self, statement: sa.Executable, values: dict[str, object]
    ) -> Result[int, SlotUnavailable]:
        """The rows `statement` wrote, or SlotUnavailable if a live booking of the resource
        overlaps. A savepoint keeps the transaction usable after a refusal, so the caller can
        try another resource.

        Two writers of overlapping bookings may each write, then each wait for the other's
        row while checking the constraint: PostgreSQL breaks the cycle by aborting one of them
        (DeadlockDetected, only our savepoint). That attempt is simply made again: the rival
        no longer waits for us, so this time we wait for its outcome and learn it exactly.
        """
        for _ in range(EXCLUSIVE_WRITE_ATTEMPTS):
            try:
                async with self._conn.begin_nested():
                    result = await self._conn.execute(statement, values)
            except IntegrityError as error:
                if isinstance(error.orig, pg_errors.ExclusionViolation):
                    return Failure(SlotUnavailable())
                raise
            except OperationalError as error:
                if not isinstance(error.orig, pg_errors.DeadlockDetected):
                    raise
            else:
                return Success(result.rowcount)
        # Still racing after several rounds: others keep claiming this very slot.
        return Failure(SlotUnavailable())

    async def _expire_overlapping_holds(self, booking: Booking, now: datetime) -> None:
        """Holds past their expiry must not block, even when no sweeper has run: mark them.

        Rows are locked in id order so two writers expiring the same holds cannot deadlock.
        """
        values = {
            "hold_resource_id": booking.resource_id,
            "now": now,
            "window": pg_range(booking.blocked),
        }
        await self._conn.execute(_EXPIRE_OVERLAPPING_HOLDS, values)

    async def add_seated(
        self, booking: Booking, capacity: int, now: datetime
    ) -> Result[None, SessionFull]:
        """The occurrence's row lock serialises writers of one run; the connection's
        lock_timeout (see database.create_engine) turns a pile-up into an error, not a hang."""
        if booking.occurrence_id is None:
            raise ValueError("a seated booking needs an occurrence")
        await self._conn.execute(
            sa.select(occurrences.c.id)
            .where(occurrences.c.id == booking.occurrence_id)
            .with_for_update()
        )
        taken = (await self.seats_taken([booking.occurrence_id], now)).get(booking.occurrence_id, 0)
        if taken + booking.seats > capacity:
            return Failure(SessionFull(seats_left=max(0, capacity - taken)))
        await self._conn.execute(bookings.insert(), _booking_values(booking))
        return Success(None)

    async def _reinstate_seats(
        self, booking: Booking, occurrence_id: OccurrenceId, now: datetime
    ) -> Result[None, SlotUnavailable | SessionFull]:
        capacity: int = (
            await self._conn.execute(
                sa.select(occurrences.c.capacity)
                .where(occurrences.c.id == occurrence_id)
                .with_for_update()
            )
        ).scalar_one()
        values = {"occurrence_id": occurrence_id, "booking_id": booking.id, "now": now}
        taken = int((await self._conn.execute(_SEATS_OF_OTHERS, values)).scalar_one())
        if taken + booking.seats > capacity:
            return Failure(SessionFull(seats_left=max(0, capacity - taken)))
        updated = await self._conn.execute(_REINSTATE, {"booking_id": booking.id})
        return _one_row_reinstated(updated.rowcount)

    async def save(self, booking: Booking, expected: BookingStatus, now: datetime) -> bool:
        query = (
            bookings.update()
            .where(bookings.c.id == booking.id, bookings.c.status == expected.value)
            .values(_booking_values(booking))
        )
        if expected is BookingStatus.HELD:
            query = query.where(bookings.c.hold_expires_at > now)
        result = await self._conn.execute(query)
        return result.rowcount == 1


def _one_row_reinstated(rows: int) -> Result[None, SlotUnavailable]:
    """No row: the booking was no longer held or expired when the update looked."""
    return Success(None) if rows == 1 else Failure(NOT_REINSTATABLE)
