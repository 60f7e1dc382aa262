"""Reminders: scheduled at start - offset in UTC, whatever the place's DST does; sent only for
a confirmed booking that has not started."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st
from messaging_support import DAY, HOUR, NOW, PROFILE, booking_event, dispatch, ok, world

from adapters.memory.messaging import InMemoryMessaging
from core.messaging import (
    DEFAULT_PLAN,
    MessageKind,
    MessageStatus,
    OutgoingEmail,
    ReminderPlan,
    SendReminder,
    reminder_instants,
)
from core.shared.errors import NotFound
from core.shared.ids import BookingId, ProviderId

ZONES = [
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "America/Santiago",
    "America/Sao_Paulo",
    "Australia/Sydney",
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "Pacific/Auckland",
    "Asia/Tehran",
    "Africa/Casablanca",
    "Asia/Kolkata",
    "UTC",
]


@PROFILE
@given(
    zone=st.sampled_from(ZONES),
    local=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2028, 12, 31)),
    fold=st.integers(0, 1),
    offsets=st.lists(st.integers(1, 60 * 24 * 14), min_size=1, max_size=4),
    planned_before=st.integers(0, 60 * 24 * 20),
)
def test_reminder_instants_are_exactly_start_minus_offset_in_utc_and_never_past(
    zone: str, local: datetime, fold: int, offsets: list[int], planned_before: int
) -> None:
    start = local.replace(tzinfo=ZoneInfo(zone), fold=fold).astimezone(UTC)
    now = start - timedelta(minutes=planned_before)
    plan = ReminderPlan(offsets=tuple(timedelta(minutes=m) for m in offsets))
    instants = reminder_instants(start, plan, now)
    assert {m for m, _ in instants} == {m for m in offsets if start - timedelta(minutes=m) >= now}
    for minutes, at in instants:
        assert at.tzinfo is UTC
        assert at == start - timedelta(minutes=minutes)
        assert (start.timestamp() - at.timestamp()) == minutes * 60  # elapsed, not wall clock
        assert at >= now
    assert [at for _, at in instants] == sorted(at for _, at in instants)


def test_a_dst_day_moves_the_local_hour_not_the_distance() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # Sunday 29 March 2026, 10:00 CEST; clocks went forward at 02:00 that night.
    start = datetime(2026, 3, 29, 10, 0, tzinfo=berlin)
    day_before, two_hours = reminder_instants(start, DEFAULT_PLAN, NOW)
    assert day_before == (1440, datetime(2026, 3, 28, 8, 0, tzinfo=UTC))
    assert (
        day_before[1].astimezone(berlin).hour == 10 - 1
    )  # 09:00 CET the day before: 24 real hours
    assert two_hours == (120, datetime(2026, 3, 29, 6, 0, tzinfo=UTC))


async def test_dispatch_schedules_reminders_at_the_right_instants_on_a_dst_day() -> None:
    app = world(datetime(2026, 3, 20, 9, 0, tzinfo=UTC))
    start = datetime(2026, 3, 29, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    facts = app.booking(app.person().user_id, starts=start)
    await dispatch(app, booking_event("booking_confirmed", facts))
    assert app.store.reminders == {
        (facts.booking_id, 1440): datetime(2026, 3, 28, 8, 0, tzinfo=UTC),
        (facts.booking_id, 120): datetime(2026, 3, 29, 6, 0, tzinfo=UTC),
    }


async def test_a_due_reminder_is_planned_and_sent_once() -> None:
    app = world()
    customer = app.person()
    facts = app.booking(customer.user_id, starts=NOW + 3 * DAY)
    await dispatch(app, booking_event("booking_confirmed", facts))
    app.clock.set(facts.starts - 24 * HOUR)
    assert await app.run_due_reminders() == 1
    again = ok(await app(SendReminder)(facts.booking_id, 1440))  # the job retried
    assert again == ()
    await app.run_jobs()
    (mail,) = _reminders(app)
    assert "before: 1440 minutes" in mail.rendered.text
    assert mail.attachments  # the booking's .ics
    (message,) = [m for m in app.store.messages if m.kind is MessageKind.REMINDER]
    assert message.status is MessageStatus.SENT
    assert message.dedupe_key == f"reminder:{facts.booking_id}:1440:email:{customer.user_id}"
    app.clock.set(facts.starts - 2 * HOUR)
    assert await app.run_due_reminders() == 1
    await app.run_jobs()
    assert len(_reminders(app)) == 2


def _reminders(app: InMemoryMessaging) -> list[OutgoingEmail]:
    return [mail for _, mail in app.email.sent if mail.category == "reminder"]


async def test_no_reminder_for_a_booking_not_confirmed_or_started() -> None:
    app = world()
    customer = app.person()
    for status in ("held", "cancelled", "rescheduled", "expired", "completed"):
        facts = app.booking(customer.user_id, starts=NOW + DAY, status=status)
        assert ok(await app(SendReminder)(facts.booking_id, 120)) == ()
    started = app.booking(customer.user_id, starts=NOW)
    assert ok(await app(SendReminder)(started.booking_id, 120)) == ()
    assert app.store.messages == []
    assert app.store.send_queue == []


async def test_a_reminder_of_an_unknown_booking_is_not_found() -> None:
    missing = BookingId(uuid.uuid4())
    result = await world()(SendReminder)(missing, 120)
    assert result.failure() == NotFound(kind="booking", id=str(missing))


async def test_the_provider_plan_decides_the_offsets() -> None:
    app = world()
    provider = ProviderId(uuid.uuid4())
    app.store.plans[provider] = ReminderPlan(offsets=())
    facts = app.booking(app.person().user_id, starts=NOW + 3 * DAY, provider_id=provider)
    done = await dispatch(app, booking_event("booking_confirmed", facts))
    assert done.reminders_scheduled == ()
    assert app.store.reminders == {}


def test_offsets_that_are_not_positive_or_repeated_are_skipped() -> None:
    start = NOW + DAY
    plan = ReminderPlan(
        offsets=(timedelta(0), -HOUR, HOUR, timedelta(minutes=60), timedelta(seconds=30))
    )
    assert reminder_instants(start, plan, NOW) == [(60, start - HOUR)]
