"""One contract for every bookings unit of work: the in-memory fake and PostGIS must agree.

Each test runs twice, on `MemoryBookingsStore` and on `PostgisBookingsUnitOfWork` over a
freshly migrated database (emptied before every test).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

import attrs
import pytest
import sqlalchemy as sa
from returns.result import Failure, Success
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.booking_moves import MemoryBookingMoves, MemoryLapsedHolds
from adapters.memory.bookings import MemoryBookingsStore
from adapters.memory.clock import FixedClock
from adapters.postgis import migrate
from adapters.postgis.bookings import PostgisBookingsUnitOfWork
from adapters.postgis.bookings.moves import PostgisBookingMoves, PostgisLapsedHolds
from adapters.postgis.database import create_engine
from adapters.postgis.personal import PostgisPersonKeyVault
from core.bookings import ConfirmBooking, GetBooking, ListMyBookings, ListProviderBookings
from core.bookings.model import (
    Address,
    Booking,
    BookingRules,
    BookingStatus,
    CancelledBy,
    DatedException,
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
from core.bookings.ports import (
    NOT_REINSTATABLE,
    BookingMoves,
    BookingsUnitOfWork,
    LapsedHolds,
    Page,
    SearchHit,
    SearchQuery,
)
from core.shared.events import Event
from core.shared.geo import GeoPoint
from core.shared.ids import (
    BookingId,
    EventId,
    OccurrenceId,
    OfferingId,
    PlaceId,
    ProviderId,
    ResourceId,
    UserId,
    new_id,
)
from core.shared.keyring import Sealed
from core.shared.money import Money
from core.shared.principal import Principal, Role
from core.shared.time import TimeRange
from core.shared.unit_of_work import MAINTENANCE, Access
from devservers.postgres import LocalDatabase, LocalPostgres

T0 = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)  # a Monday
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
HOLD = 10 * MINUTE
BUFFER = 10 * MINUTE
BERLIN = GeoPoint(52.52, 13.405)
METRES_PER_DEGREE_LAT = 6_371_008.8 * 3.141592653589793 / 180


# ---------------------------------------------------------------- adapters under test


class Harness(Protocol):
    def uow(self, access: Access = MAINTENANCE) -> BookingsUnitOfWork: ...
    def moves(self) -> BookingMoves: ...
    def lapsed_holds(self) -> LapsedHolds: ...
    async def committed_event_ids(self) -> set[EventId]: ...
    async def give_key(self, person: UserId) -> None:
        """A person's data key, as their first sealed value makes it (not an erasure)."""
        ...

    async def erase(self, person: UserId) -> None:
        """What erasure does to a person, as the bookings context can tell."""
        ...


class MemoryHarness:
    def __init__(self) -> None:
        self._store = MemoryBookingsStore()

    def uow(self, access: Access = MAINTENANCE) -> BookingsUnitOfWork:
        return self._store(access)

    def moves(self) -> BookingMoves:
        return MemoryBookingMoves(self._store)

    def lapsed_holds(self) -> LapsedHolds:
        return MemoryLapsedHolds(self._store)

    async def committed_event_ids(self) -> set[EventId]:
        return {event.id for event in self._store.outbox}

    async def give_key(self, person: UserId) -> None:
        pass  # the store knows only who was erased

    async def erase(self, person: UserId) -> None:
        self._store.erase_customer(person)


class PostgisHarness:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    def uow(self, access: Access = MAINTENANCE) -> BookingsUnitOfWork:
        return PostgisBookingsUnitOfWork(self._engine, access)

    def moves(self) -> BookingMoves:
        return PostgisBookingMoves(self._engine)

    def lapsed_holds(self) -> LapsedHolds:
        return PostgisLapsedHolds(self._engine)

    async def committed_event_ids(self) -> set[EventId]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(sa.text("SELECT id FROM outbox"))
            return {EventId(row.id) for row in rows}

    async def give_key(self, person: UserId) -> None:
        key = Sealed(kek_id="k", wrapped_key=b"w", ciphertext=b"c")  # never opened here
        await PostgisPersonKeyVault(self._engine).add(person, key)

    async def erase(self, person: UserId) -> None:
        await PostgisPersonKeyVault(self._engine).shred(person)


TABLES = (
    "bookings, occurrences, offering_resources, offerings, opening_exception_intervals,"
    " opening_exceptions, opening_hours, resources, places, providers, outbox"
)


@pytest.fixture(scope="module")
def migrated(postgres_server: LocalPostgres) -> LocalDatabase:
    database = postgres_server.create_database(f"contract_{uuid.uuid4().hex[:12]}")
    migrate.upgrade(database.migrator_url)
    return database


@pytest.fixture(params=["memory", "postgis"])
async def harness(
    request: pytest.FixtureRequest, migrated: LocalDatabase
) -> AsyncIterator[Harness]:
    if request.param == "memory":
        yield MemoryHarness()
        return
    owner = create_engine(migrated.migrator_url, pool_size=1)
    async with owner.begin() as conn:  # the app role may not TRUNCATE
        await conn.execute(sa.text(f"TRUNCATE {TABLES}"))
    await owner.dispose()
    engine = create_engine(migrated.app_url, pool_size=4)
    try:
        yield PostgisHarness(engine)
    finally:
        await engine.dispose()


# ---------------------------------------------------------------- a small catalog


@attrs.frozen(kw_only=True)
class Seed:
    provider: Provider
    place: Place
    court: Resource
    spare: Resource
    appointment: Offering
    session: Offering
    run: Occurrence


def _rules(buffer: timedelta = BUFFER) -> BookingRules:
    return BookingRules(
        duration=HOUR,
        slot_step=HOUR,
        buffer_before=buffer,
        buffer_after=buffer,
        horizon=90 * 24 * HOUR,
    )


