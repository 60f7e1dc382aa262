"""Free slots: properties across DST changes in several zones, and worked examples."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from bookings_support import MINUTE, PROFILE, every_day, transitions, utc
from hypothesis import given
from hypothesis import strategies as st
from returns.result import Failure, Success

from core.bookings.availability import (
    appointment_slots,
    has_free_slot,
    session_slots,
    weekly_starts,
)
from core.bookings.model import (
    DAY_MINUTES,
    BookingRules,
    DatedException,
    LocalInterval,
    Occurrence,
    Offering,
    OfferingKind,
    OpeningHours,
    Slot,
    WeeklyRule,
)
from core.shared.errors import InvalidInput
from core.shared.ids import OccurrenceId, OfferingId, PlaceId, ProviderId, ResourceId
from core.shared.money import Money
from core.shared.time import TimeRange

ZONES = (
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # DST moves the clock by 30 minutes
    "America/Santiago",  # changes at local midnight
    "Asia/Kolkata",  # no DST at all
)
BERLIN = ZoneInfo("Europe/Berlin")
PLACE = PlaceId(uuid.uuid4())
QUARTER = 15 * MINUTE


def offering(rules: BookingRules, resources: int = 1) -> Offering:
    return Offering(
        id=OfferingId(uuid.uuid4()),
        provider_id=ProviderId(uuid.uuid4()),
        place_id=PLACE,
        kind=OfferingKind.APPOINTMENT,
        name="Chair",
        category="hair",
        price=Money.of(3000, "EUR").unwrap(),
        rules=rules,
        resource_ids=tuple(ResourceId(uuid.uuid4()) for _ in range(resources)),
    )


def hours(weekly: Sequence[WeeklyRule], exceptions: Sequence[DatedException] = ()) -> OpeningHours:
    return OpeningHours.create(PLACE, weekly, exceptions).unwrap()


def rules(**changes: timedelta) -> BookingRules:
    base = {
        "duration": 30 * MINUTE,
        "slot_step": 30 * MINUTE,
        "horizon": timedelta(days=365),
    }
    return BookingRules(**{**base, **changes})


def local_day(day: date, zone: ZoneInfo) -> TimeRange:
    """The real time of one local date (23, 24 or 25 hours long)."""
    start = datetime.combine(day, time(), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), zone).astimezone(UTC)
    return TimeRange(start, end)


def starts(slots: Sequence[Slot]) -> list[datetime]:
    return [s.during.start for s in slots]


# ---------------------------------------------------------------- an oracle for opening hours


@functools.cache  # pure, and asked the same questions again and again
def clock_reaches(day: date, minute: int, zone: ZoneInfo) -> datetime:
    """The first instant at which the place's clock reads `minute` of `day` or later.

    Brute force, independent of how the implementation resolves wall times: walk real time in
    quarter hours (every offset and transition of the zones under test is a multiple of 15
    minutes, and so is every boundary generated here) and read the local clock.
    """
    target = datetime.combine(day, time()) + timedelta(minutes=minute)
    at = target.replace(tzinfo=UTC) - timedelta(hours=15)  # the clock still reads earlier
    while at.astimezone(zone).replace(tzinfo=None) < target:
        at += QUARTER
    return at


def opening_spans(zone: ZoneInfo, opening: OpeningHours, window: TimeRange) -> list[TimeRange]:
    first = window.start.astimezone(zone).date()
    last = window.end.astimezone(zone).date()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    spans = [
        (clock_reaches(day, i.opens, zone), clock_reaches(day, i.closes, zone))
        for day in days
        for i in opening.intervals_on(day)
    ]
    return [TimeRange(opens, closes) for opens, closes in spans if opens < closes]


def expected_slots(
    offer: Offering,
    zone: ZoneInfo,
    opening: OpeningHours,
    busy: Mapping[ResourceId, Sequence[TimeRange]],
    window: TimeRange,
    now: datetime,
) -> list[Slot]:
    """Every aligned start, filtered naively by window, lead time, horizon and busy ranges."""
    r = offer.rules
    slots = []
    for span in opening_spans(zone, opening, window):
        start = span.start
        while start + r.duration <= span.end:
            during = TimeRange(start, start + r.duration)
            blocked = during.widen(r.buffer_before, r.buffer_after)
            free = tuple(
                res
                for res in offer.resource_ids
                if not any(blocked.overlaps(b) for b in busy.get(res, ()))
            )
            if free and window.start <= start < window.end and r.bookable(start, now):
                slots.append(Slot(during=during, resource_ids=free))
            start += r.slot_step
    return sorted(slots, key=lambda s: s.during.start)


# ---------------------------------------------------------------- generated scenarios


def clock_change(zone: ZoneInfo, day: date) -> int:
    """The quarter hour of `day` (on the clock before the change) when the offset changes;
    02:00 for a day without a change."""
    at = datetime.combine(day, time(), zone).astimezone(UTC) - timedelta(hours=2)
    before = at.astimezone(zone).utcoffset()
    for _ in range(4 * 30):
        at += QUARTER
        if at.astimezone(zone).utcoffset() != before:
            wall = at.astimezone(timezone(before or timedelta(0))).replace(tzinfo=None)
            return (wall - datetime.combine(day, time())) // QUARTER
    return 8


@st.composite
def intervals(draw: st.DrawFn, change: int) -> list[LocalInterval]:
    """Disjoint quarter-hour intervals of one day, possibly ending at midnight (1440); often
    with a boundary near `change`, the quarter hour of the day when the clock changes."""
    near = st.integers(change - 8, change + 8).map(lambda q: q % 97)  # -1: 24:00 the day before
    mark = st.one_of(near, st.integers(0, 96))
    marks = sorted(draw(st.lists(mark, unique=True, min_size=2, max_size=6)))
    return [LocalInterval(a * 15, b * 15) for a, b in zip(marks[::2], marks[1::2], strict=False)]


@st.composite
def scenarios(
    draw: st.DrawFn,
) -> tuple[
    Offering, ZoneInfo, OpeningHours, dict[ResourceId, list[TimeRange]], TimeRange, datetime
]:
    zone = ZoneInfo(draw(st.sampled_from(ZONES)))
    pivot = draw(st.sampled_from(transitions(zone, 2026) or [date(2026, 3, 29)]))
    around = datetime.combine(pivot, time(), zone).astimezone(UTC)
    change = clock_change(zone, pivot)
    start = around + QUARTER * draw(st.integers(-96, 96))
    window = TimeRange(start, start + QUARTER * draw(st.integers(1, 3 * 96)))
    weekly = [
        WeeklyRule(weekday=day, interval=i) for day in range(7) for i in draw(intervals(change))
    ]
    exceptions = (
        [DatedException(day=pivot, intervals=tuple(draw(intervals(change))))]
        if draw(st.booleans())
        else []
    )
    offer = offering(
        BookingRules(
            duration=MINUTE * draw(st.sampled_from([15, 30, 45, 60, 90, 120, 180])),
            slot_step=MINUTE * draw(st.sampled_from([5, 10, 15, 30, 60])),
            buffer_before=MINUTE * draw(st.sampled_from([0, 10, 30])),
            buffer_after=MINUTE * draw(st.sampled_from([0, 15, 45])),
            lead_time=MINUTE * draw(st.sampled_from([0, 60, 24 * 60])),
            horizon=timedelta(days=draw(st.sampled_from([1, 3, 90]))),
        ),
        resources=draw(st.integers(1, 3)),
    )
    reach = window.widen(timedelta(days=1), timedelta(days=1))
    busy = {
        resource: sorted(
            TimeRange(begin, begin + MINUTE * length)
            for begin, length in draw(
                st.lists(
                    st.tuples(
                        st.integers(0, int(reach.duration / QUARTER)).map(
                            lambda q: reach.start + q * QUARTER
                        ),
                        st.integers(15, 240),
                    ),
                    max_size=8,
                )
            )
        )
        for resource in offer.resource_ids
    }
    now = window.start + QUARTER * draw(st.integers(-2 * 96, 8))
    return offer, zone, hours(weekly, exceptions), busy, window, now


Scenario = tuple[
    Offering, ZoneInfo, OpeningHours, dict[ResourceId, list[TimeRange]], TimeRange, datetime
]


@PROFILE
@given(scenarios())
def test_every_slot_lies_inside_opening_hours_of_its_local_date(scenario: Scenario) -> None:
    offer, zone, opening, busy, window, now = scenario
    for slot in appointment_slots(offer, zone, opening, busy, window, now):
        day = slot.during.start.astimezone(zone).date()
        spans = [
            TimeRange(clock_reaches(day, i.opens, zone), clock_reaches(day, i.closes, zone))
            for i in opening.intervals_on(day)
            if clock_reaches(day, i.opens, zone) < clock_reaches(day, i.closes, zone)
        ]
        # The local clock reads opening time or later at the start, and has not yet reached
        # closing time (nor the next day) before the end.
        assert any(span.contains(slot.during) for span in spans), (slot, spans)
        assert (slot.during.end - timedelta(microseconds=1)).astimezone(zone).date() == day


@PROFILE
@given(scenarios())
def test_starts_are_aligned_to_the_step_from_opening(scenario: Scenario) -> None:
    offer, zone, opening, busy, window, now = scenario
    spans = opening_spans(zone, opening, window)
    for slot in appointment_slots(offer, zone, opening, busy, window, now):
        span = next(s for s in spans if s.contains(slot.during))
        assert (slot.during.start - span.start) % offer.rules.slot_step == timedelta(0)


@PROFILE
@given(scenarios())
def test_no_slot_overlaps_a_live_booking_plus_buffers_on_its_resources(
    scenario: Scenario,
) -> None:
    offer, zone, opening, busy, window, now = scenario
    r = offer.rules
    for slot in appointment_slots(offer, zone, opening, busy, window, now):
        blocked = slot.during.widen(r.buffer_before, r.buffer_after)
        assert slot.resource_ids
        assert set(slot.resource_ids) <= set(offer.resource_ids)
        for resource in slot.resource_ids:
            assert not any(blocked.overlaps(b) for b in busy[resource])


@PROFILE
@given(scenarios())
def test_slots_respect_lead_time_horizon_and_window_with_unique_sorted_starts(
    scenario: Scenario,
) -> None:
    offer, zone, opening, busy, window, now = scenario
    found = starts(appointment_slots(offer, zone, opening, busy, window, now))
    assert found == sorted(set(found))
    for start in found:
        assert window.start <= start < window.end
        assert now + offer.rules.lead_time <= start <= now + offer.rules.horizon
        assert start.utcoffset() == timedelta(0)


@PROFILE
@given(scenarios())
def test_every_free_aligned_start_is_offered(scenario: Scenario) -> None:
    offer, zone, opening, busy, window, now = scenario
    assert appointment_slots(offer, zone, opening, busy, window, now) == expected_slots(
        offer, zone, opening, busy, window, now
    )


@PROFILE
@given(scenarios())
def test_has_free_slot_answers_whether_any_slot_is_offered(scenario: Scenario) -> None:
    """The search filter's early exit decides as the full list does."""
    offer, zone, opening, busy, window, now = scenario
    assert has_free_slot(offer, zone, opening, busy, window, now) == bool(
        appointment_slots(offer, zone, opening, busy, window, now)
    )


