"""Admins and money: payments in review, goodwill refunds, failed refunds, the books.

Admins only, in a session with a second factor (aal2). Every action that moves money or
changes its state is in the audit log, with the admin as actor.
"""

from __future__ import annotations

import uuid
from datetime import date
from functools import partial
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import (
    FromPath,
    FromQuery,
    HeaderParameter,
    JSONBody,
    QueryParameter,
    SkipValidation,
)

from core.payments import (
    ExportLedger,
    GoodwillRefund,
    LedgerBalances,
    ListPaymentsInReview,
    ListRefunds,
    PaymentId,
    Reconcile,
    RefundId,
    RefundStatus,
    ResolveRefund,
    RetryRefund,
    ReviewPayment,
)
from core.shared.idempotency import IdempotencyStore
from core.shared.ids import ProviderId
from core.shared.principal import Principal
from entrypoints.http.auth import SECURITY
from entrypoints.http.dto import AwareDatetime, calendar_day, time_window
from entrypoints.http.idempotency import HEADER, idempotent
from entrypoints.http.payments_dto import (
    BalanceOut,
    BalancesOut,
    GoodwillIn,
    LedgerOut,
    LedgerTransactionOut,
    ReconciliationOut,
    RefundOut,
    RefundsOut,
    ResolveIn,
    ReviewIn,
    ReviewItemOut,
)
from entrypoints.http.problems import SIGNED_IN_PROBLEMS, ok

ADMINS = "Who may call: admins, in a session with a second factor (aal2)."

# A goodwill refund is requested once per key: the key names the refund (a retry with it, even
# after a crash, refunds nothing more), and is kept apart from the platform's own request keys.
RequestKey = Annotated[
    str,
    HeaderParameter(
        name=HEADER,
        min_length=1,
        max_length=200,
        description="Required: names this refund request. The same key refunds once; the "
        "same key and body replay the first answer.",
    ),
]

_read = partial(get, tags=["payments admin"], security=SECURITY, responses=SIGNED_IN_PROBLEMS)
_act = partial(
    post,
    tags=["payments admin"],
    security=SECURITY,
    responses=SIGNED_IN_PROBLEMS,
    status_code=200,
)


class ReviewedOut(ReviewItemOut, frozen=True):
    refund: RefundOut | None  # a rejection's full refund


@_read(
    "/admin/payments/review",
    summary="Payments waiting for review",
    description=f"{ADMINS} Sent to review by a fraud rule or the processor's risk rating, "
    "each with the reason.",
)
async def payments_in_review(
    principal: NamedDependency[Principal],
    list_payments_in_review: NamedDependency[ListPaymentsInReview],
    limit: Annotated[int, QueryParameter(ge=1, le=100)] = 50,
) -> list[ReviewItemOut]:
    found = ok(await list_payments_in_review(principal, limit))
    return [ReviewItemOut.of(payment) for payment in found]


@_act(
    "/admin/payments/{payment_id:str}/review",
    summary="Approve or reject a payment in review",
    description=f"{ADMINS} Rejecting cancels the booking (as the provider) and refunds the "
    "payment in full.",
)
async def review(
    payment_id: FromPath[uuid.UUID],
    data: JSONBody[ReviewIn],
    principal: NamedDependency[Principal],
    review_payment: NamedDependency[ReviewPayment],
) -> ReviewedOut:
    done = ok(await review_payment(principal, PaymentId(payment_id), data.approve, data.note))
    item = ReviewItemOut.of(done.payment)
    return ReviewedOut(
        payment=item.payment,
        customer_id=item.customer_id,
        reason=item.reason,
        risk=item.risk,
        refund=None if done.refund is None else RefundOut.of(done.refund),
    )


