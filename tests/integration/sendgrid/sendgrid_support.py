"""Mails for the SendGrid tests, and the sender pointed at the session's fake."""

from __future__ import annotations

import uuid

from adapters.sendgrid import SendGridEmailSender
from core.messaging.model import MessageId
from core.messaging.ports import Attachment, OutgoingEmail, RenderedEmail
from messaging_fake_support import SENDGRID_API_KEY, Messaging

SENDER = "bookings@reserva.test"
SENDER_NAME = "Reserva"
ICS = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Reserva//EN\r\nMETHOD:REQUEST\r\n"
    b"BEGIN:VEVENT\r\nUID:booking-1@reserva.test\r\nSEQUENCE:0\r\n"
    b"DTSTAMP:20261126T120000Z\r\nDTSTART:20261201T090000Z\r\nDTEND:20261201T100000Z\r\n"
    b"SUMMARY:Yoga \xc3\xa0 Berlin\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def sender(messaging: Messaging, *, timeout: float = 10.0) -> SendGridEmailSender:
    return SendGridEmailSender(
        SENDGRID_API_KEY, SENDER, SENDER_NAME, base_url=messaging.fake.base_url, timeout=timeout
    )


def email(
    to: str = "ann@example.com",
    *,
    category: str = "booking_confirmed",
    ics: bytes | None = ICS,
    message_id: MessageId | None = None,
) -> OutgoingEmail:
    attachments: tuple[Attachment, ...] = ()
    if ics is not None:
        attachments = (
            Attachment(
                filename="booking.ics", content_type="text/calendar; method=REQUEST", data=ics
            ),
        )
    return OutgoingEmail(
        message_id=message_id or MessageId(uuid.uuid4()),
        to=to,
        rendered=RenderedEmail(
            subject="Your booking is confirmed",
            html="<p>See you on <b>1 December</b> - Grüße</p>",
            text="See you on 1 December - Grüße",
        ),
        category=category,
        attachments=attachments,
    )