def _place(provider_id: ProviderId, point: GeoPoint, name: str = "Club") -> Place:
    return Place(
        id=PlaceId(new_id()),
        provider_id=provider_id,
        name=name,
        address=Address(line1="Torstrasse 1", city="Berlin", postal_code="10119", country="DE"),
        point=point,
        timezone="Europe/Berlin",
    )


def _offering(
    place: Place,
    kind: OfferingKind = OfferingKind.APPOINTMENT,
    *,
    resource_ids: tuple[ResourceId, ...] = (),
    category: str = "tennis",
    price: Money | None = None,
    capacity: int = 1,
) -> Offering:
    return Offering(
        id=OfferingId(new_id()),
        provider_id=place.provider_id,
        place_id=place.id,
        kind=kind,
        name=f"{category} {kind}",
        category=category,
        price=price or Money.of(2500, "EUR").unwrap(),
        rules=_rules(),
        resource_ids=resource_ids,
        capacity=capacity,
    )


async def _seed(h: Harness) -> Seed:
    provider = Provider(id=ProviderId(new_id()), name="Courts & Co")
    place = _place(provider.id, BERLIN)
    court = Resource(id=ResourceId(new_id()), provider_id=provider.id, place_id=place.id, name="1")
    spare = Resource(id=ResourceId(new_id()), provider_id=provider.id, place_id=place.id, name="2")
    appointment = _offering(place, resource_ids=(spare.id, court.id))
    session = _offering(place, OfferingKind.SESSION, category="yoga", capacity=3)
    run = Occurrence(
        id=OccurrenceId(new_id()),
        offering_id=session.id,
        during=TimeRange(T0 + 24 * HOUR, T0 + 25 * HOUR),
        capacity=3,
    )
    async with h.uow() as uow:
        await uow.providers.add(provider)
        await uow.places.add(place)
        await uow.resources.add(court)
        await uow.resources.add(spare)
        await uow.offerings.add(appointment)
        await uow.offerings.add(session)
        await uow.occurrences.add([run])
        await uow.commit()
    return Seed(
        provider=provider,
        place=place,
        court=court,
        spare=spare,
        appointment=appointment,
        session=session,
        run=run,
    )


def _appointment(
    seed: Seed,
    start: datetime,
    *,
    resource: Resource | None = None,
    status: BookingStatus = BookingStatus.HELD,
    expires: datetime | None = T0 + HOLD,
    created: datetime = T0,
    customer: UserId | None = None,
) -> Booking:
    during = TimeRange(start, start + HOUR)
    return Booking(
        id=BookingId(new_id()),
        offering_id=seed.appointment.id,
        provider_id=seed.provider.id,
        customer_id=customer or UserId(new_id()),
        kind=OfferingKind.APPOINTMENT,
        during=during,
        blocked=during.widen(BUFFER, BUFFER),
        resource_id=(resource or seed.court).id,
        price=seed.appointment.price,
        status=status,
        hold_expires_at=expires if status is BookingStatus.HELD else None,
        created_at=created,
    )


def _seats(
    seed: Seed,
    seats: int,
    *,
    status: BookingStatus = BookingStatus.HELD,
    expires: datetime = T0 + HOLD,
    run: Occurrence | None = None,
) -> Booking:
    occurrence = run or seed.run
    return Booking(
        id=BookingId(new_id()),
        offering_id=seed.session.id,
        provider_id=seed.provider.id,
        customer_id=UserId(new_id()),
        kind=OfferingKind.SESSION,
        during=occurrence.during,
        blocked=occurrence.during,
        occurrence_id=occurrence.id,
        seats=seats,
        price=seed.session.price.times(seats),
        status=status,
        hold_expires_at=expires if status is BookingStatus.HELD else None,
        created_at=T0,
    )


async def _insert(h: Harness, *bookings: Booking) -> None:
    """Write bookings as they are (any status), through the integrity-checked adds."""
    async with h.uow() as uow:
        for booking in bookings:
            if booking.kind is OfferingKind.SESSION:
                added = await uow.bookings.add_seated(booking, 10_000, booking.created_at)
            else:
                added = await uow.bookings.add_exclusive(booking, booking.created_at)
            assert added == Success(None)
        await uow.commit()


# ---------------------------------------------------------------- round trips


async def test_catalog_aggregates_round_trip(harness: Harness) -> None:
    seed = await _seed(harness)

    async with harness.uow() as uow:
        assert await uow.providers.get(seed.provider.id) == seed.provider
        assert await uow.places.get(seed.place.id) == seed.place
        assert await uow.places.for_provider(seed.provider.id) == [seed.place]
        assert await uow.resources.get(seed.court.id) == seed.court
        assert await uow.resources.for_provider(seed.provider.id) == sorted(
            [seed.court, seed.spare], key=lambda r: r.id
        )
        assert await uow.offerings.get(seed.appointment.id) == seed.appointment
        assert await uow.offerings.get(seed.session.id) == seed.session
        assert await uow.offerings.for_provider(seed.provider.id) == sorted(
            [seed.appointment, seed.session], key=lambda o: o.id
        )
        assert await uow.occurrences.get(seed.run.id) == seed.run


async def test_missing_ids_read_as_none(harness: Harness) -> None:
    async with harness.uow() as uow:
        assert await uow.providers.get(ProviderId(new_id())) is None
        assert await uow.places.get(PlaceId(new_id())) is None
        assert await uow.resources.get(ResourceId(new_id())) is None
        assert await uow.offerings.get(OfferingId(new_id())) is None
        assert await uow.occurrences.get(OccurrenceId(new_id())) is None
        assert await uow.bookings.get(BookingId(new_id())) is None


