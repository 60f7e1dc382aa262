"""Integrity under concurrency, end to end: the real use cases over PostGIS, many callers at once.

Nothing in Python serialises these callers; the exclusion constraint, the occurrence row lock
and the conditional update must make the outcome exact anyway.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import attrs
import psycopg
import pytest
import sqlalchemy as sa
from returns.result import Failure, Result, Success
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from adapters.memory.clock import FixedClock
from adapters.postgis import migrate
from adapters.postgis.bookings import (
    PostgisBookableCatalog,
    PostgisBookingHolds,
    PostgisBookingsUnitOfWork,
)
from adapters.postgis.bookings.moves import PostgisBookingMoves
from adapters.postgis.database import create_engine
from core.bookings import (
    CancelBooking,
    ConfirmBooking,
    ConfirmPaidBooking,
    HoldSlot,
    SlotRequest,
)
from core.bookings.model import (
    Address,
    Booking,
    BookingRules,
    BookingStatus,
    CancelledBy,
    HoldExpired,
    LocalInterval,
    Occurrence,
    Offering,
    OfferingKind,
    OpeningHours,
    Place,
    Provider,
    Resource,
    SessionFull,
    SlotUnavailable,
    WeeklyRule,
)
from core.bookings.ports import BookingMoves
from core.shared.errors import DomainError
from core.shared.events import Event
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
from core.shared.principal import Principal, Role
from core.shared.time import TimeRange
from core.shared.unit_of_work import MAINTENANCE, Access
from devservers.postgres import LocalDatabase, LocalPostgres

_T = TypeVar("_T", ConfirmBooking, CancelBooking)
NOW = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)  # 10:00 in Berlin, a Monday
HOUR = timedelta(hours=1)
ALL_DAY = LocalInterval(0, 24 * 60)


@pytest.fixture(scope="module")
def migrated_url(postgres_server: LocalPostgres) -> str:
    database = postgres_server.create_database(f"integrity_{uuid.uuid4().hex[:12]}")
    migrate.upgrade(database.migrator_url)
    return database.app_url


@pytest.fixture(scope="module")
async def engine(migrated_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(migrated_url, pool_size=20, max_overflow=0)
    try:
        yield engine
    finally:
        await engine.dispose()


@attrs.frozen(kw_only=True)
class Catalog:
    appointment: Offering
    session: Offering
    run: Occurrence
    resource: Resource


async def _catalog(engine: AsyncEngine, seats: int) -> Catalog:
    """A place open around the clock with one court (hourly slots) and one class of `seats`."""
    provider = Provider(id=ProviderId(new_id()), name="Arena")
    place = Place(
        id=PlaceId(new_id()),
        provider_id=provider.id,
        name="Arena",
        address=Address(line1="Platz 1", city="Berlin", postal_code="10117", country="DE"),
        point=GeoPoint(52.5, 13.4),
        timezone="Europe/Berlin",
    )
    resource = Resource(
        id=ResourceId(new_id()), provider_id=provider.id, place_id=place.id, name="Court"
    )
    rules = BookingRules(duration=HOUR, slot_step=HOUR, buffer_after=timedelta(minutes=15))
    price = Money.of(3000, "EUR").unwrap()
    appointment = Offering(
        id=OfferingId(new_id()),
        provider_id=provider.id,
        place_id=place.id,
        kind=OfferingKind.APPOINTMENT,
        name="Court hour",
        category="tennis",
        price=price,
        rules=rules,
        resource_ids=(resource.id,),
    )
    session = attrs.evolve(
        appointment,
        id=OfferingId(new_id()),
        kind=OfferingKind.SESSION,
        name="Class",
        resource_ids=(),
        capacity=seats,
    )
    run = Occurrence(
        id=OccurrenceId(new_id()),
        offering_id=session.id,
        during=TimeRange(NOW + 24 * HOUR, NOW + 25 * HOUR),
        capacity=seats,
    )
    hours = OpeningHours.create(
        place.id, [WeeklyRule(weekday=d, interval=ALL_DAY) for d in range(7)], []
    ).unwrap()
    async with PostgisBookingsUnitOfWork(engine, MAINTENANCE) as uow:
        await uow.providers.add(provider)
        await uow.places.add(place)
        await uow.places.set_hours(hours)
        await uow.resources.add(resource)
        await uow.offerings.add(appointment)
        await uow.offerings.add(session)
        await uow.occurrences.add([run])
        await uow.commit()
    return Catalog(appointment=appointment, session=session, run=run, resource=resource)


def _customer() -> Principal:
    return Principal(user_id=UserId(new_id()), roles=frozenset({Role.CUSTOMER}))


def _staff(provider_id: ProviderId) -> Principal:
    return Principal(
        user_id=UserId(new_id()),
        roles=frozenset({Role.STAFF}),
        provider_ids=frozenset({provider_id}),
        mfa=True,
    )


def _hold_slot(engine: AsyncEngine, clock: FixedClock) -> HoldSlot:
    return HoldSlot(
        catalog=PostgisBookableCatalog(engine), holds=PostgisBookingHolds(engine), clock=clock
    )


def _tally(results: list[Result[Booking, DomainError]]) -> tuple[list[Booking], list[DomainError]]:
    won = [r.unwrap() for r in results if isinstance(r, Success)]
    lost = [r.failure() for r in results if isinstance(r, Failure)]
    return won, lost


async def _held_events(engine: AsyncEngine, booking_ids: set[BookingId]) -> int:
    async with engine.connect() as conn:
        payloads = await conn.execute(
            sa.text("SELECT payload FROM outbox WHERE name = 'bookings.slot_held'")
        )
        return sum(1 for (payload,) in payloads if uuid.UUID(payload["booking_id"]) in booking_ids)


async def test_200_holds_on_10_seats_seat_exactly_10(engine: AsyncEngine) -> None:
    catalog = await _catalog(engine, seats=10)
    hold = _hold_slot(engine, FixedClock(NOW))
    request = SlotRequest(offering_id=catalog.session.id, occurrence_id=catalog.run.id)

    results = await asyncio.gather(*(hold(_customer(), request) for _ in range(200)))

    won, lost = _tally(list(results))
    assert len(won) == 10
    assert len(lost) == 190
    assert all(isinstance(error, SessionFull) and error.seats_left == 0 for error in lost)
    async with PostgisBookingsUnitOfWork(engine, MAINTENANCE) as uow:
        assert await uow.bookings.seats_taken([catalog.run.id], NOW) == {catalog.run.id: 10}
    assert await _held_events(engine, {b.id for b in won}) == 10


async def _race_for_one_slot(engine: AsyncEngine, clock: FixedClock, catalog: Catalog) -> None:
    start = NOW + 30 * HOUR
    hold = _hold_slot(engine, clock)
    request = SlotRequest(offering_id=catalog.appointment.id, start=start)

    results = await asyncio.gather(*(hold(_customer(), request) for _ in range(64)))

    won, lost = _tally(list(results))
    assert len(won) == 1
    assert all(isinstance(error, SlotUnavailable) for error in lost)
    async with PostgisBookingsUnitOfWork(engine, MAINTENANCE) as uow:
        busy = await uow.bookings.busy([catalog.resource.id], TimeRange(start, start + HOUR), NOW)
    assert busy == {catalog.resource.id: [won[0].blocked]}


@pytest.mark.parametrize("round_", range(20))
async def test_64_holds_on_one_appointment_slot_book_it_once(
    engine: AsyncEngine, round_: int
) -> None:
    catalog = await _catalog(engine, seats=1)

    await _race_for_one_slot(engine, FixedClock(NOW), catalog)


async def test_racers_for_a_slot_under_an_expired_hold_book_it_once(engine: AsyncEngine) -> None:
    catalog = await _catalog(engine, seats=1)
    clock = FixedClock(NOW - HOUR)
    first = await _hold_slot(engine, clock)(
        _customer(), SlotRequest(offering_id=catalog.appointment.id, start=NOW + 30 * HOUR)
    )
    assert isinstance(first, Success)
    clock.set(NOW)  # the first hold (10 minutes) has long expired, and no sweeper ran

    await _race_for_one_slot(engine, clock, catalog)

    async with PostgisBookingsUnitOfWork(engine, MAINTENANCE) as uow:
        stale = await uow.bookings.get(first.unwrap().id)
    assert stale is not None
    assert stale.status is BookingStatus.EXPIRED


class _ReadTogether(BookingMoves):
    """The real moves, but no caller writes before all `callers` have read: every one saw the
    same state, so the conditional write alone decides the race."""

    def __init__(self, moves: BookingMoves, callers: int) -> None:
        self._moves = moves
        self._all_read = asyncio.Barrier(callers)

    async def get(self, access: Access, id: BookingId) -> Booking | None:
        found = await self._moves.get(access, id)
        await self._all_read.wait()
        return found

    async def move(
        self,
        access: Access,
        after: Booking,
        expected: BookingStatus,
        now: datetime,
        events: Sequence[Event],
    ) -> bool:
        return await self._moves.move(access, after, expected, now, events)


def _transition(kind: type[_T], engine: AsyncEngine, clock: FixedClock, *, racers: int = 1) -> _T:
    return kind(moves=_ReadTogether(PostgisBookingMoves(engine), racers), clock=clock)


async def _events_of(engine: AsyncEngine, booking_id: BookingId) -> list[str]:
    """Names of the outbox events about `booking_id` but its hold's, oldest first."""
    query = "SELECT name, payload FROM outbox WHERE name <> 'bookings.slot_held' ORDER BY seq"
    async with engine.connect() as conn:
        rows = await conn.execute(sa.text(query))
        return [name for name, p in rows if uuid.UUID(p["booking_id"]) == booking_id]


