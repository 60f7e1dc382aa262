"""Outbox events become messages and reminder jobs (the worker's `dispatch_event` and
`send_reminder` jobs). Each call is one transaction and idempotent: messages are keyed by
their dedupe key, reminder jobs by (booking, offset), so a job run twice changes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import attrs
from returns.result import Failure, Result, Success

from core.messaging.model import Channel, Message, MessageKind, MessageStatus
from core.messaging.planning import (
    BOOKING_CANCELLED,
    BOOKING_CONFIRMED,
    BOOKING_KINDS,
    BOOKING_RESCHEDULED,
    SLOT_HELD,
    STAFF_COPIES,
    Plan,
    Target,
    channels_for,
    event_booking,
    event_user,
    kind_of,
    plan_messages,
    purpose_of,
    uuid_in,
)
from core.messaging.ports import BookingFacts, ConsentPolicy, MessagingUnitOfWork, Person
from core.messaging.reminders import reminder_instants, reminder_is_due
from core.shared.errors import NotFound
from core.shared.ids import BookingId, EventId
from core.shared.time import Clock
from core.shared.unit_of_work import MAINTENANCE, UnitOfWorkFactory
from core.shared.use_case import UseCase


async def targets_of(
    uow: MessagingUnitOfWork,
    consent: ConsentPolicy,
    person: Person,
    kind: MessageKind,
) -> list[Target]:
    """The channels `person` gets a `kind` message on, with its address: the person's current
    one, read from `People` (events carry ids only, never an address)."""
    found: list[Target] = []
    purpose = purpose_of(kind)
    for channel in channels_for(kind):
        if not await consent.allows(person.user_id, purpose, channel, person.preferences):
            continue
        if channel is Channel.EMAIL:
            address = person.email
            suppressed = await uow.undeliverable.contains(address)
            found.append(
                Target(person=person, channel=channel, address=address, suppressed=suppressed)
            )
        elif person.preferences.phone is not None:
            found.append(Target(person=person, channel=channel, address=person.preferences.phone))
    return found


async def store_planned(uow: MessagingUnitOfWork, planned: Sequence[Message]) -> list[Message]:
    """Insert the planned messages (the first of each dedupe key wins) and defer a send job
    for every new QUEUED one. The messages inserted now."""
    added: list[Message] = []
    for message in planned:
        if await uow.messages.add(message):
            added.append(message)
            if message.status is MessageStatus.QUEUED:
                await uow.jobs.send_message(message.id)
    return added


@attrs.frozen(kw_only=True)
class Dispatched:
    """What dispatching an event did (on a repeated dispatch: nothing new)."""

    event_id: EventId
    event_name: str  # e.g. "booking_confirmed": what the worker's metrics count
    messages: tuple[Message, ...] = ()  # inserted by this call
    reminders_scheduled: tuple[tuple[BookingId, int, datetime], ...] = ()
    reminders_cancelled: int = 0


@attrs.frozen(kw_only=True)
class DispatchEvent(UseCase):
    """The `dispatch_event` job: plan an outbox event's messages, move its booking's
    reminders, and mark the event dispatched. NotFound for an unknown event."""

    uow: UnitOfWorkFactory[MessagingUnitOfWork]
    clock: Clock
    consent: ConsentPolicy

    async def __call__(self, event_id: EventId) -> Result[Dispatched, NotFound]:
        now = self.clock.now()
        async with self.uow(MAINTENANCE) as uow:
            event = await uow.events.get(event_id)
            if event is None:
                return Failure(NotFound(kind="event", id=str(event_id)))
            booking_id = event_booking(event)
            facts = await uow.bookings.facts(booking_id) if booking_id else None
            added: list[Message] = []
            kind = kind_of(event)
            if kind is not None:
                planned = await self._plan(uow, event_id, kind, event.payload, facts, now)
                added = await store_planned(uow, planned)
            scheduled, cancelled = await self._move_reminders(
                uow, event.name, event.payload, facts, now
            )
            await uow.events.mark_dispatched(event_id, now)
            await uow.commit()
        return Success(
            Dispatched(
                event_id=event_id,
                event_name=event.name,
                messages=tuple(added),
                reminders_scheduled=tuple(scheduled),
                reminders_cancelled=cancelled,
            )
        )

    async def _plan(
        self,
        uow: MessagingUnitOfWork,
        event_id: EventId,
        kind: MessageKind,
        payload: dict[str, object],
        facts: BookingFacts | None,
        now: datetime,
    ) -> list[Message]:
        if kind in BOOKING_KINDS:
            if facts is None:
                return []  # the booking is gone: nothing to tell
            plan = Plan(
                kind=kind,
                event_id=event_id,
                booking_id=facts.booking_id,
                provider_id=facts.provider_id,
            )
            recipients = [facts.customer_id]
            if kind in STAFF_COPIES:
                recipients += [s for s in facts.staff_ids if s != facts.customer_id]
            targets: list[Target] = []
            for user_id in recipients:
                person = await uow.people.get(user_id)
                if person is not None:
                    targets += await targets_of(uow, self.consent, person, kind)
            return plan_messages(plan, targets, now)
        about = event_user(payload)
        person = await uow.people.get(about) if about else None
        if person is None:
            return []
        targets = await targets_of(uow, self.consent, person, kind)
        return plan_messages(Plan(kind=kind, event_id=event_id), targets, now)

    async def _move_reminders(
        self,
        uow: MessagingUnitOfWork,
        name: str,
        payload: dict[str, object],
        facts: BookingFacts | None,
        now: datetime,
    ) -> tuple[list[tuple[BookingId, int, datetime]], int]:
        """Confirmed (a confirmation, or the new side of a reschedule): schedule; cancelled or
        rescheduled away: remove. Scheduling reads the booking fresh, so a confirmation
        dispatched after the cancellation schedules nothing."""
        cancelled = 0
        scheduled: list[tuple[BookingId, int, datetime]] = []
        if name in (BOOKING_CANCELLED, BOOKING_RESCHEDULED):
            booking_id = uuid_in(payload, "booking_id")
            if booking_id is not None:
                cancelled += await uow.jobs.cancel_reminders(BookingId(booking_id))
        if name == SLOT_HELD:
            old = uuid_in(payload, "rescheduled_from")
            if old is not None:
                cancelled += await uow.jobs.cancel_reminders(BookingId(old))
        if name in (BOOKING_CONFIRMED, SLOT_HELD) and facts is not None:
            scheduled = await schedule_reminders(uow, facts, now)
        return scheduled, cancelled


async def schedule_reminders(
    uow: MessagingUnitOfWork, facts: BookingFacts, now: datetime
) -> list[tuple[BookingId, int, datetime]]:
    """Schedule the reminders of a confirmed booking that are still ahead (none otherwise)."""
    if not reminder_is_due(facts.status, facts.starts, now):
        return []
    plan = await uow.bookings.reminder_plan(facts.provider_id)
    scheduled = []
    for minutes, at in reminder_instants(facts.starts, plan, now):
        await uow.jobs.schedule_reminder(facts.booking_id, minutes, at)
        scheduled.append((facts.booking_id, minutes, at))
    return scheduled


@attrs.frozen(kw_only=True)
class SendReminder(UseCase):
    """The `send_reminder` job: plan the customer's REMINDER messages and defer their sends.

    Never for a booking that is not confirmed (cancelled, rescheduled away, gone) or that has
    started: then nothing is recorded and the result is empty (the job simply ends)."""

    uow: UnitOfWorkFactory[MessagingUnitOfWork]
    clock: Clock
    consent: ConsentPolicy

    async def __call__(
        self, booking_id: BookingId, offset_minutes: int
    ) -> Result[tuple[Message, ...], NotFound]:
        now = self.clock.now()
        async with self.uow(MAINTENANCE) as uow:
            facts = await uow.bookings.facts(booking_id)
            if facts is None:
                return Failure(NotFound(kind="booking", id=str(booking_id)))
            if not reminder_is_due(facts.status, facts.starts, now):
                return Success(())
            person = await uow.people.get(facts.customer_id)
            if person is None:
                return Success(())
            plan = Plan(
                kind=MessageKind.REMINDER,
                booking_id=booking_id,
                provider_id=facts.provider_id,
                reminder_offset_minutes=offset_minutes,
            )
            targets = await targets_of(uow, self.consent, person, MessageKind.REMINDER)
            added = await store_planned(uow, plan_messages(plan, targets, now))
            await uow.commit()
        return Success(tuple(added))
