"""The booking lifecycle as a state machine: the real use cases over the memory adapter.

A small model predicts every outcome (who may act, which slot is free, how many seats are
left, when a hold has expired); the invariants read the store itself after every step.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine
from datetime import datetime, timedelta
from typing import Any, TypeVar

import attrs
from bookings_support import APPOINTMENT_RULES, MINUTE, PROFILE, Shop, customer, ok, open_shop, utc
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    rule,
)
from returns.result import Failure, Result

from adapters.memory.booking_moves import MemoryLapsedHolds
from adapters.memory.setup import BookingsPorts
from core.bookings import (
    CancelBooking,
    ConfirmBooking,
    ConfirmPaidBooking,
    ExpireHolds,
    GetAvailability,
    HoldSlot,
    RescheduleBooking,
    SlotRequest,
)
from core.bookings.model import (
    Booking,
    BookingStatus,
    CancelledBy,
    HoldExpired,
    InvalidTransition,
    OutsideBookingWindow,
    PaymentRequired,
    SessionFull,
    SlotUnavailable,
)
from core.bookings.ports import Page
from core.shared.errors import DomainError, NotFound
from core.shared.ids import BookingId, OccurrenceId, ResourceId
from core.shared.principal import Principal
from core.shared.time import TimeRange
from core.shared.unit_of_work import MAINTENANCE

T = TypeVar("T")

START = utc(2026, 1, 12, 6)  # Monday 07:00 in Berlin (CET, UTC+1)
CAPACITY = 3
RUNS = (utc(2026, 1, 13, 17), utc(2026, 1, 14, 9))
STARTS_PER_DAY = 23  # 08:00 .. 19:00 local every 30 minutes, 60-minute slots, open till 20:00
HOLD_TTL = timedelta(minutes=10)


# Mostly a few neighbouring starts, so that bookings contend for them.
SLOTS = st.integers(0, 5) | st.integers(0, 2 * STARTS_PER_DAY - 1)
OWNER_MOSTLY = st.sampled_from([True, True, True, False])
CONFIRMERS = st.sampled_from(["owner", "owner", "staff", "staff", "stranger"])


def slot_start(index: int) -> datetime:
    """Aligned starts on the next two days, in UTC (local time is UTC+1 in January)."""
    day, step = divmod(index, STARTS_PER_DAY)
    return utc(2026, 1, 13 + day, 7) + 30 * MINUTE * step


@attrs.define
class Tracked:
    """What the model knows about one booking."""

    id: BookingId
    owner: int
    during: TimeRange
    blocked: TimeRange
    status: BookingStatus
    expires_at: datetime | None
    resource: ResourceId | None = None
    run: OccurrenceId | None = None
    seats: int = 1

    def live(self, now: datetime) -> bool:
        if self.status is BookingStatus.CONFIRMED:
            return True
        held = self.status is BookingStatus.HELD
        return held and self.expires_at is not None and now < self.expires_at


class BookingLifecycle(RuleBasedStateMachine):
    bookings = Bundle("bookings")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.shop: Shop = self.run(open_shop(START, capacity=CAPACITY, runs_at=RUNS))
        self.customers = [customer() for _ in range(3)]
        self.model: dict[BookingId, Tracked] = {}
        uow, clock = self.shop.store, self.shop.clock
        self.hold_slot = BookingsPorts.over(uow, clock)(HoldSlot)
        self.confirm_booking = ConfirmBooking(moves=self.shop.moves, clock=clock)
        self.confirm_paid_booking = ConfirmPaidBooking(uow=uow, clock=clock)
        self.cancel_booking = CancelBooking(moves=self.shop.moves, clock=clock)
        self.reschedule_booking = BookingsPorts.over(uow, clock)(RescheduleBooking)
        lapsed_holds = MemoryLapsedHolds(self.shop.store)
        self.expire_holds = ExpireHolds(lapsed_holds=lapsed_holds, clock=clock, batch=2)
        self.availability = GetAvailability(reads=self.shop.reads, clock=clock)

    def teardown(self) -> None:
        self.loop.close()

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(work)

    @property
    def now(self) -> datetime:
        return self.shop.clock.now()

    # ------------------------------------------------------------ the model's predictions

    def bookable(self, start: datetime) -> bool:
        return APPOINTMENT_RULES.bookable(start, self.now)

    def free_resources(
        self, start: datetime, ignoring: BookingId | None = None
    ) -> list[ResourceId]:
        during = TimeRange(start, start + APPOINTMENT_RULES.duration)
        blocked = during.widen(APPOINTMENT_RULES.buffer_before, APPOINTMENT_RULES.buffer_after)
        return [
            r.id
            for r in self.shop.resources
            if not any(
                t.resource == r.id and t.live(self.now) and t.blocked.overlaps(blocked)
                for t in self.model.values()
                if t.id != ignoring
            )
        ]

    def seats_taken(self, run: OccurrenceId, ignoring: BookingId | None = None) -> int:
        return sum(
            t.seats
            for t in self.model.values()
            if t.run == run and t.live(self.now) and t.id != ignoring
        )

    def expected_hold(
        self, req: SlotRequest, ignoring: BookingId | None = None
    ) -> DomainError | ResourceId | None:
        """The error the use case must return, or the resource (None: a session) it takes."""
        if req.occurrence_id is not None:
            run = next(r for r in self.shop.runs if r.id == req.occurrence_id)
            if not self.shop.session.rules.bookable(run.during.start, self.now):
                return OutsideBookingWindow(reason="run is before lead time or past horizon")
            taken = self.seats_taken(run.id, ignoring)
            if taken + req.seats > run.capacity:
                return SessionFull(seats_left=max(run.capacity - taken, 0))
            return None
        assert req.start is not None
        if not self.bookable(req.start):
            return OutsideBookingWindow(reason="start is before lead time or past horizon")
        free = self.free_resources(req.start, ignoring)
        if req.resource_id is not None:
            free = [r for r in free if r == req.resource_id]
        return free[0] if free else SlotUnavailable()

    def track(self, booking: Booking, owner: int) -> Tracked:
        tracked = Tracked(
            id=booking.id,
            owner=owner,
            during=booking.during,
            blocked=booking.blocked,
            status=booking.status,
            expires_at=booking.hold_expires_at,
            resource=booking.resource_id,
            run=booking.occurrence_id,
            seats=booking.seats,
        )
        self.model[booking.id] = tracked
        return tracked

    def request(self, slot: int, resource: int | None) -> SlotRequest:
        return SlotRequest(
            offering_id=self.shop.appointment.id,
            start=slot_start(slot),
            resource_id=None if resource is None else self.shop.resources[resource].id,
        )

    def acting(self, tracked: Tracked, as_owner: bool) -> Principal:
        return self.customers[tracked.owner if as_owner else (tracked.owner + 1) % 3]

    # ------------------------------------------------------------ rules

    def hold(self, who: int, req: SlotRequest) -> Any:
        expected = self.expected_hold(req)
        result = self.run(self.hold_slot(self.customers[who], req))
        if isinstance(expected, DomainError):
            assert_failure(result, type(expected))
            if isinstance(expected, SessionFull):
                assert result.failure() == expected
            return multiple()
        booking = ok(result)
        assert booking.resource_id == expected
        assert booking.status is BookingStatus.HELD
        assert booking.hold_expires_at == self.now + HOLD_TTL
        return self.track(booking, who).id

    @rule(
        target=bookings,
        who=st.integers(0, 2),
        slot=SLOTS,
        resource=st.none() | st.integers(0, 1),
    )
    def hold_appointment(self, who: int, slot: int, resource: int | None) -> Any:
        return self.hold(who, self.request(slot, resource))

    @rule(target=bookings, who=st.integers(0, 2), run=st.integers(0, 1), seats=st.integers(1, 3))
    def hold_seats(self, who: int, run: int, seats: int) -> Any:
        req = SlotRequest(
            offering_id=self.shop.session.id, occurrence_id=self.shop.runs[run].id, seats=seats
        )
        return self.hold(who, req)

    @rule(booking=bookings, who=CONFIRMERS)
    def confirm(self, booking: BookingId, who: str) -> None:
        """Every offering of the shop is priced: its customer must pay, staff may confirm."""
        tracked = self.model[booking]
        caller = self.shop.manager if who == "staff" else self.acting(tracked, who == "owner")
        result = self.run(self.confirm_booking(caller, booking))
        if who == "stranger":
            assert_failure(result, NotFound)
        elif tracked.status is BookingStatus.HELD and tracked.live(self.now):
            if who == "owner":
                assert result == Failure(PaymentRequired(booking_id=booking))
                return
            assert ok(result).status is BookingStatus.CONFIRMED
            tracked.status = BookingStatus.CONFIRMED
        elif tracked.status is BookingStatus.HELD:  # expired; swept or not
            assert_failure(result, HoldExpired, InvalidTransition)
        else:
            assert_failure(result, InvalidTransition)

    def still_free(self, tracked: Tracked) -> bool:
        """The slot of a hold, were the hold itself not there."""
        if tracked.run is not None:
            capacity = next(r.capacity for r in self.shop.runs if r.id == tracked.run)
            return self.seats_taken(tracked.run, ignoring=tracked.id) + tracked.seats <= capacity
        return tracked.resource in self.free_resources(tracked.during.start, ignoring=tracked.id)

    @rule(booking=bookings)
    def pay(self, booking: BookingId) -> None:
        """The payments context says the money arrived: holds confirm, even expired ones
        whose slot nobody took meanwhile; a booking confirmed already stays as it is."""
        tracked = self.model[booking]
        result = self.run(self.confirm_paid_booking(booking))
        if tracked.status is BookingStatus.CONFIRMED:
            assert ok(result).status is BookingStatus.CONFIRMED
        elif tracked.status is not BookingStatus.HELD:
            assert result == Failure(InvalidTransition(tracked.status, "confirm"))
        elif tracked.live(self.now) or self.still_free(tracked):
            confirmed = ok(result)
            assert (confirmed.status, confirmed.hold_expires_at) == (BookingStatus.CONFIRMED, None)
            tracked.status, tracked.expires_at = BookingStatus.CONFIRMED, None
        else:
            reason = "the slot was taken after the hold expired"
            assert result == Failure(SlotUnavailable(reason=reason))

    @rule(booking=bookings, as_owner=OWNER_MOSTLY)
    def cancel(self, booking: BookingId, as_owner: bool) -> None:
        tracked = self.model[booking]
        result = self.run(self.cancel_booking(self.acting(tracked, as_owner), booking))
        if not as_owner:
            assert_failure(result, NotFound)
        elif tracked.live(self.now):
            cancelled = ok(result)
            assert cancelled.status is BookingStatus.CANCELLED
            assert (cancelled.cancelled_at, cancelled.cancelled_by) == (
                self.now,
                CancelledBy.CUSTOMER,
            )
            tracked.status = BookingStatus.CANCELLED
        else:
            assert_failure(result, InvalidTransition)

    @rule(
        target=bookings,
        booking=bookings,
        slot=SLOTS,
        run=st.integers(0, 1),
    )
    def reschedule(self, booking: BookingId, slot: int, run: int) -> Any:
        old = self.model[booking]
        if old.run is None:
            to = self.request(slot, None)
        else:
            to = SlotRequest(
                offering_id=self.shop.session.id,
                occurrence_id=self.shop.runs[run].id,
                seats=old.seats,
            )
        owner = self.customers[old.owner]
        result = self.run(self.reschedule_booking(owner, booking, to))
        if not old.live(self.now) or self.now >= old.during.start:
            assert_failure(result, InvalidTransition)
            return multiple()
        expected = self.expected_hold(to, ignoring=old.id)
        if isinstance(expected, DomainError):
            assert_failure(result, type(expected))
            return multiple()
        new = ok(result)
        assert (new.status, new.hold_expires_at) == (old.status, old.expires_at)
        assert new.rescheduled_from == old.id
        assert new.resource_id == expected
        old.status = BookingStatus.RESCHEDULED
        return self.track(new, old.owner).id

    @rule(minutes=st.sampled_from([1, 5, 9, 10, 11, 30, 240, 24 * 60]))
    def advance(self, minutes: int) -> None:
        self.shop.clock.advance(minutes * MINUTE)

    @rule()
    def sweep(self) -> None:
        """The periodic job: lapsed holds become expired rows; every answer stays the same."""
        self.run(self.expire_holds())
        lapsed = [
            b for b in self.stored() if b.status is BookingStatus.HELD and not b.is_live(self.now)
        ]
        assert lapsed == []

    # ------------------------------------------------------------ invariants

    def stored(self) -> list[Booking]:
        async def everything() -> list[Booking]:
            async with self.shop.store(MAINTENANCE) as uow:
                page = Page(limit=10_000)
                return list(await uow.bookings.for_provider(self.shop.provider.id, page))

        return self.run(everything())

    @invariant()
    def live_seats_never_exceed_capacity(self) -> None:
        live = [b for b in self.stored() if b.occurrence_id is not None and b.is_live(self.now)]
        for run in self.shop.runs:
            assert sum(b.seats for b in live if b.occurrence_id == run.id) <= run.capacity

    @invariant()
    def live_bookings_of_a_resource_never_overlap(self) -> None:
        live = [b for b in self.stored() if b.resource_id is not None and b.is_live(self.now)]
        for a, b in itertools.combinations(live, 2):
            assert a.resource_id != b.resource_id or not a.blocked.overlaps(b.blocked), (a, b)

    @invariant()
    def the_store_agrees_with_the_model(self) -> None:
        stored = {b.id: b for b in self.stored()}
        assert stored.keys() == self.model.keys()
        for booking_id, tracked in self.model.items():
            status = stored[booking_id].status
            swept = status is BookingStatus.EXPIRED and not tracked.live(self.now)
            assert status is tracked.status or (swept and tracked.status is BookingStatus.HELD)

    @invariant()
    def expired_holds_never_count_against_seats(self) -> None:
        window = TimeRange(START, START + timedelta(days=7))
        slots = ok(self.run(self.availability(self.shop.session.id, window)))
        offered = {s.occurrence_id: s.seats_left for s in slots}
        for run in self.shop.runs:
            left = run.capacity - self.seats_taken(run.id)
            bookable = self.shop.session.rules.bookable(run.during.start, self.now)
            assert offered.get(run.id) == (left if bookable and left > 0 else None)


def assert_failure(result: Result[Any, DomainError], *kinds: type[DomainError]) -> None:
    assert isinstance(result, Failure), result
    assert isinstance(result.failure(), kinds), result


BookingLifecycle.TestCase.settings = settings(
    PROFILE, max_examples=PROFILE.max_examples * 2 // 3, stateful_step_count=30, deadline=None
)
TestBookingLifecycle = BookingLifecycle.TestCase
