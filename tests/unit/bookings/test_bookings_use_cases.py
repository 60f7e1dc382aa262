"""Use cases of the bookings context over the memory adapter: who may do what, and what fails."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from bookings_support import MINUTE, Shop, admin, customer, ok, open_shop, staff, utc
from returns.result import Failure

from adapters.memory.booking_moves import MemoryLapsedHolds
from adapters.memory.setup import BookingsPorts
from core.bookings import (
    AddPlace,
    AddResource,
    BookingView,
    CancelBooking,
    CompleteBooking,
    ConfirmBooking,
    CreateOffering,
    CreateProvider,
    ExpireHolds,
    GetAvailability,
    GetBooking,
    GetCatalog,
    HoldSlot,
    InvalidCursor,
    ListMyBookings,
    ListProviderBookings,
    ListProviders,
    MarkNoShow,
    NewOffering,
    NewPlace,
    NewSchedule,
    RescheduleBooking,
    ScheduleSessions,
    SearchOfferings,
    SearchPage,
    SetOpeningHours,
    SlotRequest,
)
from core.bookings.model import (
    Address,
    Booking,
    BookingRules,
    BookingStatus,
    CancelledBy,
    HoldExpired,
    InvalidTransition,
    LocalInterval,
    OfferingKind,
    OutsideBookingWindow,
    PaymentRequired,
    SessionFull,
    SlotUnavailable,
    WeeklyRule,
)
from core.bookings.ports import LapsedHolds, Page, SearchQuery
from core.shared.errors import DomainError, Forbidden, InvalidInput, NotFound
from core.shared.geo import GeoPoint
from core.shared.ids import BookingId, OccurrenceId, OfferingId, PlaceId, ProviderId
from core.shared.money import Money
from core.shared.principal import MfaRequired, Principal
from core.shared.time import TimeRange
from core.shared.unit_of_work import MAINTENANCE

NOW = utc(2026, 6, 1, 6)  # Monday 08:00 in Berlin
TEN_TOMORROW = utc(2026, 6, 2, 8)  # 10:00 in Berlin


@pytest.fixture
async def shop() -> Shop:
    return await open_shop(NOW, capacity=2, runs_at=(utc(2026, 6, 3, 16),))


def failure(result: object) -> DomainError:
    assert isinstance(result, Failure), result
    error = result.failure()
    assert isinstance(error, DomainError)
    return error


async def hold_appointment(shop: Shop, who: Principal, start: datetime = TEN_TOMORROW) -> Booking:
    req = SlotRequest(offering_id=shop.appointment.id, start=start)
    return ok(await BookingsPorts.over(shop.store, shop.clock)(HoldSlot)(who, req))


def place_cmd(provider_id: ProviderId, **changes: Any) -> NewPlace:
    cmd = NewPlace(
        provider_id=provider_id,
        name="Annex",
        address=Address(line1="Weg 2", city="Berlin", postal_code="10115", country="DE"),
        lat=52.5,
        lng=13.4,
        timezone="Europe/Berlin",
    )
    return attrs.evolve(cmd, **changes)


# ---------------------------------------------------------------- catalog management


async def test_only_administrators_with_mfa_create_providers(shop: Shop) -> None:
    create = CreateProvider(uow=shop.store, clock=shop.clock)
    assert isinstance(failure(await create(customer(), "Acme")), Forbidden)
    assert isinstance(failure(await create(shop.manager, "Acme")), Forbidden)
    no_mfa = attrs.evolve(admin(), mfa=False)
    assert failure(await create(no_mfa, "Acme")) == MfaRequired()
    assert isinstance(failure(await create(admin(), "   ")), InvalidInput)
    made = ok(await create(admin(), " Acme "))
    assert made.name == "Acme"
    assert shop.store.outbox[-1].name == "bookings.provider_created"


async def test_managing_a_provider_needs_its_staff_with_mfa(shop: Shop) -> None:
    add_place = AddPlace(uow=shop.store, clock=shop.clock)
    cmd = place_cmd(shop.provider.id)
    assert isinstance(failure(await add_place(customer(), cmd)), Forbidden)
    outsider = staff(ProviderId(uuid.uuid4()))
    assert isinstance(failure(await add_place(outsider, cmd)), Forbidden)
    sleepy = staff(shop.provider.id, mfa=False)
    assert failure(await add_place(sleepy, cmd)) == MfaRequired()
    assert ok(await add_place(admin(), cmd)).provider_id == shop.provider.id


async def test_places_need_a_known_provider_a_real_zone_and_coordinates(shop: Shop) -> None:
    add_place = AddPlace(uow=shop.store, clock=shop.clock)
    unknown = ProviderId(uuid.uuid4())
    assert isinstance(failure(await add_place(admin(), place_cmd(unknown))), NotFound)
    for bad in ({"timezone": "Mars/Olympus"}, {"lat": 95.0}, {"name": ""}):
        cmd = place_cmd(shop.provider.id, **bad)
        assert isinstance(failure(await add_place(shop.manager, cmd)), InvalidInput), bad


@pytest.mark.parametrize("char", ["\x00", "\u202e", "\u2066", "\x1b"])
async def test_every_name_refuses_control_and_bidi_characters(shop: Shop, char: str) -> None:
    bad = f"Court {char}1"
    m = shop.manager
    add_place = AddPlace(uow=shop.store, clock=shop.clock)
    address = place_cmd(shop.provider.id).address
    offering = NewOffering(
        place_id=shop.place.id,
        kind=OfferingKind.SESSION,
        name="Yoga",
        category="yoga",
        price=shop.session.price,
        rules=shop.session.rules,
    )
    create = CreateOffering(uow=shop.store, clock=shop.clock)
    attempts = {
        "name": [
            await CreateProvider(uow=shop.store, clock=shop.clock)(admin(), bad),
            await add_place(m, place_cmd(shop.provider.id, name=bad)),
            await AddResource(uow=shop.store, clock=shop.clock)(m, shop.place.id, bad),
            await create(m, attrs.evolve(offering, name=bad)),
        ],
        "category": [await create(m, attrs.evolve(offering, category=bad))],
        **{
            f"address.{line}": [
                await add_place(
                    m, place_cmd(shop.provider.id, address=attrs.evolve(address, **{line: bad}))
                )
            ]
            for line in ("line1", "city", "postal_code")
        },
    }

    for field, results in attempts.items():
        for result in results:
            error = failure(result)
            assert isinstance(error, InvalidInput), (field, error)
            assert error.field == field


async def test_opening_hours_refuse_overlaps_and_unknown_places(shop: Shop) -> None:
    set_hours = SetOpeningHours(uow=shop.store, clock=shop.clock)
    overlapping = [
        WeeklyRule(weekday=0, interval=LocalInterval(480, 720)),
        WeeklyRule(weekday=0, interval=LocalInterval(700, 900)),
    ]
    result = await set_hours(shop.manager, shop.place.id, overlapping, [])
    assert isinstance(failure(result), InvalidInput)
    unknown = PlaceId(uuid.uuid4())
    assert isinstance(failure(await set_hours(shop.manager, unknown, [], [])), NotFound)


async def test_resources_need_a_name_and_a_managed_place(shop: Shop) -> None:
    add = AddResource(uow=shop.store, clock=shop.clock)
    assert isinstance(failure(await add(shop.manager, shop.place.id, "  ")), InvalidInput)
    assert isinstance(failure(await add(customer(), shop.place.id, "Court 3")), Forbidden)


async def test_offerings_refuse_foreign_resources_and_invalid_rules(shop: Shop) -> None:
    other = ok(
        await AddPlace(uow=shop.store, clock=shop.clock)(admin(), place_cmd(shop.provider.id))
    )
    create = CreateOffering(uow=shop.store, clock=shop.clock)
    cmd = NewOffering(
        place_id=other.id,
        kind=OfferingKind.APPOINTMENT,
        name="Elsewhere",
        category="tennis",
        price=ok(Money.of(100, "EUR")),
        rules=BookingRules(duration=60 * MINUTE, slot_step=30 * MINUTE),
        resource_ids=(shop.resources[0].id,),  # belongs to the first place
    )
    assert isinstance(failure(await create(shop.manager, cmd)), NotFound)
    odd_rules = BookingRules(duration=61 * MINUTE + timedelta(seconds=1), slot_step=30 * MINUTE)
    bad = attrs.evolve(cmd, place_id=shop.place.id, rules=odd_rules)
    assert failure(await create(shop.manager, bad)) == InvalidInput(
        field="duration", reason="must be whole minutes"
    )


async def test_sessions_are_scheduled_only_for_session_offerings_by_managers(shop: Shop) -> None:
    schedule = ScheduleSessions(uow=shop.store, clock=shop.clock)
    on_appointment = NewSchedule(offering_id=shop.appointment.id, first_start=TEN_TOMORROW)
    assert isinstance(failure(await schedule(shop.manager, on_appointment)), NotFound)
    weekly = NewSchedule(
        offering_id=shop.session.id, first_start=TEN_TOMORROW, repeat_until=NOW.date()
    )
    assert isinstance(failure(await schedule(shop.manager, weekly)), InvalidInput)
    fine = attrs.evolve(weekly, repeat_until=None)
    assert isinstance(failure(await schedule(customer(), fine)), Forbidden)


async def test_the_public_catalog_lists_what_a_provider_offers(shop: Shop) -> None:
    catalog = ok(await GetCatalog(uow=shop.store, clock=shop.clock)(shop.provider.id))
    assert catalog.places == [shop.place]
    assert {o.id for o in catalog.offerings} == {shop.appointment.id, shop.session.id}
    unknown = ProviderId(uuid.uuid4())
    assert isinstance(
        failure(await GetCatalog(uow=shop.store, clock=shop.clock)(unknown)), NotFound
    )


# ---------------------------------------------------------------- availability and search


async def test_availability_refuses_windows_longer_than_31_days(shop: Shop) -> None:
    get = GetAvailability(reads=shop.reads, clock=shop.clock)
    too_long = TimeRange(NOW, NOW + timedelta(days=31, minutes=1))
    assert failure(await get(shop.appointment.id, too_long)) == InvalidInput(
        field="to", reason="window longer than 31 days"
    )
    unknown = OfferingId(uuid.uuid4())
    assert isinstance(failure(await get(unknown, TimeRange(NOW, NOW + MINUTE))), NotFound)


async def test_availability_leaves_out_held_slots_on_busy_resources(shop: Shop) -> None:
    get = GetAvailability(reads=shop.reads, clock=shop.clock)
    window = TimeRange(TEN_TOMORROW, TEN_TOMORROW + MINUTE)
    (before,) = ok(await get(shop.appointment.id, window))
    assert before.resource_ids == tuple(r.id for r in shop.resources)
    held = await hold_appointment(shop, customer())
    (after,) = ok(await get(shop.appointment.id, window))
    assert after.resource_ids == tuple(r.id for r in shop.resources if r.id != held.resource_id)


async def test_session_availability_counts_seats_left(shop: Shop) -> None:
    run = shop.runs[0]
    window = TimeRange(NOW, NOW + timedelta(days=7))
    hold = BookingsPorts.over(shop.store, shop.clock)(HoldSlot)
    ok(await hold(customer(), SlotRequest(offering_id=shop.session.id, occurrence_id=run.id)))
    (slot,) = ok(await GetAvailability(reads=shop.reads, clock=shop.clock)(shop.session.id, window))
    assert (slot.occurrence_id, slot.seats_left) == (run.id, 1)


async def test_search_with_a_free_slot_window_validates_it_and_filters(shop: Shop) -> None:
    search = SearchOfferings(reads=shop.reads, clock=shop.clock)
    query = SearchQuery(near=ok(GeoPoint.of(52.53, 13.40)), radius_m=1000, page=Page(limit=10))
    too_long = TimeRange(NOW, NOW + timedelta(days=40))
    assert isinstance(failure(await search(query, too_long)), InvalidInput)
    everything = ok(await search(query)).hits
    assert {h.offering.id for h in everything} == {shop.appointment.id, shop.session.id}
    tonight = TimeRange(utc(2026, 6, 1, 20), utc(2026, 6, 1, 22))  # closed, no run
    assert ok(await search(query, tonight)) == SearchPage(hits=[], next=None)
    tomorrow = TimeRange(TEN_TOMORROW, TEN_TOMORROW + timedelta(hours=2))
    found = ok(await search(query, tomorrow))
    assert ([h.offering.id for h in found.hits], found.next) == ([shop.appointment.id], None)


# ---------------------------------------------------------------- holding


async def test_holds_check_the_request_before_touching_anything(shop: Shop) -> None:
    hold = BookingsPorts.over(shop.store, shop.clock)(HoldSlot)
    me = customer()
    appointment, session = shop.appointment.id, shop.session.id
    cases: list[tuple[SlotRequest, type[DomainError]]] = [
        (SlotRequest(offering_id=appointment, start=TEN_TOMORROW, seats=0), InvalidInput),
        (SlotRequest(offering_id=appointment), InvalidInput),
        (SlotRequest(offering_id=appointment, start=TEN_TOMORROW, seats=2), InvalidInput),
        (SlotRequest(offering_id=session), InvalidInput),
        (SlotRequest(offering_id=OfferingId(uuid.uuid4()), start=TEN_TOMORROW), NotFound),
        (SlotRequest(offering_id=session, occurrence_id=OccurrenceId(uuid.uuid4())), NotFound),
        (SlotRequest(offering_id=appointment, start=NOW + 30 * MINUTE), OutsideBookingWindow),
        (
            SlotRequest(offering_id=appointment, start=NOW + timedelta(days=31)),
            OutsideBookingWindow,
        ),
        (SlotRequest(offering_id=appointment, start=TEN_TOMORROW + MINUTE), SlotUnavailable),
        (SlotRequest(offering_id=appointment, start=utc(2026, 6, 2, 19)), SlotUnavailable),
    ]
    for req, expected in cases:
        assert isinstance(failure(await hold(me, req)), expected), req
    async with shop.store(MAINTENANCE) as uow:
        assert await uow.bookings.for_customer(me.user_id, Page(limit=10)) == []


async def test_a_hold_may_name_its_start_in_any_offset(shop: Shop) -> None:
    berlin_summer = timezone(timedelta(hours=2))
    held = await hold_appointment(shop, customer(), TEN_TOMORROW.astimezone(berlin_summer))
    assert held.during.start == TEN_TOMORROW
    assert held.status is BookingStatus.HELD
    assert held.hold_expires_at == NOW + timedelta(minutes=10)


async def test_both_resources_serve_then_the_slot_is_unavailable(shop: Shop) -> None:
    first = await hold_appointment(shop, customer())
    second = await hold_appointment(shop, customer())
    assert {first.resource_id, second.resource_id} == {r.id for r in shop.resources}
    req = SlotRequest(offering_id=shop.appointment.id, start=TEN_TOMORROW)
    result = await BookingsPorts.over(shop.store, shop.clock)(HoldSlot)(customer(), req)
    assert isinstance(failure(result), SlotUnavailable)


async def test_a_full_session_says_how_many_seats_are_left(shop: Shop) -> None:
    hold = BookingsPorts.over(shop.store, shop.clock)(HoldSlot)
    req = SlotRequest(offering_id=shop.session.id, occurrence_id=shop.runs[0].id)
    ok(await hold(customer(), req))
    assert failure(await hold(customer(), attrs.evolve(req, seats=2))) == SessionFull(seats_left=1)


# ---------------------------------------------------------------- seeing and moving bookings


async def test_other_customers_and_foreign_staff_see_not_found(shop: Shop) -> None:
    me = customer()
    mine = await hold_appointment(shop, me)
    get = GetBooking(uow=shop.store, clock=shop.clock)
    assert ok(await get(me, mine.id)) == BookingView(booking=mine)
    assert ok(await get(shop.manager, mine.id)) == BookingView(booking=mine, customer_erased=False)
    assert ok(await get(admin(), mine.id)) == BookingView(booking=mine, customer_erased=False)
    for stranger in (customer(), staff(ProviderId(uuid.uuid4()))):
        assert failure(await get(stranger, mine.id)) == NotFound(kind="booking", id=str(mine.id))
    sleepy = staff(shop.provider.id, mfa=False)
    assert failure(await get(sleepy, mine.id)) == MfaRequired()
    unknown = BookingId(uuid.uuid4())
    assert isinstance(failure(await get(me, unknown)), NotFound)


async def test_nobody_but_the_customer_or_staff_moves_a_booking(shop: Shop) -> None:
    mine = await hold_appointment(shop, customer())
    for use_case in (ConfirmBooking, CancelBooking):
        result = await use_case(moves=shop.moves, clock=shop.clock)(customer(), mine.id)
        assert isinstance(failure(result), NotFound)
    sleepy = staff(shop.provider.id, mfa=False)
    cancel = await CancelBooking(moves=shop.moves, clock=shop.clock)(sleepy, mine.id)
    assert failure(cancel) == MfaRequired()


async def test_staff_confirm_once_within_the_hold_then_the_customer_cancels(shop: Shop) -> None:
    me = customer()
    held = await hold_appointment(shop, me)
    confirm = ConfirmBooking(moves=shop.moves, clock=shop.clock)
    assert ok(await confirm(shop.manager, held.id)).status is BookingStatus.CONFIRMED
    assert failure(await confirm(shop.manager, held.id)) == InvalidTransition(
        BookingStatus.CONFIRMED, "confirm"
    )
    assert failure(await confirm(me, held.id)) == InvalidTransition(
        BookingStatus.CONFIRMED, "confirm"
    )
    cancelled = ok(await CancelBooking(moves=shop.moves, clock=shop.clock)(me, held.id))
    assert cancelled.status is BookingStatus.CANCELLED
    names = [e.name for e in shop.store.outbox][-3:]
    assert names == [
        "bookings.slot_held",
        "bookings.booking_confirmed",
        "bookings.booking_cancelled",
    ]


async def test_a_customer_confirming_a_priced_hold_is_told_to_pay(shop: Shop) -> None:
    me = customer()
    held = await hold_appointment(shop, me)
    events = len(shop.store.outbox)

    result = await ConfirmBooking(moves=shop.moves, clock=shop.clock)(me, held.id)

    assert held.price == ok(Money.of(2500, "EUR"))
    assert failure(result) == PaymentRequired(booking_id=held.id)
    assert f"POST /bookings/{held.id}/payment" in failure(result).detail
    assert ok(await GetBooking(uow=shop.store, clock=shop.clock)(me, held.id)).booking == held
    assert len(shop.store.outbox) == events


@pytest.mark.parametrize("who", ["staff", "admin"])
async def test_staff_and_admins_confirm_a_priced_hold_paid_outside_the_platform(
    shop: Shop, who: str
) -> None:
    held = await hold_appointment(shop, customer())
    confirmer = {"staff": shop.manager, "admin": admin()}[who]

    confirmed = ok(await ConfirmBooking(moves=shop.moves, clock=shop.clock)(confirmer, held.id))

    assert confirmed.status is BookingStatus.CONFIRMED
    event = shop.store.outbox[-1]
    assert (event.name, event.payload["paid"]) == ("bookings.booking_confirmed", False)


async def test_a_customer_confirms_a_free_hold(shop: Shop) -> None:
    trial = ok(
        await CreateOffering(uow=shop.store, clock=shop.clock)(
            shop.manager,
            NewOffering(
                place_id=shop.place.id,
                kind=OfferingKind.APPOINTMENT,
                name="Trial hour",
                category="tennis",
                price=ok(Money.of(0, "EUR")),
                rules=shop.appointment.rules,
                resource_ids=shop.appointment.resource_ids,
            ),
        )
    )
    me = customer()
    req = SlotRequest(offering_id=trial.id, start=TEN_TOMORROW)
    held = ok(await BookingsPorts.over(shop.store, shop.clock)(HoldSlot)(me, req))

    confirmed = ok(await ConfirmBooking(moves=shop.moves, clock=shop.clock)(me, held.id))

    assert held.price.minor == 0
    assert confirmed.status is BookingStatus.CONFIRMED


@pytest.mark.parametrize(
    ("who", "by"),
    [
        ("customer", CancelledBy.CUSTOMER),
        ("staff", CancelledBy.PROVIDER),
        ("admin", CancelledBy.PROVIDER),
    ],
)
async def test_a_cancellation_records_who_cancelled_and_when(
    shop: Shop, who: str, by: CancelledBy
) -> None:
    me = customer()
    held = await hold_appointment(shop, me)
    canceller = {"customer": me, "staff": shop.manager, "admin": admin()}[who]
    shop.clock.advance(MINUTE)

    cancelled = ok(await CancelBooking(moves=shop.moves, clock=shop.clock)(canceller, held.id))

    assert (cancelled.cancelled_at, cancelled.cancelled_by) == (NOW + MINUTE, by)
    assert ok(await GetBooking(uow=shop.store, clock=shop.clock)(me, held.id)).booking == cancelled
    event = shop.store.outbox[-1]
    assert event.name == "bookings.booking_cancelled"
    assert (event.payload["cancelled_at"], event.payload["cancelled_by"]) == (
        (NOW + MINUTE).isoformat(),
        by.value,
    )


async def test_an_expired_hold_cannot_be_confirmed(shop: Shop) -> None:
    me = customer()
    held = await hold_appointment(shop, me)
    shop.clock.advance(timedelta(minutes=10))
    result = await ConfirmBooking(moves=shop.moves, clock=shop.clock)(me, held.id)
    assert failure(result) == HoldExpired()


async def test_completion_and_no_show_are_for_staff_at_the_right_time(shop: Shop) -> None:
    me = customer()
    held = await hold_appointment(shop, me)
    ok(await ConfirmBooking(moves=shop.moves, clock=shop.clock)(shop.manager, held.id))
    complete = CompleteBooking(moves=shop.moves, clock=shop.clock)
    no_show = MarkNoShow(moves=shop.moves, clock=shop.clock)
    assert isinstance(failure(await complete(me, held.id)), NotFound)
    assert isinstance(failure(await complete(shop.manager, held.id)), InvalidTransition)
    shop.clock.set(held.during.start)
    assert isinstance(failure(await no_show(me, held.id)), NotFound)
    shop.clock.set(held.during.end)
    assert ok(await complete(shop.manager, held.id)).status is BookingStatus.COMPLETED
    assert isinstance(failure(await no_show(shop.manager, held.id)), InvalidTransition)


async def test_listing_bookings(shop: Shop) -> None:
    me = customer()
    mine = await hold_appointment(shop, me)
    await hold_appointment(shop, customer())
    assert (
        await ListMyBookings(uow=shop.store, clock=shop.clock)(me, Page(limit=10))
    ).unwrap() == [mine]
    provider_list = ListProviderBookings(uow=shop.store, clock=shop.clock)
    assert isinstance(failure(await provider_list(me, shop.provider.id, Page(limit=10))), Forbidden)
    assert (
        len(ok(await provider_list(shop.manager, shop.provider.id, Page(limit=10))).bookings) == 2
    )


async def test_cursors_that_are_not_of_the_list_are_refused_naming_after(shop: Shop) -> None:
    me, someone = customer(), customer()
    theirs = await hold_appointment(shop, someone)
    my_list = ListMyBookings(uow=shop.store, clock=shop.clock)
    provider_list = ListProviderBookings(uow=shop.store, clock=shop.clock)
    search = SearchOfferings(reads=shop.reads, clock=shop.clock)
    near = SearchQuery(near=shop.place.point, radius_m=1000, page=Page(limit=5, after="%%%"))
    refused = InvalidCursor(field="after", reason="not a cursor of this list; use `next` as given")

    assert failure(await my_list(me, Page(limit=5, after="not-an-id"))) == refused
    assert failure(await my_list(me, Page(limit=5, after=str(theirs.id)))) == refused
    assert failure(await my_list(me, Page(limit=5, after=str(uuid.uuid4())))) == refused
    elsewhere = Page(limit=5, after=str(uuid.uuid4()))
    assert failure(await provider_list(shop.manager, shop.provider.id, elsewhere)) == refused
    assert ok(await my_list(someone, Page(limit=5, after=str(theirs.id)))) == []
    providers = ListProviders(uow=shop.store, clock=shop.clock)
    assert failure(await providers(Page(limit=1, after="x"))) == refused
    assert failure(await search(near)) == refused


# ---------------------------------------------------------------- rescheduling


async def test_rescheduling_moves_a_confirmed_booking_atomically(shop: Shop) -> None:
    me = customer()
    old = await hold_appointment(shop, me)
    ok(await ConfirmBooking(moves=shop.moves, clock=shop.clock)(shop.manager, old.id))
    to = SlotRequest(offering_id=shop.appointment.id, start=TEN_TOMORROW + timedelta(hours=3))
    new = ok(await BookingsPorts.over(shop.store, shop.clock)(RescheduleBooking)(me, old.id, to))
    assert new.status is BookingStatus.CONFIRMED
    assert new.rescheduled_from == old.id
    assert new.customer_id == me.user_id
    get = GetBooking(uow=shop.store, clock=shop.clock)
    assert ok(await get(me, old.id)).booking.status is BookingStatus.RESCHEDULED
    assert ok(await get(me, new.id)).booking == new


async def test_staff_reschedule_on_behalf_of_the_customer(shop: Shop) -> None:
    me = customer()
    old = await hold_appointment(shop, me)
    to = SlotRequest(offering_id=shop.appointment.id, start=TEN_TOMORROW + timedelta(hours=1))
    reschedule = BookingsPorts.over(shop.store, shop.clock)(RescheduleBooking)
    new = ok(await reschedule(shop.manager, old.id, to))
    assert new.customer_id == me.user_id
    assert new.status is BookingStatus.HELD


async def test_a_failed_reschedule_leaves_the_original_untouched(shop: Shop) -> None:
    me = customer()
    old = await hold_appointment(shop, me)
    taken = TEN_TOMORROW + timedelta(hours=4)
    await hold_appointment(shop, customer(), taken)
    await hold_appointment(shop, customer(), taken)
    reschedule = BookingsPorts.over(shop.store, shop.clock)(RescheduleBooking)
    to = SlotRequest(offering_id=shop.appointment.id, start=taken)
    assert isinstance(failure(await reschedule(me, old.id, to)), SlotUnavailable)
    other_offering = SlotRequest(offering_id=shop.session.id, occurrence_id=shop.runs[0].id)
    assert isinstance(failure(await reschedule(me, old.id, other_offering)), InvalidInput)
    free = attrs.evolve(to, start=TEN_TOMORROW + timedelta(hours=6))
    assert isinstance(failure(await reschedule(customer(), old.id, free)), NotFound)
    assert ok(await GetBooking(uow=shop.store, clock=shop.clock)(me, old.id)).booking == old


async def test_a_started_booking_cannot_be_rescheduled(shop: Shop) -> None:
    me = customer()
    old = await hold_appointment(shop, me)
    ok(await ConfirmBooking(moves=shop.moves, clock=shop.clock)(shop.manager, old.id))
    shop.clock.set(old.during.start)
    to = SlotRequest(offering_id=shop.appointment.id, start=TEN_TOMORROW + timedelta(days=1))
    result = await BookingsPorts.over(shop.store, shop.clock)(RescheduleBooking)(me, old.id, to)
    assert failure(result) == InvalidTransition(BookingStatus.CONFIRMED, "reschedule")


class _CountingLapsedHolds(LapsedHolds):
    """Memory's lapsed holds, remembering each batch asked for and marked."""

    def __init__(self, shop: Shop) -> None:
        self._holds = MemoryLapsedHolds(shop.store)
        self.batches: list[int] = []

    async def expire(self, now: datetime, batch: int) -> int:
        marked = await self._holds.expire(now, batch)
        self.batches.append(marked)
        return marked


async def test_expiring_holds_works_in_bounded_batches_and_stops_when_none_are_left(
    shop: Shop,
) -> None:
    starts = [TEN_TOMORROW + timedelta(hours=2 * n) for n in range(5)]
    held = [await hold_appointment(shop, customer(), start) for start in starts]
    shop.clock.advance(timedelta(minutes=11))  # past the default 10-minute hold
    live = await hold_appointment(shop, customer(), TEN_TOMORROW + timedelta(days=1))
    counting = _CountingLapsedHolds(shop)
    sweep = ExpireHolds(lapsed_holds=counting, clock=shop.clock, batch=2, max_batches=2)

    first, second = await sweep(), await sweep()

    assert (first, second) == (4, 1)  # at most two batches of two a run; the rest next run
    assert counting.batches == [2, 2, 1]
    async with shop.store(MAINTENANCE) as uow:
        stored = {b.id: b.status for b in await uow.bookings.get_many([b.id for b in held])}
        assert stored == {b.id: BookingStatus.EXPIRED for b in held}
        assert await uow.bookings.get(live.id) == live
