"""Stripe's webhook signatures: `Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256>` over
"<t>.<body>" with the endpoint's signing secret. The body is read only once that verified."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import stripe
from returns.result import Failure, Result, Success

from core.payments.model import BadSignature
from core.payments.ports import ProcessorEvent, WebhookVerifier

DEFAULT_TOLERANCE_SECONDS = 300


class StripeWebhookVerifier(WebhookVerifier):
    """`secret`: the endpoint's signing secret (whsec_...); `tolerance_seconds`: how old a
    signature's timestamp may be (replays of older deliveries are refused)."""

    def __init__(self, secret: str, tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS) -> None:
        if not secret.strip():
            raise ValueError("the webhook signing secret is empty")
        if tolerance_seconds <= 0:
            raise ValueError("the timestamp tolerance must be positive")  # 0 turns it off
        self._secret = secret
        self._tolerance = tolerance_seconds

    def verify(self, payload: bytes, signature: str) -> Result[ProcessorEvent, BadSignature]:
        if not signature:
            return Failure(BadSignature("no Stripe-Signature header"))
        try:
            body = payload.decode("utf-8")
            stripe.WebhookSignature.verify_header(body, signature, self._secret, self._tolerance)
        except UnicodeDecodeError:
            return Failure(BadSignature("the body is not UTF-8"))
        except stripe.SignatureVerificationError as error:
            return Failure(BadSignature(error.user_message or "signature does not verify"))
        event = _event(body)
        if event is None:
            return Failure(BadSignature("the body is not a Stripe event"))
        return Success(event)


def _event(body: str) -> ProcessorEvent | None:
    try:
        data: Any = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    inner = data.get("data")
    obj = inner.get("object") if isinstance(inner, dict) else None
    id, type, created, account = (data.get(k) for k in ("id", "type", "created", "account"))
    if not (isinstance(id, str) and isinstance(type, str) and isinstance(obj, dict)):
        return None
    if not isinstance(created, int) or not isinstance(account, str | None):
        return None
    object_id = obj.get("id")
    return ProcessorEvent(
        id=id,
        type=type,
        object_id=object_id if isinstance(object_id, str) else "",  # a balance has no id
        account_ref=account,
        created_at=datetime.fromtimestamp(created, UTC),
    )
