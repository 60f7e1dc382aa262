"""Properties of the delivery engine: dispatch is idempotent, statuses never move backwards
whatever order reports arrive in, and a crash anywhere around the provider call still ends
with exactly one send."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st
from messaging_support import DAY, HOUR, NOW, PROFILE, booking_event, ok, refund_event, run, world

from adapters.memory.messaging import CommitCrash, InMemoryMessaging, LostResponse
from core.messaging import (
    ContactPreferences,
    DispatchEvent,
    MessageStatus,
    RecordEmailReports,
    SendFailedTemporarily,
    SendMessage,
    StatusReport,
)
from core.shared.events import Event
from core.shared.ids import EventId, ProviderId

EVENTS = ["slot_held", "booking_confirmed", "booking_cancelled", "refund", "verification"]


async def _events(app: InMemoryMessaging, names: list[str], whatsapp: bool) -> list[Event]:
    provider = ProviderId(uuid.uuid4())
    customer, staff = app.person(), app.staff(provider)
    if whatsapp:
        app.store.tables["preferences"][customer.user_id] = ContactPreferences(
            user_id=customer.user_id, phone="+4915112345678", whatsapp_opt_in_at=NOW
        )
    # The booking as the bookings context shows it after these events (dispatch reads it).
    status = "held"
    if "booking_confirmed" in names:
        status = "confirmed"
    if "booking_cancelled" in names:
        status = "cancelled"
    facts = app.booking(
        customer.user_id,
        starts=NOW + 3 * DAY,
        provider_id=provider,
        staff=[staff.user_id],
        status=status,
    )
    events = []
    for name in names:
        if name == "refund":
            event = refund_event(facts, 500)
        elif name == "verification":
            event, _ = await app.account_mail("identity.email_verification_requested", customer)
        else:
            event = booking_event(name, facts)
        events.append(app.publish(event))
    return events


@PROFILE
@given(
    names=st.lists(st.sampled_from(EVENTS), min_size=1, max_size=5),
    order=st.randoms(use_true_random=False),
    repeats=st.integers(2, 3),
    whatsapp=st.booleans(),
)
def test_dispatching_events_again_in_any_order_yields_the_same_messages(
    names: list[str], order: object, repeats: int, whatsapp: bool
) -> None:
    async def scenario() -> None:
        app = world()
        events = await _events(app, names, whatsapp)
        dispatch = app(DispatchEvent)
        for event in events:
            ok(await dispatch(EventId(event.id)))
        first = {m.dedupe_key: m for m in app.store.messages}
        queued = list(app.store.send_queue)
        reminders = app.store.reminders
        again = [e for e in events for _ in range(repeats)]
        order.shuffle(again)  # type: ignore[attr-defined]
        for event in again:
            assert ok(await dispatch(EventId(event.id))).messages == ()
        assert {m.dedupe_key: m for m in app.store.messages} == first
        assert app.store.send_queue == queued
        assert len(queued) == len({m for m in queued})
        # Reminders depend on the booking's state now, not on the dispatch order.
        assert app.store.reminders == reminders

    run(scenario())


REPORTED = [
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
    MessageStatus.READ,
    MessageStatus.BOUNCED,
    MessageStatus.DROPPED,
    MessageStatus.SPAM_REPORTED,
    MessageStatus.UNSUBSCRIBED,
    MessageStatus.FAILED,
]


@PROFILE
@given(
    statuses=st.lists(st.sampled_from(REPORTED), min_size=1, max_size=8),
    batch=st.integers(1, 4),
)
def test_a_status_never_moves_backwards_whatever_order_reports_arrive_in(
    statuses: list[MessageStatus], batch: int
) -> None:
    async def scenario() -> None:
        app = world()
        facts = app.booking(app.person().user_id, starts=NOW + 3 * DAY)
        app.publish(event := booking_event("booking_confirmed", facts))
        ok(await app(DispatchEvent)(EventId(event.id)))
        await app.run_jobs()
        (message,) = app.store.messages
        record = app(RecordEmailReports)
        seen = [message.status]
        for start in range(0, len(statuses), batch):
            reports = [
                StatusReport(
                    message_id=message.id, provider_message_id=None, status=status, at=NOW + HOUR
                )
                for status in statuses[start : start + batch]
            ]
            ok(await record(*app.email_events.signed(*reports)))
            seen.append(app.store.message(message.id).status)
        ranks = [status.rank for status in seen]
        assert ranks == sorted(ranks)
        assert ranks[-1] == max([MessageStatus.SENT.rank, *(s.rank for s in statuses)])

    run(scenario())


FAULTS = ["temporary", "lose", "crash_on_record", "crash_on_mark", "none"]


@PROFILE
@given(faults=st.lists(st.sampled_from(FAULTS), max_size=6), whatsapp=st.booleans())
def test_crashes_around_the_provider_call_end_in_exactly_one_send(
    faults: list[str], whatsapp: bool
) -> None:
    """Each run of the job meets one fault; the job is retried until it ends. Email ends with
    exactly one accepted mail at the provider; WhatsApp with at most one (never two)."""

    async def scenario() -> None:
        app = world()
        customer = app.person()
        if whatsapp:
            app.store.tables["preferences"][customer.user_id] = ContactPreferences(
                user_id=customer.user_id, phone="+4915112345678", whatsapp_opt_in_at=NOW
            )
        facts = app.booking(customer.user_id, starts=NOW + 3 * DAY)
        app.publish(event := booking_event("booking_confirmed", facts))
        ok(await app(DispatchEvent)(EventId(event.id)))
        send = app(SendMessage)
        real_email, real_whatsapp = app.email.send, app.whatsapp.send
        for message_id in list(app.store.send_queue):
            for fault in [*faults, "none"]:
                _arm(app, fault, real_email, real_whatsapp)
                try:
                    await send(message_id)
                except (SendFailedTemporarily, LostResponse, CommitCrash):
                    continue
                finally:
                    app.email.send, app.whatsapp.send = real_email, real_whatsapp  # type: ignore[method-assign]
                    app.email.fail_next(0)
                    app.store.crashes_left = 0
                    _clear(app)
                break
        assert len(app.email.sent) == 1
        assert len(app.whatsapp.sent) <= 1
        email_message = next(m for m in app.store.messages if m.channel == "email")
        assert email_message.status is MessageStatus.SENT
        assert email_message.provider_message_id == app.email.sent[0][0]

    run(scenario())


def _clear(app: InMemoryMessaging) -> None:
    app.email._failures.queue.clear()
    app.whatsapp._failures.queue.clear()


def _arm(app: InMemoryMessaging, fault: str, real_email: object, real_whatsapp: object) -> None:
    if fault in ("temporary", "lose"):
        app.email.fail_next(1, fault)
        app.whatsapp.fail_next(1, fault)
    elif fault == "crash_on_mark":
        app.store.crash_next_commits(1)  # dies committing SENDING, before the provider call
    elif fault == "crash_on_record":

        async def email_then_die(email):  # type: ignore[no-untyped-def]
            receipt = await real_email(email)  # type: ignore[operator]
            app.store.crash_next_commits(1)
            return receipt

        async def whatsapp_then_die(message):  # type: ignore[no-untyped-def]
            receipt = await real_whatsapp(message)  # type: ignore[operator]
            app.store.crash_next_commits(1)
            return receipt

        app.email.send = email_then_die  # type: ignore[method-assign]
        app.whatsapp.send = whatsapp_then_die  # type: ignore[method-assign]