async def test_100_confirmations_of_one_hold_confirm_it_once(engine: AsyncEngine) -> None:
    catalog = await _catalog(engine, seats=1)
    clock = FixedClock(NOW)
    held = await _hold_slot(engine, clock)(
        _customer(), SlotRequest(offering_id=catalog.appointment.id, start=NOW + 30 * HOUR)
    )
    confirm = _transition(ConfirmBooking, engine, clock, racers=100)
    staff = _staff(catalog.appointment.provider_id)  # the court is priced: paid at the venue

    results = await asyncio.gather(*(confirm(staff, held.unwrap().id) for _ in range(100)))

    won, lost = _tally(list(results))
    assert [b.status for b in won] == [BookingStatus.CONFIRMED]
    # Every loser saw the hold and lost the conditional update: told as before.
    assert lost == [HoldExpired()] * 99
    assert await _events_of(engine, held.unwrap().id) == ["bookings.booking_confirmed"]


async def test_100_cancellations_of_one_booking_cancel_it_once(engine: AsyncEngine) -> None:
    catalog = await _catalog(engine, seats=1)
    clock = FixedClock(NOW)
    customer = _customer()
    held = await _hold_slot(engine, clock)(
        customer, SlotRequest(offering_id=catalog.appointment.id, start=NOW + 30 * HOUR)
    )
    staff = _staff(catalog.appointment.provider_id)
    ok_confirmed = await _transition(ConfirmBooking, engine, clock)(staff, held.unwrap().id)
    assert isinstance(ok_confirmed, Success)
    cancel = _transition(CancelBooking, engine, clock, racers=100)

    racers = [cancel(customer if n % 2 else staff, held.unwrap().id) for n in range(100)]
    results = await asyncio.gather(*racers)

    won, lost = _tally(list(results))
    assert [b.status for b in won] == [BookingStatus.CANCELLED]
    assert lost == [SlotUnavailable(reason="the booking changed meanwhile; reload it")] * 99
    assert await _events_of(engine, held.unwrap().id) == [
        "bookings.booking_confirmed",
        "bookings.booking_cancelled",
    ]
    async with PostgisBookingsUnitOfWork(engine, MAINTENANCE) as uow:
        stored = await uow.bookings.get(held.unwrap().id)
    assert stored == won[0]


