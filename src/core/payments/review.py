"""Payments our fraud rules (or the processor's risk rating) sent to review: an admin approves
them, or rejects them, which cancels the booking and refunds the customer in full."""

from __future__ import annotations

from collections.abc import Sequence

import attrs
from returns.result import Failure, Result, Success

from core.payments.model import (
    Payment,
    PaymentId,
    Refund,
    RefundReason,
    ReviewNotPending,
    ReviewState,
)
from core.payments.ports import PaymentsUnitOfWork
from core.payments.refunds import REVIEW_REJECTED_KEY, Opened, RefundDesk, refund_in_full
from core.payments.service import PaymentsUseCase
from core.payments.steps import audit, cancel_unstarted_balances, save_payment
from core.shared.errors import DomainError, InvalidInput, NotFound
from core.shared.principal import Principal, require_admin
from core.shared.text import clean_text
from core.shared.unit_of_work import Access

MAX_LIST = 200


@attrs.frozen(kw_only=True)
class Reviewed:
    payment: Payment
    refund: Refund | None  # a rejection's refund (None when nothing was left to refund)


class ListPaymentsInReview(PaymentsUseCase):
    async def __call__(
        self, caller: Principal, limit: int = 50
    ) -> Result[Sequence[Payment], DomainError]:
        admin = require_admin(caller)
        if isinstance(admin, Failure):
            return admin
        if not 1 <= limit <= MAX_LIST:
            return Failure(InvalidInput(field="limit", reason=f"1 to {MAX_LIST}"))
        async with self.uow(Access.of(caller)) as uow:
            return Success(await uow.payments.in_review(limit))


class ReviewPayment(PaymentsUseCase):
    async def __call__(
        self, caller: Principal, payment_id: PaymentId, approve: bool, note: str
    ) -> Result[Reviewed, DomainError]:
        admin = require_admin(caller)
        if isinstance(admin, Failure):
            return admin
        text = clean_text("note", note, 500, required=False)
        if isinstance(text, Failure):
            return text
        async with self.uow(Access.of(caller)) as uow:
            pending = await _pending(uow, payment_id)
        if isinstance(pending, Failure):
            return pending
        if not approve:
            # Whatever the booking's state (cancelled already, even completed), the money
            # of a rejected payment goes back: the cancellation's answer does not matter.
            await self.bookings.cancel(caller, pending.unwrap().booking_id)
        return await self._decide(caller, payment_id, approve, text.unwrap())

    async def _decide(
        self, caller: Principal, payment_id: PaymentId, approve: bool, note: str
    ) -> Result[Reviewed, DomainError]:
        now = self.clock.now()
        desk = RefundDesk.of(self)
        async with self.uow(Access.of(caller)) as uow:
            pending = await _pending(uow, payment_id)  # decided by another admin meanwhile?
            if isinstance(pending, Failure):
                return pending
            state = ReviewState.APPROVED if approve else ReviewState.REJECTED
            saved = await save_payment(
                uow, attrs.evolve(pending.unwrap(), review=state, updated_at=now)
            )
            if saved is None:
                return Failure(ReviewNotPending())
            await audit(
                uow, "payment.reviewed", now, caller.user_id, saved, decision=state.value, note=note
            )
            opened = None if approve else await self._reject(desk, uow, saved)
            await uow.commit()
        refund = None if opened is None else await desk.submit(opened.refund)
        return Success(Reviewed(payment=saved, refund=refund))

    async def _reject(
        self, desk: RefundDesk, uow: PaymentsUnitOfWork, payment: Payment
    ) -> Opened | None:
        await cancel_unstarted_balances(uow, payment.booking_id, self.clock.now())
        opened = await refund_in_full(
            desk, uow, payment, RefundReason.REVIEW_REJECTED, REVIEW_REJECTED_KEY
        )
        return opened.unwrap()  # up to what is left, with a fixed key: cannot fail


async def _pending(uow: PaymentsUnitOfWork, payment_id: PaymentId) -> Result[Payment, DomainError]:
    payment = await uow.payments.get(payment_id)
    if payment is None:
        return Failure(NotFound(kind="payment", id=str(payment_id)))
    if payment.review is not ReviewState.PENDING:
        return Failure(ReviewNotPending())
    return Success(payment)
