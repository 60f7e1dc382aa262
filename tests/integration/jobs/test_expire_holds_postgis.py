"""The periodic sweep of lapsed holds (migration 0021's `expire_lapsed_holds`), over a migrated
database as the app role: which rows it marks expired, in bounded batches, skipping locked
rows, and through an index."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import attrs
import pytest
import sqlalchemy as sa
from jobs_support import rows
from returns.result import Success
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory import FixedClock
from adapters.postgis.bookings import PostgisBookingsUnitOfWork
from adapters.postgis.bookings.moves import PostgisLapsedHolds
from adapters.postgis.jobs import EXPIRE_HOLDS
from core.bookings import ExpireHolds
from core.bookings.model import (
    Address,
    Booking,
    BookingRules,
    BookingStatus,
    CancelledBy,
    Occurrence,
    Offering,
    OfferingKind,
    Place,
    Provider,
    Resource,
)
from core.shared.geo import GeoPoint
from core.shared.ids import (
    BookingId,
    OccurrenceId,
    OfferingId,
    PlaceId,
    ProviderId,
    ResourceId,
    UserId,
    new_id,
)
from core.shared.money import Money
from core.shared.time import TimeRange
from core.shared.unit_of_work import MAINTENANCE
from entrypoints.container import Container
from entrypoints.worker.handlers import PERIODIC, expire_holds

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
CLUB = "Sweep Club"


@pytest.fixture(autouse=True)
async def _leave_no_bookings(owner_engine: AsyncEngine) -> AsyncIterator[None]:
    """The queue's database is shared by the jobs tests: retention's expect no old holds."""
    yield
    async with owner_engine.begin() as connection:
        await connection.execute(
            sa.text(
                "DELETE FROM bookings WHERE provider_id IN"
                " (SELECT id FROM providers WHERE name = :club)"
            ),
            {"club": CLUB},
        )


@attrs.frozen(kw_only=True)
class Court:
    offering: Offering
    resource: Resource
    session: Offering
    run: Occurrence


async def _court(engine: AsyncEngine) -> Court:
    provider = Provider(id=ProviderId(new_id()), name=CLUB)
    place = Place(
        id=PlaceId(new_id()),
        provider_id=provider.id,
        name=CLUB,
        address=Address(line1="Weg 1", city="Berlin", postal_code="10115", country="DE"),
        point=GeoPoint(52.5, 13.4),
        timezone="Europe/Berlin",
    )
    resource = Resource(
        id=ResourceId(new_id()), provider_id=provider.id, place_id=place.id, name="1"
    )
    offering = Offering(
        id=OfferingId(new_id()),
        provider_id=provider.id,
        place_id=place.id,
        kind=OfferingKind.APPOINTMENT,
        name="Court",
        category="tennis",
        price=Money.of(1000, "EUR").unwrap(),
        rules=BookingRules(duration=HOUR, slot_step=HOUR),
        resource_ids=(resource.id,),
    )
    session = attrs.evolve(
        offering, id=OfferingId(new_id()), kind=OfferingKind.SESSION, resource_ids=(), capacity=9
    )
    run = Occurrence(
        id=OccurrenceId(new_id()),
        offering_id=session.id,
        during=TimeRange(datetime(2031, 1, 1, tzinfo=UTC), datetime(2031, 1, 1, 1, tzinfo=UTC)),
        capacity=9,
    )
    async with PostgisBookingsUnitOfWork(engine, MAINTENANCE) as uow:
        await uow.providers.add(provider)
        await uow.places.add(place)
        await uow.resources.add(resource)
        await uow.offerings.add(offering)
        await uow.offerings.add(session)
        await uow.occurrences.add([run])
        await uow.commit()
    return Court(offering=offering, resource=resource, session=session, run=run)


def _hold(court: Court, n: int, expires: datetime | None, **changes: object) -> Booking:
    """An appointment of the court in its own hour (2031 + n hours), held until `expires`."""
    start = datetime(2031, 1, 1, tzinfo=UTC) + n * HOUR
    during = TimeRange(start, start + HOUR)
    held = Booking(
        id=BookingId(new_id()),
        offering_id=court.offering.id,
        provider_id=court.offering.provider_id,
        customer_id=UserId(new_id()),
        kind=OfferingKind.APPOINTMENT,
        during=during,
        blocked=during,
        resource_id=court.resource.id,
        price=court.offering.price,
        status=BookingStatus.HELD,
        hold_expires_at=expires,
        created_at=start - 30 * 24 * HOUR,
    )
    return attrs.evolve(held, **changes)


def _seats(court: Court, expires: datetime) -> Booking:
    return attrs.evolve(
        _hold(court, 0, expires),
        offering_id=court.session.id,
        kind=OfferingKind.SESSION,
        resource_id=None,
        occurrence_id=court.run.id,
        during=court.run.during,
        blocked=court.run.during,
    )


async def _insert(engine: AsyncEngine, *bookings: Booking) -> None:
    async with PostgisBookingsUnitOfWork(engine, MAINTENANCE) as uow:
        for booking in bookings:
            if booking.occurrence_id is not None:
                added = await uow.bookings.add_seated(booking, 9, booking.created_at)
            else:
                added = await uow.bookings.add_exclusive(booking, booking.created_at)
            assert added == Success(None)
        await uow.commit()


async def _statuses(owner: AsyncEngine, bookings: list[Booking]) -> list[str]:
    """As the owner: the app role sees no booking without a caller (row-level security)."""
    found = await rows(
        owner, "SELECT id, status FROM bookings WHERE id = ANY(:ids)", ids=[b.id for b in bookings]
    )
    status = {row.id: row.status for row in found}
    return [status[b.id] for b in bookings]


async def test_the_periodic_job_marks_lapsed_holds_expired_and_leaves_the_rest(
    container: Container, engine: AsyncEngine, owner_engine: AsyncEngine
) -> None:
    court = await _court(engine)
    now = datetime.now(UTC)
    lapsed = [_hold(court, n, now - n * MINUTE) for n in range(1, 4)] + [_seats(court, now - HOUR)]
    live = _hold(court, 10, now + HOUR)
    confirmed = _hold(court, 11, None, status=BookingStatus.CONFIRMED)
    cancelled = _hold(
        court,
        12,
        now - HOUR,
        status=BookingStatus.CANCELLED,
        cancelled_at=now - 2 * HOUR,
        cancelled_by=CancelledBy.CUSTOMER,
    )
    await _insert(engine, *lapsed, live, confirmed, cancelled)

    assert PERIODIC[EXPIRE_HOLDS].handler is expire_holds  # what every worker ticks with
    await expire_holds(container, {"timestamp": 0})

    assert await _statuses(owner_engine, lapsed) == ["expired"] * 4
    assert await _statuses(owner_engine, [live, confirmed, cancelled]) == [
        "held",
        "confirmed",
        "cancelled",
    ]


async def test_a_run_marks_bounded_batches_and_skips_a_hold_being_written(
    engine: AsyncEngine, owner_engine: AsyncEngine
) -> None:
    court = await _court(engine)
    # Long ago, so that no other test's holds lapse before `cut`.
    long_ago = datetime(2001, 1, 1, tzinfo=UTC) + timedelta(days=uuid.uuid4().int % 1000)
    lapsed = [_hold(court, n, long_ago + n * MINUTE) for n in range(7)]
    await _insert(engine, *lapsed)
    cut = long_ago + HOUR
    sweep = ExpireHolds(
        lapsed_holds=PostgisLapsedHolds(engine), clock=FixedClock(cut), batch=2, max_batches=2
    )

    async with owner_engine.begin() as writer:  # someone is moving the oldest one right now
        await writer.execute(
            sa.text("SELECT 1 FROM bookings WHERE id = :id FOR UPDATE"), {"id": lapsed[0].id}
        )
        first = await sweep()
        second = await sweep()
    third = await sweep()

    assert (first, second, third) == (4, 2, 1)  # two batches of two a run at most
    assert await _statuses(owner_engine, lapsed) == ["expired"] * 7


async def test_the_sweep_finds_lapsed_holds_through_an_index(owner_engine: AsyncEngine) -> None:
    query = (
        "EXPLAIN SELECT b.id FROM bookings b"
        " WHERE b.status = 'held' AND b.hold_expires_at <= now()"
        " ORDER BY b.status, b.hold_expires_at LIMIT 500 FOR UPDATE SKIP LOCKED"
    )
    async with owner_engine.begin() as connection:
        await connection.execute(sa.text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(row[0] for row in await connection.execute(sa.text(query)))

    assert "Index Scan using ix_bookings_hold_expiry" in plan, plan
    assert "Index Cond: ((status = 'held'::text) AND (hold_expires_at <= now()))" in plan, plan
