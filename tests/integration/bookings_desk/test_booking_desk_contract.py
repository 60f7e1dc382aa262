"""One contract for the payments context's view of bookings (`BookingDesk`).

It runs on `BookingsDesk` over the real bookings use cases, with the in-memory and the PostGIS
bookings adapters, and on `MemoryBookingDesk`, the fake the payments unit tests use: the fake
must behave as the real thing does, or the payments tests prove nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

import pytest
import sqlalchemy as sa
from returns.result import Failure, Result, Success

from adapters.bookings_desk import BookingsDesk
from adapters.memory.bookings import MemoryBookingsStore
from adapters.memory.clock import FixedClock
from adapters.memory.payments.bookings_desk import MemoryBookingDesk
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
from core.bookings import (
    AddPlace,
    AddResource,
    Address,
    BookingRules,
    CancelBooking,
    ConfirmBooking,
    ConfirmPaidBooking,
    CreateOffering,
    CreateProvider,
    GetBooking,
    GetOffering,
    HoldSlot,
    InvalidTransition,
    ListCancelledBookings,
    NewOffering,
    NewPlace,
    OfferingKind,
    ReadBookings,
    RescheduleBooking,
    SetOpeningHours,
    SlotRequest,
    SlotUnavailable,
    WeeklyRule,
)
from core.bookings.model import LocalInterval
from core.payments import BookingState, Canceller, PayableBooking
from core.payments.ports import BookingDesk
from core.shared.errors import DomainError, Forbidden, NotFound
from core.shared.ids import BookingId, OfferingId, ProviderId, UserId
from core.shared.money import Money
from core.shared.principal import MfaRequired, Principal, Role
from core.shared.use_case import UseCase
from devservers.postgres import LocalDatabase, LocalPostgres

T = TypeVar("T")
T0 = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
HOLD = 10 * MINUTE  # the bookings default, and the fake's
PRICE = Money.of(2500, "EUR").unwrap()
TABLES = (
    "bookings, occurrences, offering_resources, offerings, opening_exception_intervals,"
    " opening_exceptions, opening_hours, resources, places, providers, outbox"
)


def ok(result: Result[T, DomainError]) -> T:
    assert isinstance(result, Success), result
    return result.unwrap()


def customer() -> Principal:
    return Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.CUSTOMER}))


def staff(provider_id: ProviderId, *, mfa: bool = True) -> Principal:
    return Principal(
        user_id=UserId(uuid.uuid4()),
        roles=frozenset({Role.STAFF}),
        provider_ids=frozenset({provider_id}),
        mfa=mfa,
    )


ADMIN = Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.ADMIN}), mfa=True)


class World(Protocol):
    """A bookings context to test the desk against, driven through its own controls."""

    clock: FixedClock
    desk: BookingDesk

    async def offering(self) -> tuple[OfferingId, ProviderId]: ...
    async def hold(self, who: Principal, offering: OfferingId, start: datetime) -> BookingId: ...
    async def take_slot(self, booking: BookingId) -> None:
        """Someone else books and confirms the slot of `booking`, whose hold expired."""
        ...

    async def reschedule(
        self, who: Principal, booking: BookingId, start: datetime
    ) -> BookingId: ...


class RealWorld:
    """The bookings use cases over a bookings store; the desk is the production adapter."""

    def __init__(self, ports: BookingsPorts, clock: FixedClock) -> None:
        self.clock = clock
        self._ports = ports
        self.desk = BookingsDesk(
            get_booking=self._case(GetBooking),
            cancel_booking=self._case(CancelBooking),
            confirm_paid_booking=self._case(ConfirmPaidBooking),
            read_bookings=self._case(ReadBookings),
            get_offering=self._case(GetOffering),
            list_cancelled_bookings=self._case(ListCancelledBookings),
        )
        self._starts: dict[BookingId, tuple[OfferingId, datetime, ProviderId]] = {}

    def _case(self, use_case: type[U]) -> U:
        return self._ports(use_case)

    async def offering(self) -> tuple[OfferingId, ProviderId]:
        provider = ok(await self._case(CreateProvider)(ADMIN, "Desk Club"))
        manager = staff(provider.id)
        address = Address(line1="1 Main St", city="Lisbon", postal_code="1100", country="PT")
        place = ok(
            await self._case(AddPlace)(
                manager,
                NewPlace(
                    provider_id=provider.id,
                    name="Centre",
                    address=address,
                    lat=38.72,
                    lng=-9.14,
                    timezone="UTC",
                ),
            )
        )
        all_day = [WeeklyRule(weekday=d, interval=LocalInterval(0, 1440)) for d in range(7)]
        ok(await self._case(SetOpeningHours)(manager, place.id, all_day, []))
        court = ok(await self._case(AddResource)(manager, place.id, "Court"))
        offering = ok(
            await self._case(CreateOffering)(
                manager,
                NewOffering(
                    place_id=place.id,
                    kind=OfferingKind.APPOINTMENT,
                    name="Court hour",
                    category="tennis",
                    price=PRICE,
                    rules=BookingRules(duration=60 * MINUTE, slot_step=60 * MINUTE),
                    resource_ids=(court.id,),
                ),
            )
        )
        return offering.id, provider.id

    async def hold(self, who: Principal, offering: OfferingId, start: datetime) -> BookingId:
        held = ok(await self._case(HoldSlot)(who, SlotRequest(offering_id=offering, start=start)))
        self._starts[held.id] = (offering, start, held.provider_id)
        return held.id

    async def take_slot(self, booking: BookingId) -> None:
        offering, start, provider = self._starts[booking]
        other = await self.hold(customer(), offering, start)
        ok(await self._case(ConfirmBooking)(staff(provider), other))  # paid at the venue

    async def reschedule(self, who: Principal, booking: BookingId, start: datetime) -> BookingId:
        offering, _, provider = self._starts[booking]
        moved = ok(
            await self._case(RescheduleBooking)(
                who, booking, SlotRequest(offering_id=offering, start=start)
            )
        )
        self._starts[moved.id] = (offering, start, provider)
        return moved.id


U = TypeVar("U", bound=UseCase)


class FakeWorld:
    """The payments tests' fake, driven through its test controls."""

    def __init__(self, clock: FixedClock) -> None:
        self.clock = clock
        self.fake = MemoryBookingDesk(clock, hold_ttl=HOLD)
        self.desk: BookingDesk = self.fake

    async def offering(self) -> tuple[OfferingId, ProviderId]:
        provider = ProviderId(uuid.uuid4())
        return self.fake.add_offering(provider), provider

    async def hold(self, who: Principal, offering: OfferingId, start: datetime) -> BookingId:
        return self.fake.hold(who.user_id, offering, PRICE, start).id

    async def take_slot(self, booking: BookingId) -> None:
        self.fake.take_slot(booking)

    async def reschedule(self, who: Principal, booking: BookingId, start: datetime) -> BookingId:
        return self.fake.reschedule(booking, start).id


