"""`WhatsAppCloudEvents`: the Cloud API's webhooks, verified and read.

POSTs carry `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body keyed with the app
secret>`; the subscription's GET handshake echoes `hub.challenge` when `hub.verify_token` is
ours. Statuses (sent, delivered, read, failed) become StatusReports (our message id from
`biz_opaque_callback_data`); inbound messages open the sender's 24-hour service window.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from adapters.whatsapp.phones import E164Numbers
from core.messaging.model import MessageId, MessageStatus, StatusReport
from core.messaging.ports import WhatsAppEvents, WhatsAppNotice

SIGNATURE_HEADER = "x-hub-signature-256"
STATUSES = {
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.READ,
    "failed": MessageStatus.FAILED,
}


class WhatsAppCloudEvents(WhatsAppEvents):
    def __init__(self, app_secret: str, verify_token: str) -> None:
        if not app_secret or not verify_token:
            raise ValueError("the WhatsApp app secret and verify token must not be empty")
        self._secret = app_secret.encode()
        self._verify_token = verify_token
        self._numbers = E164Numbers()

    def handshake(self, mode: str, verify_token: str, challenge: str) -> str | None:
        ours = hmac.compare_digest(verify_token.encode(), self._verify_token.encode())
        return challenge if mode == "subscribe" and ours else None

    def verified(self, body: bytes, headers: Mapping[str, str]) -> bool:
        lowered = {name.lower(): value for name, value in headers.items()}
        scheme, _, given = lowered.get(SIGNATURE_HEADER, "").partition("=")
        if scheme != "sha256" or not given:
            return False
        expected = hmac.new(self._secret, body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected.encode(), given.strip().lower().encode())

    def notice(self, body: bytes, headers: Mapping[str, str]) -> WhatsAppNotice | None:
        if not self.verified(body, headers):
            return None
        try:
            notification = json.loads(body)
        except ValueError:
            return WhatsAppNotice()  # signed by Meta yet unreadable: nothing to record
        reports: list[StatusReport] = []
        inbound: list[tuple[str, datetime]] = []
        for value in _values(notification):
            for status in _dicts(value.get("statuses")):
                report = _report(status)
                if report is not None:
                    reports.append(report)
            for message in _dicts(value.get("messages")):
                sender = self._sender(message.get("from"))
                at = _at(message.get("timestamp"))
                if sender is not None and at is not None:
                    inbound.append((sender, at))
        return WhatsAppNotice(reports=tuple(reports), inbound=tuple(inbound))

    def _sender(self, wa_id: Any) -> str | None:
        """E.164 of a WhatsApp id (the number's digits). Meta only writes from real numbers, so
        digits libphonenumber does not know yet (a new range) are taken as they are."""
        digits = str(wa_id or "").removeprefix("+")
        if not (digits.isascii() and digits.isdigit() and 7 <= len(digits) <= 15):
            return None
        return self._numbers.to_e164("+" + digits) or "+" + digits


def _values(notification: Any) -> list[dict[str, Any]]:
    if not isinstance(notification, dict):
        return []
    if notification.get("object") != "whatsapp_business_account":
        return []
    return [
        change["value"]
        for entry in _dicts(notification.get("entry"))
        for change in _dicts(entry.get("changes"))
        if change.get("field", "messages") == "messages" and isinstance(change.get("value"), dict)
    ]


def _dicts(items: Any) -> list[dict[str, Any]]:
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _report(status: dict[str, Any]) -> StatusReport | None:
    kind = STATUSES.get(str(status.get("status")))
    at = _at(status.get("timestamp"))
    if kind is None or at is None:
        return None
    detail = None
    if kind is MessageStatus.FAILED:
        errors = _dicts(status.get("errors"))
        first = errors[0] if errors else {}
        detail = f"{first.get('code', '?')}: {first.get('title', 'failed')}"[:500]
    wamid = status.get("id")
    return StatusReport(
        message_id=_message_id(status.get("biz_opaque_callback_data")),
        provider_message_id=wamid if isinstance(wamid, str) and wamid else None,
        status=kind,
        at=at,
        detail=detail,
    )


def _message_id(value: Any) -> MessageId | None:
    try:
        return MessageId(uuid.UUID(str(value))) if value is not None else None
    except ValueError:
        return None


def _at(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