async def test_bookings_round_trip(harness: Harness) -> None:
    seed = await _seed(harness)
    held = _appointment(seed, T0 + 2 * HOUR)
    confirmed = _appointment(seed, T0 + 4 * HOUR, status=BookingStatus.CONFIRMED)
    seated = _seats(seed, 2)
    cancelled = attrs.evolve(
        _appointment(seed, T0 + 6 * HOUR, status=BookingStatus.CONFIRMED),
        status=BookingStatus.CANCELLED,
        cancelled_at=T0 + MINUTE,
        cancelled_by=CancelledBy.PROVIDER,
    )
    await _insert(harness, held, confirmed, seated, cancelled)

    async with harness.uow() as uow:
        assert await uow.bookings.get(held.id) == held
        assert await uow.bookings.get(confirmed.id) == confirmed
        assert await uow.bookings.get(seated.id) == seated
        assert await uow.bookings.get(cancelled.id) == cancelled


async def test_providers_list_pages_by_id(harness: Harness) -> None:
    made = [Provider(id=ProviderId(new_id()), name=f"p{n}") for n in range(5)]
    async with harness.uow() as uow:
        for provider in made:
            await uow.providers.add(provider)
        await uow.commit()
    ordered = sorted(made, key=lambda p: p.id)

    async with harness.uow() as uow:
        first = await uow.providers.list(Page(limit=3))
        rest = await uow.providers.list(Page(limit=3, after=str(first[-1].id)))
        garbage = await uow.providers.list(Page(limit=3, after="not-a-cursor"))

    assert [*first, *rest] == ordered
    assert garbage == []


async def test_hours_are_empty_then_replaced_as_a_whole(harness: Harness) -> None:
    seed = await _seed(harness)
    nine_to_five = LocalInterval(9 * 60, 17 * 60)
    first = OpeningHours.create(
        seed.place.id,
        [WeeklyRule(weekday=d, interval=nine_to_five) for d in range(5)],
        [
            DatedException(day=date(2030, 12, 25)),
            DatedException(
                day=date(2030, 12, 24),
                intervals=(LocalInterval(8 * 60, 10 * 60), LocalInterval(11 * 60, 12 * 60)),
            ),
        ],
    ).unwrap()
    second = OpeningHours.create(
        seed.place.id,
        [WeeklyRule(weekday=5, interval=LocalInterval(10 * 60, 24 * 60))],
        [DatedException(day=date(2031, 1, 1))],
    ).unwrap()

    async with harness.uow() as uow:
        assert await uow.places.hours(seed.place.id) == OpeningHours(place_id=seed.place.id)
        await uow.places.set_hours(first)
        await uow.commit()
    async with harness.uow() as uow:
        assert await uow.places.hours(seed.place.id) == first
        await uow.places.set_hours(second)
        await uow.commit()
    async with harness.uow() as uow:
        assert await uow.places.hours(seed.place.id) == second


async def test_occurrences_starting_in_a_half_open_window(harness: Harness) -> None:
    seed = await _seed(harness)
    runs = [
        Occurrence(
            id=OccurrenceId(new_id()),
            offering_id=seed.session.id,
            during=TimeRange(T0 + n * HOUR, T0 + (n + 1) * HOUR),
            capacity=3,
        )
        for n in range(4)
    ]
    async with harness.uow() as uow:
        await uow.occurrences.add(runs)
        await uow.commit()

    async with harness.uow() as uow:
        found = await uow.occurrences.starting_in(
            [seed.session.id], TimeRange(T0 + HOUR, T0 + 3 * HOUR)
        )
        other = await uow.occurrences.starting_in([seed.appointment.id], TimeRange(T0, T0 + HOUR))

    assert found == runs[1:3]
    assert other == []


# ---------------------------------------------------------------- exclusive slots


async def test_add_exclusive_refuses_an_overlapping_live_booking(harness: Harness) -> None:
    seed = await _seed(harness)
    await _insert(harness, _appointment(seed, T0 + 2 * HOUR, status=BookingStatus.CONFIRMED))
    clash = _appointment(seed, T0 + 2 * HOUR + 30 * MINUTE)

    async with harness.uow() as uow:
        assert await uow.bookings.add_exclusive(clash, T0) == Failure(SlotUnavailable())


async def test_add_exclusive_refuses_when_only_the_buffers_overlap(harness: Harness) -> None:
    seed = await _seed(harness)
    await _insert(harness, _appointment(seed, T0 + 2 * HOUR))
    # during [3:05, 4:05) does not touch [2:00, 3:00), but blocked [2:55, ...) meets [..., 3:10).
    buffered = _appointment(seed, T0 + 3 * HOUR + 5 * MINUTE)

    async with harness.uow() as uow:
        assert await uow.bookings.add_exclusive(buffered, T0) == Failure(SlotUnavailable())


async def test_add_exclusive_accepts_adjacent_blocks_and_other_resources(
    harness: Harness,
) -> None:
    seed = await _seed(harness)
    await _insert(harness, _appointment(seed, T0 + 2 * HOUR))
    adjacent = _appointment(seed, T0 + 3 * HOUR + 20 * MINUTE)  # blocked starts at 3:10
    elsewhere = _appointment(seed, T0 + 2 * HOUR, resource=seed.spare)

    async with harness.uow() as uow:
        assert await uow.bookings.add_exclusive(adjacent, T0) == Success(None)
        assert await uow.bookings.add_exclusive(elsewhere, T0) == Success(None)
        await uow.commit()


