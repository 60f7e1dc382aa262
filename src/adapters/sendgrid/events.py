"""`SendGridEmailEvents`: SendGrid's signed Event Webhook, verified and read.

SendGrid signs each POST with ECDSA (P-256, SHA-256) over the timestamp header followed by the
raw body; the SDK's `EventWebhook` verifies it with the account's public key (base64 DER, as
the settings page shows it). A timestamp further than `tolerance` from now is refused too, so a
captured request cannot be replayed later.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sendgrid.helpers.eventwebhook import EventWebhook

from adapters.sendgrid.sender import MESSAGE_ID_ARG, x_message_id
from core.messaging.model import MessageId, MessageStatus, StatusReport
from core.messaging.ports import EmailEvents

SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"
STATUSES = {
    "processed": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "open": MessageStatus.READ,
    "bounce": MessageStatus.BOUNCED,
    "dropped": MessageStatus.DROPPED,
    "spamreport": MessageStatus.SPAM_REPORTED,
    "unsubscribe": MessageStatus.UNSUBSCRIBED,
    "group_unsubscribe": MessageStatus.UNSUBSCRIBED,
}  # deferred, click, group_resubscribe: nothing a message's status records


class SendGridEmailEvents(EmailEvents):
    def __init__(self, public_key: str, *, tolerance: timedelta = timedelta(seconds=300)) -> None:
        """`public_key`: the Event Webhook's verification key (base64 DER); a bad one raises
        ValueError here, at start-up, not at the first webhook."""
        self._webhook = EventWebhook()
        self._key = self._webhook.convert_public_key_to_ecdsa(public_key.strip())
        self._tolerance = tolerance

    def reports(
        self, body: bytes, headers: Mapping[str, str], now: datetime
    ) -> Sequence[StatusReport] | None:
        if not self.verified(body, headers, now):
            return None
        try:
            events = json.loads(body)
        except ValueError:
            return []  # signed by SendGrid yet unreadable: nothing to record
        if not isinstance(events, list):
            return []
        reports = (_report(event, now) for event in events if isinstance(event, dict))
        return [report for report in reports if report is not None]

    def verified(self, body: bytes, headers: Mapping[str, str], now: datetime) -> bool:
        lowered = {name.lower(): value for name, value in headers.items()}
        signature = lowered.get(SIGNATURE_HEADER, "")
        timestamp = lowered.get(TIMESTAMP_HEADER, "")
        if not signature or not (timestamp.isascii() and timestamp.isdigit()):
            return False
        if abs(now.timestamp() - int(timestamp)) > self._tolerance.total_seconds():
            return False
        try:
            payload = body.decode("utf-8")
            return bool(self._webhook.verify_signature(payload, signature, timestamp, self._key))
        except (ValueError, TypeError):  # not UTF-8, not base64, not a DER signature
            return False


def _report(event: dict[str, Any], now: datetime) -> StatusReport | None:
    status = STATUSES.get(str(event.get("event")))
    if status is None:
        return None
    sg_message_id = event.get("sg_message_id")
    hard_bounce = status is MessageStatus.BOUNCED and event.get("type") == "bounce"
    detail = None
    if status is MessageStatus.BOUNCED:
        detail = f"{event.get('type', 'bounce')}: {event.get('reason', '')}".strip()
    elif status is MessageStatus.DROPPED:
        detail = str(event.get("reason") or "dropped")
    return StatusReport(
        message_id=_message_id(event.get(MESSAGE_ID_ARG)),
        provider_message_id=x_message_id(sg_message_id) if isinstance(sg_message_id, str) else None,
        status=status,
        at=_at(event.get("timestamp"), now),
        detail=detail[:500] if detail else None,
        hard_bounce=hard_bounce,
    )


def _message_id(value: Any) -> MessageId | None:
    try:
        return MessageId(uuid.UUID(str(value))) if value is not None else None
    except ValueError:
        return None


def _at(value: Any, now: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return now