@pytest.fixture(scope="module")
def migrated(postgres_server: LocalPostgres) -> LocalDatabase:
    database = postgres_server.create_database(f"desk_{uuid.uuid4().hex[:12]}")
    migrate.upgrade(database.migrator_url)
    return database


@pytest.fixture(params=["bookings-memory", "bookings-postgis", "fake"])
async def world(request: pytest.FixtureRequest, migrated: LocalDatabase) -> AsyncIterator[World]:
    clock = FixedClock(T0)
    if request.param == "fake":
        yield FakeWorld(clock)
        return
    if request.param == "bookings-memory":
        yield RealWorld(BookingsPorts.over(MemoryBookingsStore(), clock), clock)
        return
    owner = create_engine(migrated.migrator_url, pool_size=1)
    async with owner.begin() as conn:  # the app role may not TRUNCATE
        await conn.execute(sa.text(f"TRUNCATE {TABLES}"))
    await owner.dispose()
    engine = create_engine(migrated.app_url, pool_size=4)
    try:
        ports = BookingsPorts(
            uow=lambda access: PostgisBookingsUnitOfWork(engine, access),
            moves=PostgisBookingMoves(engine),
            reads=PostgisAvailabilityReads(engine),
            clock=clock,
            catalog=PostgisBookableCatalog(engine),
            holds=PostgisBookingHolds(engine),
        )
        yield RealWorld(ports, clock)
    finally:
        await engine.dispose()


