"""Refunds: one desk every refund goes through, and the use cases that ask for them.

Money leaves only this way: the refund is stored and its amount reserved on the payment
(`reserve_refund`, atomic) in a committed transaction before the processor hears of it, then
sent with a key derived from the refund and its attempt, so a retry after a crash reuses the
key and the processor acts once. What the processor answers is recorded: a success posts the
refund to the ledger, a failure releases the reservation and waits for an admin.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import attrs
from returns.result import Failure, Result, Success

from core.payments import ledger
from core.payments.amounts import is_chargeable, portion
from core.payments.model import (
    Payment,
    PaymentId,
    PaymentStatus,
    Refund,
    RefundExceedsRefundable,
    RefundId,
    RefundNotFailed,
    RefundReason,
    RefundStatus,
    RefundView,
)
from core.payments.ports import (
    PayableBooking,
    PaymentGateway,
    PaymentsUnitOfWork,
    RefundRequest,
)
from core.payments.service import PaymentsUseCase
from core.payments.steps import cancel_unstarted_balances, lineage, payments_of
from core.payments.terms import Canceller
from core.shared.errors import DomainError, InvalidInput, NotFound
from core.shared.idempotency import IdempotencyKeyReused
from core.shared.ids import BookingId, UserId, new_id
from core.shared.money import Money
from core.shared.principal import Principal, require_admin
from core.shared.text import clean_text
from core.shared.time import Clock
from core.shared.unit_of_work import MAINTENANCE, Access, UnitOfWorkFactory

CANCELLATION_KEY = "cancellation"
SLOT_LOST_KEY = "slot-lost"
REVIEW_REJECTED_KEY = "review-rejected"
MAX_LIST = 200


@attrs.frozen
class GoodwillCapExceeded(DomainError):
    """Goodwill on top of the policy is capped per payment (PaymentSettings)."""

    cap: Money
    given: Money

    @property
    def detail(self) -> str:
        return (
            f"goodwill refunds of this payment are capped at {self.cap.display()}; "
            f"{self.given.display()} was given already"
        )


@attrs.frozen(kw_only=True)
class RefundAsk:
    """A request for a refund. `up_to_refundable`: take what is left when less is (policy
    refunds); otherwise asking for more than is left is an error (an admin's amount)."""

    amount: Money
    reason: RefundReason
    request_key: str
    by: UserId | None
    note: str | None = None
    up_to_refundable: bool = False


@attrs.frozen(kw_only=True)
class Opened:
    refund: Refund
    new: bool  # False: the same request was made before, and this is its refund


@attrs.frozen(kw_only=True)
class RefundDesk:
    uow: UnitOfWorkFactory[PaymentsUnitOfWork]
    gateway: PaymentGateway
    clock: Clock

    @classmethod
    def of(cls, case: PaymentsUseCase) -> RefundDesk:
        return cls(uow=case.uow, gateway=case.gateway, clock=case.clock)

    async def open(
        self, uow: PaymentsUnitOfWork, payment_id: PaymentId, ask: RefundAsk
    ) -> Result[Opened | None, DomainError]:
        """In the caller's transaction (it commits): the refund stored with its amount
        reserved, the refund this same request made before, or None when nothing is left."""
        earlier = await uow.refunds.by_request(payment_id, ask.request_key)
        if earlier is not None:
            return _same_request(earlier, ask)
        reserved = await self._reserve(uow, payment_id, ask)
        if isinstance(reserved, Failure):
            return reserved
        taken = reserved.unwrap()
        if taken is None:
            return Success(None)
        payment, amount = taken
        refund = self._new(payment, amount, ask)
        if not await uow.refunds.add(refund):  # the same request won a race meanwhile
            await uow.payments.release_refund(payment_id, amount)
            return await self.open(uow, payment_id, ask)
        await _requested(uow, payment, refund, self.clock.now())
        return Success(Opened(refund=refund, new=True))

    async def _reserve(
        self, uow: PaymentsUnitOfWork, payment_id: PaymentId, ask: RefundAsk
    ) -> Result[tuple[Payment, Money] | None, DomainError]:
        """Reserve the amount (or what is left, for policy refunds). Read, then reserve:
        the reservation is the guard, so a concurrent refund between the two only makes
        this one try again with what is left then."""
        for _ in range(3):
            payment = await uow.payments.get(payment_id)
            if payment is None:
                return Failure(NotFound(kind="payment", id=str(payment_id)))
            amount = min(ask.amount, payment.refundable) if ask.up_to_refundable else ask.amount
            if amount.minor <= 0:
                return Success(None)
            if await uow.payments.reserve_refund(payment_id, amount):
                return Success((payment, amount))
            if not ask.up_to_refundable:
                break
        latest = await uow.payments.get(payment_id)
        assert latest is not None
        return Failure(RefundExceedsRefundable(requested=ask.amount, refundable=latest.refundable))

    def _new(self, payment: Payment, amount: Money, ask: RefundAsk) -> Refund:
        now = self.clock.now()
        return Refund(
            id=RefundId(new_id()),
            payment_id=payment.id,
            amount=amount,
            reason=ask.reason,
            request_key=ask.request_key,
            requested_by=ask.by,
            note=ask.note,
            created_at=now,
            updated_at=now,
        )

    async def submit(self, refund: Refund) -> Refund:
        """Send a REQUESTED refund to the processor with its attempt's key (again, after a
        crash: the processor answers the same refund) and record the answer."""
        if refund.status is not RefundStatus.REQUESTED:
            return refund
        async with self.uow(MAINTENANCE) as uow:
            payment = await uow.payments.get(refund.payment_id)
        if payment is None or payment.intent_id is None:
            raise LookupError(f"refund {refund.id} of a payment that was never charged")
        view = await self.gateway.refund(
            RefundRequest(
                idempotency_key=refund.processor_key,
                intent_id=payment.intent_id,
                amount=refund.amount,
                reverse_transfer=not refund.platform_funded,
                metadata={"refund_id": str(refund.id), "payment_id": str(payment.id)},
            )
        )
        return await self.record(refund.id, view)

    async def recheck(self, refund: Refund) -> Refund:
        """Ask the processor again about a refund it accepted (PENDING)."""
        if refund.processor_refund_id is None:
            return refund
        return await self.record(
            refund.id, await self.gateway.refund_view(refund.processor_refund_id)
        )

    async def sync(self, processor_ref: str) -> None:
        """A processor event about a refund, or about a payment's refunds: re-read them."""
        async with self.uow(MAINTENANCE) as uow:
            refund = await uow.refunds.for_processor(processor_ref)
            payment = None if refund else await uow.payments.for_intent(processor_ref)
        if refund is not None:
            await self.recheck(refund)
        elif payment is not None and payment.intent_id is not None:
            for view in await self.gateway.refunds_of(payment.intent_id):
                await self._record_view(view)

    async def _record_view(self, view: RefundView) -> None:
        async with self.uow(MAINTENANCE) as uow:
            refund = await uow.refunds.for_processor(view.refund_id)
        if refund is not None:
            await self.record(refund.id, view)

    async def record(self, refund_id: RefundId, view: RefundView) -> Refund:
        """What the processor says, saved once (a lost race re-reads); a success posts the
        ledger, a failure releases the reserved amount."""
        for _ in range(2):
            async with self.uow(MAINTENANCE) as uow:
                refund = await uow.refunds.get(refund_id)
                assert refund is not None
                after = refund.observe(view, self.clock.now())
                if _unmoved(refund, after):
                    return refund
                if not await uow.refunds.save(after, refund.status, refund.attempt):
                    continue
                await self._consequences(uow, after)
                await uow.commit()
                return after
        async with self.uow(MAINTENANCE) as uow:
            latest = await uow.refunds.get(refund_id)
        assert latest is not None
        return latest

    async def _consequences(self, uow: PaymentsUnitOfWork, refund: Refund) -> None:
        payment = await uow.payments.get(refund.payment_id)
        assert payment is not None
        now = self.clock.now()
        if refund.status is RefundStatus.SUCCEEDED:
            await uow.ledger.post(ledger.refund(payment, refund, now))
            await _announce(uow, "refund_succeeded", "refund.succeeded", payment, refund, now)
        elif refund.status is RefundStatus.FAILED:
            await uow.payments.release_refund(payment.id, refund.amount)
            await _announce(uow, "refund_failed", "refund.failed", payment, refund, now)


def _unmoved(before: Refund, after: Refund) -> bool:
    """Nothing new, or a view trying to revive a failed attempt (the processor never does:
    a retry is a new attempt with a key of its own)."""
    if before.status is RefundStatus.FAILED:
        return True
    return (after.status, after.processor_refund_id, after.failure) == (
        before.status,
        before.processor_refund_id,
        before.failure,
    )


def _same_request(earlier: Refund, ask: RefundAsk) -> Result[Opened | None, DomainError]:
    """The same request key answers the same refund; used for another one, it is a bug."""
    if earlier.reason is not ask.reason or (
        not ask.up_to_refundable and earlier.amount != ask.amount
    ):
        return Failure(IdempotencyKeyReused())
    return Success(Opened(refund=earlier, new=False))


async def _requested(
    uow: PaymentsUnitOfWork, payment: Payment, refund: Refund, at: datetime
) -> None:
    await uow.outbox.add(refund.event("refund_requested", payment, at))
    await uow.audit.append(
        "refund.requested", at, refund.requested_by, payment.customer_id, _details(refund)
    )


async def _announce(
    uow: PaymentsUnitOfWork, event: str, action: str, payment: Payment, refund: Refund, at: datetime
) -> None:
    await uow.outbox.add(refund.event(event, payment, at))
    await uow.audit.append(action, at, refund.resolved_by, payment.customer_id, _details(refund))


def _details(refund: Refund) -> dict[str, str | int | None]:
    return {
        "refund_id": str(refund.id),
        "payment_id": str(refund.payment_id),
        "amount_minor": refund.amount.minor,
        "currency": refund.amount.currency.code,
        "reason": refund.reason.value,
        "attempt": refund.attempt,
        "processor_refund_id": refund.processor_refund_id,
        "failure": refund.failure,
    }


async def refund_in_full(
    desk: RefundDesk, uow: PaymentsUnitOfWork, payment: Payment, reason: RefundReason, key: str
) -> Result[Opened | None, DomainError]:
    """Everything the payment has left to refund (slot lost, review rejected)."""
    ask = RefundAsk(
        amount=payment.captured, reason=reason, request_key=key, by=None, up_to_refundable=True
    )
    return await desk.open(uow, payment.id, ask)


# --- cancellations --------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Cancellation:
    booking: PayableBooking
    refunds: tuple[Refund, ...]


async def refund_cancellation(
    case: PaymentsUseCase, booking: PayableBooking, by: UserId | None
) -> tuple[Opened, ...]:
    """Refund every succeeded payment of a cancelled booking by the policy snapshot it
    kept; a balance not charged yet is dropped. Safe to repeat: the request key is fixed."""
    desk = RefundDesk.of(case)
    ids = await lineage(case.bookings, booking)
    async with case.uow(MAINTENANCE) as uow:
        opened = [
            await _cancellation_refund(desk, uow, p, booking, by)
            for p in await payments_of(uow, ids)
        ]
        await cancel_unstarted_balances(uow, booking.id, case.clock.now())
        await uow.commit()
    return tuple(
        [attrs.evolve(o, refund=await desk.submit(o.refund)) for o in opened if o is not None]
    )


async def _cancellation_refund(
    desk: RefundDesk,
    uow: PaymentsUnitOfWork,
    payment: Payment,
    booking: PayableBooking,
    by: UserId | None,
) -> Opened | None:
    if payment.status is not PaymentStatus.SUCCEEDED:
        return None
    owed = payment.terms.policy.refund_for(
        payment.captured,
        booking.starts_at,
        booking.cancelled_at or desk.clock.now(),
        booking.cancelled_by or Canceller.CUSTOMER,
    )
    ask = RefundAsk(
        amount=owed,
        reason=RefundReason.CANCELLATION,
        request_key=CANCELLATION_KEY,
        by=by,
        up_to_refundable=True,
    )
    opened = await desk.open(uow, payment.id, ask)
    # Up to what is left, a policy refund cannot exceed it; a reused key is not possible
    # with a fixed key and reason. Either would be a bug: fail loudly.
    return opened.unwrap()


class CancelWithRefund(PaymentsUseCase):
    """Cancel through the bookings context (its checks, its errors), then refund."""

    async def __call__(
        self, caller: Principal, booking_id: BookingId
    ) -> Result[Cancellation, DomainError]:
        cancelled = await self.bookings.cancel(caller, booking_id)
        if isinstance(cancelled, Failure):
            return cancelled
        booking = cancelled.unwrap()
        opened = await refund_cancellation(self, booking, by=caller.user_id)
        return Success(Cancellation(booking=booking, refunds=tuple(o.refund for o in opened)))


# --- admins' refunds ------------------------------------------------------------------------


class GoodwillRefund(PaymentsUseCase):
    """An admin's refund on top of the policy, paid by the platform, capped per payment."""

    async def __call__(
        self, caller: Principal, payment_id: PaymentId, amount: Money, request_key: str, note: str
    ) -> Result[Refund, DomainError]:
        admin = require_admin(caller)
        if isinstance(admin, Failure):
            return admin
        ask = _goodwill_ask(caller, amount, request_key, note)
        if isinstance(ask, Failure):
            return ask
        desk = RefundDesk.of(self)
        async with self.uow(Access.of(caller)) as uow:
            opened = await self._open(desk, uow, payment_id, ask.unwrap())
            if isinstance(opened, Failure):
                return opened  # leaving without commit drops the reservation too
            await uow.commit()
        return Success(await desk.submit(opened.unwrap().refund))

    async def _open(
        self, desk: RefundDesk, uow: PaymentsUnitOfWork, payment_id: PaymentId, ask: RefundAsk
    ) -> Result[Opened, DomainError]:
        payment = await uow.payments.get(payment_id)
        if payment is None:
            return Failure(NotFound(kind="payment", id=str(payment_id)))
        if payment.amount.currency != ask.amount.currency:
            return Failure(InvalidInput(field="amount", reason="not the payment's currency"))
        opened = await desk.open(uow, payment_id, ask)
        if isinstance(opened, Failure):
            return opened
        found = opened.unwrap()
        if found is None:
            return Failure(
                RefundExceedsRefundable(requested=ask.amount, refundable=payment.refundable)
            )
        if found.new:  # checked after reserving: the reservation locks the payment first
            capped = await self._within_cap(uow, payment, found.refund)
            if isinstance(capped, Failure):
                return capped
        return Success(found)

    async def _within_cap(
        self, uow: PaymentsUnitOfWork, payment: Payment, refund: Refund
    ) -> Result[None, DomainError]:
        cap = portion(payment.captured, self.settings.goodwill_cap_percent)
        given = sum(
            (
                r.amount
                for r in await uow.refunds.for_payment(payment.id)
                if r.reason is RefundReason.GOODWILL and r.holds_money and r.id != refund.id
            ),
            Money(0, payment.amount.currency),
        )
        if cap < given + refund.amount:
            return Failure(GoodwillCapExceeded(cap=cap, given=given))
        return Success(None)


def _goodwill_ask(
    caller: Principal, amount: Money, request_key: str, note: str
) -> Result[RefundAsk, DomainError]:
    if not is_chargeable(amount):
        return Failure(InvalidInput(field="amount", reason="not an amount the processor moves"))
    key = clean_text("request_key", request_key, 100)
    if isinstance(key, Failure):
        return key
    text = clean_text("note", note, 500)
    if isinstance(text, Failure):
        return text
    return Success(
        RefundAsk(
            amount=amount,
            reason=RefundReason.GOODWILL,
            request_key=f"goodwill-{key.unwrap()}",  # never one of the platform's own keys
            by=caller.user_id,
            note=text.unwrap(),
        )
    )


async def _failed_refund(
    uow: PaymentsUnitOfWork, refund_id: RefundId
) -> Result[tuple[Refund, Payment], DomainError]:
    refund = await uow.refunds.get(refund_id)
    if refund is None:
        return Failure(NotFound(kind="refund", id=str(refund_id)))
    if refund.status is not RefundStatus.FAILED:
        return Failure(RefundNotFailed(status=refund.status))
    payment = await uow.payments.get(refund.payment_id)
    assert payment is not None
    return Success((refund, payment))


async def _take_back(
    uow: PaymentsUnitOfWork, before: Refund, after: Refund, payment: Payment
) -> Result[None, DomainError]:
    """Move a failed refund on: it holds money again, so it reserves again."""
    if not await uow.refunds.save(after, before.status, before.attempt):
        latest = await uow.refunds.get(before.id)
        assert latest is not None
        return Failure(RefundNotFailed(status=latest.status))
    if not await uow.payments.reserve_refund(payment.id, after.amount):
        fresh = await uow.payments.get(payment.id)
        assert fresh is not None
        return Failure(RefundExceedsRefundable(requested=after.amount, refundable=fresh.refundable))
    return Success(None)


class RetryRefund(PaymentsUseCase):
    """A failed refund again, as a new attempt with a key of its own."""

    async def __call__(self, caller: Principal, refund_id: RefundId) -> Result[Refund, DomainError]:
        admin = require_admin(caller)
        if isinstance(admin, Failure):
            return admin
        now = self.clock.now()
        async with self.uow(Access.of(caller)) as uow:
            found = await _failed_refund(uow, refund_id)
            if isinstance(found, Failure):
                return found
            refund, payment = found.unwrap()
            retried = refund.retried(now).unwrap()  # FAILED was just checked
            taken = await _take_back(uow, refund, retried, payment)
            if isinstance(taken, Failure):
                return taken
            await uow.outbox.add(retried.event("refund_requested", payment, now))
            await uow.audit.append(
                "refund.retried", now, caller.user_id, payment.customer_id, _details(retried)
            )
            await uow.commit()
        return Success(await RefundDesk.of(self).submit(retried))


class ResolveRefund(PaymentsUseCase):
    """A failed refund the platform paid outside the processor (a bank transfer): booked as
    paid by the platform, since the processor reversed nothing."""

    async def __call__(
        self, caller: Principal, refund_id: RefundId, note: str
    ) -> Result[Refund, DomainError]:
        admin = require_admin(caller)
        if isinstance(admin, Failure):
            return admin
        text = clean_text("note", note, 500)
        if isinstance(text, Failure):
            return text
        now = self.clock.now()
        async with self.uow(Access.of(caller)) as uow:
            found = await _failed_refund(uow, refund_id)
            if isinstance(found, Failure):
                return found
            refund, payment = found.unwrap()
            resolved = refund.resolved_by_hand(caller.user_id, text.unwrap(), now).unwrap()
            taken = await _take_back(uow, refund, resolved, payment)
            if isinstance(taken, Failure):
                return taken
            # Paid outside the processor: nothing of it shows in the processor's balance.
            await uow.ledger.post(attrs.evolve(ledger.refund(payment, resolved, now), source=None))
            await _announce(uow, "refund_succeeded", "refund.resolved", payment, resolved, now)
            await uow.commit()
        return Success(resolved)


class ListRefunds(PaymentsUseCase):
    """Refunds for admins, the longest unchanged first: with `status` FAILED, the queue of
    refunds to retry or resolve."""

    async def __call__(
        self, caller: Principal, status: RefundStatus | None, limit: int
    ) -> Result[Sequence[Refund], DomainError]:
        admin = require_admin(caller)
        if isinstance(admin, Failure):
            return admin
        if not 1 <= limit <= MAX_LIST:
            return Failure(InvalidInput(field="limit", reason=f"1 to {MAX_LIST}"))
        statuses = list(RefundStatus) if status is None else [status]
        async with self.uow(Access.of(caller)) as uow:
            found = [r for s in statuses for r in await uow.refunds.with_status(s, None, limit)]
        found.sort(key=lambda r: (r.updated_at, r.id))
        return Success(found[:limit])
