"""Every PaymentIntent and Refund status Stripe documents, as the core's statuses (some never
happen on the fake: processing, requires_capture, a refund that requires action)."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from adapters.stripe.gateway import _intent_view, _refund_view
from core.payments.model import PaymentStatus, RefundStatus

DECLINE = {"code": "card_declined", "decline_code": "generic_decline", "message": "Declined."}


def intent(status: str, **fields: Any) -> stripe.PaymentIntent:
    values = {
        "id": "pi_1",
        "object": "payment_intent",
        "status": status,
        "amount_received": 0,
        "client_secret": "pi_1_secret_x",
        "last_payment_error": None,
        "latest_charge": None,
        "payment_method": None,
        **fields,
    }
    return stripe.PaymentIntent.construct_from(values, "sk_test_x")


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        ("requires_payment_method", None, PaymentStatus.CREATED),
        ("requires_payment_method", DECLINE, PaymentStatus.FAILED),
        ("requires_confirmation", None, PaymentStatus.CREATED),
        ("requires_action", None, PaymentStatus.REQUIRES_ACTION),
        ("processing", None, PaymentStatus.PROCESSING),
        ("requires_capture", None, PaymentStatus.PROCESSING),
        ("succeeded", None, PaymentStatus.SUCCEEDED),
        ("canceled", None, PaymentStatus.CANCELLED),
    ],
)
def test_payment_intent_statuses(
    status: str, error: dict[str, str] | None, expected: PaymentStatus
) -> None:
    view = _intent_view(intent(status, last_payment_error=error))

    assert view.status is expected
    assert view.failure == ("Declined." if error else None)


def test_an_unknown_intent_status_is_an_error_not_a_guess() -> None:
    with pytest.raises(ValueError, match="teleported"):
        _intent_view(intent("teleported"))


def test_a_charge_not_expanded_gives_only_what_the_intent_says() -> None:
    view = _intent_view(intent("succeeded", latest_charge="ch_1", payment_method="pm_1"))

    assert (view.charge_id, view.fee_minor, view.risk) == (None, None, None)
    assert view.payment_method_id == "pm_1"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("succeeded", RefundStatus.SUCCEEDED),
        ("pending", RefundStatus.PENDING),
        ("requires_action", RefundStatus.PENDING),
        ("failed", RefundStatus.FAILED),
        ("canceled", RefundStatus.FAILED),
    ],
)
def test_refund_statuses(status: str, expected: RefundStatus) -> None:
    refund = stripe.Refund.construct_from(
        {"id": "re_1", "object": "refund", "status": status, "failure_reason": None}, "sk_test_x"
    )

    view = _refund_view(refund)

    assert view.status is expected
    assert (view.failure is not None) is (expected is RefundStatus.FAILED)
