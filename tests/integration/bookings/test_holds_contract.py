"""Holds in one round trip: `BookableCatalog` and `BookingHolds`, through `HoldSlot` and
`RescheduleBooking`, on the in-memory adapters and on PostGIS (migration 0020). Both must agree.

The core decides which slots exist on a catalog snapshot; the write decides who gets it and
refuses a snapshot whose place's catalog version moved (docs/adr/0030).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import attrs
import pytest
import sqlalchemy as sa
from returns.result import Failure, Result, Success
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.bookings import MemoryBookingsStore
from adapters.memory.clock import FixedClock
from adapters.memory.setup import BookingsPorts
from adapters.postgis import migrate
from adapters.postgis.bookings import (
    PostgisBookableCatalog,
    PostgisBookingHolds,
    PostgisBookingsUnitOfWork,
)
from adapters.postgis.bookings.availability_reads import PostgisAvailabilityReads
from adapters.postgis.bookings.moves import PostgisBookingMoves
from adapters.postgis.database import create_engine
from core.bookings import HoldSlot, RescheduleBooking, SetOpeningHours, SlotRequest
from core.bookings.model import (
    Address,
    Booking,
    BookingRules,
    BookingStatus,
    DatedException,
    LocalInterval,
    Occurrence,
    Offering,
    OfferingKind,
    OpeningHours,
    OutsideBookingWindow,
    Place,
    Provider,
    Resource,
    SessionFull,
    SlotUnavailable,
    WeeklyRule,
)
from core.bookings.ports import BookingMoved, CatalogChanged
from core.shared.errors import DomainError
from core.shared.geo import GeoPoint
from core.shared.ids import OccurrenceId, OfferingId, PlaceId, ProviderId, ResourceId, UserId
from core.shared.money import Money
from core.shared.principal import Principal, Role
from core.shared.time import TimeRange
from core.shared.unit_of_work import MAINTENANCE, Access
from devservers.postgres import LocalDatabase, LocalPostgres

T0 = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)  # a Monday; Berlin is UTC+1 until March 31
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
TTL = 10 * MINUTE
TOMORROW_10 = T0 + DAY  # 10:00 in Berlin
NO_SLOT = SlotUnavailable(reason="no free slot starts at that time")
TABLES = (
    "bookings, occurrences, offering_resources, offerings, opening_exception_intervals,"
    " opening_exceptions, opening_hours, resources, places, providers, outbox"
)


# ---------------------------------------------------------------- the adapters under test


@attrs.frozen
class World:
    ports: BookingsPorts
    clock: FixedClock
    engine: AsyncEngine | None  # PostGIS only

    async def events(self, name: str) -> list[dict[str, Any]]:
        """Payloads of the committed events called `bookings.<name>`."""
        if self.engine is None:
            store = self.ports.uow
            assert isinstance(store, MemoryBookingsStore)
            return [e.payload for e in store.outbox if e.name == f"bookings.{name}"]
        async with self.engine.connect() as conn:
            query = sa.text("SELECT payload FROM outbox WHERE name = :name ORDER BY seq")
            rows = await conn.execute(query, {"name": f"bookings.{name}"})
            return [dict(payload) for (payload,) in rows]

    async def stored(self, booking: Booking) -> Booking | None:
        return await self.ports.holds.booking(MAINTENANCE, booking.id)


@pytest.fixture(scope="module")
def migrated(postgres_server: LocalPostgres) -> LocalDatabase:
    database = postgres_server.create_database(f"holds_{uuid.uuid4().hex[:12]}")
    migrate.upgrade(database.migrator_url)
    return database


@pytest.fixture(params=["memory", "postgis"])
async def world(request: pytest.FixtureRequest, migrated: LocalDatabase) -> AsyncIterator[World]:
    clock = FixedClock(T0)
    if request.param == "memory":
        yield World(BookingsPorts.over(MemoryBookingsStore(), clock), clock, None)
        return
    owner = create_engine(migrated.migrator_url, pool_size=1)
    async with owner.begin() as conn:  # the app role may not TRUNCATE
        await conn.execute(sa.text(f"TRUNCATE {TABLES}"))
    await owner.dispose()
    engine = create_engine(migrated.app_url, pool_size=20, max_overflow=0)
    ports = BookingsPorts(
        uow=PostgisBookingsUnitOfWork.factory(engine),
        moves=PostgisBookingMoves(engine),
        reads=PostgisAvailabilityReads(engine),
        clock=clock,
        catalog=PostgisBookableCatalog(engine),
        holds=PostgisBookingHolds(engine),
    )
    try:
        yield World(ports, clock, engine)
    finally:
        await engine.dispose()


# ---------------------------------------------------------------- a club in Berlin


@attrs.frozen(kw_only=True)
class Club:
    place: Place
    court: Resource
    spare: Resource
    pair: Offering  # court, then spare; 10-minute buffers
    solo: Offering  # the court only; 10-minute buffers
    plain: Offering  # the court only; no buffers
    yoga: Offering  # a session
    run: Occurrence  # 10 seats, tomorrow at 10:00


ADMIN = Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.ADMIN}), mfa=True)


def _customer() -> Principal:
    return Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.CUSTOMER}))


def _rules(buffer: timedelta) -> BookingRules:
    return BookingRules(
        duration=HOUR,
        slot_step=HOUR,
        buffer_before=buffer,
        buffer_after=buffer,
        lead_time=HOUR,
        horizon=30 * DAY,
    )


def every_day(opens: int, closes: int) -> list[WeeklyRule]:
    return [WeeklyRule(weekday=d, interval=LocalInterval(opens, closes)) for d in range(7)]


async def _club(world: World) -> Club:
    provider = Provider(id=ProviderId(uuid.uuid4()), name="Club")
    place = Place(
        id=PlaceId(uuid.uuid4()),
        provider_id=provider.id,
        name="Courts",
        address=Address(line1="Torstrasse 1", city="Berlin", postal_code="10119", country="DE"),
        point=GeoPoint(52.52, 13.405),
        timezone="Europe/Berlin",
    )
    court, spare = (
        Resource(id=ResourceId(uuid.uuid4()), provider_id=provider.id, place_id=place.id, name=n)
        for n in ("court", "spare")
    )

    def offering(name: str, resources: tuple[Resource, ...], buffer: timedelta) -> Offering:
        return Offering(
            id=OfferingId(uuid.uuid4()),
            provider_id=provider.id,
            place_id=place.id,
            kind=OfferingKind.APPOINTMENT if resources else OfferingKind.SESSION,
            name=name,
            category="tennis",
            price=Money.of(2000, "EUR").unwrap(),
            rules=_rules(buffer),
            resource_ids=tuple(r.id for r in resources),
            capacity=10,
        )

    yoga = offering("yoga", (), timedelta(0))
    run = Occurrence(
        id=OccurrenceId(uuid.uuid4()),
        offering_id=yoga.id,
        during=TimeRange(TOMORROW_10, TOMORROW_10 + HOUR),
        capacity=10,
    )
    club = Club(
        place=place,
        court=court,
        spare=spare,
        pair=offering("pair", (court, spare), 10 * MINUTE),
        solo=offering("solo", (court,), 10 * MINUTE),
        plain=offering("plain", (court,), timedelta(0)),
        yoga=yoga,
        run=run,
    )
    async with world.ports.uow(MAINTENANCE) as uow:
        await uow.providers.add(provider)
        await uow.places.add(place)
        await uow.resources.add(court)
        await uow.resources.add(spare)
        for each in (club.pair, club.solo, club.plain, club.yoga):
            await uow.offerings.add(each)
        await uow.occurrences.add([run])
        await uow.places.set_hours(
            OpeningHours(place_id=place.id, weekly=tuple(every_day(8 * 60, 20 * 60)))
        )
        await uow.commit()
    return club


async def _hold(
    world: World,
    offering: Offering,
    start: datetime,
    who: Principal | None = None,
    resource: Resource | None = None,
) -> Result[Booking, DomainError]:
    req = SlotRequest(
        offering_id=offering.id, start=start, resource_id=None if resource is None else resource.id
    )
    return await world.ports(HoldSlot)(who or _customer(), req)


async def _seats(world: World, club: Club, seats: int) -> Result[Booking, DomainError]:
    req = SlotRequest(offering_id=club.yoga.id, occurrence_id=club.run.id, seats=seats)
    return await world.ports(HoldSlot)(_customer(), req)


async def _set_hours(
    world: World, club: Club, weekly: list[WeeklyRule], exceptions: list[DatedException]
) -> None:
    set_hours = world.ports(SetOpeningHours)
    assert isinstance(await set_hours(ADMIN, club.place.id, weekly, exceptions), Success)


def _won(result: Result[Booking, DomainError]) -> Booking:
    assert isinstance(result, Success), result
    return result.unwrap()


# ---------------------------------------------------------------- holds


async def test_a_hold_at_a_slot_start_is_written_with_its_event(world: World) -> None:
    club = await _club(world)
    who = _customer()

    booking = _won(await _hold(world, club.pair, TOMORROW_10, who))

    assert booking.resource_id == club.court.id  # the first candidate
    assert (booking.status, booking.hold_expires_at) == (BookingStatus.HELD, T0 + TTL)
    assert booking.during == TimeRange(TOMORROW_10, TOMORROW_10 + HOUR)
    assert booking.blocked == TimeRange(TOMORROW_10 - 10 * MINUTE, TOMORROW_10 + 70 * MINUTE)
    assert booking.customer_id == who.user_id
    assert await world.stored(booking) == booking
    assert [e["booking_id"] for e in await world.events("slot_held")] == [str(booking.id)]


async def test_lead_time_horizon_and_the_grid_of_opening_hours_refuse(world: World) -> None:
    club = await _club(world)
    late_evening = TOMORROW_10 + 10 * HOUR  # 20:00 in Berlin: closed

    refusals = [
        await _hold(world, club.pair, T0 + 30 * MINUTE),  # sooner than the lead time
        await _hold(world, club.pair, T0 + 31 * DAY),  # past the horizon
        await _hold(world, club.pair, TOMORROW_10 + 30 * MINUTE),  # not a slot start
        await _hold(world, club.pair, late_evening),
    ]
    last = await _hold(world, club.pair, late_evening - HOUR)  # 19:00-20:00, the last slot

    assert [type(r.failure()) for r in refusals[:2]] == [OutsideBookingWindow] * 2
    assert refusals[2:] == [Failure(NO_SLOT)] * 2
    assert isinstance(last, Success)
    assert len(await world.events("slot_held")) == 1


@pytest.mark.parametrize(
    ("day", "starts"),
    [
        # Spring forward: 00:00-06:00 local is 23:00Z-04:00Z, five real hours.
        (date(2030, 3, 31), ["2030-03-30T23:00", "2030-03-31T00:00", "2030-03-31T01:00",
                             "2030-03-31T02:00", "2030-03-31T03:00"]),
        # Fall back: 00:00-06:00 local is 22:00Z-05:00Z, seven real hours.
        (date(2030, 10, 27), ["2030-10-26T22:00", "2030-10-26T23:00", "2030-10-27T00:00",
                              "2030-10-27T01:00", "2030-10-27T02:00", "2030-10-27T03:00",
                              "2030-10-27T04:00"]),
    ],
)  # fmt: skip
async def test_on_a_dst_day_every_real_hour_of_the_local_hours_is_a_slot(
    world: World, day: date, starts: list[str]
) -> None:
    club = await _club(world)
    await _set_hours(world, club, [], [DatedException(day=day, intervals=(LocalInterval(0, 360),))])
    world.clock.set(datetime.combine(day, datetime.min.time(), UTC) - 5 * DAY)
    expected = [datetime.fromisoformat(s).replace(tzinfo=UTC) for s in starts]
    first, last = expected[0] - 2 * HOUR, expected[-1] + 2 * HOUR
    probes = [first + n * 30 * MINUTE for n in range(int((last - first) / (30 * MINUTE)))]

    held = [p for p in probes if isinstance(await _hold(world, club.plain, p), Success)]

    assert held == expected


async def test_buffers_keep_neighbours_apart_and_the_second_resource_takes_over(
    world: World,
) -> None:
    club = await _club(world)
    at_10, at_11, at_12 = (TOMORROW_10 + n * HOUR for n in range(3))

    solo = [await _hold(world, club.solo, at) for at in (at_10, at_11)]
    pair = [await _hold(world, club.pair, at) for at in (at_10, at_12, at_11)]

    assert _won(solo[0]).resource_id == club.court.id
    assert solo[1] == Failure(SlotUnavailable())  # its buffers overlap the 10:00 booking's
    # The court is busy at 10:00, so the spare serves; at 12:00 the court is free again; at
    # 11:00 the buffers of both 10:00 bookings are in the way.
    assert [_won(r).resource_id for r in pair[:2]] == [club.spare.id, club.court.id]
    assert pair[2] == Failure(SlotUnavailable())


async def test_a_requested_resource_is_the_only_candidate(world: World) -> None:
    club = await _club(world)
    stranger = Resource(
        id=ResourceId(uuid.uuid4()), provider_id=club.place.provider_id, place_id=club.place.id,
        name="not offered",
    )  # fmt: skip

    spare = await _hold(world, club.pair, TOMORROW_10, resource=club.spare)
    court = await _hold(world, club.pair, TOMORROW_10, resource=club.court)
    court_again = await _hold(world, club.pair, TOMORROW_10, resource=club.court)
    elsewhere = await _hold(world, club.pair, TOMORROW_10 + HOUR, resource=stranger)

    assert _won(spare).resource_id == club.spare.id
    assert _won(court).resource_id == club.court.id
    assert court_again == Failure(SlotUnavailable())
    assert elsewhere == Failure(SlotUnavailable())


async def test_candidates_in_order_then_unavailable(world: World) -> None:
    club = await _club(world)

    results = [await _hold(world, club.pair, TOMORROW_10) for _ in range(3)]

    assert [_won(r).resource_id for r in results[:2]] == [club.court.id, club.spare.id]
    assert results[2] == Failure(SlotUnavailable())


async def test_an_expired_hold_does_not_block_and_is_marked_expired(world: World) -> None:
    club = await _club(world)
    stale = _won(await _hold(world, club.solo, TOMORROW_10))
    world.clock.advance(TTL)

    fresh = await _hold(world, club.solo, TOMORROW_10)

    assert _won(fresh).resource_id == club.court.id
    stored = await world.stored(stale)
    assert stored is not None
    assert stored.status is BookingStatus.EXPIRED


async def test_seats_are_counted_and_expired_holds_free_them(world: World) -> None:
    club = await _club(world)

    six = await _seats(world, club, 6)
    five = await _seats(world, club, 5)
    four = await _seats(world, club, 4)
    one = await _seats(world, club, 1)
    world.clock.advance(TTL)
    ten = await _seats(world, club, 10)

    assert _won(six).seats == 6
    assert five == Failure(SessionFull(seats_left=4))
    assert _won(four).price == club.yoga.price.times(4)
    assert one == Failure(SessionFull(seats_left=0))
    assert _won(ten).occurrence_id == club.run.id


# ---------------------------------------------------------------- reschedules


async def test_a_reschedule_releases_the_old_slot_in_the_same_write(world: World) -> None:
    club = await _club(world)
    who = _customer()
    old = _won(await _hold(world, club.solo, TOMORROW_10, who))
    to = SlotRequest(offering_id=club.solo.id, start=TOMORROW_10 + HOUR)  # overlaps old's buffer

    new = _won(await world.ports(RescheduleBooking)(who, old.id, to))

    assert (new.rescheduled_from, new.status, new.hold_expires_at) == (
        old.id,
        BookingStatus.HELD,
        old.hold_expires_at,
    )
    assert await world.stored(new) == new
    stored = await world.stored(old)
    assert stored is not None
    assert stored.status is BookingStatus.RESCHEDULED
    assert [e["booking_id"] for e in await world.events("booking_rescheduled")] == [str(old.id)]
    assert [e["booking_id"] for e in await world.events("slot_held")] == [str(old.id), str(new.id)]


async def test_a_reschedule_to_a_taken_slot_leaves_the_old_booking_untouched(
    world: World,
) -> None:
    club = await _club(world)
    who = _customer()
    old = _won(await _hold(world, club.solo, TOMORROW_10, who))
    _won(await _hold(world, club.solo, TOMORROW_10 + 3 * HOUR))
    to = SlotRequest(offering_id=club.solo.id, start=TOMORROW_10 + 3 * HOUR)

    refused = await world.ports(RescheduleBooking)(who, old.id, to)

    assert refused == Failure(SlotUnavailable())
    assert await world.stored(old) == old
    assert await world.events("booking_rescheduled") == []


async def test_a_reschedule_of_a_booking_moved_meanwhile_writes_nothing(world: World) -> None:
    club = await _club(world)
    who = _customer()
    old = _won(await _hold(world, club.solo, TOMORROW_10, who))
    snapshot = await world.ports.catalog.offering(club.solo.id)
    assert snapshot is not None
    new = attrs.evolve(old, id=uuid.uuid4(), rescheduled_from=old.id)

    moved = await world.ports.holds.reschedule(
        Access.of(who), old.id, BookingStatus.CONFIRMED, new, [club.court.id],
        snapshot.version, T0, [],
    )  # fmt: skip

    assert moved == Failure(BookingMoved())
    assert await world.stored(old) == old
    assert await world.stored(new) is None


# ---------------------------------------------------------------- the cached catalog


async def test_a_stale_snapshot_is_refused_by_the_write_and_the_hold_decides_again(
    world: World,
) -> None:
    club = await _club(world)
    catalog = world.ports.catalog
    stale = await catalog.offering(club.solo.id)  # cached from now on
    assert stale is not None
    seat = _won(await _seats(world, club, 1))  # a booking at the same place, to write again
    # 10:00-12:00 only from now on: 12:00 closes, 11:00 stays open.
    await _set_hours(world, club, every_day(10 * 60, 12 * 60), [])

    written = await world.ports.holds.hold(
        Access.of(_customer()), attrs.evolve(seat, id=uuid.uuid4()), [], stale.version, T0, []
    )
    closed = await _hold(world, club.solo, TOMORROW_10 + 2 * HOUR)
    still_open = await _hold(world, club.solo, TOMORROW_10 + HOUR)

    assert written == Failure(CatalogChanged())
    assert closed == Failure(NO_SLOT)
    assert isinstance(still_open, Success)
    fresh = await catalog.offering(club.solo.id)
    assert fresh is not None
    assert fresh.version > stale.version


async def test_a_snapshot_that_refuses_is_read_again_before_refusing(world: World) -> None:
    club = await _club(world)
    evening = TOMORROW_10 + 11 * HOUR  # 21:00 in Berlin: closed when the snapshot was read
    assert await _hold(world, club.solo, evening) == Failure(NO_SLOT)  # cached now

    await _set_hours(world, club, every_day(8 * 60, 22 * 60), [])

    assert isinstance(await _hold(world, club.solo, evening), Success)


# ---------------------------------------------------------------- races


async def test_100_concurrent_holds_of_one_slot_book_it_once(world: World) -> None:
    club = await _club(world)

    results = await asyncio.gather(*(_hold(world, club.solo, TOMORROW_10) for _ in range(100)))

    won = [r for r in results if isinstance(r, Success)]
    assert len(won) == 1
    assert [r for r in results if not isinstance(r, Success)] == [Failure(SlotUnavailable())] * 99
    assert len(await world.events("slot_held")) == 1


async def test_100_concurrent_seat_holds_of_10_seats_seat_10(world: World) -> None:
    club = await _club(world)

    results = await asyncio.gather(*(_seats(world, club, 1) for _ in range(100)))

    won = [r for r in results if isinstance(r, Success)]
    assert len(won) == 10
    assert {r.failure() for r in results if isinstance(r, Failure)} == {SessionFull(0)}
    assert len(await world.events("slot_held")) == 10
