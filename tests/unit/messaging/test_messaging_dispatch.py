"""DispatchEvent: an outbox event becomes its messages, send jobs and reminder jobs, once."""

from __future__ import annotations

import contextlib
import uuid
from datetime import timedelta

from messaging_support import (
    DAY,
    HOUR,
    NOW,
    booking_event,
    dispatch,
    failure,
    ok,
    refund_event,
    world,
)

from core.messaging import (
    Channel,
    ContactPreferences,
    DispatchEvent,
    MessageKind,
    MessageStatus,
    ReminderPlan,
)
from core.shared.errors import NotFound
from core.shared.events import Event
from core.shared.ids import EventId, ProviderId
from core.shared.unit_of_work import MAINTENANCE


async def test_an_account_mail_goes_by_email_only_to_the_events_address() -> None:
    app = world()
    ada = app.person("ada@example.com")
    app.store.tables["preferences"][ada.user_id] = ContactPreferences(
        user_id=ada.user_id, locale="de", phone="+4915112345678", whatsapp_opt_in_at=NOW
    )
    event, _ = await app.account_mail("identity.email_verification_requested", ada)
    done = await dispatch(app, event)
    (message,) = done.messages
    assert message.kind is MessageKind.EMAIL_VERIFICATION
    assert (message.channel, message.address, message.locale) == (
        Channel.EMAIL,
        "ada@example.com",
        "de",
    )
    assert message.dedupe_key == f"{event.id}:email:{ada.user_id}"
    assert message.status is MessageStatus.QUEUED
    assert message.event_id == event.id
    assert app.store.send_queue == [message.id]
    assert app.store.dispatched_at(event.id) == NOW
    assert app.store.accesses[-1] == MAINTENANCE


async def test_a_confirmation_reaches_the_customer_and_copies_the_providers_staff() -> None:
    app = world()
    provider = ProviderId(uuid.uuid4())
    customer, owner, staff = app.person(), app.staff(provider), app.staff(provider)
    facts = app.booking(
        customer.user_id,
        starts=NOW + 3 * DAY,
        provider_id=provider,
        staff=[owner.user_id, staff.user_id],
    )
    done = await dispatch(app, booking_event("booking_confirmed", facts))
    assert {m.recipient_id for m in done.messages} == {
        customer.user_id,
        owner.user_id,
        staff.user_id,
    }
    assert all(m.kind is MessageKind.BOOKING_CONFIRMED for m in done.messages)
    assert all(
        m.provider_id == provider and m.booking_id == facts.booking_id for m in done.messages
    )
    assert len(app.store.send_queue) == 3


async def test_a_hold_and_a_refund_reach_the_customer_only() -> None:
    app = world()
    provider = ProviderId(uuid.uuid4())
    customer, staff = app.person(), app.staff(provider)
    facts = app.booking(
        customer.user_id,
        starts=NOW + 3 * DAY,
        provider_id=provider,
        status="held",
        staff=[staff.user_id],
    )
    held = await dispatch(app, booking_event("slot_held", facts))
    refunded = await dispatch(app, refund_event(facts, 1250))
    assert [(m.kind, m.recipient_id) for m in held.messages + refunded.messages] == [
        (MessageKind.BOOKING_HELD, customer.user_id),
        (MessageKind.REFUND_ISSUED, customer.user_id),
    ]
    assert held.reminders_scheduled == ()  # a hold gets no reminders


async def test_whatsapp_too_when_the_person_opted_in_with_a_phone() -> None:
    app = world()
    customer = app.person()
    app.store.tables["preferences"][customer.user_id] = ContactPreferences(
        user_id=customer.user_id, phone="+4915112345678", whatsapp_opt_in_at=NOW - DAY
    )
    facts = app.booking(customer.user_id, starts=NOW + 3 * DAY)
    done = await dispatch(app, booking_event("booking_confirmed", facts))
    assert sorted((m.channel, m.address) for m in done.messages) == [
        (Channel.EMAIL, app.store.accounts[customer.user_id].email),
        (Channel.WHATSAPP, "+4915112345678"),
    ]


async def test_an_undeliverable_address_is_recorded_suppressed_and_never_queued() -> None:
    app = world()
    customer = app.person("gone@example.com")
    app.store.tables["undeliverable"]["gone@example.com"] = ("bounce", NOW - DAY)
    facts = app.booking(customer.user_id, starts=NOW + 3 * DAY)
    (message,) = (await dispatch(app, booking_event("booking_confirmed", facts))).messages
    assert message.status is MessageStatus.SUPPRESSED
    assert app.store.send_queue == []


