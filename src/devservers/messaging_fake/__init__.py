"""A local stand-in for SendGrid's v3 API and the WhatsApp Cloud API, in one child process.

`LocalMessaging(port).start()`; its `control` lists what was sent, injects failures and fires
signed webhooks (SendGrid's ECDSA Event Webhook, WhatsApp's X-Hub-Signature-256).
"""

from devservers.messaging_fake.controller import (
    Fired,
    LocalMessaging,
    MessagingControl,
    MessagingControlError,
    SentAttachment,
    SentMail,
)

__all__ = [
    "Fired",
    "LocalMessaging",
    "MessagingControl",
    "MessagingControlError",
    "SentAttachment",
    "SentMail",
]