# ---------------------------------------------------------------- worked examples


def test_spring_forward_offers_no_wall_time_that_does_not_exist() -> None:
    # Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST; open 01:00-05:00 is three real hours.
    day = date(2026, 3, 29)
    found = appointment_slots(
        offering(rules()), BERLIN, hours(every_day(60, 300)), {}, local_day(day, BERLIN), utc(2026)
    )
    local = [s.astimezone(BERLIN).strftime("%H:%M%z") for s in starts(found)]
    assert local == [
        "01:00+0100",
        "01:30+0100",
        "03:00+0200",
        "03:30+0200",
        "04:00+0200",
        "04:30+0200",
    ]
    assert all(s.astimezone(BERLIN).hour != 2 for s in starts(found))  # no 02:00, no 02:30


def test_fall_back_offers_the_repeated_hour_once_per_instant() -> None:
    # Berlin, 2026-10-25: 03:00 CEST falls back to 02:00 CET; open 01:00-04:00 is four real hours.
    day = date(2026, 10, 25)
    found = appointment_slots(
        offering(rules()), BERLIN, hours(every_day(60, 240)), {}, local_day(day, BERLIN), utc(2026)
    )
    assert starts(found) == [utc(2026, 10, 24, 23) + n * 30 * MINUTE for n in range(8)]
    local = [s.astimezone(BERLIN).strftime("%H:%M%z") for s in starts(found)]
    assert local == [
        "01:00+0200",
        "01:30+0200",
        "02:00+0200",
        "02:30+0200",
        "02:00+0100",
        "02:30+0100",
        "03:00+0100",
        "03:30+0100",
    ]


