"""Provider webhooks: verified before anything changes; statuses only move forward; hard
bounces stop mail to the address; inbound WhatsApp opens the service window."""

from __future__ import annotations

from messaging_support import DAY, HOUR, NOW, booking_event, dispatch, failure, ok, world

from adapters.memory.messaging import InMemoryMessaging
from core.messaging import (
    Channel,
    ConfirmWhatsAppSubscription,
    ContactPreferences,
    Message,
    MessageStatus,
    RecordEmailReports,
    RecordWhatsAppNotice,
    StatusReport,
    WebhookNotVerified,
)


async def _sent(app: InMemoryMessaging, address: str = "ada@example.com") -> Message:
    customer = app.person(address)
    facts = app.booking(customer.user_id, starts=NOW + 3 * DAY)
    await dispatch(app, booking_event("booking_confirmed", facts))
    await app.run_jobs()
    return next(m for m in app.store.messages if m.recipient_id == customer.user_id)


async def test_delivered_moves_a_sent_message_forward_by_our_id() -> None:
    app = world()
    message = await _sent(app)
    body, headers = app.email_events.signed(
        StatusReport(
            message_id=message.id,
            provider_message_id=None,
            status=MessageStatus.DELIVERED,
            at=NOW + HOUR,
        )
    )
    recorded = ok(await app(RecordEmailReports)(body, headers))
    assert recorded.reports == 1
    assert [m.id for m in recorded.advanced] == [message.id]
    assert app.store.message(message.id).status is MessageStatus.DELIVERED


async def test_a_forged_signature_is_refused_and_changes_nothing() -> None:
    app = world()
    message = await _sent(app)
    report = StatusReport(
        message_id=message.id,
        provider_message_id=None,
        status=MessageStatus.BOUNCED,
        at=NOW,
        hard_bounce=True,
    )
    body, headers = app.email_events.signed(report)
    forged = body.replace(b"bounced", b"dropped")
    assert failure(await app(RecordEmailReports)(forged, headers)) == WebhookNotVerified()
    assert failure(await app(RecordEmailReports)(body, {})) == WebhookNotVerified()
    assert app.store.message(message.id).status is MessageStatus.SENT
    assert not app.store.is_undeliverable("ada@example.com")


async def test_a_hard_bounce_marks_the_address_and_later_mail_is_suppressed() -> None:
    app = world()
    message = await _sent(app, "Ada@Example.com")
    body, headers = app.email_events.signed(
        StatusReport(
            message_id=None,
            provider_message_id=message.provider_message_id,
            status=MessageStatus.BOUNCED,
            at=NOW + HOUR,
            detail="550 mailbox unavailable",
            hard_bounce=True,
        )
    )
    recorded = ok(await app(RecordEmailReports)(body, headers))
    assert recorded.undeliverable == ("Ada@Example.com",)
    bounced = app.store.message(message.id)
    assert bounced.status is MessageStatus.BOUNCED
    assert bounced.last_error == "550 mailbox unavailable"
    assert app.store.is_undeliverable("ada@example.com")
    assert message.recipient_id is not None
    facts = app.booking(message.recipient_id, starts=NOW + 5 * DAY)
    (later,) = (await dispatch(app, booking_event("booking_confirmed", facts))).messages
    assert later.status is MessageStatus.SUPPRESSED


async def test_a_soft_bounce_or_block_does_not_mark_the_address() -> None:
    app = world()
    message = await _sent(app)
    body, headers = app.email_events.signed(
        StatusReport(
            message_id=message.id,
            provider_message_id=None,
            status=MessageStatus.BOUNCED,
            at=NOW + HOUR,
            detail="blocked",
        )
    )
    ok(await app(RecordEmailReports)(body, headers))
    assert not app.store.is_undeliverable("ada@example.com")


async def test_a_late_report_never_moves_a_message_back() -> None:
    app = world()
    message = await _sent(app)

    def report(status: MessageStatus) -> StatusReport:
        return StatusReport(message_id=message.id, provider_message_id=None, status=status, at=NOW)

    body, headers = app.email_events.signed(report(MessageStatus.READ), report(MessageStatus.SENT))
    recorded = ok(await app(RecordEmailReports)(body, headers))
    assert len(recorded.advanced) == 1
    assert app.store.message(message.id).status is MessageStatus.READ


async def test_a_report_about_a_message_we_do_not_know_is_ignored() -> None:
    app = world()
    body, headers = app.email_events.signed(
        StatusReport(
            message_id=None,
            provider_message_id="sg-unknown",
            status=MessageStatus.DELIVERED,
            at=NOW,
            hard_bounce=True,
        )
    )
    recorded = ok(await app(RecordEmailReports)(body, headers))
    assert recorded.advanced == ()
    assert recorded.undeliverable == ()


async def test_whatsapp_statuses_advance_and_inbound_messages_open_the_window() -> None:
    app = world()
    customer = app.person()
    phone = "+4915112345678"
    app.store.tables["preferences"][customer.user_id] = ContactPreferences(
        user_id=customer.user_id, phone=phone, whatsapp_opt_in_at=NOW - DAY
    )
    facts = app.booking(customer.user_id, starts=NOW + 3 * DAY)
    await dispatch(app, booking_event("booking_confirmed", facts))
    await app.run_jobs()
    (message,) = [m for m in app.store.messages if m.channel is Channel.WHATSAPP]
    body, headers = app.whatsapp_events.signed(
        reports=[
            StatusReport(
                message_id=None,
                provider_message_id=message.provider_message_id,
                status=MessageStatus.READ,
                at=NOW + HOUR,
            )
        ],
        inbound=[(phone, NOW + 2 * HOUR)],
    )
    recorded = ok(await app(RecordWhatsAppNotice)(body, headers))
    assert recorded.windows_opened == 1
    assert app.store.message(message.id).status is MessageStatus.READ
    assert app.store.tables["windows"][phone] == NOW + 2 * HOUR
    tampered = body.replace(b"read", b"sent")
    assert failure(await app(RecordWhatsAppNotice)(tampered, headers)) == WebhookNotVerified()


async def test_the_whatsapp_subscription_handshake_echoes_only_for_our_token() -> None:
    app = world()
    confirm = app(ConfirmWhatsAppSubscription)
    assert ok(await confirm("subscribe", "verify-me", "1158201444")) == "1158201444"
    assert failure(await confirm("subscribe", "guess", "1158201444")) == WebhookNotVerified()