@pytest.mark.parametrize("round_", range(10))
async def test_a_cancel_racing_a_confirm_of_one_hold_lets_exactly_one_win(
    engine: AsyncEngine, round_: int
) -> None:
    catalog = await _catalog(engine, seats=1)
    clock = FixedClock(NOW)
    customer = _customer()
    held = await _hold_slot(engine, clock)(
        customer, SlotRequest(offering_id=catalog.appointment.id, start=NOW + 30 * HOUR)
    )
    booking_id = held.unwrap().id
    both = _ReadTogether(PostgisBookingMoves(engine), 2)
    confirm = ConfirmBooking(moves=both, clock=clock)(
        _staff(catalog.appointment.provider_id), booking_id
    )
    cancel = CancelBooking(moves=both, clock=clock)(customer, booking_id)
    racers = [confirm, cancel] if round_ % 2 else [cancel, confirm]

    results = await asyncio.gather(*racers)

    won, lost = _tally(list(results))
    assert len(won) == 1
    assert lost == [HoldExpired()]  # the loser saw the hold, as today's answer says
    async with PostgisBookingsUnitOfWork(engine, MAINTENANCE) as uow:
        stored = await uow.bookings.get(booking_id)
    assert stored == won[0]
    event = {BookingStatus.CONFIRMED: "confirmed", BookingStatus.CANCELLED: "cancelled"}
    assert await _events_of(engine, booking_id) == [f"bookings.booking_{event[won[0].status]}"]