async def test_add_exclusive_takes_the_slot_of_an_expired_hold(harness: Harness) -> None:
    seed = await _seed(harness)
    stale = _appointment(seed, T0 + 2 * HOUR, expires=T0 + HOLD)
    await _insert(harness, stale)
    later = T0 + HOLD  # the hold expires at this very instant
    fresh = _appointment(seed, T0 + 2 * HOUR, created=later, expires=later + HOLD)

    async with harness.uow() as uow:
        assert await uow.bookings.add_exclusive(fresh, later) == Success(None)
        await uow.commit()
    async with harness.uow() as uow:
        expired = await uow.bookings.get(stale.id)

    assert expired == attrs.evolve(stale, status=BookingStatus.EXPIRED)


async def test_add_exclusive_ignores_cancelled_bookings(harness: Harness) -> None:
    seed = await _seed(harness)
    booking = _appointment(seed, T0 + 2 * HOUR, status=BookingStatus.CONFIRMED)
    await _insert(harness, booking)
    async with harness.uow() as uow:
        cancelled = attrs.evolve(booking, status=BookingStatus.CANCELLED)
        assert await uow.bookings.save(cancelled, BookingStatus.CONFIRMED, T0)
        await uow.commit()

    async with harness.uow() as uow:
        again = _appointment(seed, T0 + 2 * HOUR)
        assert await uow.bookings.add_exclusive(again, T0) == Success(None)


async def test_a_refused_add_leaves_the_unit_of_work_usable(harness: Harness) -> None:
    seed = await _seed(harness)
    await _insert(harness, _appointment(seed, T0 + 2 * HOUR))
    refused = _appointment(seed, T0 + 2 * HOUR)
    instead = attrs.evolve(refused, id=BookingId(new_id()), resource_id=seed.spare.id)

    async with harness.uow() as uow:
        assert await uow.bookings.add_exclusive(refused, T0) == Failure(SlotUnavailable())
        assert await uow.bookings.add_exclusive(instead, T0) == Success(None)
        await uow.commit()
    async with harness.uow() as uow:
        assert await uow.bookings.get(instead.id) == instead
        assert await uow.bookings.get(refused.id) is None


# ---------------------------------------------------------------- seats


async def test_add_seated_fills_the_capacity_and_no_more(harness: Harness) -> None:
    seed = await _seed(harness)  # the run has 3 seats

    async with harness.uow() as uow:
        assert await uow.bookings.add_seated(_seats(seed, 2), 3, T0) == Success(None)
        assert await uow.bookings.add_seated(_seats(seed, 2), 3, T0) == Failure(SessionFull(1))
        assert await uow.bookings.add_seated(_seats(seed, 1), 3, T0) == Success(None)
        assert await uow.bookings.add_seated(_seats(seed, 1), 3, T0) == Failure(SessionFull(0))
        await uow.commit()


async def test_expired_holds_free_their_seats(harness: Harness) -> None:
    seed = await _seed(harness)
    await _insert(harness, _seats(seed, 3, expires=T0 + HOLD))

    async with harness.uow() as uow:
        assert await uow.bookings.add_seated(_seats(seed, 1), 3, T0) == Failure(SessionFull(0))
        late = _seats(seed, 3, expires=T0 + 2 * HOLD)
        assert await uow.bookings.add_seated(late, 3, T0 + HOLD) == Success(None)


# ---------------------------------------------------------------- conditional save


async def test_save_writes_only_from_the_expected_status(harness: Harness) -> None:
    seed = await _seed(harness)
    held = _appointment(seed, T0 + 2 * HOUR)
    await _insert(harness, held)
    confirmed = attrs.evolve(held, status=BookingStatus.CONFIRMED, hold_expires_at=None)

    async with harness.uow() as uow:
        assert not await uow.bookings.save(confirmed, BookingStatus.CONFIRMED, T0)
        assert await uow.bookings.save(confirmed, BookingStatus.HELD, T0)
        assert not await uow.bookings.save(confirmed, BookingStatus.HELD, T0)
        await uow.commit()
    async with harness.uow() as uow:
        assert await uow.bookings.get(held.id) == confirmed


async def test_save_refuses_to_move_an_expired_hold(harness: Harness) -> None:
    seed = await _seed(harness)
    held = _appointment(seed, T0 + 2 * HOUR, expires=T0 + HOLD)
    await _insert(harness, held)
    confirmed = attrs.evolve(held, status=BookingStatus.CONFIRMED, hold_expires_at=None)

    async with harness.uow() as uow:
        assert not await uow.bookings.save(confirmed, BookingStatus.HELD, T0 + HOLD)
        assert await uow.bookings.get(held.id) == held


# ---------------------------------------------------------------- moves (transitions)


def _cancelled(booking: Booking, at: datetime) -> tuple[Booking, Event]:
    return booking.cancel(at, CancelledBy.CUSTOMER).unwrap()


async def test_moves_read_a_stored_booking_and_none_for_a_missing_one(harness: Harness) -> None:
    seed = await _seed(harness)
    held, seated = _appointment(seed, T0 + 2 * HOUR), _seats(seed, 2)
    await _insert(harness, held, seated)
    moves = harness.moves()

    assert await moves.get(MAINTENANCE, held.id) == held
    assert await moves.get(MAINTENANCE, seated.id) == seated
    assert await moves.get(MAINTENANCE, BookingId(new_id())) is None


async def test_a_move_writes_the_booking_and_its_events_together(harness: Harness) -> None:
    seed = await _seed(harness)
    held = _appointment(seed, T0 + 2 * HOUR, expires=T0 + HOLD)
    await _insert(harness, held)
    cancelled, event = _cancelled(held, T0 + MINUTE)
    second = Event(name="bookings.test", occurred_at=T0, payload={"n": 1, "none": None})

    moved = await harness.moves().move(
        MAINTENANCE, cancelled, BookingStatus.HELD, T0 + MINUTE, [event, second]
    )

    assert moved
    async with harness.uow() as uow:
        assert await uow.bookings.get(held.id) == cancelled
    assert {event.id, second.id} <= await harness.committed_event_ids()


