"""The contract of `AvailabilityReads` (search and availability in one read each), run on the
in-memory adapter and on PostGIS, and the exactness of the free-slot search filter built on it.

Each test runs twice: on `MemoryAvailabilityReads` over a `MemoryBookingsStore`, and on
`PostgisAvailabilityReads` over a migrated database emptied before every test (and before
every Hypothesis example).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import attrs
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from returns.result import Success
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.availability_reads import MemoryAvailabilityReads
from adapters.memory.bookings import MemoryBookingsStore
from adapters.memory.clock import FixedClock
from adapters.postgis.bookings import PostgisBookingsUnitOfWork
from adapters.postgis.bookings.availability_reads import PostgisAvailabilityReads
from core.bookings import BookingSettings, SearchOfferings
from core.bookings.availability import appointment_slots, session_slots
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
    Place,
    Provider,
    Resource,
    WeeklyRule,
)
from core.bookings.ports import (
    AvailabilityReads,
    BookingsUnitOfWork,
    Calendar,
    Page,
    SearchHit,
    SearchQuery,
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
from postgres_support import migrated_context

T0 = datetime(2030, 3, 4, 0, 0, tzinfo=UTC)  # a Monday
NOW = T0 - timedelta(days=1)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
CENTRE = GeoPoint(52.52, 13.405)
METRES_PER_DEGREE_LAT = 6_371_008.8 * 3.141592653589793 / 180
RADIUS_M = 5_000
ZONES = ("Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Lord_Howe")

TABLES = (
    "bookings, occurrences, offering_resources, offerings, opening_exception_intervals,"
    " opening_exceptions, opening_hours, resources, places, providers, outbox"
)
context_database, app_engine, owner_engine, engine = migrated_context(
    "reserva_availability_reads", truncate=TABLES, pool_size=4, max_overflow=0
)


# ---------------------------------------------------------------- adapters under test


class Harness:
    """A store to write the catalog through, and the reads under test over the same data."""

    reads: AvailabilityReads

    def uow(self) -> BookingsUnitOfWork:
        raise NotImplementedError

    async def reset(self) -> None:
        """Forget everything written (a Hypothesis example starts from nothing)."""


class MemoryHarness(Harness):
    def __init__(self) -> None:
        self._store = MemoryBookingsStore()
        self.reads = MemoryAvailabilityReads(self._store)

    def uow(self) -> BookingsUnitOfWork:
        return self._store(MAINTENANCE)

    async def reset(self) -> None:
        self.__init__()  # type: ignore[misc]


class PostgisHarness(Harness):
    def __init__(self, app: AsyncEngine, owner: AsyncEngine) -> None:
        self._app, self._owner = app, owner
        self.reads = PostgisAvailabilityReads(app)

    def uow(self) -> BookingsUnitOfWork:
        return PostgisBookingsUnitOfWork(self._app, MAINTENANCE)

    async def reset(self) -> None:
        async with self._owner.begin() as connection:
            await connection.execute(sa.text(f"TRUNCATE {TABLES}"))


@pytest.fixture(params=["memory", "postgis"])
def harness(request: pytest.FixtureRequest) -> Harness:
    if request.param == "memory":
        return MemoryHarness()
    app = request.getfixturevalue("engine")  # emptied
    return PostgisHarness(app, request.getfixturevalue("owner_engine"))


# ---------------------------------------------------------------- building a catalog


def north(metres: float) -> GeoPoint:
    return GeoPoint(CENTRE.lat + metres / METRES_PER_DEGREE_LAT, CENTRE.lng)


def a_place(provider_id: ProviderId, point: GeoPoint, zone: str = "Europe/Berlin") -> Place:
    return Place(
        id=PlaceId(new_id()),
        provider_id=provider_id,
        name="Club",
        address=Address(line1="Torstrasse 1", city="Berlin", postal_code="10119", country="DE"),
        point=point,
        timezone=zone,
    )


def an_offering(
    place: Place,
    kind: OfferingKind,
    resource_ids: tuple[ResourceId, ...] = (),
    *,
    buffer: timedelta = timedelta(0),
    category: str = "tennis",
) -> Offering:
    return Offering(
        id=OfferingId(new_id()),
        provider_id=place.provider_id,
        place_id=place.id,
        kind=kind,
        name="Court" if kind is OfferingKind.APPOINTMENT else "Class",
        category=category,
        price=Money.of(2500, "EUR").unwrap(),
        rules=BookingRules(
            duration=HOUR,
            slot_step=HOUR,
            buffer_before=buffer,
            buffer_after=buffer,
            horizon=timedelta(days=90),
        ),
        resource_ids=resource_ids,
        capacity=3 if kind is OfferingKind.SESSION else 1,
    )


def appointment_booking(
    offering: Offering,
    resource_id: ResourceId,
    during: TimeRange,
    status: BookingStatus = BookingStatus.CONFIRMED,
    expires: datetime | None = None,
) -> Booking:
    rules = offering.rules
    return Booking(
        id=BookingId(new_id()),
        offering_id=offering.id,
        provider_id=offering.provider_id,
        customer_id=UserId(new_id()),
        kind=OfferingKind.APPOINTMENT,
        during=during,
        blocked=during.widen(rules.buffer_before, rules.buffer_after),
        resource_id=resource_id,
        price=offering.price,
        status=status,
        hold_expires_at=expires if status is BookingStatus.HELD else None,
        created_at=NOW - HOUR,
    )


def seat_booking(
    offering: Offering,
    run: Occurrence,
    seats: int,
    status: BookingStatus = BookingStatus.CONFIRMED,
    expires: datetime | None = None,
) -> Booking:
    return Booking(
        id=BookingId(new_id()),
        offering_id=offering.id,
        provider_id=offering.provider_id,
        customer_id=UserId(new_id()),
        kind=OfferingKind.SESSION,
        during=run.during,
        blocked=run.during,
        occurrence_id=run.id,
        seats=seats,
        price=offering.price.times(seats),
        status=status,
        hold_expires_at=expires if status is BookingStatus.HELD else None,
        created_at=NOW - HOUR,
    )


@attrs.frozen(kw_only=True)
class Catalog:
    """What was written, to compute what the reads must answer without them."""

    provider: Provider
    places: dict[PlaceId, Place] = attrs.field(factory=dict)
    hours: dict[PlaceId, OpeningHours] = attrs.field(factory=dict)
    resources: list[Resource] = attrs.field(factory=list)
    offerings: list[Offering] = attrs.field(factory=list)
    runs: list[Occurrence] = attrs.field(factory=list)
    bookings: list[Booking] = attrs.field(factory=list)

    async def write(self, h: Harness) -> None:
        async with h.uow() as uow:
            await uow.providers.add(self.provider)
            for place in self.places.values():
                await uow.places.add(place)
                await uow.places.set_hours(self.hours[place.id])
            for resource in self.resources:
                await uow.resources.add(resource)
            for offering in self.offerings:
                await uow.offerings.add(offering)
            await uow.occurrences.add(self.runs)
            for booking in self.bookings:
                if booking.kind is OfferingKind.SESSION:
                    seated = await uow.bookings.add_seated(booking, 10_000, booking.created_at)
                    assert seated == Success(None)
                else:
                    added = await uow.bookings.add_exclusive(booking, booking.created_at)
                    assert added == Success(None)
            await uow.commit()

    def free_slot_oracle(self, offering: Offering, window: TimeRange, now: datetime) -> bool:
        """Straight from the core, over every booking: does `offering` have a free slot?"""
        live = [b for b in self.bookings if b.is_live(now)]
        if offering.kind is OfferingKind.SESSION:
            taken: dict[OccurrenceId, int] = {}
            for b in live:
                if b.occurrence_id is not None:
                    taken[b.occurrence_id] = taken.get(b.occurrence_id, 0) + b.seats
            return bool(session_slots(offering, self.runs, taken, window, now))
        busy: dict[ResourceId, list[TimeRange]] = {}
        for b in live:
            if b.resource_id is not None:
                busy.setdefault(b.resource_id, []).append(b.blocked)
        place = self.places[offering.place_id]
        hours = self.hours[place.id]
        return bool(appointment_slots(offering, place.zone, hours, busy, window, now))


def every_day(place_id: PlaceId, opens: int, closes: int, *days: DatedException) -> OpeningHours:
    weekly = tuple(WeeklyRule(weekday=d, interval=LocalInterval(opens, closes)) for d in range(7))
    return OpeningHours(place_id=place_id, weekly=weekly, exceptions=days)


def query(*, limit: int = 100, after: str | None = None, **filters: object) -> SearchQuery:
    return SearchQuery(
        near=CENTRE,
        radius_m=RADIUS_M,
        page=Page(limit=limit, after=after),
        **filters,  # type: ignore[arg-type]
    )


# ---------------------------------------------------------------- the contract


async def small_catalog(h: Harness) -> tuple[Catalog, Offering, Offering, Occurrence]:
    """At 100 m an appointment on two courts (buffers of 15 min) whose place closes on
    2030-03-05; at 300 m a session with one run in the window; at 20 km another appointment."""
    provider = Provider(id=ProviderId(new_id()), name="Courts & Co")
    catalog = Catalog(provider=provider)
    near, far = a_place(provider.id, north(100)), a_place(provider.id, north(300))
    beyond = a_place(provider.id, north(20_000))
    closed = DatedException(day=date(2030, 3, 5), intervals=())
    short = DatedException(day=date(2030, 6, 1), intervals=(LocalInterval(600, 660),))
    for place in (near, far, beyond):
        catalog.places[place.id] = place
        catalog.hours[place.id] = every_day(place.id, 8 * 60, 20 * 60, closed, short)
    courts = [
        Resource(id=ResourceId(new_id()), provider_id=provider.id, place_id=near.id, name=n)
        for n in ("1", "2")
    ]
    catalog.resources.extend(courts)
    appointment = an_offering(
        near, OfferingKind.APPOINTMENT, (courts[0].id, courts[1].id), buffer=15 * MINUTE
    )
    session = an_offering(far, OfferingKind.SESSION, category="yoga")
    elsewhere = an_offering(beyond, OfferingKind.APPOINTMENT)
    catalog.offerings.extend([appointment, session, elsewhere])
    in_window = Occurrence(
        id=OccurrenceId(new_id()),
        offering_id=session.id,
        during=TimeRange(T0 + 10 * HOUR, T0 + 11 * HOUR),
        capacity=3,
    )
    later = Occurrence(
        id=OccurrenceId(new_id()),
        offering_id=session.id,
        during=TimeRange(T0 + 40 * HOUR, T0 + 41 * HOUR),
        capacity=3,
    )
    catalog.runs.extend([in_window, later])
    nine = TimeRange(T0 + 9 * HOUR, T0 + 10 * HOUR)
    catalog.bookings.extend(
        [
            appointment_booking(appointment, courts[0].id, nine),
            # Ends (with its buffer) 15 minutes into the widened window: still busy.
            appointment_booking(appointment, courts[1].id, TimeRange(T0 + 6 * HOUR, T0 + 7 * HOUR)),
            # Far after the widened window: not read.
            appointment_booking(
                appointment, courts[1].id, TimeRange(T0 + 30 * HOUR, T0 + 31 * HOUR)
            ),
            # A hold expired at NOW: not live.
            appointment_booking(
                appointment,
                courts[0].id,
                TimeRange(T0 + 11 * HOUR, T0 + 12 * HOUR),
                BookingStatus.HELD,
                NOW - MINUTE,
            ),
            seat_booking(session, in_window, 2),
            seat_booking(session, in_window, 1, BookingStatus.HELD, NOW - MINUTE),
            seat_booking(session, later, 1),
        ]
    )
    await catalog.write(h)
    return catalog, appointment, session, in_window


WINDOW = TimeRange(T0 + 8 * HOUR, T0 + 12 * HOUR)


def _check_appointment_calendar(
    calendar: Calendar, catalog: Catalog, appointment: Offering
) -> None:
    assert calendar.offering == appointment
    assert calendar.place == catalog.places[appointment.place_id]
    expected_hours = catalog.hours[appointment.place_id]
    assert calendar.hours.weekly == expected_hours.weekly
    # The exceptions of the window's days are there; others may or may not be.
    assert date(2030, 3, 5) in {e.day for e in calendar.hours.exceptions}
    for day in (date(2030, 3, 3), date(2030, 3, 4), date(2030, 3, 5)):
        assert calendar.hours.intervals_on(day) == expected_hours.intervals_on(day)
    court_one, court_two = appointment.resource_ids
    nine = TimeRange(T0 + 9 * HOUR, T0 + 10 * HOUR).widen(15 * MINUTE, 15 * MINUTE)
    six = TimeRange(T0 + 6 * HOUR, T0 + 7 * HOUR).widen(15 * MINUTE, 15 * MINUTE)
    assert {r: list(ranges) for r, ranges in calendar.busy.items()} == {
        court_one: [nine],
        court_two: [six],
    }
    assert (list(calendar.runs), dict(calendar.taken)) == ([], {})


async def test_search_answers_as_the_offering_repository_in_one_read(harness: Harness) -> None:
    await small_catalog(harness)
    async with harness.uow() as uow:
        expected = await uow.offerings.search(query())
        yoga = await uow.offerings.search(query(category="yoga"))

    assert len(expected) == 2
    assert await harness.reads.search(query()) == expected
    assert await harness.reads.search(query(category="yoga")) == yoga
    first = await harness.reads.search(query(limit=1))
    rest = await harness.reads.search(query(after=first[0].cursor))
    assert [*first, *rest] == list(expected)
    assert await harness.reads.search(query(after="not a cursor")) == []


async def test_candidates_are_the_search_hits_with_their_calendars(harness: Harness) -> None:
    catalog, appointment, session, run = await small_catalog(harness)
    hits = await harness.reads.search(query())

    candidates = await harness.reads.candidates(query(), WINDOW, NOW)

    assert [c.hit for c in candidates] == list(hits)
    by_id = {c.calendar.offering.id: c.calendar for c in candidates}
    _check_appointment_calendar(by_id[appointment.id], catalog, appointment)
    seats = by_id[session.id]
    assert seats.offering == session
    assert (list(seats.runs), dict(seats.taken)) == ([run], {run.id: 2})
    assert dict(seats.busy) == {}
    second = await harness.reads.candidates(query(after=hits[0].cursor), WINDOW, NOW)
    assert [c.hit for c in second] == list(hits[1:])
    assert await harness.reads.candidates(query(after="%%%"), WINDOW, NOW) == []


async def test_calendar_is_one_offerings_candidate_calendar(harness: Harness) -> None:
    catalog, appointment, _, _ = await small_catalog(harness)
    candidates = await harness.reads.candidates(query(), WINDOW, NOW)

    for candidate in candidates:
        offering_id = candidate.calendar.offering.id
        assert await harness.reads.calendar(offering_id, WINDOW, NOW) == candidate.calendar
    _check_appointment_calendar(
        await harness.reads.calendar(appointment.id, WINDOW, NOW),  # type: ignore[arg-type]
        catalog,
        appointment,
    )
    assert await harness.reads.calendar(OfferingId(uuid.uuid4()), WINDOW, NOW) is None


async def test_a_session_without_runs_in_the_window_has_an_empty_calendar(
    harness: Harness,
) -> None:
    _, _, session, _ = await small_catalog(harness)
    quiet = TimeRange(T0 + 12 * HOUR, T0 + 13 * HOUR)

    calendar = await harness.reads.calendar(session.id, quiet, NOW)

    assert calendar is not None
    assert (list(calendar.runs), dict(calendar.taken)) == ([], {})


# ---------------------------------------------------------------- the exact free-slot filter


@st.composite
def catalogs(draw: st.DrawFn) -> Catalog:
    """A few places at distinct or equal distances (ties order by offering id), each with one to
    three offerings; most appointments are fully booked in the window, most sessions full."""
    provider = Provider(id=ProviderId(new_id()), name="Everywhere")
    catalog = Catalog(provider=provider)
    for _ in range(draw(st.integers(1, 5))):
        metres = 100 * draw(st.integers(0, 60))  # some beyond the radius, some shared
        place = a_place(provider.id, north(metres), draw(st.sampled_from(ZONES)))
        catalog.places[place.id] = place
        closed = draw(st.booleans())
        days = (DatedException(day=date(2030, 3, 4), intervals=()),) if closed else ()
        catalog.hours[place.id] = every_day(place.id, 6 * 60, 22 * 60, *days)
        for _ in range(draw(st.integers(1, 3))):
            if draw(st.booleans()):
                _add_appointment(draw, catalog, place)
            else:
                _add_session(draw, catalog, place)
    return catalog


def _add_appointment(draw: st.DrawFn, catalog: Catalog, place: Place) -> None:
    resources = [
        Resource(id=ResourceId(new_id()), provider_id=place.provider_id, place_id=place.id, name=n)
        for n in ("a", "b")[: draw(st.integers(1, 2))]
    ]
    buffer = MINUTE * draw(st.sampled_from([0, 30]))
    offering = an_offering(
        place, OfferingKind.APPOINTMENT, tuple(r.id for r in resources), buffer=buffer
    )
    catalog.resources.extend(resources)
    catalog.offerings.append(offering)
    for resource in resources:
        if draw(st.integers(0, 3)) > 0:  # busy all day, mostly
            day = TimeRange(T0 - 12 * HOUR, T0 + 36 * HOUR)
            status = draw(st.sampled_from([BookingStatus.CONFIRMED, BookingStatus.HELD]))
            expires = NOW + draw(st.sampled_from([-MINUTE, HOUR]))
            catalog.bookings.append(
                appointment_booking(offering, resource.id, day, status, expires)
            )


def _add_session(draw: st.DrawFn, catalog: Catalog, place: Place) -> None:
    offering = an_offering(place, OfferingKind.SESSION, category="yoga")
    catalog.offerings.append(offering)
    for hour in draw(st.lists(st.integers(-3, 30), max_size=2, unique=True)):
        capacity = draw(st.integers(1, 3))
        run = Occurrence(
            id=OccurrenceId(new_id()),
            offering_id=offering.id,
            during=TimeRange(T0 + hour * HOUR, T0 + (hour + 1) * HOUR),
            capacity=capacity,
        )
        catalog.runs.append(run)
        taken = draw(st.integers(0, capacity))  # mostly full
        if taken:
            catalog.bookings.append(seat_booking(offering, run, taken))


async def page_through(
    search: SearchOfferings, limit: int, window: TimeRange
) -> list[list[SearchHit]]:
    pages: list[list[SearchHit]] = []
    after: str | None = None
    while len(pages) < 500:  # far more than any catalog here needs
        page = (await search(query(limit=limit, after=after), window)).unwrap()
        pages.append(list(page.hits))
        if page.next is None:
            return pages
        after = page.next
    raise AssertionError("the cursor never reached the end")


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    catalog=catalogs(),
    limit=st.integers(1, 3),
    batch=st.integers(1, 4),
    budget=st.integers(1, 6),
    start_hour=st.integers(-2, 20),
    hours=st.integers(1, 6),
)
async def test_following_next_finds_every_offering_with_a_free_slot_once_in_order(
    harness: Harness,
    catalog: Catalog,
    limit: int,
    batch: int,
    budget: int,
    start_hour: int,
    hours: int,
) -> None:
    await harness.reset()
    await catalog.write(harness)
    window = TimeRange(T0 + start_hour * HOUR, T0 + (start_hour + hours) * HOUR)
    search = SearchOfferings(
        reads=harness.reads,
        clock=FixedClock(NOW),
        settings=BookingSettings(search_batch=batch, search_budget=budget),
    )

    pages = await page_through(search, limit, window)

    within = [o for o in catalog.offerings if _distance(catalog, o) <= RADIUS_M]
    ordered = sorted(within, key=lambda o: (_distance(catalog, o), o.id))
    expected = [o.id for o in ordered if catalog.free_slot_oracle(o, window, NOW)]
    assert [hit.offering.id for page in pages for hit in page] == expected
    assert all(len(page) <= limit for page in pages)


def _distance(catalog: Catalog, offering: Offering) -> float:
    return CENTRE.distance_m(catalog.places[offering.place_id].point)


async def test_a_budget_spent_on_full_offerings_answers_an_empty_page_that_continues(
    harness: Harness,
) -> None:
    """Goal 3 of issue 11: where many nearer offerings are full, one request may find nothing
    within its budget, but its cursor leads on to the free offering behind them."""
    provider = Provider(id=ProviderId(new_id()), name="Busy")
    catalog = Catalog(provider=provider)
    near, further = a_place(provider.id, north(100)), a_place(provider.id, north(200))
    for place in (near, further):
        catalog.places[place.id] = place
        catalog.hours[place.id] = every_day(place.id, 0, 24 * 60)
    for _ in range(6):
        _session(catalog, near, taken=1)
    free = _session(catalog, further, taken=0)
    await catalog.write(harness)
    window = TimeRange(T0, T0 + 12 * HOUR)
    search = SearchOfferings(
        reads=harness.reads,
        clock=FixedClock(NOW),
        settings=BookingSettings(search_batch=2, search_budget=4),
    )

    first = (await search(query(limit=5), window)).unwrap()
    second = (await search(query(limit=5, after=first.next), window)).unwrap()

    assert (list(first.hits), first.next is not None) == ([], True)
    assert ([h.offering.id for h in second.hits], second.next) == ([free.id], None)


def _session(catalog: Catalog, place: Place, *, taken: int) -> Offering:
    """A session with one run of one seat in the window, `taken` of it booked."""
    offering = an_offering(place, OfferingKind.SESSION)
    run = Occurrence(
        id=OccurrenceId(new_id()),
        offering_id=offering.id,
        during=TimeRange(T0 + 2 * HOUR, T0 + 3 * HOUR),
        capacity=1,
    )
    catalog.offerings.append(offering)
    catalog.runs.append(run)
    if taken:
        catalog.bookings.append(seat_booking(offering, run, taken))
    return offering
