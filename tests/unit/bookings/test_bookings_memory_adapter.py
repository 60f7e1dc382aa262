"""The in-memory bookings adapter: transactions, integrity under interleaving, queries."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import attrs
import pytest
from bookings_support import MINUTE, utc
from returns.result import Failure, Success

from adapters.memory.bookings import MemoryBookingsStore, MemoryDeadlock
from core.bookings.model import (
    Address,
    Booking,
    BookingRules,
    BookingStatus,
    Offering,
    OfferingKind,
    OpeningHours,
    Place,
    Provider,
    SessionFull,
    SlotUnavailable,
)
from core.bookings.ports import Page, SearchHit, SearchQuery
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
)
from core.shared.money import Money
from core.shared.time import TimeRange
from core.shared.unit_of_work import MAINTENANCE

NOW = utc(2026, 6, 1, 9)
COURT = ResourceId(uuid.uuid4())
RUN = OccurrenceId(uuid.uuid4())
PROVIDER = ProviderId(uuid.uuid4())


def booking(
    start_hour: int,
    *,
    resource: ResourceId | None = COURT,
    occurrence: OccurrenceId | None = None,
    seats: int = 1,
    status: BookingStatus = BookingStatus.HELD,
    expires_in: timedelta = 10 * MINUTE,
    customer: UserId | None = None,
    created_at_minute: int = 0,
) -> Booking:
    during = TimeRange(utc(2026, 6, 2, start_hour), utc(2026, 6, 2, start_hour + 1))
    return Booking(
        id=BookingId(uuid.uuid4()),
        offering_id=OfferingId(uuid.uuid4()),
        provider_id=PROVIDER,
        customer_id=customer or UserId(uuid.uuid4()),
        kind=OfferingKind.APPOINTMENT if occurrence is None else OfferingKind.SESSION,
        during=during,
        blocked=during.widen(timedelta(0), 15 * MINUTE),
        resource_id=resource if occurrence is None else None,
        occurrence_id=occurrence,
        seats=seats,
        price=Money.of(1000, "EUR").unwrap(),
        status=status,
        hold_expires_at=NOW + expires_in,
        created_at=NOW + created_at_minute * MINUTE,
    )


def provider(name: str = "Acme") -> Provider:
    return Provider(id=ProviderId(uuid.uuid4()), name=name)


async def committed(store: MemoryBookingsStore, *bookings: Booking) -> None:
    async with store(MAINTENANCE) as uow:
        for b in bookings:
            assert await uow.bookings.add_exclusive(b, NOW) == Success(None)
        await uow.commit()


# ---------------------------------------------------------------- transactions


async def test_writes_are_visible_to_others_only_after_commit() -> None:
    store, acme = MemoryBookingsStore(), provider()
    async with store(MAINTENANCE) as writer:
        await writer.providers.add(acme)
        assert await writer.providers.get(acme.id) == acme  # its own write
        async with store(MAINTENANCE) as reader:
            assert await reader.providers.get(acme.id) is None
            await writer.commit()
            assert await reader.providers.get(acme.id) == acme  # read committed


async def test_leaving_without_commit_rolls_back_writes_and_events() -> None:
    store, acme = MemoryBookingsStore(), provider()
    event = Event(name="bookings.provider_created", occurred_at=NOW, payload={})
    async with store(MAINTENANCE) as uow:
        await uow.providers.add(acme)
        await uow.outbox.add(event)
    async with store(MAINTENANCE) as uow:
        assert await uow.providers.get(acme.id) is None
    assert store.outbox == ()


async def test_an_exception_rolls_back() -> None:
    store, acme = MemoryBookingsStore(), provider()

    async def fail_midway() -> None:
        async with store(MAINTENANCE) as uow:
            await uow.providers.add(acme)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await fail_midway()
    async with store(MAINTENANCE) as uow:
        assert await uow.providers.get(acme.id) is None


async def test_commit_publishes_events_in_order_and_the_unit_of_work_goes_on() -> None:
    store = MemoryBookingsStore()
    first, second = (Event(name=f"e{n}", occurred_at=NOW, payload={}) for n in (1, 2))
    async with store(MAINTENANCE) as uow:
        await uow.outbox.add(first)
        await uow.commit()
        await uow.outbox.add(second)  # a new transaction, never committed
    assert store.outbox == (first,)


# ---------------------------------------------------------------- exclusive bookings


async def test_overlapping_blocked_ranges_on_one_resource_are_refused() -> None:
    store, ten = MemoryBookingsStore(), booking(10)
    await committed(store, ten)
    async with store(MAINTENANCE) as uow:
        # 10:30 overlaps; 11:00 starts inside the 15-minute buffer after 10:00-11:00.
        assert await uow.bookings.add_exclusive(booking(11), NOW) == Failure(SlotUnavailable())
        assert await uow.bookings.add_exclusive(
            booking(10, resource=ResourceId(uuid.uuid4())), NOW
        ) == Success(None)
        assert await uow.bookings.add_exclusive(booking(12), NOW) == Success(None)


async def test_an_expired_hold_never_blocks_and_is_marked_expired() -> None:
    store, stale = MemoryBookingsStore(), booking(10, expires_in=5 * MINUTE)
    await committed(store, stale)
    later = NOW + 5 * MINUTE
    newcomer = booking(10)
    async with store(MAINTENANCE) as uow:
        assert await uow.bookings.add_exclusive(newcomer, later) == Success(None)
        await uow.commit()
    async with store(MAINTENANCE) as uow:
        swept = await uow.bookings.get(stale.id)
        assert swept is not None
        assert swept.status is BookingStatus.EXPIRED
        assert await uow.bookings.busy([COURT], TimeRange(NOW, utc(2026, 6, 3)), later) == {
            COURT: [newcomer.blocked]
        }


async def test_cancelled_bookings_do_not_block() -> None:
    store = MemoryBookingsStore()
    await committed(store, booking(10, status=BookingStatus.CONFIRMED))
    async with store(MAINTENANCE) as uow:
        assert await uow.bookings.add_exclusive(booking(10), NOW) == Failure(SlotUnavailable())
    gone = booking(14)
    async with store(MAINTENANCE) as uow:
        await uow.bookings.add_exclusive(gone, NOW)
        cancelled = attrs.evolve(gone, status=BookingStatus.CANCELLED)
        assert await uow.bookings.save(cancelled, BookingStatus.HELD, NOW)
        assert await uow.bookings.add_exclusive(booking(14), NOW) == Success(None)


async def test_a_second_writer_waits_for_the_first_and_loses_if_it_commits() -> None:
    store = MemoryBookingsStore()
    first_written, outcome = asyncio.Event(), list[object]()

    async def second() -> None:
        await first_written.wait()
        async with store(MAINTENANCE) as uow:
            outcome.append(await uow.bookings.add_exclusive(booking(10), NOW))

    waiter = asyncio.create_task(second())
    async with store(MAINTENANCE) as uow:
        assert await uow.bookings.add_exclusive(booking(10), NOW) == Success(None)
        first_written.set()
        await asyncio.sleep(0.01)
        assert outcome == []  # still waiting on our uncommitted row
        await uow.commit()
    await waiter
    assert outcome == [Failure(SlotUnavailable())]


async def test_a_second_writer_wins_if_the_first_rolls_back() -> None:
    store = MemoryBookingsStore()
    first_written, outcome = asyncio.Event(), list[object]()

    async def second() -> None:
        await first_written.wait()
        async with store(MAINTENANCE) as uow:
            outcome.append(await uow.bookings.add_exclusive(booking(10), NOW))

    waiter = asyncio.create_task(second())
    async with store(MAINTENANCE) as uow:
        await uow.bookings.add_exclusive(booking(10), NOW)
        first_written.set()
        await asyncio.sleep(0.01)
    await waiter
    assert outcome == [Success(None)]


async def test_waiting_on_a_transaction_of_the_same_task_raises_instead_of_hanging() -> None:
    store = MemoryBookingsStore()
    async with store(MAINTENANCE) as first, store(MAINTENANCE) as second:
        await first.bookings.add_exclusive(booking(10), NOW)
        with pytest.raises(MemoryDeadlock):
            await second.bookings.add_exclusive(booking(10), NOW)


async def test_transactions_waiting_for_each_other_raise_a_deadlock() -> None:
    store = MemoryBookingsStore()
    mine, theirs = booking(10), booking(14)
    await committed(store, mine, theirs)
    both_wrote = asyncio.Barrier(2)

    async def swap(own: Booking, other: Booking) -> None:
        async with store(MAINTENANCE) as uow:
            assert await uow.bookings.save(
                attrs.evolve(own, status=BookingStatus.CANCELLED), BookingStatus.HELD, NOW
            )
            await both_wrote.wait()
            await uow.bookings.save(
                attrs.evolve(other, status=BookingStatus.CANCELLED), BookingStatus.HELD, NOW
            )

    results = await asyncio.gather(swap(mine, theirs), swap(theirs, mine), return_exceptions=True)
    assert sum(isinstance(r, MemoryDeadlock) for r in results) == 1


# ---------------------------------------------------------------- seated bookings


async def test_seats_are_refused_beyond_capacity_and_expired_holds_free_theirs() -> None:
    store = MemoryBookingsStore()
    async with store(MAINTENANCE) as uow:
        two = booking(10, occurrence=RUN, seats=2, expires_in=5 * MINUTE)
        assert await uow.bookings.add_seated(two, 3, NOW) == Success(None)
        assert await uow.bookings.add_seated(
            booking(10, occurrence=RUN, seats=2), 3, NOW
        ) == Failure(SessionFull(seats_left=1))
        assert await uow.bookings.seats_taken([RUN], NOW) == {RUN: 2}
        later = NOW + 5 * MINUTE
        assert await uow.bookings.seats_taken([RUN], later) == {}
        assert await uow.bookings.add_seated(
            booking(10, occurrence=RUN, seats=3), 3, later
        ) == Success(None)


# ---------------------------------------------------------------- conditional saves


async def test_save_writes_only_over_the_expected_status_of_an_unexpired_hold() -> None:
    store, held = MemoryBookingsStore(), booking(10)
    await committed(store, held)
    confirmed = attrs.evolve(held, status=BookingStatus.CONFIRMED)
    async with store(MAINTENANCE) as uow:
        assert not await uow.bookings.save(confirmed, BookingStatus.CONFIRMED, NOW)
        assert not await uow.bookings.save(confirmed, BookingStatus.HELD, NOW + 10 * MINUTE)
        assert await uow.bookings.save(confirmed, BookingStatus.HELD, NOW)
        assert not await uow.bookings.save(confirmed, BookingStatus.HELD, NOW)  # moved already
        assert not await uow.bookings.save(booking(12), BookingStatus.HELD, NOW)  # unknown
        await uow.commit()
    async with store(MAINTENANCE) as uow:
        assert await uow.bookings.get(held.id) == confirmed


# ---------------------------------------------------------------- queries


async def test_customer_bookings_page_newest_first() -> None:
    store, me = MemoryBookingsStore(), UserId(uuid.uuid4())
    mine = [
        booking(8 + n, customer=me, created_at_minute=n % 3, resource=ResourceId(uuid.uuid4()))
        for n in range(7)
    ]
    await committed(store, *mine, booking(16))
    expected = sorted(mine, key=lambda b: (b.created_at, b.id), reverse=True)
    async with store(MAINTENANCE) as uow:
        seen, after = list[Booking](), None
        while page := await uow.bookings.for_customer(me, Page(limit=3, after=after)):
            seen.extend(page)
            after = str(page[-1].id)  # the cursor is the last booking's id
        assert seen == expected
        assert await uow.bookings.for_customer(me, Page(limit=3, after="garbage")) == []
        unknown = str(uuid.uuid4())
        assert await uow.bookings.for_customer(me, Page(limit=3, after=unknown)) == []
        assert len(await uow.bookings.for_provider(PROVIDER, Page(limit=100))) == 8


async def test_providers_list_by_id_and_continue_after_the_last_id() -> None:
    store = MemoryBookingsStore()
    everyone = [provider(f"p{n}") for n in range(5)]
    async with store(MAINTENANCE) as uow:
        for p in everyone:
            await uow.providers.add(p)
        await uow.commit()
    ordered = sorted(everyone, key=lambda p: p.id)
    async with store(MAINTENANCE) as uow:
        assert list(await uow.providers.list(Page(limit=2))) == ordered[:2]
        rest = await uow.providers.list(Page(limit=10, after=str(ordered[1].id)))
        assert list(rest) == ordered[2:]


async def test_places_without_hours_are_always_closed() -> None:
    store, place_id = MemoryBookingsStore(), PlaceId(uuid.uuid4())
    async with store(MAINTENANCE) as uow:
        assert await uow.places.hours(place_id) == OpeningHours(place_id=place_id)


async def test_busy_lists_live_blocked_ranges_overlapping_the_window_per_resource() -> None:
    store = MemoryBookingsStore()
    other = ResourceId(uuid.uuid4())
    early, late, elsewhere = booking(8), booking(14), booking(8, resource=other)
    await committed(store, early, late, elsewhere)
    async with store(MAINTENANCE) as uow:
        window = TimeRange(utc(2026, 6, 2, 9), utc(2026, 6, 2, 12))  # touches 08:00-09:15 only
        assert await uow.bookings.busy([COURT], window, NOW) == {COURT: [early.blocked]}
        assert await uow.bookings.busy([COURT, other], window, NOW + 10 * MINUTE) == {}


# ---------------------------------------------------------------- search


def place_at(lat: float, lng: float) -> Place:
    return Place(
        id=PlaceId(uuid.uuid4()),
        provider_id=PROVIDER,
        name="Somewhere",
        address=Address(line1="1 Road", city="Town", postal_code="1", country="DE"),
        point=GeoPoint.of(lat, lng).unwrap(),
        timezone="Europe/Berlin",
    )


def offering_at(place: Place, category: str, price: int, currency: str = "EUR") -> Offering:
    return Offering(
        id=OfferingId(uuid.uuid4()),
        provider_id=PROVIDER,
        place_id=place.id,
        kind=OfferingKind.APPOINTMENT,
        name="Thing",
        category=category,
        price=Money.of(price, currency).unwrap(),
        rules=BookingRules(duration=30 * MINUTE, slot_step=30 * MINUTE),
        resource_ids=(COURT,),
    )


async def test_search_finds_offerings_within_radius_nearest_first_with_filters() -> None:
    store = MemoryBookingsStore()
    centre = GeoPoint.of(52.52, 13.405).unwrap()
    near, mid, far = place_at(52.521, 13.405), place_at(52.53, 13.405), place_at(53.5, 10.0)
    offerings = [
        offering_at(near, "tennis", 2000),
        offering_at(near, "tennis", 2000),  # same distance: ordered by id
        offering_at(mid, "tennis", 5000),
        offering_at(mid, "yoga", 1000),
        offering_at(mid, "tennis", 2000, "USD"),
        offering_at(far, "tennis", 2000),
    ]
    async with store(MAINTENANCE) as uow:
        for place in (near, mid, far):
            await uow.places.add(place)
        for o in offerings:
            await uow.offerings.add(o)
        await uow.commit()

    everything = SearchQuery(near=centre, radius_m=5_000, page=Page(limit=50))

    async def search(**filters: Any) -> list[Offering]:
        async with store(MAINTENANCE) as uow:
            query = attrs.evolve(everything, **filters)
            return [hit.offering for hit in await uow.offerings.search(query)]

    first_two = sorted(offerings[:2], key=lambda o: o.id)
    assert await search() == [*first_two, *sorted(offerings[2:5], key=lambda o: o.id)]
    assert await search(category=" Yoga ") == [offerings[3]]
    assert await search(currency="usd") == [offerings[4]]
    tennis_eur = await search(category="tennis", currency="EUR", max_price_minor=2000)
    assert tennis_eur == first_two
    assert await search(min_price_minor=3000) == [offerings[2]]


async def test_search_pages_with_opaque_cursors_and_refuses_forged_ones() -> None:
    store = MemoryBookingsStore()
    centre = GeoPoint.of(0, 0).unwrap()
    places = [place_at(0.001 * n, 0) for n in range(7)]
    async with store(MAINTENANCE) as uow:
        for place in places:
            await uow.places.add(place)
            await uow.offerings.add(offering_at(place, "tennis", 100))
        await uow.commit()
    async with store(MAINTENANCE) as uow:
        everything = await uow.offerings.search(
            SearchQuery(near=centre, radius_m=10_000, page=Page(limit=100))
        )
        paged, after = list[SearchHit](), None
        while batch := await uow.offerings.search(
            SearchQuery(near=centre, radius_m=10_000, page=Page(limit=3, after=after))
        ):
            paged.extend(batch)
            after = batch[-1].cursor
        assert [h.offering.id for h in paged] == [h.offering.id for h in everything]
        assert [h.place for h in everything] == places
        assert [h.distance_m for h in everything] == sorted(h.distance_m for h in everything)
        forged = SearchQuery(near=centre, radius_m=10_000, page=Page(limit=3, after="!!"))
        assert await uow.offerings.search(forged) == []