def test_an_opening_time_inside_the_gap_opens_at_the_first_real_instant_after_it() -> None:
    found = appointment_slots(
        offering(rules()),
        BERLIN,
        hours(every_day(150, 240)),  # 02:30 - 04:00
        {},
        local_day(date(2026, 3, 29), BERLIN),
        utc(2026),
    )
    assert starts(found) == [utc(2026, 3, 29, 1), utc(2026, 3, 29, 1, 30)]  # 03:00, 03:30 CEST


def test_an_ambiguous_closing_time_closes_at_its_first_occurrence() -> None:
    found = appointment_slots(
        offering(rules()),
        BERLIN,
        hours(every_day(60, 150)),  # 01:00 - 02:30, and 02:30 happens twice that night
        {},
        local_day(date(2026, 10, 25), BERLIN),
        utc(2026),
    )
    # Aware datetimes in an ambiguous hour never compare equal across zones (PEP 495).
    first_occurrence = datetime(2026, 10, 25, 2, 30, fold=0, tzinfo=BERLIN).astimezone(UTC)
    assert first_occurrence == utc(2026, 10, 25, 0, 30)  # 02:30 CEST
    assert [s.during.end for s in found] == [first_occurrence - n * 30 * MINUTE for n in (2, 1, 0)]


def test_santiago_opens_at_the_first_real_instant_when_midnight_is_skipped() -> None:
    santiago = ZoneInfo("America/Santiago")  # 2026-09-06 00:00 -04 jumps to 01:00 -03
    day = date(2026, 9, 6)
    found = appointment_slots(
        offering(rules(duration=60 * MINUTE, slot_step=60 * MINUTE)),
        santiago,
        hours(every_day(0, 180)),
        {},
        local_day(day, santiago),
        utc(2026),
    )
    assert [s.astimezone(santiago).hour for s in starts(found)] == [1, 2]


