"""Webhooks of the in-memory processor: a fixed test signature, and the payload it signs.

The payload carries only the event's identity (id, type, object, account, time), as the core
keeps no more: processing always asks the processor again.
"""

from __future__ import annotations

import json
from datetime import datetime

from returns.result import Failure, Result, Success

from core.payments.model import BadSignature
from core.payments.ports import ProcessorEvent, WebhookVerifier

SIGNATURE = "memory-processor-signature-v1"


def payload_of(event: ProcessorEvent) -> bytes:
    return json.dumps(
        {
            "id": event.id,
            "type": event.type,
            "object_id": event.object_id,
            "account_ref": event.account_ref,
            "created": event.created_at.isoformat(),
        }
    ).encode()


class MemoryWebhookVerifier(WebhookVerifier):
    """Accepts exactly `SIGNATURE`; the payload is parsed only after the signature verified."""

    def verify(self, payload: bytes, signature: str) -> Result[ProcessorEvent, BadSignature]:
        if signature != SIGNATURE:
            return Failure(BadSignature())
        try:
            data = json.loads(payload)
            return Success(
                ProcessorEvent(
                    id=str(data["id"]),
                    type=str(data["type"]),
                    object_id=str(data["object_id"]),
                    account_ref=data["account_ref"],
                    created_at=datetime.fromisoformat(data["created"]),
                )
            )
        except (ValueError, KeyError, TypeError):
            return Failure(BadSignature(reason="the payload is not an event"))