START = T0 + timedelta(days=2)


async def _held(world: World) -> tuple[Principal, BookingId, ProviderId]:
    offering, provider = await world.offering()
    me = customer()
    return me, await world.hold(me, offering, START), provider


# ---------------------------------------------------------------- reading


async def test_the_customer_sees_a_hold_with_what_payments_needs(world: World) -> None:
    offering, provider = await world.offering()
    me = customer()
    booking_id = await world.hold(me, offering, START)

    seen = ok(await world.desk.payable(me, booking_id))

    assert seen == PayableBooking(
        id=booking_id,
        offering_id=offering,
        provider_id=provider,
        customer_id=me.user_id,
        price=PRICE,
        starts_at=START,
        held_at=T0,
        state=BookingState.HELD,
        hold_expires_at=T0 + HOLD,
    )


async def test_its_provider_and_admins_see_it_others_do_not(world: World) -> None:
    _, booking_id, provider = await _held(world)

    stranger = await world.desk.payable(customer(), booking_id)
    other_staff = await world.desk.payable(staff(ProviderId(uuid.uuid4())), booking_id)
    without_mfa = await world.desk.payable(staff(provider, mfa=False), booking_id)
    missing = await world.desk.payable(ADMIN, BookingId(uuid.uuid4()))

    assert ok(await world.desk.payable(staff(provider), booking_id)).id == booking_id
    assert ok(await world.desk.payable(ADMIN, booking_id)).id == booking_id
    assert isinstance(stranger, Failure)
    assert isinstance(stranger.failure(), NotFound)
    assert isinstance(other_staff.failure(), NotFound)
    assert isinstance(without_mfa.failure(), MfaRequired)
    assert isinstance(missing.failure(), NotFound)


async def test_a_hold_past_its_expiry_reads_expired(world: World) -> None:
    me, booking_id, _ = await _held(world)
    world.clock.advance(HOLD)

    assert ok(await world.desk.payable(me, booking_id)).state is BookingState.EXPIRED
    assert (await world.desk.read([booking_id]))[booking_id].state is BookingState.EXPIRED


async def test_read_returns_the_bookings_that_exist(world: World) -> None:
    _, first, _ = await _held(world)
    offering, _ = await world.offering()
    second = await world.hold(customer(), offering, START + timedelta(hours=3))
    unknown = BookingId(uuid.uuid4())

    found = await world.desk.read([first, unknown, second])

    assert set(found) == {first, second}
    assert found[second].starts_at == START + timedelta(hours=3)
    assert await world.desk.read([]) == {}


async def test_the_provider_of_an_offering(world: World) -> None:
    offering, provider = await world.offering()

    assert await world.desk.offering_provider(offering) == provider
    assert await world.desk.offering_provider(OfferingId(uuid.uuid4())) is None


# ---------------------------------------------------------------- confirming once paid


async def test_a_paid_live_hold_confirms_and_confirming_again_changes_nothing(
    world: World,
) -> None:
    me, booking_id, _ = await _held(world)

    first = ok(await world.desk.confirm_paid(booking_id))
    world.clock.advance(MINUTE)
    again = ok(await world.desk.confirm_paid(booking_id))

    assert first.state is BookingState.CONFIRMED
    assert again.state is BookingState.CONFIRMED
    assert ok(await world.desk.payable(me, booking_id)).state is BookingState.CONFIRMED


async def test_a_hold_paid_after_its_expiry_confirms_while_its_slot_is_free(world: World) -> None:
    _, booking_id, _ = await _held(world)
    world.clock.advance(HOLD + MINUTE)

    assert ok(await world.desk.confirm_paid(booking_id)).state is BookingState.CONFIRMED


async def test_a_hold_paid_after_its_slot_was_taken_is_refused(world: World) -> None:
    me, booking_id, _ = await _held(world)
    world.clock.advance(HOLD + MINUTE)
    await world.take_slot(booking_id)

    refused = await world.desk.confirm_paid(booking_id)

    assert isinstance(refused.failure(), SlotUnavailable)
    assert ok(await world.desk.payable(me, booking_id)).state is BookingState.EXPIRED