def test_a_slot_never_runs_past_the_midnight_that_closes_its_interval() -> None:
    late = hours(every_day(22 * 60, DAY_MINUTES))
    day = local_day(date(2026, 6, 10), BERLIN)
    hour_long = appointment_slots(
        offering(rules(duration=60 * MINUTE, slot_step=60 * MINUTE)),
        BERLIN,
        late,
        {},
        day.widen(timedelta(0), timedelta(days=1)),
        utc(2026),
    )
    assert [s.astimezone(BERLIN).hour for s in starts(hour_long)] == [22, 23, 22, 23]
    too_long = appointment_slots(
        offering(rules(duration=150 * MINUTE)), BERLIN, late, {}, day, utc(2026)
    )
    assert too_long == []


def test_a_dated_exception_replaces_the_weekly_hours_of_its_date() -> None:
    closed, short = date(2026, 6, 10), date(2026, 6, 11)
    opening = hours(
        every_day(9 * 60, 17 * 60),
        [
            DatedException(day=closed),
            DatedException(day=short, intervals=(LocalInterval(600, 660),)),
        ],
    )
    window = TimeRange(local_day(closed, BERLIN).start, local_day(short, BERLIN).end)
    found = appointment_slots(offering(rules()), BERLIN, opening, {}, window, utc(2026))
    assert [s.astimezone(BERLIN).strftime("%d %H:%M") for s in starts(found)] == [
        "11 10:00",
        "11 10:30",
    ]


def test_buffers_keep_a_resource_busy_and_free_resources_are_listed_in_order() -> None:
    offer = offering(rules(buffer_before=15 * MINUTE, buffer_after=15 * MINUTE), resources=2)
    first, second = offer.resource_ids
    booked = TimeRange(utc(2026, 6, 10, 10), utc(2026, 6, 10, 11))  # already widened
    window = TimeRange(utc(2026, 6, 10, 8), utc(2026, 6, 10, 13))
    found = appointment_slots(
        offer,
        ZoneInfo("UTC"),
        hours(every_day(0, DAY_MINUTES)),
        {second: [booked]},
        window,
        utc(2026),
    )
    by_start = {s.during.start.hour * 60 + s.during.start.minute: s.resource_ids for s in found}
    # [09:30, 10:00) widens to [09:15, 10:15), which touches the booking: only `first` serves.
    assert by_start[9 * 60] == (first, second)
    assert by_start[9 * 60 + 30] == (first,)
    assert by_start[10 * 60 + 30] == (first,)
    assert by_start[11 * 60] == (first,)  # [10:45, 11:45) still overlaps [10:00, 11:00)
    assert by_start[11 * 60 + 30] == (first, second)


def test_a_slot_busy_on_every_resource_is_not_offered() -> None:
    offer = offering(rules(), resources=2)
    window = TimeRange(utc(2026, 6, 10, 9), utc(2026, 6, 10, 10))
    everything = {r: [window] for r in offer.resource_ids}
    assert (
        appointment_slots(
            offer, ZoneInfo("UTC"), hours(every_day(0, 1440)), everything, window, utc(2026)
        )
        == []
    )


