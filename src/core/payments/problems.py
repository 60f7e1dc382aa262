"""How the payments context's failures look to a caller (see core.shared.problems)."""

from __future__ import annotations

from core.payments.model import (
    BadSignature,
    CardNotCharged,
    NothingToPay,
    NotPayable,
    PaymentBlocked,
    ProviderCannotTakePayments,
    RefundExceedsRefundable,
    RefundNotFailed,
    ReviewNotPending,
)
from core.payments.offering_terms import TermsChangedMeanwhile
from core.payments.refunds import GoodwillCapExceeded
from core.shared.problems import ProblemKind, ProblemTable

PROBLEMS: ProblemTable = {
    NothingToPay: ProblemKind(status=409, slug="nothing-to-pay", title="Nothing to pay"),
    NotPayable: ProblemKind(status=409, slug="not-payable", title="Not payable"),
    ProviderCannotTakePayments: ProblemKind(
        status=409, slug="provider-cannot-take-payments", title="Provider cannot take payments"
    ),
    PaymentBlocked: ProblemKind(status=403, slug="payment-blocked", title="Payment blocked"),
    RefundExceedsRefundable: ProblemKind(
        status=422, slug="refund-exceeds-refundable", title="Refund exceeds what is refundable"
    ),
    GoodwillCapExceeded: ProblemKind(
        status=422, slug="goodwill-cap-exceeded", title="Goodwill cap exceeded"
    ),
    RefundNotFailed: ProblemKind(status=409, slug="refund-not-failed", title="Refund not failed"),
    ReviewNotPending: ProblemKind(
        status=409, slug="review-not-pending", title="Review not pending"
    ),
    BadSignature: ProblemKind(status=400, slug="bad-signature", title="Bad webhook signature"),
    CardNotCharged: ProblemKind(status=402, slug="card-not-charged", title="Card not charged"),
    TermsChangedMeanwhile: ProblemKind(
        status=409, slug="terms-changed-meanwhile", title="Terms changed meanwhile"
    ),
}