async def test_confirming_an_unknown_or_cancelled_booking_is_refused(world: World) -> None:
    me, booking_id, _ = await _held(world)
    ok(await world.desk.cancel(me, booking_id))

    assert isinstance((await world.desk.confirm_paid(booking_id)).failure(), InvalidTransition)
    unknown = await world.desk.confirm_paid(BookingId(uuid.uuid4()))
    assert isinstance(unknown.failure(), NotFound)


# ---------------------------------------------------------------- cancelling


async def test_the_customer_cancels_and_the_booking_says_so(world: World) -> None:
    me, booking_id, _ = await _held(world)
    world.clock.advance(MINUTE)

    cancelled = ok(await world.desk.cancel(me, booking_id))

    assert cancelled.state is BookingState.CANCELLED
    assert cancelled.cancelled_at == T0 + MINUTE
    assert cancelled.cancelled_by is Canceller.CUSTOMER
    assert (await world.desk.read([booking_id]))[booking_id] == cancelled


async def test_staff_and_admins_cancel_as_the_provider(world: World) -> None:
    me, by_staff, provider = await _held(world)
    offering, _ = await world.offering()
    by_admin = await world.hold(me, offering, START)
    ok(await world.desk.confirm_paid(by_admin))

    assert ok(await world.desk.cancel(staff(provider), by_staff)).cancelled_by is Canceller.PROVIDER
    assert ok(await world.desk.cancel(ADMIN, by_admin)).cancelled_by is Canceller.PROVIDER


async def test_cancelling_follows_the_bookings_rules(world: World) -> None:
    me, booking_id, provider = await _held(world)

    stranger = await world.desk.cancel(customer(), booking_id)
    without_mfa = await world.desk.cancel(staff(provider, mfa=False), booking_id)
    ok(await world.desk.cancel(me, booking_id))
    twice = await world.desk.cancel(me, booking_id)
    offering, _ = await world.offering()
    expired = await world.hold(me, offering, START)
    world.clock.advance(HOLD)
    too_late = await world.desk.cancel(me, expired)

    assert isinstance(stranger.failure(), NotFound)
    assert isinstance(without_mfa.failure(), Forbidden)
    assert isinstance(twice.failure(), InvalidTransition)
    assert isinstance(too_late.failure(), InvalidTransition)


async def test_cancelled_since_lists_cancellations_oldest_first(world: World) -> None:
    offering, _ = await world.offering()
    me = customer()
    ids = [await world.hold(me, offering, START + timedelta(hours=n)) for n in range(4)]
    ok(await world.desk.confirm_paid(ids[3]))  # never cancelled
    for booking_id in ids[:3]:
        world.clock.advance(MINUTE)
        ok(await world.desk.cancel(me, booking_id))

    since_second = await world.desk.cancelled_since(T0 + 2 * MINUTE, 10)
    one = await world.desk.cancelled_since(T0, 1)
    later = await world.desk.cancelled_since(T0 + 10 * MINUTE, 10)

    assert [b.id for b in since_second] == [ids[1], ids[2]]
    assert [b.cancelled_at for b in since_second] == [T0 + 2 * MINUTE, T0 + 3 * MINUTE]
    assert all(b.state is BookingState.CANCELLED for b in since_second)
    assert [b.id for b in one] == [ids[0]]
    assert later == []


# ---------------------------------------------------------------- rescheduling


async def test_a_rescheduled_booking_names_the_one_it_replaced(world: World) -> None:
    me, old, _ = await _held(world)
    ok(await world.desk.confirm_paid(old))

    new = await world.reschedule(me, old, START + timedelta(days=1))

    moved = ok(await world.desk.payable(me, new))
    assert moved.rescheduled_from == old
    assert moved.state is BookingState.CONFIRMED
    assert moved.starts_at == START + timedelta(days=1)
    assert (await world.desk.read([old]))[old].state is BookingState.OTHER


def test_the_states_payments_knows_cover_every_booking_status() -> None:
    """A new bookings status must be mapped to a payments state on purpose."""
    from adapters.bookings_desk.desk import _STATES
    from core.bookings import BookingStatus

    unmapped = set(BookingStatus) - set(_STATES)
    assert unmapped == {BookingStatus.COMPLETED, BookingStatus.NO_SHOW, BookingStatus.RESCHEDULED}
