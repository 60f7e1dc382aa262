"""A provider's reminder plan: how long before a booking's start its customers are reminded.

A provider that never chose one gets the default (24 h and 2 h before). A chosen plan holds 0
to 4 distinct offsets, each from 15 minutes to 14 days; an empty plan means no reminders.

Changing the plan moves the reminders already scheduled: in the same transaction as the new
plan, every upcoming confirmed booking of the provider gets exactly the new plan's reminders
that are still ahead (through the `Jobs` port: its pending reminder jobs are removed and the new
ones deferred, so the jobs exist exactly when the plan does). A reminder whose instant has
passed but whose job has not run yet stays if the new plan keeps its offset (it is late, not
obsolete) and goes if the plan dropped it. Bookings whose pending reminders already match the
new plan are not touched. The cost grows with the provider's upcoming confirmed bookings (a few
statements each), which is fine for a setting changed rarely, by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import attrs
from returns.result import Failure, Result, Success

from core.messaging.model import ReminderPlan
from core.messaging.ports import BookingFacts, MessagingUnitOfWork
from core.messaging.reminders import DEFAULT_PLAN, offset_minutes, reminder_instants
from core.messaging.reminders import reminder_is_due as _is_due
from core.shared.errors import Forbidden, InvalidInput
from core.shared.ids import ProviderId
from core.shared.principal import Principal, may_manage
from core.shared.time import Clock
from core.shared.unit_of_work import Access, UnitOfWorkFactory
from core.shared.use_case import UseCase

MIN_OFFSET_MINUTES = 15
MAX_OFFSET_MINUTES = 14 * 24 * 60  # 14 days
MAX_OFFSETS = 4
FIELD = "offsets_minutes"


@attrs.frozen(kw_only=True)
class ProviderReminderPlan:
    """A provider's plan as its staff see it: offsets in minutes, longest first."""

    provider_id: ProviderId
    offsets_minutes: tuple[int, ...]
    is_default: bool  # the provider never chose one
    moved_bookings: int = 0  # SetReminderPlan: bookings whose pending reminders changed

    @classmethod
    def of(
        cls, provider_id: ProviderId, plan: ReminderPlan, *, is_default: bool, moved: int = 0
    ) -> ProviderReminderPlan:
        minutes = sorted({offset_minutes(o) for o in plan.offsets}, reverse=True)
        return cls(
            provider_id=provider_id,
            offsets_minutes=tuple(minutes),
            is_default=is_default,
            moved_bookings=moved,
        )


def reminder_plan_of(offsets_minutes: Sequence[int]) -> Result[ReminderPlan, InvalidInput]:
    """A plan from offsets in minutes: 0 to 4 distinct, each 15 minutes to 14 days."""
    offsets = list(offsets_minutes)
    if len(offsets) > MAX_OFFSETS:
        return Failure(InvalidInput(field=FIELD, reason=f"at most {MAX_OFFSETS} reminders"))
    for minutes in offsets:
        if isinstance(minutes, bool) or not isinstance(minutes, int):
            return Failure(InvalidInput(field=FIELD, reason="offsets are whole minutes"))
        if not MIN_OFFSET_MINUTES <= minutes <= MAX_OFFSET_MINUTES:
            reason = (
                f"each offset is {MIN_OFFSET_MINUTES} minutes to 14 days"
                f" ({MIN_OFFSET_MINUTES} to {MAX_OFFSET_MINUTES} minutes)"
            )
            return Failure(InvalidInput(field=FIELD, reason=reason))
    if len(set(offsets)) != len(offsets):
        return Failure(InvalidInput(field=FIELD, reason="offsets must be distinct"))
    ordered = sorted(offsets, reverse=True)
    return Success(ReminderPlan(offsets=tuple(timedelta(minutes=m) for m in ordered)))


@attrs.frozen(kw_only=True)
class GetReminderPlan(UseCase):
    """The provider's reminder plan (the default when it never chose one). Staff of the
    provider or admins (Forbidden, MfaRequired otherwise)."""

    uow: UnitOfWorkFactory[MessagingUnitOfWork]

    async def __call__(
        self, caller: Principal, provider_id: ProviderId
    ) -> Result[ProviderReminderPlan, Forbidden]:
        allowed = may_manage(caller, provider_id)
        if isinstance(allowed, Failure):
            return allowed
        async with self.uow(Access.of(caller)) as uow:
            chosen = await uow.reminder_plans.get(provider_id)
        if chosen is None:
            return Success(ProviderReminderPlan.of(provider_id, DEFAULT_PLAN, is_default=True))
        return Success(ProviderReminderPlan.of(provider_id, chosen, is_default=False))


@attrs.frozen(kw_only=True)
class SetReminderPlan(UseCase):
    """Replace the provider's reminder plan and move the pending reminders of its upcoming
    confirmed bookings to it, in one transaction (see the module). Staff of the provider or
    admins; InvalidInput for a plan outside the rules."""

    uow: UnitOfWorkFactory[MessagingUnitOfWork]
    clock: Clock

    async def __call__(
        self, caller: Principal, provider_id: ProviderId, offsets_minutes: Sequence[int]
    ) -> Result[ProviderReminderPlan, Forbidden | InvalidInput]:
        allowed = may_manage(caller, provider_id)
        if isinstance(allowed, Failure):
            return allowed
        plan = reminder_plan_of(offsets_minutes)
        if isinstance(plan, Failure):
            return plan
        new = plan.unwrap()
        now = self.clock.now()
        async with self.uow(Access.of(caller)) as uow:
            await uow.reminder_plans.put(provider_id, new)
            moved = 0
            for facts in await uow.bookings.of_provider(provider_id):
                if facts.starts > now and await _move_reminders(uow, facts, new, now):
                    moved += 1
            await uow.commit()
        return Success(ProviderReminderPlan.of(provider_id, new, is_default=False, moved=moved))


async def _move_reminders(
    uow: MessagingUnitOfWork, facts: BookingFacts, plan: ReminderPlan, now: datetime
) -> bool:
    """Give one booking exactly `plan`'s reminders; False when it had them already."""
    pending = await uow.jobs.pending_reminders(facts.booking_id)
    kept = {offset_minutes(o) for o in plan.offsets}
    wanted: set[tuple[int, datetime]] = set()
    if _is_due(facts.status, facts.starts, now):
        wanted = set(reminder_instants(facts.starts, plan, now))
        # late but still wanted: a due reminder whose job has not run yet
        wanted |= {(m, at) for m, at in pending if at < now and m in kept}
    if set(pending) == wanted:
        return False
    await uow.jobs.cancel_reminders(facts.booking_id)
    for minutes, at in sorted(wanted, key=lambda row: row[1]):
        await uow.jobs.schedule_reminder(facts.booking_id, minutes, at)
    return True
