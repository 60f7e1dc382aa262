"""A provider's reminder plan: how long before a booking's start its customers are reminded.

Staff of the provider and admins (with a second factor) read and replace it. A provider that
never chose one gets the default (24 h and 2 h before, `is_default: true`); an empty list means
no reminders. Replacing the plan moves the reminders already scheduled for the provider's
upcoming confirmed bookings in the same transaction (`moved_bookings` says how many changed).
"""

from __future__ import annotations

import uuid
from functools import partial
from typing import Annotated

import msgspec
from litestar import get, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from core.messaging import (
    MAX_OFFSETS,
    GetReminderPlan,
    ProviderReminderPlan,
    SetReminderPlan,
)
from core.shared.ids import ProviderId
from core.shared.principal import Principal
from entrypoints.http.auth import SECURITY
from entrypoints.http.problems import SIGNED_IN_PROBLEMS, ok

PATH = "/providers/{provider_id:str}/reminder-plan"


class ReminderPlanOut(msgspec.Struct, frozen=True):
    provider_id: uuid.UUID
    offsets_minutes: list[int]  # longest first; [] = no reminders
    is_default: bool  # the provider never chose a plan
    moved_bookings: int  # PUT: upcoming bookings whose reminders moved; 0 on GET

    @classmethod
    def of(cls, plan: ProviderReminderPlan) -> ReminderPlanOut:
        return cls(
            provider_id=plan.provider_id,
            offsets_minutes=list(plan.offsets_minutes),
            is_default=plan.is_default,
            moved_bookings=plan.moved_bookings,
        )


class ReminderPlanIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The whole plan (PUT): 0 to 4 distinct offsets, each 15 minutes to 14 days before the
    start; [] sends no reminders."""

    offsets_minutes: Annotated[list[int], msgspec.Meta(max_length=MAX_OFFSETS)]


_read = partial(get, tags=["messages"], security=SECURITY, responses=SIGNED_IN_PROBLEMS)
_replace = partial(put, tags=["messages"], security=SECURITY, responses=SIGNED_IN_PROBLEMS)


@_read(PATH, summary="A provider's reminder plan (staff)")
async def get_reminder_plan_of(
    provider_id: FromPath[uuid.UUID],
    principal: NamedDependency[Principal],
    get_reminder_plan: NamedDependency[GetReminderPlan],
) -> ReminderPlanOut:
    return ReminderPlanOut.of(ok(await get_reminder_plan(principal, ProviderId(provider_id))))


@_replace(
    PATH,
    summary="Replace a provider's reminder plan (staff)",
    description="0 to 4 distinct offsets in minutes, each 15 minutes to 14 days; [] sends no "
    "reminders. The pending reminders of the provider's upcoming confirmed bookings move to "
    "the new plan in the same transaction.",
)
async def put_reminder_plan_of(
    provider_id: FromPath[uuid.UUID],
    data: JSONBody[ReminderPlanIn],
    principal: NamedDependency[Principal],
    set_reminder_plan: NamedDependency[SetReminderPlan],
) -> ReminderPlanOut:
    changed = await set_reminder_plan(principal, ProviderId(provider_id), data.offsets_minutes)
    return ReminderPlanOut.of(ok(changed))


ROUTES = [get_reminder_plan_of, put_reminder_plan_of]