@post(
    "/admin/payments/{payment_id:str}/refunds",
    summary="Refund a payment as goodwill",
    description=f"{ADMINS} On top of the cancellation policy, paid by the platform (the "
    "provider keeps its share), capped per payment. The Idempotency-Key header is required "
    "and names the request: the same key never refunds twice.",
    tags=["payments admin"],
    security=SECURITY,
    responses=SIGNED_IN_PROBLEMS,
    status_code=201,
)
async def goodwill(
    request: Request[Principal, Any, Any],
    payment_id: FromPath[uuid.UUID],
    data: JSONBody[GoodwillIn],
    principal: NamedDependency[Principal],
    goodwill_refund: NamedDependency[GoodwillRefund],
    idempotency: NamedDependency[SkipValidation[IdempotencyStore]],  # a Protocol: no isinstance
    idempotency_key: RequestKey,
) -> Response[RefundOut]:
    async def run() -> RefundOut:
        amount = ok(data.amount())
        refunded = await goodwill_refund(
            principal, PaymentId(payment_id), amount, idempotency_key, data.note
        )
        return RefundOut.of(ok(refunded))

    return await idempotent(
        store=idempotency,
        key=idempotency_key,
        principal=principal,
        request=request,
        body=data,
        run=run,
        status=201,
    )


@_read(
    "/admin/refunds",
    summary="Refunds, newest first",
    description=f"{ADMINS} `status=failed` is the list to work through: retry each, or "
    "resolve it by hand once the money reached the customer another way.",
)
async def refunds(
    principal: NamedDependency[Principal],
    list_refunds: NamedDependency[ListRefunds],
    status: FromQuery[RefundStatus | None] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=100)] = 50,
) -> RefundsOut:
    found = ok(await list_refunds(principal, status, limit))
    return RefundsOut(items=[RefundOut.of(refund) for refund in found])


@_act(
    "/admin/refunds/{refund_id:str}/retry",
    summary="Retry a failed refund",
    description=f"{ADMINS} A new attempt at the processor, with a key of its own.",
)
async def retry(
    refund_id: FromPath[uuid.UUID],
    principal: NamedDependency[Principal],
    retry_refund: NamedDependency[RetryRefund],
) -> RefundOut:
    return RefundOut.of(ok(await retry_refund(principal, RefundId(refund_id))))


@_act(
    "/admin/refunds/{refund_id:str}/resolve",
    summary="Resolve a failed refund by hand",
    description=f"{ADMINS} The money reached the customer outside the processor (a bank "
    "transfer); booked as paid by the platform.",
)
async def resolve(
    refund_id: FromPath[uuid.UUID],
    data: JSONBody[ResolveIn],
    principal: NamedDependency[Principal],
    resolve_refund: NamedDependency[ResolveRefund],
) -> RefundOut:
    return RefundOut.of(ok(await resolve_refund(principal, RefundId(refund_id), data.note)))


# ---------------------------------------------------------------- the books


@_read(
    "/admin/ledger/balances",
    summary="Ledger balances per account",
    description=f"{ADMINS} Signed: what each account gained (+) or gave (-); they sum to zero "
    "per currency. `provider_id` narrows to that provider's accounts.",
)
async def ledger_balances(
    principal: NamedDependency[Principal],
    ledger_balances: NamedDependency[LedgerBalances],
    provider_id: FromQuery[uuid.UUID | None] = None,
) -> BalancesOut:
    provider = None if provider_id is None else ProviderId(provider_id)
    found = ok(await ledger_balances(principal, provider))
    return BalancesOut(items=[BalanceOut.of(balance) for balance in found])


@_read(
    "/admin/ledger",
    summary="Ledger transactions in a period",
    description=f"{ADMINS} Every transaction posted in [since, until), oldest first, with "
    "its balanced entries.",
)
async def ledger(
    principal: NamedDependency[Principal],
    export_ledger: NamedDependency[ExportLedger],
    since: FromQuery[AwareDatetime],
    until: FromQuery[AwareDatetime],
) -> LedgerOut:
    window = ok(time_window(since, until, ("since", "until")))
    found = ok(await export_ledger(principal, window.start, window.end))
    return LedgerOut(items=[LedgerTransactionOut.of(txn) for txn in found])


@_read(
    "/admin/reconciliation",
    summary="Reconcile a day with the processor",
    description=f"{ADMINS} The processor's balance transactions of the UTC day against the "
    "ledger: charges, fees and refunds; every difference listed.",
)
async def reconciliation(
    principal: NamedDependency[Principal],
    reconcile: NamedDependency[Reconcile],
    day: FromQuery[date],
) -> ReconciliationOut:
    return ReconciliationOut.of(ok(await reconcile(principal, ok(calendar_day("day", day)))))


ROUTES = [
    payments_in_review,
    review,
    goodwill,
    refunds,
    retry,
    resolve,
    ledger_balances,
    ledger,
    reconciliation,
]
