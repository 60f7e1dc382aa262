"""Staff see which customers were erased (issue 10 §3): their bookings stay in the provider's
schedule as "erased customer". Over the memory adapter, whose erased set the test fills."""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta

import pytest
from bookings_support import Shop, admin, customer, ok, open_shop, utc

from adapters.memory.bookings import MemoryBookingsStore, MemoryBookingsUnitOfWork
from adapters.memory.setup import BookingsPorts
from core.bookings import (
    BookingView,
    ErasedCustomers,
    GetBooking,
    HoldSlot,
    ListMyBookings,
    ListProviderBookings,
    SlotRequest,
)
from core.bookings.model import Booking
from core.bookings.ports import Page
from core.shared.ids import UserId
from core.shared.principal import Principal
from core.shared.unit_of_work import MAINTENANCE, Access

NOW = utc(2026, 6, 1, 6)  # Monday 08:00 in Berlin
TEN_TOMORROW = utc(2026, 6, 2, 8)


class _Counted(ErasedCustomers):
    def __init__(self, inner: ErasedCustomers, asked: list[frozenset[UserId]]) -> None:
        self._inner, self._asked = inner, asked

    async def among(self, ids: Collection[UserId]) -> frozenset[UserId]:
        self._asked.append(frozenset(ids))
        return await self._inner.among(ids)


class CountingStore:
    """The memory store, recording every question asked of `erased_customers`."""

    def __init__(self, store: MemoryBookingsStore) -> None:
        self.store = store
        self.asked: list[frozenset[UserId]] = []

    def __call__(self, access: Access) -> MemoryBookingsUnitOfWork:
        uow = self.store(access)
        uow.erased_customers = _Counted(uow.erased_customers, self.asked)
        return uow


@pytest.fixture
async def shop() -> Shop:
    return await open_shop(NOW)


async def _hold(shop: Shop, who: Principal, hours: int) -> Booking:
    start = TEN_TOMORROW + timedelta(hours=hours)
    req = SlotRequest(offering_id=shop.appointment.id, start=start)
    return ok(await BookingsPorts.over(shop.store, shop.clock)(HoldSlot)(who, req))


async def test_a_providers_page_names_its_erased_customers_asking_once(shop: Shop) -> None:
    gone, kept = customer(), customer()
    bookings = [await _hold(shop, gone, 0), await _hold(shop, kept, 2), await _hold(shop, gone, 4)]
    shop.store.erase_customer(gone.user_id)
    counting = CountingStore(shop.store)

    seen = ok(
        await ListProviderBookings(uow=counting, clock=shop.clock)(
            shop.manager, shop.provider.id, Page(limit=10)
        )
    )

    assert sorted(b.id for b in seen.bookings) == sorted(b.id for b in bookings)  # all stay
    assert seen.erased_customers == {gone.user_id}
    assert counting.asked == [{gone.user_id, kept.user_id}]  # once per page, not per row


async def test_an_empty_page_asks_nothing(shop: Shop) -> None:
    counting = CountingStore(shop.store)

    seen = ok(
        await ListProviderBookings(uow=counting, clock=shop.clock)(
            shop.manager, shop.provider.id, Page(limit=10)
        )
    )

    assert seen.bookings == []
    assert seen.erased_customers == frozenset()
    assert counting.asked == []


async def test_staff_and_admins_see_one_booking_of_an_erased_customer_as_erased(
    shop: Shop,
) -> None:
    gone, kept = customer(), customer()
    theirs, mine = await _hold(shop, gone, 0), await _hold(shop, kept, 2)
    shop.store.erase_customer(gone.user_id)
    get = GetBooking(uow=shop.store, clock=shop.clock)

    for reader in (shop.manager, admin()):
        assert ok(await get(reader, theirs.id)) == BookingView(booking=theirs, customer_erased=True)
        assert ok(await get(reader, mine.id)) == BookingView(booking=mine, customer_erased=False)


async def test_a_customers_own_view_is_unchanged_and_asks_nothing(shop: Shop) -> None:
    me = customer()
    mine = await _hold(shop, me, 0)
    counting = CountingStore(shop.store)

    got = ok(await GetBooking(uow=counting, clock=shop.clock)(me, mine.id))
    listed = ok(await ListMyBookings(uow=counting, clock=shop.clock)(me, Page(limit=10)))

    assert got == BookingView(booking=mine, customer_erased=None)
    assert listed == [mine]
    assert counting.asked == []


async def test_the_memory_fake_answers_only_erased_ids_among_those_asked() -> None:
    store = MemoryBookingsStore()
    gone, kept, other = (customer().user_id for _ in range(3))
    store.erase_customer(gone)
    store.erase_customer(other)
    async with store(MAINTENANCE) as uow:
        assert await uow.erased_customers.among({gone, kept}) == {gone}
        assert await uow.erased_customers.among(()) == frozenset()