async def test_a_move_from_a_status_no_longer_stored_writes_nothing(harness: Harness) -> None:
    seed = await _seed(harness)
    confirmed = _appointment(seed, T0 + 2 * HOUR, status=BookingStatus.CONFIRMED)
    await _insert(harness, confirmed)
    completed, event = confirmed.complete(T0 + 4 * HOUR).unwrap()
    moves = harness.moves()

    stale = await moves.move(MAINTENANCE, completed, BookingStatus.HELD, T0, [event])
    first = await moves.move(MAINTENANCE, completed, BookingStatus.CONFIRMED, T0, [event])
    again = await moves.move(MAINTENANCE, completed, BookingStatus.CONFIRMED, T0, [event])

    assert (stale, first, again) == (False, True, False)
    assert await moves.get(MAINTENANCE, confirmed.id) == completed
    assert event.id in await harness.committed_event_ids()


async def test_a_move_of_a_hold_past_its_expiry_writes_nothing(harness: Harness) -> None:
    seed = await _seed(harness)
    held = _appointment(seed, T0 + 2 * HOUR, expires=T0 + HOLD)
    await _insert(harness, held)
    cancelled, event = _cancelled(held, T0)

    moved = await harness.moves().move(
        MAINTENANCE, cancelled, BookingStatus.HELD, T0 + HOLD, [event]
    )

    assert not moved
    assert await harness.moves().get(MAINTENANCE, held.id) == held
    assert event.id not in await harness.committed_event_ids()


async def test_lapsed_holds_are_marked_expired_in_bounded_batches_and_nothing_else(
    harness: Harness,
) -> None:
    seed = await _seed(harness)
    lapsed = [
        _appointment(seed, T0 + n * 2 * HOUR, expires=T0 + n * MINUTE) for n in range(1, 5)
    ] + [_seats(seed, 1, expires=T0 + HOLD)]
    live = _appointment(seed, T0 + 20 * HOUR, expires=T0 + HOLD + MINUTE)
    confirmed = _appointment(seed, T0 + 22 * HOUR, status=BookingStatus.CONFIRMED)
    cancelled = attrs.evolve(
        _appointment(seed, T0 + 24 * HOUR, expires=T0 + MINUTE),
        status=BookingStatus.CANCELLED,
        cancelled_at=T0,
        cancelled_by=CancelledBy.CUSTOMER,
    )
    await _insert(harness, *lapsed, live, confirmed, cancelled)
    sweep = harness.lapsed_holds()

    batches = [await sweep.expire(T0 + HOLD, 2) for _ in range(4)]

    assert batches == [2, 2, 1, 0]
    async with harness.uow() as uow:
        stored = {b.id: b for b in await uow.bookings.get_many([b.id for b in lapsed])}
        assert stored == {b.id: attrs.evolve(b, status=BookingStatus.EXPIRED) for b in lapsed}
        assert await uow.bookings.get(live.id) == live
        assert await uow.bookings.get(confirmed.id) == confirmed
        assert await uow.bookings.get(cancelled.id) == cancelled


async def test_reschedule_swaps_bookings_in_one_transaction(harness: Harness) -> None:
    seed = await _seed(harness)
    old = _appointment(seed, T0 + 2 * HOUR, status=BookingStatus.CONFIRMED)
    await _insert(harness, old)
    moved_out = attrs.evolve(old, status=BookingStatus.RESCHEDULED)
    new = _appointment(seed, T0 + 2 * HOUR + 30 * MINUTE)  # overlaps the old slot
    confirmed_new = attrs.evolve(
        new, status=BookingStatus.CONFIRMED, hold_expires_at=None, rescheduled_from=old.id
    )

    async with harness.uow() as uow:
        assert await uow.bookings.save(moved_out, BookingStatus.CONFIRMED, T0)
        assert await uow.bookings.add_exclusive(new, T0) == Success(None)
        assert await uow.bookings.save(confirmed_new, BookingStatus.HELD, T0)
        await uow.commit()
    async with harness.uow() as uow:
        assert await uow.bookings.get(old.id) == moved_out
        assert await uow.bookings.get(new.id) == confirmed_new


async def test_a_reschedule_onto_a_taken_slot_keeps_the_original(harness: Harness) -> None:
    seed = await _seed(harness)
    old = _appointment(seed, T0 + 2 * HOUR, status=BookingStatus.CONFIRMED)
    rival = _appointment(seed, T0 + 6 * HOUR, status=BookingStatus.CONFIRMED)
    await _insert(harness, old, rival)
    onto_rival = _appointment(seed, T0 + 6 * HOUR)

    async with harness.uow() as uow:  # the use case's order: release, then try to secure
        assert await uow.bookings.save(
            attrs.evolve(old, status=BookingStatus.RESCHEDULED), BookingStatus.CONFIRMED, T0
        )
        assert await uow.bookings.add_exclusive(onto_rival, T0) == Failure(SlotUnavailable())
        # leaving without commit, as RescheduleBooking does on failure
    async with harness.uow() as uow:
        assert await uow.bookings.get(old.id) == old
        assert await uow.bookings.get(onto_rival.id) is None


# ---------------------------------------------------------------- reading many at once


async def test_get_many_reads_the_bookings_that_exist(harness: Harness) -> None:
    seed = await _seed(harness)
    first, second, third = (_appointment(seed, T0 + n * 2 * HOUR) for n in range(1, 4))
    await _insert(harness, first, second, third)

    async with harness.uow() as uow:
        found = await uow.bookings.get_many([third.id, BookingId(new_id()), first.id, third.id])
        nothing = await uow.bookings.get_many([])

    assert sorted(found, key=lambda b: b.id) == sorted([first, third], key=lambda b: b.id)
    assert nothing == []


