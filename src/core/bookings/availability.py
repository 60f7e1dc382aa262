"""Free slots from opening hours, exceptions, live bookings, buffers, lead time and horizon.

Pure functions; local rules are evaluated in the place's IANA zone, results are aware UTC.

Appointments (`appointment_slots`):

- Opening hours are local wall-clock intervals of one local date; a date's dated exception
  replaces its weekly rules. An interval ending at 1440 ends at the next local midnight and
  never continues into the next day.
- Each interval's opening and closing wall times are resolved to instants in the place's zone:
  an ambiguous time (DST fall-back) takes its first occurrence (fold=0); a time inside a DST
  gap resolves to the first real instant after the gap.
- Candidate starts are the opening instant plus whole multiples of `slot_step`, counted in
  real elapsed time, while start + duration <= the closing instant. Stepping in real time
  offers every instant at most once: the repeated hour of a fall-back is offered as the real
  hour it is (once per instant), and a wall time skipped by spring-forward is never offered.
- A slot is offered when its start lies in `window` ([start, end)), it is bookable at `now`
  (now + lead_time <= start <= now + horizon), and at least one of the offering's resources is
  free: the slot's `blocked` range (its `during` widened by buffer_before/after) overlaps no
  range in `busy[resource]` (the blocked ranges of bookings live at `now`).
- `Slot.resource_ids` lists the free resources in the offering's order; results are sorted by
  start.

Sessions (`session_slots`): the offering's runs that start in `window`, are bookable at `now`
and have seats left (capacity minus seats taken by live bookings).

Recurring runs (`weekly_starts`): the first start, then the same local wall-clock time every
seven days while the local date is on or before `repeat_until`; a week whose wall time falls in
a DST gap is skipped and an ambiguous one takes its first occurrence.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from returns.result import Failure, Result, Success

from core.bookings.model import Occurrence, Offering, OpeningHours, Slot
from core.shared.errors import InvalidInput
from core.shared.ids import OccurrenceId, ResourceId
from core.shared.time import TimeRange, to_utc

_SECOND = timedelta(seconds=1)


# ---------------------------------------------------------------- local wall time -> instant


def _exists(wall: datetime, zone: ZoneInfo) -> bool:
    """False for a wall time skipped by a DST gap: it does not survive a round trip."""
    aware = wall.replace(tzinfo=zone)
    return aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall


def _first_instant_after_gap(wall: datetime, zone: ZoneInfo) -> datetime:
    """The transition instant that skips `wall`: the first real instant after the gap.

    fold=1 maps a gap time with the later offset (an instant before the transition) and fold=0
    with the earlier offset (an instant at or after it), so the transition lies between them;
    a bisection on whole seconds finds it whatever the size of the gap.
    """
    before = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    after = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    offset_after = after.astimezone(zone).utcoffset()
    while after - before > _SECOND:
        middle = before + (after - before) // 2
        middle -= timedelta(microseconds=middle.microsecond)
        if middle.astimezone(zone).utcoffset() == offset_after:
            after = middle
        else:
            before = middle
    return after


def _resolve(wall: datetime, zone: ZoneInfo) -> datetime:
    """A local wall time as an aware UTC instant (fold=0 if ambiguous, gap -> after it)."""
    if _exists(wall, zone):
        return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    return _first_instant_after_gap(wall, zone)


def _local_wall(day: date, minute: int) -> datetime:
    """`minute` may be 1440: the midnight that ends `day`."""
    return datetime.combine(day, time()) + timedelta(minutes=minute)


# ---------------------------------------------------------------- appointments


class _Busy:
    """One resource's busy ranges, answering "does [a, b) overlap any?" in O(log n)."""

    def __init__(self, ranges: Sequence[TimeRange]) -> None:
        ordered = sorted(ranges, key=lambda r: r.start)
        self._starts = [r.start for r in ordered]
        # Busy ranges may overlap each other, so keep the furthest end seen so far.
        self._max_end = list(itertools.accumulate((r.end for r in ordered), max))

    def overlaps(self, blocked: TimeRange) -> bool:
        starting_before_end = bisect.bisect_left(self._starts, blocked.end)
        return starting_before_end > 0 and self._max_end[starting_before_end - 1] > blocked.start


