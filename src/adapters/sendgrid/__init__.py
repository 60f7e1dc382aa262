"""SendGrid adapter: the EmailSender (v3 mail send, Email Activity) and the EmailEvents
(signed Event Webhook) on the official `sendgrid` SDK."""

from adapters.sendgrid.events import SendGridEmailEvents
from adapters.sendgrid.sender import (
    MESSAGE_ID_ARG,
    SENDGRID_API_BASE,
    SendGridEmailSender,
    x_message_id,
)

__all__ = [
    "MESSAGE_ID_ARG",
    "SENDGRID_API_BASE",
    "SendGridEmailEvents",
    "SendGridEmailSender",
    "x_message_id",
]
