"""The WhatsApp sender pointed at the session's fake, and messages to send."""

from __future__ import annotations

import uuid

from adapters.whatsapp import WhatsAppCloudSender
from core.messaging.model import MessageId
from core.messaging.ports import OutgoingWhatsApp, WhatsAppTemplate
from messaging_fake_support import PHONE_NUMBER_ID, WHATSAPP_TOKEN, Messaging

CUSTOMER = "+4915123456789"  # a German mobile number


def whatsapp_sender(messaging: Messaging, *, timeout: float = 10.0) -> WhatsAppCloudSender:
    return WhatsAppCloudSender(
        WHATSAPP_TOKEN, PHONE_NUMBER_ID, base_url=messaging.fake.base_url, timeout=timeout
    )


def template(to: str = CUSTOMER) -> OutgoingWhatsApp:
    return OutgoingWhatsApp(
        message_id=MessageId(uuid.uuid4()),
        to=to,
        template=WhatsAppTemplate(
            name="booking_confirmed", language="de", parameters=("Ann", "1. Dezember, 10:00")
        ),
    )


def text(to: str = CUSTOMER, body: str = "Bis morgen!") -> OutgoingWhatsApp:
    return OutgoingWhatsApp(message_id=MessageId(uuid.uuid4()), to=to, text=body)