# ---------------------------------------------------------------- reinstating a hold


def _confirmed(booking: Booking) -> Booking:
    return attrs.evolve(booking, status=BookingStatus.CONFIRMED, hold_expires_at=None)


@pytest.mark.parametrize("swept", [False, True])
async def test_reinstate_confirms_an_expired_hold_whose_slot_is_free(
    harness: Harness, swept: bool
) -> None:
    seed = await _seed(harness)
    stale = _appointment(seed, T0 + 2 * HOUR, expires=T0 + HOLD)
    if swept:
        stale = attrs.evolve(stale, status=BookingStatus.EXPIRED, hold_expires_at=None)
    await _insert(harness, stale)
    later = T0 + HOLD

    async with harness.uow() as uow:
        assert await uow.bookings.reinstate(stale, later) == Success(None)
        await uow.commit()
    async with harness.uow() as uow:
        assert await uow.bookings.get(stale.id) == _confirmed(stale)
        assert await uow.bookings.busy([seed.court.id], stale.blocked, later) == {
            seed.court.id: [stale.blocked]
        }


async def test_reinstate_confirms_a_live_hold(harness: Harness) -> None:
    seed = await _seed(harness)
    held = _appointment(seed, T0 + 2 * HOUR, expires=T0 + HOLD)
    await _insert(harness, held)

    async with harness.uow() as uow:
        assert await uow.bookings.reinstate(held, T0) == Success(None)
        await uow.commit()
    async with harness.uow() as uow:
        assert await uow.bookings.get(held.id) == _confirmed(held)


async def test_reinstate_refuses_a_slot_taken_after_the_hold_expired(harness: Harness) -> None:
    seed = await _seed(harness)
    stale = _appointment(seed, T0 + 2 * HOUR, expires=T0 + HOLD)
    await _insert(harness, stale)
    later = T0 + HOLD
    # Overlapping only in the buffers, on the same court, once the hold ran out.
    taker = _appointment(seed, T0 + 3 * HOUR + 5 * MINUTE, created=later, expires=later + HOLD)
    elsewhere = _appointment(seed, T0 + 2 * HOUR, resource=seed.spare, created=later)
    async with harness.uow() as uow:
        assert await uow.bookings.add_exclusive(taker, later) == Success(None)
        await uow.commit()

    async with harness.uow() as uow:
        assert await uow.bookings.reinstate(stale, later) == Failure(SlotUnavailable())
        assert await uow.bookings.add_exclusive(elsewhere, later) == Success(None)  # still usable
        await uow.commit()
    async with harness.uow() as uow:
        assert await uow.bookings.get(stale.id) == attrs.evolve(stale, status=BookingStatus.EXPIRED)
        assert await uow.bookings.get(taker.id) == taker


@pytest.mark.parametrize("status", [BookingStatus.CONFIRMED, BookingStatus.CANCELLED])
async def test_reinstate_refuses_a_booking_no_longer_held_or_expired(
    harness: Harness, status: BookingStatus
) -> None:
    seed = await _seed(harness)
    moved = _appointment(seed, T0 + 2 * HOUR, status=status)
    await _insert(harness, moved)

    async with harness.uow() as uow:
        assert await uow.bookings.reinstate(moved, T0) == Failure(NOT_REINSTATABLE)
        assert await uow.bookings.get(moved.id) == moved


async def test_reinstate_seats_only_if_they_fit_beside_the_live_ones(harness: Harness) -> None:
    seed = await _seed(harness)  # the run has 3 seats
    later = T0 + HOLD
    fits, too_many = _seats(seed, 2), _seats(seed, 3)
    await _insert(harness, fits, too_many)  # both holds expire at `later`
    async with harness.uow() as uow:  # one seat taken after they expired
        assert await uow.bookings.add_seated(_seats(seed, 1, expires=later + HOLD), 3, later) == (
            Success(None)
        )
        await uow.commit()

    async with harness.uow() as uow:
        assert await uow.bookings.reinstate(too_many, later) == Failure(SessionFull(2))
        assert await uow.bookings.reinstate(fits, later) == Success(None)
        assert await uow.bookings.reinstate(too_many, later) == Failure(SessionFull(0))
        await uow.commit()
    async with harness.uow() as uow:
        assert await uow.bookings.get(fits.id) == _confirmed(fits)
        assert await uow.bookings.seats_taken([seed.run.id], later) == {seed.run.id: 3}


async def test_reinstate_seats_does_not_count_the_booking_twice(harness: Harness) -> None:
    seed = await _seed(harness)
    everything = _seats(seed, 3)  # a live hold of every seat
    await _insert(harness, everything)

    async with harness.uow() as uow:
        assert await uow.bookings.reinstate(everything, T0) == Success(None)
        assert await uow.bookings.reinstate(everything, T0) == Failure(NOT_REINSTATABLE)


# ---------------------------------------------------------------- reads for availability


async def test_busy_lists_blocked_ranges_of_live_bookings_per_resource(harness: Harness) -> None:
    seed = await _seed(harness)
    now = T0 + HOLD
    confirmed = _appointment(seed, T0 + 2 * HOUR, status=BookingStatus.CONFIRMED)
    live_hold = _appointment(seed, T0 + 4 * HOUR, expires=now + HOLD)
    stale_hold = _appointment(seed, T0 + 6 * HOUR, expires=now)
    on_spare = _appointment(seed, T0 + 2 * HOUR, resource=seed.spare, expires=now + HOLD)
    far_away = _appointment(seed, T0 + 30 * HOUR, status=BookingStatus.CONFIRMED)
    await _insert(harness, confirmed, live_hold, stale_hold, on_spare, far_away)
    window = TimeRange(T0, T0 + 12 * HOUR)

    async with harness.uow() as uow:
        one = await uow.bookings.busy([seed.court.id], window, now)
        both = await uow.bookings.busy([seed.court.id, seed.spare.id], window, now)
        quiet = await uow.bookings.busy([seed.court.id], TimeRange(T0, T0 + HOUR), now)

    assert one == {seed.court.id: [confirmed.blocked, live_hold.blocked]}
    assert both == {**one, seed.spare.id: [on_spare.blocked]}
    assert quiet == {}


