"""SetReminderPlan and GetReminderPlan on PostgreSQL, as a provider's staff through the app
role: the plan and the moved reminder jobs (procrastinate's rows) commit together."""

from __future__ import annotations

from datetime import timedelta

import pytest
from messaging_postgis_support import (
    HOUR,
    MINUTE,
    NOW,
    PostgisStore,
    add_booking,
    add_user,
    add_venue,
    postgis_store,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.clock import FixedClock
from core.messaging import GetReminderPlan, MessagingUnitOfWork, SetReminderPlan
from core.shared.ids import ProviderId
from core.shared.principal import Principal, Role
from core.shared.unit_of_work import MAINTENANCE, Access

DAY = timedelta(days=1)


@pytest.fixture
def postgis(engine: AsyncEngine) -> PostgisStore:
    return postgis_store(engine)


async def test_staff_change_the_plan_and_the_pending_reminders_move_with_it(
    postgis: PostgisStore, owner_engine: AsyncEngine
) -> None:
    async with owner_engine.begin() as owner:
        venue = await add_venue(owner, "Lisbon Tennis")
        other = await add_venue(owner, "Porto Padel")
        ana = await add_user(owner, postgis.personal, "ana@example.org")
        desk = await add_user(
            owner, postgis.personal, "desk@lt.example", staff_of=[venue.provider_id]
        )
        upcoming = await add_booking(owner, venue, ana, NOW + 3 * DAY)
        cancelled = await add_booking(owner, venue, ana, NOW + 4 * DAY, status="cancelled")
        elsewhere = await add_booking(owner, other, ana, NOW + 3 * DAY)
    async with postgis.uow(MAINTENANCE) as uow:  # as the confirmations' dispatch left them
        for booking in (upcoming, elsewhere):
            for minutes in (24 * 60, 120):
                start = NOW + 3 * DAY
                await uow.jobs.schedule_reminder(booking, minutes, start - minutes * MINUTE)
        await uow.commit()
    provider = ProviderId(venue.provider_id)
    staff = Principal(
        user_id=desk, roles=frozenset({Role.STAFF}), provider_ids=frozenset({provider}), mfa=True
    )

    def opened(access: Access) -> MessagingUnitOfWork:
        return postgis.uow(access)

    set_plan = SetReminderPlan(uow=opened, clock=FixedClock(NOW))
    get_plan = GetReminderPlan(uow=opened)

    before = (await get_plan(staff, provider)).unwrap()
    changed = (await set_plan(staff, provider, [45, 2 * 24 * 60])).unwrap()
    after = (await get_plan(staff, provider)).unwrap()
    async with postgis.uow(MAINTENANCE) as uow:
        moved = await uow.jobs.pending_reminders(upcoming)
        untouched = await uow.jobs.pending_reminders(elsewhere)
        none = await uow.jobs.pending_reminders(cancelled)

    assert (before.offsets_minutes, before.is_default) == ((24 * 60, 120), True)
    assert (after.offsets_minutes, after.is_default) == ((2 * 24 * 60, 45), False)
    assert changed.moved_bookings == 1
    start = NOW + 3 * DAY
    assert moved == [(2 * 24 * 60, start - 2 * DAY), (45, start - 45 * MINUTE)]
    assert untouched == [(24 * 60, start - DAY), (120, start - 2 * HOUR)]
    assert none == []

    # No reminders at all: the plan is kept as empty, the jobs go.
    emptied = (await set_plan(staff, provider, [])).unwrap()
    async with postgis.uow(MAINTENANCE) as uow:
        assert await uow.jobs.pending_reminders(upcoming) == []
        assert await uow.bookings.reminder_plan(provider) == (
            await uow.reminder_plans.get(provider)
        )
    assert emptied.offsets_minutes == ()
    assert (await get_plan(staff, provider)).unwrap().offsets_minutes == ()