async def _expired_hold(engine: AsyncEngine, clock: FixedClock, catalog: Catalog) -> Booking:
    """A hold of the court made an hour before `NOW`, long expired at `NOW` and never swept."""
    clock.set(NOW - HOUR)
    held = await _hold_slot(engine, clock)(
        _customer(), SlotRequest(offering_id=catalog.appointment.id, start=NOW + 30 * HOUR)
    )
    clock.set(NOW)
    return held.unwrap()


async def _paid_confirmations(engine: AsyncEngine, booking_id: BookingId) -> list[bool]:
    async with engine.connect() as conn:
        payloads = await conn.execute(
            sa.text("SELECT payload FROM outbox WHERE name = 'bookings.booking_confirmed'")
        )
        return [p["paid"] for (p,) in payloads if uuid.UUID(p["booking_id"]) == booking_id]


@pytest.mark.parametrize("round_", range(11))
async def test_an_expired_hold_paid_for_while_20_holds_race_for_its_slot_is_booked_once(
    engine: AsyncEngine, round_: int
) -> None:
    catalog = await _catalog(engine, seats=1)
    clock = FixedClock(NOW)
    stale = await _expired_hold(engine, clock, catalog)
    paid = ConfirmPaidBooking(uow=PostgisBookingsUnitOfWork.factory(engine), clock=clock)
    hold = _hold_slot(engine, clock)
    request = SlotRequest(offering_id=catalog.appointment.id, start=stale.during.start)

    racers = [hold(_customer(), request) for _ in range(20)]
    racers.insert(2 * round_, paid(stale.id))  # first, among the holds, or after them all

    results = await asyncio.gather(*racers)

    reinstated = results.pop(2 * round_)
    won, lost = _tally(results)
    assert all(isinstance(error, SlotUnavailable) for error in lost)
    async with PostgisBookingsUnitOfWork(engine, MAINTENANCE) as uow:
        around = TimeRange(stale.blocked.start - HOUR, stale.blocked.end + HOUR)
        busy = await uow.bookings.busy([catalog.resource.id], around, NOW)
        stored = await uow.bookings.get(stale.id)
    assert stored is not None
    if isinstance(reinstated, Success):
        assert won == []
        assert stored.status is BookingStatus.CONFIRMED
        assert busy == {catalog.resource.id: [stale.blocked]}
    else:
        reason = "the slot was taken after the hold expired"
        assert reinstated == Failure(SlotUnavailable(reason=reason))
        assert len(won) == 1
        assert stored.status is BookingStatus.EXPIRED
        assert busy == {catalog.resource.id: [won[0].blocked]}


async def test_a_payment_notice_delivered_16_times_at_once_confirms_once(
    engine: AsyncEngine,
) -> None:
    catalog = await _catalog(engine, seats=1)
    clock = FixedClock(NOW)
    stale = await _expired_hold(engine, clock, catalog)
    paid = ConfirmPaidBooking(uow=PostgisBookingsUnitOfWork.factory(engine), clock=clock)

    results = await asyncio.gather(*(paid(stale.id) for _ in range(16)))

    won, lost = _tally(list(results))
    assert lost == []
    assert {(b.id, b.status) for b in won} == {(stale.id, BookingStatus.CONFIRMED)}
    assert await _paid_confirmations(engine, stale.id) == [True]