async def test_seats_taken_counts_live_bookings_only(harness: Harness) -> None:
    seed = await _seed(harness)
    now = T0 + HOLD
    other_run = Occurrence(
        id=OccurrenceId(new_id()),
        offering_id=seed.session.id,
        during=TimeRange(T0 + 48 * HOUR, T0 + 49 * HOUR),
        capacity=3,
    )
    async with harness.uow() as uow:
        await uow.occurrences.add([other_run])
        await uow.commit()
    await _insert(
        harness,
        _seats(seed, 2, expires=now + HOLD),
        _seats(seed, 3, status=BookingStatus.CONFIRMED),
        _seats(seed, 4, expires=now),
    )

    async with harness.uow() as uow:
        taken = await uow.bookings.seats_taken([seed.run.id, other_run.id], now)

    assert taken == {seed.run.id: 5}


# ---------------------------------------------------------------- reading holds past their expiry


async def test_a_hold_past_its_expiry_reads_expired_and_confirms_as_hold_expired(
    harness: Harness,
) -> None:
    """Swept or not, seats or appointment: every read says expired, confirming says why."""
    seed = await _seed(harness)
    customer = Principal(user_id=UserId(new_id()), roles=frozenset({Role.CUSTOMER}))
    seats = attrs.evolve(_seats(seed, 1), customer_id=customer.user_id)
    unswept = _appointment(seed, T0 + 2 * HOUR, customer=customer.user_id)
    swept = _appointment(seed, T0 + 4 * HOUR, customer=customer.user_id)
    await _insert(harness, seats, unswept, swept)
    later = T0 + HOLD
    async with harness.uow() as uow:  # someone books the slot of `swept` after its hold ran out
        taker = _appointment(seed, T0 + 4 * HOUR, created=later, expires=later + HOLD)
        assert await uow.bookings.add_exclusive(taker, later) == Success(None)
        await uow.commit()
    use_case = {"uow": harness.uow, "clock": FixedClock(later)}
    transitions = {"moves": harness.moves(), "clock": FixedClock(later)}
    staff = Principal(
        user_id=UserId(new_id()),
        roles=frozenset({Role.STAFF}),
        provider_ids=frozenset({seed.provider.id}),
        mfa=True,
    )

    held = [seats, unswept, swept]
    got = [(await GetBooking(**use_case)(customer, b.id)).unwrap().booking.status for b in held]
    mine = (await ListMyBookings(**use_case)(customer, Page(limit=10))).unwrap()
    theirs = await ListProviderBookings(**use_case)(staff, seed.provider.id, Page(limit=10))
    confirmed = [await ConfirmBooking(**transitions)(customer, b.id) for b in held]

    assert got == [BookingStatus.EXPIRED] * 3
    assert {b.status for b in mine} == {BookingStatus.EXPIRED}
    assert sorted(b.id for b in mine) == sorted(b.id for b in held)  # all three, not just one
    assert {b.id: b.status for b in theirs.unwrap().bookings} == {
        **{b.id: BookingStatus.EXPIRED for b in held},
        taker.id: BookingStatus.HELD,
    }
    assert confirmed == [Failure(HoldExpired())] * 3


# ---------------------------------------------------------------- erased customers


async def test_erased_customers_are_those_erased_among_the_ids_asked(harness: Harness) -> None:
    gone, keyless_gone, kept, unasked = (UserId(new_id()) for _ in range(4))
    for person in (gone, kept, unasked):
        await harness.give_key(person)
    for person in (gone, keyless_gone, unasked):
        await harness.erase(person)

    async with harness.uow() as uow:
        asked = [gone, keyless_gone, kept]
        assert await uow.erased_customers.among(asked) == {gone, keyless_gone}
        assert await uow.erased_customers.among([kept]) == frozenset()
        assert await uow.erased_customers.among([]) == frozenset()


# ---------------------------------------------------------------- newest-first listings