def test_lead_time_and_horizon_bounds_are_inclusive() -> None:
    now = utc(2026, 6, 10, 8)
    offer = offering(rules(lead_time=60 * MINUTE, horizon=timedelta(days=1)))
    window = TimeRange(utc(2026, 6, 10), utc(2026, 6, 12))
    found = starts(
        appointment_slots(offer, ZoneInfo("UTC"), hours(every_day(0, 1440)), {}, window, now)
    )
    assert found[0] == now + timedelta(hours=1)
    assert found[-1] == now + timedelta(days=1)


# ---------------------------------------------------------------- sessions


def test_session_slots_offer_bookable_runs_with_seats_left_in_start_order() -> None:
    now = utc(2026, 6, 1)
    offer = offering(rules(lead_time=60 * MINUTE, horizon=timedelta(days=10)))

    def run(start: datetime, of: Offering = offer) -> Occurrence:
        during = TimeRange(start, start + timedelta(hours=1))
        return Occurrence(
            id=OccurrenceId(uuid.uuid4()), offering_id=of.id, during=during, capacity=4
        )

    later, sooner, full = run(utc(2026, 6, 3)), run(utc(2026, 6, 2)), run(utc(2026, 6, 4))
    too_soon, too_far = run(now + timedelta(minutes=30)), run(utc(2026, 6, 20))
    outside, foreign = run(utc(2026, 7, 1)), run(utc(2026, 6, 5), offering(rules()))
    window = TimeRange(now, utc(2026, 6, 30))
    found = session_slots(
        offer,
        [later, sooner, full, too_soon, too_far, outside, foreign],
        {later.id: 3, full.id: 4},
        window,
        now,
    )
    assert [(s.occurrence_id, s.seats_left, s.during) for s in found] == [
        (sooner.id, 4, sooner.during),
        (later.id, 1, later.during),
    ]


# ---------------------------------------------------------------- weekly runs


def test_a_one_off_run_is_its_start_in_utc() -> None:
    start = datetime(2026, 6, 10, 18, 0, tzinfo=BERLIN)
    assert weekly_starts(start, BERLIN, None, 10) == Success([utc(2026, 6, 10, 16)])


def test_weekly_runs_keep_the_local_wall_time_across_dst() -> None:
    start = datetime(2026, 3, 19, 18, 0, tzinfo=BERLIN)  # Thursday 18:00 CET
    runs = weekly_starts(start, BERLIN, date(2026, 4, 2), 10).unwrap()
    assert runs == [utc(2026, 3, 19, 17), utc(2026, 3, 26, 17), utc(2026, 4, 2, 16)]
    assert all(r.tzinfo is UTC for r in runs)
    assert {r.astimezone(BERLIN).strftime("%a %H:%M") for r in runs} == {"Thu 18:00"}


def test_a_week_whose_wall_time_does_not_exist_is_skipped() -> None:
    start = datetime(2026, 3, 22, 2, 30, tzinfo=BERLIN)  # Sundays 02:30; none on 2026-03-29
    runs = weekly_starts(start, BERLIN, date(2026, 4, 5), 10).unwrap()
    assert [r.astimezone(BERLIN).date() for r in runs] == [date(2026, 3, 22), date(2026, 4, 5)]


def test_an_ambiguous_week_takes_the_first_occurrence() -> None:
    start = datetime(2026, 10, 18, 2, 30, tzinfo=BERLIN)
    runs = weekly_starts(start, BERLIN, date(2026, 10, 25), 10).unwrap()
    assert runs[1] == utc(2026, 10, 25, 0, 30)  # 02:30 CEST, not 02:30 CET


def test_too_many_runs_or_an_end_before_the_start_are_invalid_input() -> None:
    start = datetime(2026, 6, 1, 9, 0, tzinfo=BERLIN)
    assert weekly_starts(start, BERLIN, date(2026, 6, 29), 5).map(len) == Success(5)
    too_many = weekly_starts(start, BERLIN, date(2026, 7, 6), 5)
    assert isinstance(too_many, Failure)
    assert isinstance(too_many.failure(), InvalidInput)
    before = weekly_starts(start, BERLIN, date(2026, 5, 31), 5)
    assert before == Failure(InvalidInput(field="repeat_until", reason="before the first run"))
