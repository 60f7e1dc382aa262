"""What the payments context calls: ConfirmPaidBooking and ReadBookings, over the memory adapter."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from bookings_support import MINUTE, Shop, customer, ok, open_shop, utc
from returns.result import Failure

from adapters.memory.setup import BookingsPorts
from core.bookings import (
    CancelBooking,
    ConfirmPaidBooking,
    GetBooking,
    HoldSlot,
    ReadBookings,
    RescheduleBooking,
    SlotRequest,
)
from core.bookings.model import Booking, BookingStatus, InvalidTransition, SlotUnavailable
from core.shared.errors import NotFound
from core.shared.ids import BookingId, ResourceId
from core.shared.principal import Principal

NOW = utc(2026, 6, 1, 6)  # Monday 08:00 in Berlin
TEN_TOMORROW = utc(2026, 6, 2, 8)
PAST_THE_HOLD = timedelta(minutes=11)  # holds last 10 minutes
SLOT_TAKEN = SlotUnavailable(reason="the slot was taken after the hold expired")


@pytest.fixture
async def shop() -> Shop:
    return await open_shop(NOW, capacity=2, runs_at=(utc(2026, 6, 3, 16),))


async def _hold(
    shop: Shop, who: Principal, *, resource: ResourceId | None = None, seats: int = 0
) -> Booking:
    """An appointment at ten tomorrow, or `seats` seats of the shop's first run."""
    if seats:
        req = SlotRequest(offering_id=shop.session.id, occurrence_id=shop.runs[0].id, seats=seats)
    else:
        req = SlotRequest(offering_id=shop.appointment.id, start=TEN_TOMORROW, resource_id=resource)
    return ok(await BookingsPorts.over(shop.store, shop.clock)(HoldSlot)(who, req))


def _paid(shop: Shop) -> ConfirmPaidBooking:
    return ConfirmPaidBooking(uow=shop.store, clock=shop.clock)


def _confirmations(shop: Shop) -> list[dict[str, object]]:
    return [e.payload for e in shop.store.outbox if e.name == "bookings.booking_confirmed"]


async def test_a_paid_live_hold_confirms_and_the_event_says_it_was_paid(shop: Shop) -> None:
    me = customer()
    held = await _hold(shop, me)

    confirmed = ok(await _paid(shop)(held.id))

    assert confirmed.status is BookingStatus.CONFIRMED
    assert confirmed.hold_expires_at is None
    assert ok(await GetBooking(uow=shop.store, clock=shop.clock)(me, held.id)).booking == confirmed
    assert [(p["booking_id"], p["paid"]) for p in _confirmations(shop)] == [(str(held.id), True)]


async def test_a_booking_paid_twice_is_confirmed_once(shop: Shop) -> None:
    held = await _hold(shop, customer())

    first = await _paid(shop)(held.id)
    shop.clock.advance(PAST_THE_HOLD)  # the second notice comes late
    second = await _paid(shop)(held.id)

    assert first == second
    assert ok(second).status is BookingStatus.CONFIRMED
    assert len(_confirmations(shop)) == 1


async def test_an_expired_hold_whose_slot_is_still_free_is_reinstated(shop: Shop) -> None:
    me = customer()
    held = await _hold(shop, me)
    shop.clock.advance(PAST_THE_HOLD)

    confirmed = ok(await _paid(shop)(held.id))
    rival = await BookingsPorts.over(shop.store, shop.clock)(HoldSlot)(
        customer(), SlotRequest(offering_id=shop.appointment.id, start=TEN_TOMORROW)
    )

    assert confirmed.status is BookingStatus.CONFIRMED
    assert ok(rival).resource_id != held.resource_id  # the slot is ours again
    assert [p["paid"] for p in _confirmations(shop)] == [True]


async def test_a_swept_hold_whose_slot_was_freed_again_is_reinstated(shop: Shop) -> None:
    held = await _hold(shop, customer())
    shop.clock.advance(PAST_THE_HOLD)
    taker = customer()
    taken = await _hold(shop, taker, resource=held.resource_id)  # sweeps our hold
    ok(await CancelBooking(moves=shop.moves, clock=shop.clock)(taker, taken.id))

    confirmed = ok(await _paid(shop)(held.id))

    assert confirmed.status is BookingStatus.CONFIRMED


async def test_an_expired_hold_whose_slot_was_taken_is_refused(shop: Shop) -> None:
    me = customer()
    held = await _hold(shop, me)
    shop.clock.advance(PAST_THE_HOLD)
    await _hold(shop, customer(), resource=held.resource_id)
    events = len(shop.store.outbox)

    refused = await _paid(shop)(held.id)

    assert refused == Failure(SLOT_TAKEN)
    got = ok(await GetBooking(uow=shop.store, clock=shop.clock)(me, held.id)).booking
    assert got.status is BookingStatus.EXPIRED
    assert len(shop.store.outbox) == events


async def test_expired_seats_are_reinstated_only_if_they_still_fit(shop: Shop) -> None:
    """The run has 2 seats."""
    lucky, late = await _hold(shop, customer(), seats=1), await _hold(shop, customer(), seats=1)
    shop.clock.advance(PAST_THE_HOLD)
    await _hold(shop, customer(), seats=1)  # one of the two seats goes to someone else

    assert ok(await _paid(shop)(lucky.id)).status is BookingStatus.CONFIRMED
    assert await _paid(shop)(late.id) == Failure(SLOT_TAKEN)


async def test_bookings_no_longer_held_are_not_confirmed_by_a_payment(shop: Shop) -> None:
    me = customer()
    cancelled = await _hold(shop, me)
    ok(await CancelBooking(moves=shop.moves, clock=shop.clock)(me, cancelled.id))
    moved = await _hold(shop, me, resource=cancelled.resource_id)
    to = SlotRequest(offering_id=shop.appointment.id, start=TEN_TOMORROW + timedelta(hours=2))
    ok(await BookingsPorts.over(shop.store, shop.clock)(RescheduleBooking)(me, moved.id, to))

    assert await _paid(shop)(cancelled.id) == Failure(
        InvalidTransition(BookingStatus.CANCELLED, "confirm")
    )
    assert await _paid(shop)(moved.id) == Failure(
        InvalidTransition(BookingStatus.RESCHEDULED, "confirm")
    )
    assert _confirmations(shop) == []


async def test_paying_for_an_unknown_booking_is_not_found(shop: Shop) -> None:
    nobody = BookingId(uuid.uuid4())

    assert await _paid(shop)(nobody) == Failure(NotFound(kind="booking", id=str(nobody)))


async def test_read_bookings_shows_everyones_bookings_as_of_now(shop: Shop) -> None:
    mine, theirs = await _hold(shop, customer()), await _hold(shop, customer(), seats=2)
    ok(await _paid(shop)(theirs.id))
    shop.clock.advance(PAST_THE_HOLD + MINUTE)
    read = ReadBookings(uow=shop.store, clock=shop.clock)

    found = await read([mine.id, BookingId(uuid.uuid4()), theirs.id])

    assert found.keys() == {mine.id, theirs.id}
    assert found[mine.id].status is BookingStatus.EXPIRED  # never swept, read as it is now
    assert found[theirs.id].status is BookingStatus.CONFIRMED
    assert await read([]) == {}