async def test_dispatching_again_adds_nothing_and_queues_nothing() -> None:
    app = world()
    facts = app.booking(app.person().user_id, starts=NOW + 3 * DAY)
    event = booking_event("booking_confirmed", facts)
    first = await dispatch(app, event)
    again = ok(await app(DispatchEvent)(EventId(event.id)))
    assert len(first.messages) == 1
    assert again.messages == ()
    assert len(app.store.messages) == 1
    assert len(app.store.send_queue) == 1
    assert app.store.reminders == {
        (facts.booking_id, 24 * 60): facts.starts - 24 * HOUR,
        (facts.booking_id, 120): facts.starts - 2 * HOUR,
    }


async def test_an_unknown_event_is_not_found_and_silent_events_are_only_marked() -> None:
    app = world()
    missing = EventId(uuid.uuid4())
    assert failure(await app(DispatchEvent)(missing)) == NotFound(kind="event", id=str(missing))
    event = Event(name="bookings.provider_created", occurred_at=NOW, payload={})
    done = await dispatch(app, event)
    assert done.messages == ()
    assert app.store.dispatched_at(event.id) == NOW


async def test_a_booking_gone_from_the_bookings_context_says_nothing() -> None:
    app = world()
    facts = app.booking(app.person().user_id, starts=NOW + 3 * DAY)
    event = booking_event("booking_confirmed", facts)
    del app.store.bookings[facts.booking_id]
    assert (await dispatch(app, event)).messages == ()


# --- reminders ------------------------------------------------------------------------------


async def test_a_confirmation_schedules_the_providers_reminder_plan_skipping_past_ones() -> None:
    app = world()
    provider = ProviderId(uuid.uuid4())
    app.store.plans[provider] = ReminderPlan(
        offsets=(timedelta(days=2), timedelta(hours=5), timedelta(minutes=30))
    )
    facts = app.booking(app.person().user_id, starts=NOW + 26 * HOUR, provider_id=provider)
    done = await dispatch(app, booking_event("booking_confirmed", facts))
    assert done.reminders_scheduled == (
        (facts.booking_id, 300, facts.starts - 5 * HOUR),
        (facts.booking_id, 30, facts.starts - timedelta(minutes=30)),
    )
    jobs = [j for j in app.store.jobs if j.task == "send_reminder"]
    assert [(j.args["offset_minutes"], j.schedule_at) for j in jobs] == [
        (300, facts.starts - 5 * HOUR),
        (30, facts.starts - timedelta(minutes=30)),
    ]


async def test_cancelling_removes_the_reminders() -> None:
    app = world()
    facts = app.booking(app.person().user_id, starts=NOW + 3 * DAY)
    await dispatch(app, booking_event("booking_confirmed", facts))
    cancelled = app.set_booking(facts, status="cancelled")
    done = await dispatch(app, booking_event("booking_cancelled", cancelled))
    assert done.reminders_cancelled == 2
    assert app.store.reminders == {}
    assert done.messages[0].kind is MessageKind.BOOKING_CANCELLED


async def test_rescheduling_moves_the_reminders_to_the_new_booking() -> None:
    app = world()
    customer = app.person()
    old = app.booking(customer.user_id, starts=NOW + 3 * DAY)
    await dispatch(app, booking_event("booking_confirmed", old))
    old = app.set_booking(old, status="rescheduled")
    new = app.booking(
        customer.user_id,
        starts=NOW + 5 * DAY,
        rescheduled_from=old.booking_id,
        provider_id=old.provider_id,
    )
    # The reschedule writes both events in one transaction: the old side, then the new hold.
    await dispatch(app, booking_event("booking_rescheduled", old))
    done = await dispatch(app, booking_event("slot_held", new))
    assert app.store.reminders == {
        (new.booking_id, 24 * 60): new.starts - 24 * HOUR,
        (new.booking_id, 120): new.starts - 2 * HOUR,
    }
    assert [m.kind for m in done.messages] == [MessageKind.BOOKING_RESCHEDULED]
    assert done.messages[0].booking_id == new.booking_id


async def test_a_confirmation_dispatched_after_its_cancellation_schedules_nothing() -> None:
    app = world()
    facts = app.booking(app.person().user_id, starts=NOW + 3 * DAY)
    confirmed = booking_event("booking_confirmed", facts)
    app.set_booking(facts, status="cancelled")
    done = await dispatch(app, confirmed)
    assert done.reminders_scheduled == ()
    assert app.store.reminders == {}


async def test_a_rolled_back_dispatch_leaves_no_message_job_or_mark() -> None:
    app = world()
    facts = app.booking(app.person().user_id, starts=NOW + 3 * DAY)
    event = app.publish(booking_event("booking_confirmed", facts))
    app.store.crash_next_commits(1)
    with contextlib.suppress(RuntimeError):
        await app(DispatchEvent)(EventId(event.id))
    assert app.store.messages == []
    assert app.store.send_queue == []
    assert app.store.reminders == {}
    assert app.store.dispatched_at(event.id) is None
    assert len((await dispatch(app, event)).messages) == 1
