"""A provider's reminder plan: who may read and change it, what a plan may hold, and how a
change moves the reminders already scheduled for its upcoming confirmed bookings."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from messaging_support import DAY, HOUR, NOW, PROFILE, booking_event, dispatch, failure, ok, world
from returns.result import Failure, Success

from adapters.memory.messaging import InMemoryMessaging
from core.messaging import (
    MAX_OFFSET_MINUTES,
    MIN_OFFSET_MINUTES,
    GetReminderPlan,
    ReminderPlan,
    SetReminderPlan,
    reminder_plan_of,
)
from core.shared.errors import Forbidden, InvalidInput
from core.shared.ids import ProviderId
from core.shared.principal import MfaRequired, Principal, Role

MINUTE = timedelta(minutes=1)


def _provider() -> ProviderId:
    return ProviderId(uuid.uuid4())


async def _confirmed(app: InMemoryMessaging, provider: ProviderId, starts_in: timedelta) -> None:
    facts = app.booking(app.person().user_id, starts=NOW + starts_in, provider_id=provider)
    await dispatch(app, booking_event("booking_confirmed", facts))


async def test_a_provider_that_never_chose_gets_the_default_plan() -> None:
    app = world()
    provider = _provider()
    plan = ok(await app(GetReminderPlan)(app.staff(provider), provider))
    assert plan.offsets_minutes == (24 * 60, 2 * 60)
    assert plan.is_default


async def test_staff_set_a_plan_that_reads_back_longest_first() -> None:
    app = world()
    provider = _provider()
    staff = app.staff(provider)
    set_plan = ok(await app(SetReminderPlan)(staff, provider, [30, 3 * 24 * 60, 600]))
    got = ok(await app(GetReminderPlan)(staff, provider))
    assert got.offsets_minutes == set_plan.offsets_minutes == (3 * 24 * 60, 600, 30)
    assert not got.is_default
    assert app.store.plans[provider] == ReminderPlan(
        offsets=(timedelta(days=3), timedelta(minutes=600), timedelta(minutes=30))
    )


async def test_an_empty_plan_means_no_reminders_for_new_confirmations() -> None:
    app = world()
    provider = _provider()
    ok(await app(SetReminderPlan)(app.staff(provider), provider, []))
    assert ok(await app(GetReminderPlan)(app.admin, provider)).offsets_minutes == ()
    await _confirmed(app, provider, 3 * DAY)
    assert app.store.reminders == {}


async def test_admins_may_read_and_set_any_providers_plan() -> None:
    app = world()
    provider = _provider()
    ok(await app(SetReminderPlan)(app.admin, provider, [60]))
    assert ok(await app(GetReminderPlan)(app.admin, provider)).offsets_minutes == (60,)


async def test_customers_and_other_providers_staff_are_refused() -> None:
    app = world()
    provider = _provider()
    for outsider in (app.person(), app.staff(_provider())):
        assert isinstance(failure(await app(GetReminderPlan)(outsider, provider)), Forbidden)
        assert isinstance(failure(await app(SetReminderPlan)(outsider, provider, [60])), Forbidden)
    assert provider not in app.store.plans


async def test_staff_without_a_second_factor_are_asked_for_one() -> None:
    app = world()
    provider = _provider()
    staff = app.staff(provider)
    no_mfa = Principal(
        user_id=staff.user_id, roles=frozenset({Role.STAFF}), provider_ids=staff.provider_ids
    )
    assert isinstance(failure(await app(SetReminderPlan)(no_mfa, provider, [60])), MfaRequired)


@pytest.mark.parametrize(
    "offsets",
    [
        [60, 120, 180, 240, 300],  # five
        [MIN_OFFSET_MINUTES - 1],
        [MAX_OFFSET_MINUTES + 1],
        [0],
        [-60],
        [60, 60],
    ],
)
async def test_a_plan_outside_the_rules_is_invalid_and_changes_nothing(offsets: list[int]) -> None:
    app = world()
    provider = _provider()
    error = failure(await app(SetReminderPlan)(app.staff(provider), provider, offsets))
    assert isinstance(error, InvalidInput)
    assert error.field == "offsets_minutes"
    assert provider not in app.store.plans


async def test_the_bounds_are_allowed() -> None:
    app = world()
    provider = _provider()
    bounds = [MAX_OFFSET_MINUTES, MIN_OFFSET_MINUTES]
    plan = ok(await app(SetReminderPlan)(app.staff(provider), provider, bounds))
    assert plan.offsets_minutes == (14 * 24 * 60, 15)


@PROFILE
@given(st.lists(st.integers(min_value=-100, max_value=MAX_OFFSET_MINUTES + 100), max_size=6))
def test_a_plan_is_accepted_exactly_when_it_keeps_the_rules(offsets: list[int]) -> None:
    valid = (
        len(offsets) <= 4
        and len(set(offsets)) == len(offsets)
        and all(MIN_OFFSET_MINUTES <= m <= MAX_OFFSET_MINUTES for m in offsets)
    )
    match reminder_plan_of(offsets):
        case Success(plan):
            assert valid
            minutes = [int(o.total_seconds() // 60) for o in plan.offsets]
            assert minutes == sorted(offsets, reverse=True)
        case Failure(InvalidInput()):
            assert not valid


# --- moving what is already scheduled ------------------------------------------------------


async def test_a_change_moves_the_pending_reminders_of_upcoming_confirmed_bookings() -> None:
    app = world()
    provider = _provider()
    customer = app.person()
    soon = app.booking(customer.user_id, starts=NOW + 3 * DAY, provider_id=provider)
    later = app.booking(customer.user_id, starts=NOW + 10 * DAY, provider_id=provider)
    elsewhere = app.booking(customer.user_id, starts=NOW + 3 * DAY)  # another provider
    for facts in (soon, later, elsewhere):
        await dispatch(app, booking_event("booking_confirmed", facts))
    assert len(app.store.reminders) == 6  # 24 h and 2 h each

    changed = ok(await app(SetReminderPlan)(app.staff(provider), provider, [5 * 24 * 60, 45]))

    assert changed.moved_bookings == 2
    assert app.store.reminders == {
        # 5 days before `soon` has passed: only 45 minutes is still ahead
        (soon.booking_id, 45): soon.starts - 45 * MINUTE,
        (later.booking_id, 5 * 24 * 60): later.starts - 5 * DAY,
        (later.booking_id, 45): later.starts - 45 * MINUTE,
        (elsewhere.booking_id, 24 * 60): elsewhere.starts - DAY,
        (elsewhere.booking_id, 120): elsewhere.starts - 2 * HOUR,
    }


async def test_an_empty_plan_removes_the_pending_reminders() -> None:
    app = world()
    provider = _provider()
    await _confirmed(app, provider, 3 * DAY)
    changed = ok(await app(SetReminderPlan)(app.staff(provider), provider, []))
    assert changed.moved_bookings == 1
    assert app.store.reminders == {}


async def test_cancelled_past_and_unchanged_bookings_are_left_alone() -> None:
    app = world()
    provider = _provider()
    customer = app.person()
    kept = app.booking(customer.user_id, starts=NOW + 3 * DAY, provider_id=provider)
    await dispatch(app, booking_event("booking_confirmed", kept))
    app.booking(customer.user_id, starts=NOW + 3 * DAY, provider_id=provider, status="cancelled")
    app.booking(customer.user_id, starts=NOW - DAY, provider_id=provider)
    jobs_before = len(app.store.jobs)
    changed = ok(await app(SetReminderPlan)(app.staff(provider), provider, [24 * 60, 120]))
    assert changed.moved_bookings == 0  # the same plan as the default: nothing to move
    assert len(app.store.jobs) == jobs_before
    assert set(app.store.reminders) == {(kept.booking_id, 24 * 60), (kept.booking_id, 120)}


async def test_a_late_reminder_stays_if_kept_and_goes_if_dropped() -> None:
    app = world()
    provider = _provider()
    facts = app.booking(app.person().user_id, starts=NOW + 3 * DAY, provider_id=provider)
    await dispatch(app, booking_event("booking_confirmed", facts))
    app.clock.advance(2 * DAY + 1 * HOUR)  # the 24 h reminder is due; its job has not run yet
    ok(await app(SetReminderPlan)(app.staff(provider), provider, [24 * 60, 60]))
    assert app.store.reminders == {
        (facts.booking_id, 24 * 60): facts.starts - DAY,
        (facts.booking_id, 60): facts.starts - HOUR,
    }
    ok(await app(SetReminderPlan)(app.staff(provider), provider, [60]))
    assert app.store.reminders == {(facts.booking_id, 60): facts.starts - HOUR}