def _opening_spans(zone: ZoneInfo, hours: OpeningHours, window: TimeRange) -> Iterator[TimeRange]:
    """Opening intervals as real-time ranges, for every local date a slot in window can start."""
    first = window.start.astimezone(zone).date()
    last = window.end.astimezone(zone).date()
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        for interval in hours.intervals_on(day):
            opens = _resolve(_local_wall(day, interval.opens), zone)
            closes = _resolve(_local_wall(day, interval.closes), zone)
            if opens < closes:  # an interval lying wholly inside a DST gap has no real time
                yield TimeRange(opens, closes)


def _starts_in(
    span: TimeRange, step: timedelta, duration: timedelta, earliest: datetime, latest: datetime
) -> Iterator[datetime]:
    """Aligned starts of `span` in [earliest, latest) whose slot ends by the span's close."""
    skipped = max(0, -((span.start - earliest) // step))  # ceil((earliest - opens) / step)
    start = span.start + skipped * step
    while start < latest and start + duration <= span.end:
        yield start
        start += step


def appointment_slots(
    offering: Offering,
    zone: ZoneInfo,
    hours: OpeningHours,
    busy: Mapping[ResourceId, Sequence[TimeRange]],
    window: TimeRange,
    now: datetime,
) -> list[Slot]:
    # Sorted already: resolving wall times is monotone (fold=0, gaps move forward), so spans
    # come in real-time order and never overlap.
    return list(_appointment_slots(offering, zone, hours, busy, window, now))


def has_free_slot(
    offering: Offering,
    zone: ZoneInfo,
    hours: OpeningHours,
    busy: Mapping[ResourceId, Sequence[TimeRange]],
    window: TimeRange,
    now: datetime,
) -> bool:
    """`bool(appointment_slots(...))`, stopping at the first free slot (the search filter asks
    this of many offerings and needs no more)."""
    return next(_appointment_slots(offering, zone, hours, busy, window, now), None) is not None


def _appointment_slots(
    offering: Offering,
    zone: ZoneInfo,
    hours: OpeningHours,
    busy: Mapping[ResourceId, Sequence[TimeRange]],
    window: TimeRange,
    now: datetime,
) -> Iterator[Slot]:
    rules = offering.rules
    earliest = max(window.start, now + rules.lead_time)
    # The horizon is inclusive, the window's end is not.
    latest = min(window.end, now + rules.horizon + timedelta(microseconds=1))
    if earliest >= latest:
        return
    busy_by_resource = [(r, _Busy(busy.get(r, ()))) for r in offering.resource_ids]
    for span in _opening_spans(zone, hours, window):
        for start in _starts_in(span, rules.slot_step, rules.duration, earliest, latest):
            during = TimeRange(start, start + rules.duration)
            blocked = during.widen(rules.buffer_before, rules.buffer_after)
            free = tuple(r for r, taken in busy_by_resource if not taken.overlaps(blocked))
            if free:
                yield Slot(during=during, resource_ids=free)


# ---------------------------------------------------------------- sessions


def session_slots(
    offering: Offering,
    occurrences: Sequence[Occurrence],
    taken: Mapping[OccurrenceId, int],
    window: TimeRange,
    now: datetime,
) -> list[Slot]:
    slots = [
        Slot(
            during=run.during, occurrence_id=run.id, seats_left=run.capacity - taken.get(run.id, 0)
        )
        for run in occurrences
        if run.offering_id == offering.id
        and window.start <= run.during.start < window.end
        and offering.rules.bookable(run.during.start, now)
    ]
    return sorted(
        (s for s in slots if s.seats_left > 0), key=lambda s: (s.during.start, str(s.occurrence_id))
    )


# ---------------------------------------------------------------- recurring runs


def weekly_starts(
    first_start: datetime, zone: ZoneInfo, repeat_until: date | None, limit: int
) -> Result[list[datetime], InvalidInput]:
    first = to_utc(first_start)
    if repeat_until is None:
        return Success([first])
    wall = first.astimezone(zone).replace(tzinfo=None)
    if repeat_until < wall.date():
        return Failure(InvalidInput(field="repeat_until", reason="before the first run"))
    weeks = (repeat_until - wall.date()).days // 7 + 1
    starts = [first]
    for week in range(1, weeks):
        later = wall + timedelta(weeks=week)
        if not _exists(later, zone):
            continue  # that wall-clock time does not exist this week
        if len(starts) == limit:
            return Failure(InvalidInput(field="repeat_until", reason=f"more than {limit} runs"))
        starts.append(later.replace(tzinfo=zone, fold=0).astimezone(UTC))
    return Success(starts)