async def test_engines_carry_lock_and_statement_timeouts(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        lock = (await conn.execute(sa.text("SHOW lock_timeout"))).scalar_one()
        statement = (await conn.execute(sa.text("SHOW statement_timeout"))).scalar_one()

    assert (lock, statement) == ("5s", "30s")


async def test_a_hold_stuck_behind_a_row_lock_fails_within_the_lock_timeout(
    engine: AsyncEngine, migrated_url: str
) -> None:
    catalog = await _catalog(engine, seats=5)
    impatient = create_engine(migrated_url, pool_size=1, lock_timeout_ms=200)
    hold = _hold_slot(impatient, FixedClock(NOW))
    request = SlotRequest(offering_id=catalog.session.id, occurrence_id=catalog.run.id)
    try:
        async with engine.connect() as blocker:
            await blocker.execute(
                sa.text("SELECT 1 FROM occurrences WHERE id = :id FOR UPDATE"),
                {"id": catalog.run.id},
            )
            started = time.monotonic()
            with pytest.raises(OperationalError) as raised:
                await hold(_customer(), request)
            waited = time.monotonic() - started
    finally:
        await impatient.dispose()

    assert isinstance(raised.value.orig, psycopg.errors.LockNotAvailable)
    assert waited < 2


def _appointment(catalog: Catalog, start: datetime, length: timedelta) -> Booking:
    during = TimeRange(start, start + length)
    return Booking(
        id=BookingId(new_id()),
        offering_id=catalog.appointment.id,
        provider_id=catalog.appointment.provider_id,
        customer_id=UserId(new_id()),
        kind=OfferingKind.APPOINTMENT,
        during=during,
        blocked=during,
        resource_id=catalog.resource.id,
        price=catalog.appointment.price,
        status=BookingStatus.HELD,
        hold_expires_at=NOW + HOUR,
        created_at=NOW,
    )


async def _deadlocks(engine: AsyncEngine, *, at_least: int = 0) -> int:
    """The database's deadlock count; backends publish it as they exit, so allow a moment."""
    query = sa.text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
    for _ in range(50):
        async with engine.connect() as conn:
            count = int((await conn.execute(query)).scalar_one())
        if count >= at_least:
            break
        await asyncio.sleep(0.1)
    return count


async def test_a_deadlocked_exclusive_insert_retries_and_learns_the_rivals_outcome(
    new_database: LocalDatabase,
) -> None:
    # A database of its own: its deadlock count is ours alone.
    migrate.upgrade(new_database.migrator_url)
    engine = create_engine(new_database.app_url, pool_size=1)
    # The rival waits 10 s before looking for deadlocks, so PostgreSQL picks us as the victim;
    # only a superuser may set that.
    rival_engine = create_async_engine(
        new_database.superuser_url, connect_args={"options": "-c deadlock_timeout=10s"}
    )
    try:
        catalog = await _catalog(rival_engine, seats=1)
        start = NOW + 30 * HOUR
        rival_first = _appointment(catalog, start, HOUR)  # [0:00, 1:00)
        ours = _appointment(catalog, start + HOUR / 2, HOUR)  # [0:30, 1:30): overlaps both
        rival_second = _appointment(catalog, start + HOUR, HOUR)  # [1:00, 2:00)
        async with PostgisBookingsUnitOfWork(engine, MAINTENANCE) as uow:
            async with PostgisBookingsUnitOfWork(rival_engine, MAINTENANCE) as rival:
                assert await rival.bookings.add_exclusive(rival_first, NOW) == Success(None)
                attempt = asyncio.create_task(uow.bookings.add_exclusive(ours, NOW))
                await asyncio.sleep(0.3)  # ours now waits for the rival's first booking
                # The rival's second booking waits for ours: a cycle, broken by aborting ours.
                assert await rival.bookings.add_exclusive(rival_second, NOW) == Success(None)
            # The rival left without committing; our retry waited for exactly that outcome.
            assert await attempt == Success(None)
    finally:
        # Closing the connections makes their backends publish their statistics.
        await engine.dispose()
        await rival_engine.dispose()

    counter = create_engine(new_database.app_url, pool_size=1)
    try:
        assert await _deadlocks(counter, at_least=1) == 1
    finally:
        await counter.dispose()


async def test_moves_read_and_write_only_what_the_callers_rows_allow(engine: AsyncEngine) -> None:
    """Row-level security applies to both trips: a stranger neither sees nor moves a booking."""
    catalog = await _catalog(engine, seats=1)
    clock = FixedClock(NOW)
    customer = _customer()
    held = await _hold_slot(engine, clock)(
        customer, SlotRequest(offering_id=catalog.appointment.id, start=NOW + 30 * HOUR)
    )
    booking = held.unwrap()
    cancelled, event = booking.cancel(NOW, CancelledBy.CUSTOMER).unwrap()
    moves = PostgisBookingMoves(engine)
    stranger = Access.of(_customer())

    assert await moves.get(stranger, booking.id) is None
    assert not await moves.move(stranger, cancelled, BookingStatus.HELD, NOW, [event])
    assert await moves.get(Access.of(customer), booking.id) == booking
    assert await moves.move(Access.of(customer), cancelled, BookingStatus.HELD, NOW, [event])
    assert await _events_of(engine, booking.id) == ["bookings.booking_cancelled"]