async def test_customer_and_provider_listings_are_newest_first_and_paged(
    harness: Harness,
) -> None:
    seed = await _seed(harness)
    customer = UserId(new_id())
    mine = [
        _appointment(
            seed,
            T0 + (2 + 2 * n) * HOUR,
            customer=customer,
            created=T0 + (n // 2) * MINUTE,  # pairs share created_at: id breaks the tie
            status=BookingStatus.CONFIRMED,
        )
        for n in range(5)
    ]
    theirs = _appointment(seed, T0 + 20 * HOUR, status=BookingStatus.CONFIRMED)
    await _insert(harness, *mine, theirs)
    newest_first = sorted(mine, key=lambda b: (b.created_at, b.id), reverse=True)

    async with harness.uow() as uow:
        first = await uow.bookings.for_customer(customer, Page(limit=2))
        second = await uow.bookings.for_customer(customer, Page(limit=2, after=str(first[-1].id)))
        third = await uow.bookings.for_customer(customer, Page(limit=2, after=str(second[-1].id)))
        provider = await uow.bookings.for_provider(seed.provider.id, Page(limit=10))
        garbage = await uow.bookings.for_customer(customer, Page(limit=2, after="%%%"))
        unknown = await uow.bookings.for_customer(customer, Page(limit=2, after=str(new_id())))

    assert [*first, *second, *third] == newest_first
    assert provider == sorted([*mine, theirs], key=lambda b: (b.created_at, b.id), reverse=True)
    assert garbage == []
    assert unknown == []


# ---------------------------------------------------------------- search


def _north(metres: float) -> GeoPoint:
    return GeoPoint(BERLIN.lat + metres / METRES_PER_DEGREE_LAT, BERLIN.lng)


async def _search_catalog(h: Harness) -> list[tuple[float, Offering]]:
    """Three offerings at each of places 0 m, 500 m, 1 km, 2 km and 20 km north of the centre."""
    provider = Provider(id=ProviderId(new_id()), name="Everywhere")
    eur, usd = Money.of(2000, "EUR").unwrap(), Money.of(2000, "USD").unwrap()
    found: list[tuple[float, Offering]] = []
    async with h.uow() as uow:
        await uow.providers.add(provider)
        for metres in (0, 500, 1000, 2000, 20_000):
            place = _place(provider.id, _north(metres), name=f"{metres} m")
            await uow.places.add(place)
            resource = Resource(
                id=ResourceId(new_id()), provider_id=provider.id, place_id=place.id, name="r"
            )
            await uow.resources.add(resource)
            made = [
                _offering(place, resource_ids=(resource.id,), category="tennis", price=eur),
                _offering(place, resource_ids=(resource.id,), category="tennis", price=usd),
                _offering(place, OfferingKind.SESSION, category="yoga", price=eur.times(2)),
            ]
            for offering in made:
                await uow.offerings.add(offering)
            found.extend((metres, offering) for offering in made)
        await uow.commit()
    return found


def _query(
    *,
    limit: int = 100,
    after: str | None = None,
    category: str | None = None,
    currency: str | None = None,
    min_price_minor: int | None = None,
    max_price_minor: int | None = None,
) -> SearchQuery:
    return SearchQuery(
        near=BERLIN,
        radius_m=3000,
        category=category,
        currency=currency,
        min_price_minor=min_price_minor,
        max_price_minor=max_price_minor,
        page=Page(limit=limit, after=after),
    )


async def test_search_finds_offerings_within_the_radius_nearest_first(harness: Harness) -> None:
    catalog = await _search_catalog(harness)
    within = sorted((m, o.id) for m, o in catalog if m <= 3000)

    async with harness.uow() as uow:
        hits = await uow.offerings.search(_query())

    assert [hit.offering.id for hit in hits] == [offering_id for _, offering_id in within]
    by_id = {o.id: o for _, o in catalog}
    for hit in hits:
        assert hit.offering == by_id[hit.offering.id]
        assert hit.place.id == hit.offering.place_id
        assert hit.distance_m == pytest.approx(BERLIN.distance_m(hit.place.point), abs=0.01)


async def test_search_filters_by_category_currency_and_price(harness: Harness) -> None:
    await _search_catalog(harness)

    async with harness.uow() as uow:
        yoga = await uow.offerings.search(_query(category=" Yoga "))
        in_usd = await uow.offerings.search(_query(currency="usd"))
        cheap = await uow.offerings.search(_query(currency="EUR", max_price_minor=2000))
        dear = await uow.offerings.search(_query(min_price_minor=2001))

    assert len(yoga) == 4
    assert {h.offering.category for h in yoga} == {"yoga"}
    assert len(in_usd) == 4
    assert {h.offering.price.currency.code for h in in_usd} == {"USD"}
    assert len(cheap) == 4
    assert {(h.offering.price.minor, h.offering.price.currency.code) for h in cheap} == {
        (2000, "EUR")
    }
    assert [h.offering for h in dear] == [h.offering for h in yoga]


async def test_search_pages_with_cursors_through_the_same_order(harness: Harness) -> None:
    await _search_catalog(harness)

    async with harness.uow() as uow:
        everything = await uow.offerings.search(_query())
        pages: list[SearchHit] = []
        after = None
        while True:
            page = await uow.offerings.search(_query(limit=5, after=after))
            pages.extend(page)
            if len(page) < 5:
                break
            after = page[-1].cursor
        garbage = await uow.offerings.search(_query(after="not a cursor"))

    assert len(everything) == 12
    assert [h.offering.id for h in pages] == [h.offering.id for h in everything]
    assert garbage == []


# ---------------------------------------------------------------- transactions and outbox


async def _add_then_fail(harness: Harness, provider: Provider) -> None:
    async with harness.uow() as uow:
        await uow.providers.add(provider)
        raise RuntimeError("boom")


async def test_leaving_without_commit_rolls_everything_back(harness: Harness) -> None:
    provider = Provider(id=ProviderId(new_id()), name="Ghost")
    event = Event(name="bookings.provider_created", occurred_at=T0, payload={})

    async with harness.uow() as uow:
        await uow.providers.add(provider)
        await uow.outbox.add(event)
    with pytest.raises(RuntimeError, match="boom"):
        await _add_then_fail(harness, provider)

    async with harness.uow() as uow:
        assert await uow.providers.get(provider.id) is None
    assert event.id not in await harness.committed_event_ids()


async def test_outbox_events_are_written_with_the_commit_only(harness: Harness) -> None:
    provider = Provider(id=ProviderId(new_id()), name="Loud")
    events = [
        Event(name="bookings.provider_created", occurred_at=T0, payload={"n": n}) for n in range(2)
    ]

    async with harness.uow() as uow:
        await uow.providers.add(provider)
        await uow.outbox.add(*events)
        assert not {e.id for e in events} & await harness.committed_event_ids()
        await uow.commit()

    assert {e.id for e in events} <= await harness.committed_event_ids()
