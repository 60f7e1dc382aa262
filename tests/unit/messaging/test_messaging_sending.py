"""SendMessage: content from fresh reads, the .ics, and at most one send however jobs crash."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlparse

import attrs
import pytest
from messaging_support import (
    DAY,
    HOUR,
    NOW,
    booking_event,
    dispatch,
    failure,
    ics_fields,
    ok,
    refund_event,
    world,
)

from adapters.memory.messaging import CommitCrash, InMemoryMessaging, LostResponse
from core.messaging import (
    Channel,
    ContactPreferences,
    MessageId,
    MessageKind,
    MessageStatus,
    RecordWhatsAppNotice,
    SendFailedTemporarily,
    SendMessage,
    SendReminder,
    StatusReport,
)
from core.messaging.sending import STATUS_REPORT_WAIT
from core.shared.errors import NotFound
from core.shared.ids import ProviderId, UserId


def _opt_in(app: InMemoryMessaging, user_id: UserId, phone: str = "+4915112345678") -> None:
    app.store.tables["preferences"][user_id] = ContactPreferences(
        user_id=user_id, phone=phone, whatsapp_opt_in_at=NOW - DAY
    )


@pytest.mark.parametrize(
    ("event_name", "path"),
    [
        ("identity.email_verification_requested", "/verify-email"),
        ("identity.password_reset_requested", "/reset-password"),
    ],
)
async def test_an_account_mail_carries_a_link_with_the_token_opened_from_the_outbox(
    event_name: str, path: str
) -> None:
    app = world()
    ada = app.person("ada@example.com", name="Ada")
    event, token = await app.account_mail(event_name, ada)
    await dispatch(app, event)
    assert await app.run_jobs() == 1
    ((provider_id, mail),) = app.email.sent
    link = next(line for line in mail.rendered.text.splitlines() if line.startswith("link: "))
    url = urlparse(link.removeprefix("link: "))
    assert url.path == path
    assert parse_qs(url.query)["token"] == [token]
    assert mail.to == "ada@example.com"
    assert mail.attachments == ()
    (message,) = app.store.messages
    assert message.status is MessageStatus.SENT
    assert message.provider_message_id == provider_id
    assert message.attempts == 1
    assert token not in repr(message)  # the secret is in the mail only


async def test_an_account_mail_whose_seal_was_tampered_with_fails_visibly() -> None:
    app = world()
    ada = app.person()
    event, _ = await app.account_mail("identity.password_reset_requested", ada)
    other, _ = await app.account_mail("identity.password_reset_requested", app.person())
    event.payload["sealed_token"] = other.payload["sealed_token"]  # sealed for someone else
    await dispatch(app, event)
    await app.run_jobs()
    (message,) = [m for m in app.store.messages if m.recipient_id == ada.user_id]
    assert message.status is MessageStatus.FAILED
    assert message.last_error is not None
    assert "did not open" in message.last_error
    assert app.email.sent == []


async def test_an_existing_account_mail_has_no_link() -> None:
    app = world()
    ada = app.person()
    event, _ = await app.account_mail("identity.existing_account_registration_attempted", ada)
    await dispatch(app, event)
    await app.run_jobs()
    ((_, mail),) = app.email.sent
    assert "link:" not in mail.rendered.text
    assert mail.category == "existing_account"


async def test_a_confirmation_carries_an_ics_request_and_the_cancellation_a_cancel_same_uid() -> (
    None
):
    app = world()
    customer = app.person()
    facts = app.booking(customer.user_id, starts=NOW + 3 * DAY)
    await dispatch(app, booking_event("booking_confirmed", facts))
    await app.run_jobs()
    cancelled = app.set_booking(facts, status="cancelled")
    await dispatch(app, booking_event("booking_cancelled", cancelled))
    await app.run_jobs()
    confirmed_mail, cancel_mail = (mail for _, mail in app.email.sent)
    (request,), (cancel,) = confirmed_mail.attachments, cancel_mail.attachments
    assert request.content_type == "text/calendar; method=REQUEST"
    assert cancel.content_type == "text/calendar; method=CANCEL"
    first, second = ics_fields(request.data), ics_fields(cancel.data)
    assert first["METHOD"] == ["REQUEST"]
    assert second["METHOD"] == ["CANCEL"]
    assert first["UID"] == second["UID"]
    assert int(second["SEQUENCE"][0]) > int(first["SEQUENCE"][0])
    assert second["STATUS"] == ["CANCELLED"]
    assert first["DTSTART"] == [facts.starts.strftime("%Y%m%dT%H%M%SZ")]


async def test_a_rescheduled_booking_keeps_its_calendar_uid_with_a_higher_sequence() -> None:
    app = world()
    customer = app.person()
    old = app.booking(customer.user_id, starts=NOW + 3 * DAY)
    await dispatch(app, booking_event("booking_confirmed", old))
    await app.run_jobs()
    new = app.booking(
        customer.user_id,
        starts=NOW + 4 * DAY,
        rescheduled_from=old.booking_id,
        provider_id=old.provider_id,
    )
    await dispatch(app, booking_event("slot_held", new))
    await app.run_jobs()
    before, after = (ics_fields(mail.attachments[0].data) for _, mail in app.email.sent)
    assert before["UID"] == after["UID"]
    assert int(after["SEQUENCE"][0]) > int(before["SEQUENCE"][0])
    assert after["DTSTART"] == [new.starts.strftime("%Y%m%dT%H%M%SZ")]


async def test_a_hold_has_no_calendar_and_a_staff_copy_says_it_is_the_providers() -> None:
    app = world()
    provider = ProviderId(uuid.uuid4())
    customer, staff = app.person(), app.staff(provider, "staff@example.com")
    facts = app.booking(
        customer.user_id,
        starts=NOW + 3 * DAY,
        provider_id=provider,
        status="held",
        staff=[staff.user_id],
    )
    await dispatch(app, booking_event("slot_held", facts))
    app.set_booking(facts, status="confirmed")
    await dispatch(app, booking_event("booking_confirmed", facts))
    await app.run_jobs()
    held, *confirmations = (mail for _, mail in app.email.sent)
    assert held.attachments == ()
    assert held.category == "booking_held"
    (copy,) = [m for m in confirmations if m.to == "staff@example.com"]
    assert "copy: provider" in copy.rendered.text
    assert copy.attachments
    (own,) = [m for m in confirmations if m.to != "staff@example.com"]
    assert "copy: provider" not in own.rendered.text


async def test_a_refund_mail_says_how_much() -> None:
    app = world()
    facts = app.booking(app.person().user_id, starts=NOW + 3 * DAY)
    await dispatch(app, refund_event(facts, 1250))
    await app.run_jobs()
    ((_, mail),) = app.email.sent
    assert "refund: 1250 EUR" in mail.rendered.text


async def test_whatsapp_uses_a_template_outside_the_service_window_and_text_inside() -> None:
    app = world()
    customer = app.person()
    _opt_in(app, customer.user_id)
    first = app.booking(customer.user_id, starts=NOW + 3 * DAY)
    await dispatch(app, booking_event("booking_confirmed", first))
    await app.run_jobs()
    app.store.tables["windows"]["+4915112345678"] = NOW - HOUR
    second = app.booking(customer.user_id, starts=NOW + 4 * DAY)
    await dispatch(app, booking_event("booking_confirmed", second))
    await app.run_jobs()
    outside, inside = (message for _, message in app.whatsapp.sent)
    assert outside.template is not None
    assert outside.text is None
    assert outside.template.name == "booking_confirmed"
    assert outside.template.language == "en"
    assert inside.text is not None
    assert inside.template is None
    assert {m.to for m in (outside, inside)} == {"+4915112345678"}


async def test_a_message_already_sent_is_left_alone() -> None:
    app = world()
    facts = app.booking(app.person().user_id, starts=NOW + 3 * DAY)
    await dispatch(app, booking_event("booking_confirmed", facts))
    await app.run_jobs()
    (message,) = app.store.messages
    again = ok(await app(SendMessage)(message.id))
    assert again == message
    assert len(app.email.sent) == 1


async def test_an_unknown_message_is_not_found() -> None:
    missing = MessageId(uuid.uuid4())
    assert failure(await world()(SendMessage)(missing)) == NotFound(kind="message", id=str(missing))


async def test_a_temporary_failure_requeues_for_the_retry_then_sends_once() -> None:
    app = world()
    facts = app.booking(app.person().user_id, starts=NOW + 3 * DAY)
    await dispatch(app, booking_event("booking_confirmed", facts))
    app.email.fail_next(2)
    for _ in range(2):
        with pytest.raises(SendFailedTemporarily):
            await app.run_jobs()
        (message,) = app.store.messages
        assert message.status is MessageStatus.QUEUED
        assert message.last_error is not None
        assert "503" in message.last_error
    await app.run_jobs()
    (message,) = app.store.messages
    assert (message.status, message.attempts, message.last_error) == (MessageStatus.SENT, 3, None)
    assert len(app.email.sent) == 1


async def test_the_last_attempt_failing_marks_the_message_failed() -> None:
    app = world()
    facts = app.booking(app.person().user_id, starts=NOW + 3 * DAY)
    await dispatch(app, booking_event("booking_confirmed", facts))
    app.email.fail_next(1)
    with pytest.raises(SendFailedTemporarily):
        await app.run_jobs(final_attempt=True)
    (message,) = app.store.messages
    assert message.status is MessageStatus.FAILED
    assert "503" in (message.last_error or "")


async def test_a_refused_message_fails_without_retry() -> None:
    app = world()
    facts = app.booking(app.person().user_id, starts=NOW + 3 * DAY)
    await dispatch(app, booking_event("booking_confirmed", facts))
    app.email.fail_next(1, "refuse")
    assert await app.run_jobs() == 1
    (message,) = app.store.messages
    assert message.status is MessageStatus.FAILED
    assert message.last_error == "400: invalid recipient"
    assert ok(await app(SendMessage)(message.id)).status is MessageStatus.FAILED
    assert app.email.calls == 1


async def test_a_lost_answer_after_the_provider_accepted_is_found_not_sent_again() -> None:
    app = world()
    facts = app.booking(app.person().user_id, starts=NOW + 3 * DAY)
    await dispatch(app, booking_event("booking_confirmed", facts))
    app.email.fail_next(1, "lose")
    with pytest.raises(LostResponse):
        await app.run_jobs()
    assert app.store.messages[0].status is MessageStatus.SENDING
    await app.run_jobs()  # the job's retry
    (message,) = app.store.messages
    ((provider_id, _),) = app.email.sent
    assert message.status is MessageStatus.SENT
    assert message.provider_message_id == provider_id
    assert app.email.calls == 1


async def test_a_crash_while_recording_the_send_is_found_on_the_retry() -> None:
    app = world()
    facts = app.booking(app.person().user_id, starts=NOW + 3 * DAY)
    await dispatch(app, booking_event("booking_confirmed", facts))
    (message,) = app.store.messages
    send = app(SendMessage)
    real_send = app.email.send

    async def send_then_die(email):  # type: ignore[no-untyped-def]
        receipt = await real_send(email)
        app.store.crash_next_commits(1)  # the commit after the provider call dies
        return receipt

    app.email.send = send_then_die  # type: ignore[method-assign]
    with pytest.raises(CommitCrash):
        await send(message.id)
    app.email.send = real_send  # type: ignore[method-assign]
    await send(message.id)
    assert len(app.email.sent) == 1
    assert app.store.message(message.id).status is MessageStatus.SENT


async def test_an_interrupted_send_the_provider_never_got_is_sent() -> None:
    app = world()
    facts = app.booking(app.person().user_id, starts=NOW + 3 * DAY)
    await dispatch(app, booking_event("booking_confirmed", facts))
    (message,) = app.store.messages
    # The worker died after marking SENDING, before calling the provider.
    app.store.tables["messages"][message.id] = attrs.evolve(
        message, status=MessageStatus.SENDING, attempts=1
    )
    await app.run_jobs()
    assert len(app.email.sent) == 1
    assert app.store.message(message.id).attempts == 2


async def test_an_interrupted_whatsapp_message_waits_for_its_report_then_is_sent_once() -> None:
    app = world()
    customer = app.person()
    _opt_in(app, customer.user_id)
    facts = app.booking(customer.user_id, starts=NOW + 3 * DAY)
    await dispatch(app, booking_event("booking_confirmed", facts))
    app.whatsapp.fail_next(1, "lose")  # accepted by WhatsApp, the answer lost
    with pytest.raises(LostResponse):
        await app.run_jobs()
    (message,) = [m for m in app.store.messages if m.channel is Channel.WHATSAPP]

    # The retry within the wait sends nothing: WhatsApp's report may still come.
    app.clock.advance(STATUS_REPORT_WAIT / 2)
    with pytest.raises(SendFailedTemporarily, match="waiting for WhatsApp's status report"):
        await app.run_jobs()
    assert len(app.whatsapp.sent) == 1
    # The report of the accepted message settles it: nothing more is ever sent.
    body, headers = app.whatsapp_events.signed(
        reports=[
            StatusReport(
                message_id=message.id,
                provider_message_id=None,
                status=MessageStatus.DELIVERED,
                at=app.clock.now(),
            )
        ]
    )
    ok(await app(RecordWhatsAppNotice)(body, headers))
    await app.run_jobs()
    assert app.store.message(message.id).status is MessageStatus.DELIVERED
    assert len(app.whatsapp.sent) == 1


async def test_an_interrupted_whatsapp_message_with_no_report_is_sent_after_the_wait() -> None:
    app = world()
    customer = app.person()
    _opt_in(app, customer.user_id)
    facts = app.booking(customer.user_id, starts=NOW + 3 * DAY)
    await dispatch(app, booking_event("booking_confirmed", facts))
    (message,) = [m for m in app.store.messages if m.channel is Channel.WHATSAPP]
    # The worker died after marking SENDING, before calling WhatsApp: no report will come.
    app.store.tables["messages"][message.id] = attrs.evolve(
        message, status=MessageStatus.SENDING, attempts=1, updated_at=NOW
    )
    app.store.send_queue[:] = [message.id]

    app.clock.advance(STATUS_REPORT_WAIT)
    await app.run_jobs()

    assert len(app.whatsapp.sent) == 1
    assert app.store.message(message.id).status is MessageStatus.SENT


async def test_a_reminder_for_a_booking_cancelled_since_is_suppressed_at_send_time() -> None:
    app = world()
    facts = app.booking(app.person().user_id, starts=NOW + 3 * DAY)
    (queued,) = ok(await app(SendReminder)(facts.booking_id, 120))
    app.set_booking(facts, status="cancelled")
    await app.run_jobs()
    assert app.store.message(queued.id).status is MessageStatus.SUPPRESSED
    assert app.email.sent == []


async def test_a_booking_message_whose_booking_is_gone_is_suppressed() -> None:
    app = world()
    facts = app.booking(app.person().user_id, starts=NOW + 3 * DAY)
    await dispatch(app, booking_event("booking_confirmed", facts))
    del app.store.bookings[facts.booking_id]
    await app.run_jobs()
    (message,) = app.store.messages
    assert message.status is MessageStatus.SUPPRESSED
    assert message.kind is MessageKind.BOOKING_CONFIRMED
