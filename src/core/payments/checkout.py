"""Paying for a booking: start (or pick up again) the payment of what is due, and read them.

A live hold pays its first part: all of the price, or the deposit when the terms the customer
saw at hold time ask for one (the balance row is written with it, for the sweeper to charge
off-session later). A confirmed booking whose balance could not be charged off-session pays
the balance. A payment of that part that is still open is returned again, never a second one
("creates or returns"); its idempotency key is stored before the processor is called, so a
crash in between makes the retry find the same intent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import attrs
from returns.result import Failure, Result, Success

from core.payments import fraud
from core.payments.amounts import is_chargeable, portion
from core.payments.model import (
    IntentView,
    NothingToPay,
    NotPayable,
    Payment,
    PaymentBlocked,
    PaymentId,
    PaymentPart,
    PaymentStatus,
    ProviderCannotTakePayments,
    Refund,
    ReviewState,
)
from core.payments.ports import (
    BookingState,
    CustomerRef,
    IntentRequest,
    PayableBooking,
    PaymentsUnitOfWork,
    ProviderAccount,
)
from core.payments.service import PaymentsUseCase
from core.payments.settlement import Settler
from core.payments.steps import audit, lineage, payments_of, terms_at
from core.payments.terms import OfferingTerms
from core.shared.errors import DomainError, Forbidden, InvalidInput
from core.shared.ids import BookingId, UserId, new_id
from core.shared.money import Money
from core.shared.principal import Principal
from core.shared.unit_of_work import MAINTENANCE, Access

FIRST_PARTS = (PaymentPart.FULL, PaymentPart.DEPOSIT)
MAX_PAGE = 100


@attrs.frozen(kw_only=True)
class PaymentStarted:
    payment: Payment
    client_secret: str  # for the customer's browser (Stripe.js); never stored by us
    terms: OfferingTerms  # what the customer agreed to: the refund policy and the deposit
    created: bool = False  # True: this call started the payment; False: an open one, again


@attrs.frozen(kw_only=True)
class PaymentRecord:
    payment: Payment
    refunds: tuple[Refund, ...]


@attrs.frozen(kw_only=True)
class _Plan:
    """What a new payment charges now, and the balance left for later (a deposit)."""

    part: PaymentPart
    amount: Money
    balance: Money | None
    terms: OfferingTerms


class PayForBooking(PaymentsUseCase):
    async def __call__(
        self, caller: Principal, booking_id: BookingId, client_ip: str | None
    ) -> Result[PaymentStarted, DomainError]:
        found = await self.bookings.payable(caller, booking_id)
        if isinstance(found, Failure):
            return found
        booking = found.unwrap()
        if booking.customer_id != caller.user_id:
            return Failure(Forbidden(reason="only the booking's customer pays for it"))
        ids = await lineage(self.bookings, booking)
        for _ in range(2):
            async with self.uow(MAINTENANCE) as uow:
                due = _due(booking, await payments_of(uow, ids), self.clock.now())
            if isinstance(due, Failure):
                return due
            open_payment = due.unwrap()
            if open_payment is not None:
                return Success(await self._resume(open_payment))
            created = await self._create(booking, client_ip)
            if isinstance(created, Failure):
                return created
            payment = created.unwrap()
            if payment is not None:
                return Success(await self._begin(payment))
            # A concurrent request created it first: the next turn returns that one.
        raise RuntimeError(f"booking {booking_id}: no payment after losing a race")

    async def _begin(self, payment: Payment) -> PaymentStarted:
        """The processor's intent of a payment just stored with its key."""
        customer_ref = await self._customer_ref(payment.customer_id)
        view = await self.gateway.create_intent(_intent_request(payment, customer_ref))
        settled = await Settler.of(self).settle(payment, view)
        return attrs.evolve(_started(settled, view), created=True)

    async def _create(
        self, booking: PayableBooking, client_ip: str | None
    ) -> Result[Payment | None, DomainError]:
        """Checks, then the payment stored with its key (and its balance), before any
        processor call. MAINTENANCE: the velocity rules count every account's failures from
        the address, and bookings.payable already checked the caller."""
        now = self.clock.now()
        async with self.uow(MAINTENANCE) as uow:
            judged = await self._judged(uow, booking.customer_id, client_ip, now)
            if isinstance(judged, Failure):
                return judged
            destination = _destination(await uow.accounts.get(booking.provider_id))
            if destination is None:
                return Failure(ProviderCannotTakePayments())
            terms = await terms_at(uow, self.settings, booking.offering_id, booking.held_at)
            plan = _plan(booking.price, terms)
            if isinstance(plan, Failure):
                return plan
            payment = self._new(booking, plan.unwrap(), destination, judged.unwrap(), now)
            payment = attrs.evolve(payment, client_ip=client_ip)
            if not await uow.payments.add(payment):
                return Success(None)
            await self._add_balance(uow, payment, booking, plan.unwrap())
            await self._announce(uow, payment, now)
            await uow.commit()
        return Success(payment)

    async def _judged(
        self, uow: PaymentsUnitOfWork, customer: UserId, ip: str | None, now: datetime
    ) -> Result[fraud.Judgement, DomainError]:
        seen = await uow.payments.velocity(customer, None, ip, now - fraud.WINDOW)
        judged = fraud.before_payment(seen, self.settings.velocity)
        if judged.verdict is fraud.Verdict.BLOCK:
            return Failure(PaymentBlocked(reason=judged.reason or "too many attempts"))
        return Success(judged)

    def _new(
        self,
        booking: PayableBooking,
        plan: _Plan,
        account_ref: str,
        judged: fraud.Judgement,
        now: datetime,
    ) -> Payment:
        payment_id = PaymentId(new_id())
        zero = Money(0, plan.amount.currency)
        return Payment(
            id=payment_id,
            booking_id=booking.id,
            customer_id=booking.customer_id,
            provider_id=booking.provider_id,
            part=plan.part,
            amount=plan.amount,
            commission=portion(plan.amount, self.settings.commission_percent),
            terms=plan.terms,
            idempotency_key=f"pay-{payment_id}",
            processor_account=account_ref,
            captured=zero,
            refunded=zero,
            review=None if judged.allowed else ReviewState.PENDING,
            review_reason=judged.reason,
            created_at=now,
            updated_at=now,
        )

    async def _add_balance(
        self,
        uow: PaymentsUnitOfWork,
        deposit: Payment,
        booking: PayableBooking,
        plan: _Plan,
    ) -> None:
        """The balance of a deposit, written now so the sweeper charges it when due."""
        if plan.balance is None or plan.terms.deposit is None:
            return
        balance_id = PaymentId(new_id())
        await uow.payments.add(
            attrs.evolve(
                deposit,
                id=balance_id,
                part=PaymentPart.BALANCE,
                amount=plan.balance,
                commission=portion(plan.balance, self.settings.commission_percent),
                idempotency_key=f"pay-{balance_id}",
                review=None,
                review_reason=None,
                client_ip=None,
                due_at=plan.terms.deposit.balance_due_at(booking.starts_at),
            )
        )

    async def _announce(self, uow: PaymentsUnitOfWork, payment: Payment, now: datetime) -> None:
        await audit(uow, "payment.started", now, payment.customer_id, payment)
        if payment.review is ReviewState.PENDING:
            await uow.outbox.add(payment.event("review_opened", now, reason=payment.review_reason))

    async def _customer_ref(self, user_id: UserId) -> str:
        """The processor's customer for `user_id`, its key stored before it is created."""
        async with self.uow(MAINTENANCE) as uow:
            known = await uow.customers.get(user_id)
            if known is None:
                known = CustomerRef(
                    user_id=user_id, customer_ref=None, idempotency_key=f"customer-{user_id}"
                )
                await uow.customers.put(known)
                await uow.commit()
        if known.customer_ref is not None:
            return known.customer_ref
        ref = await self.gateway.create_customer(user_id, known.idempotency_key)
        async with self.uow(MAINTENANCE) as uow:
            await uow.customers.put(attrs.evolve(known, customer_ref=ref))
            await uow.commit()
        return ref

    async def _resume(self, payment: Payment) -> PaymentStarted:
        """An open payment again, as the processor sees it now. Without an intent (a crash
        before its answer was saved, or a balance the customer takes over) the intent is
        created with the stored key: the processor answers the one it made, if it made one."""
        if payment.intent_id is None:
            customer_ref = await self._customer_ref(payment.customer_id)
            created = await self.gateway.create_intent(_intent_request(payment, customer_ref))
            view = await self.gateway.intent(created.intent_id)  # a replayed answer may be old
        else:
            view = await self.gateway.intent(payment.intent_id)
        return _started(await Settler.of(self).settle(payment, view), view)


def _started(payment: Payment, view: IntentView) -> PaymentStarted:
    if view.client_secret is None:
        raise RuntimeError(f"the processor gave no client secret for {view.intent_id}")
    return PaymentStarted(payment=payment, client_secret=view.client_secret, terms=payment.terms)


def _intent_request(payment: Payment, customer_ref: str) -> IntentRequest:
    return IntentRequest(
        idempotency_key=payment.idempotency_key,
        amount=payment.amount,
        commission=payment.commission,
        destination=payment.processor_account,
        customer_ref=customer_ref,
        save_card=payment.part is PaymentPart.DEPOSIT,
        metadata={
            "payment_id": str(payment.id),
            "booking_id": str(payment.booking_id),
            "part": payment.part.value,
        },
    )


def _destination(account: ProviderAccount | None) -> str | None:
    """The provider's connected account, once it may take charges."""
    if account is None or not account.charges_enabled:
        return None
    return account.account_ref


def _due(
    booking: PayableBooking, payments: Sequence[Payment], now: datetime
) -> Result[Payment | None, DomainError]:
    """The open payment to return, None to start the first part, or why nothing is due."""
    live = [p for p in payments if p.status is not PaymentStatus.CANCELLED]
    if booking.state is BookingState.CONFIRMED:
        return _balance_due(live)
    if booking.state is not BookingState.HELD:
        return Failure(NotPayable(reason=f"this booking is {booking.state}"))
    if booking.hold_expires_at is not None and now >= booking.hold_expires_at:
        return Failure(NotPayable(reason="the hold expired; book the slot again"))
    if any(p.part in FIRST_PARTS and p.status is PaymentStatus.SUCCEEDED for p in live):
        return Failure(NothingToPay(reason="this booking is paid; it is being confirmed"))
    # Only this booking's own open payment: one of a booking it was rescheduled from would
    # confirm that booking, not this one.
    return Success(
        next((p for p in live if p.part in FIRST_PARTS and p.booking_id == booking.id), None)
    )


def _balance_due(live: Sequence[Payment]) -> Result[Payment | None, DomainError]:
    paid = [p for p in live if p.status is PaymentStatus.SUCCEEDED]
    balance = next((p for p in live if p.part is PaymentPart.BALANCE), None)
    if balance is None or balance in paid or not any(p.part is PaymentPart.DEPOSIT for p in paid):
        return Failure(NothingToPay())
    if balance.status is PaymentStatus.CREATED and balance.intent_id is None:
        due = "when due" if balance.due_at is None else f"on {balance.due_at:%Y-%m-%d %H:%M} UTC"
        return Failure(NotPayable(reason=f"the balance is charged to the saved card {due}"))
    return Success(balance)


def _plan(price: Money, terms: OfferingTerms) -> Result[_Plan, DomainError]:
    """All of the price, or the deposit now and the balance later; a deposit too small to
    charge, or leaving no balance, is no deposit."""
    if price.minor == 0:
        return Failure(NothingToPay(reason="this booking is free"))
    if not is_chargeable(price):
        return Failure(NotPayable(reason=f"{price.display()} cannot be charged by card"))
    full = _Plan(part=PaymentPart.FULL, amount=price, balance=None, terms=terms)
    rule = terms.deposit
    if rule is None:
        return Success(full)
    if rule.fixed is not None and rule.fixed.currency != price.currency:
        return Failure(NotPayable(reason="the deposit is set in another currency than the price"))
    deposit = rule.deposit_of(price)
    balance = price - deposit
    if not (is_chargeable(deposit) and is_chargeable(balance)):
        return Success(full)
    return Success(attrs.evolve(full, part=PaymentPart.DEPOSIT, amount=deposit, balance=balance))


# --- reading --------------------------------------------------------------------------------


async def _records(uow: PaymentsUnitOfWork, payments: Sequence[Payment]) -> list[PaymentRecord]:
    return [
        PaymentRecord(payment=p, refunds=tuple(await uow.refunds.for_payment(p.id)))
        for p in payments
    ]


class GetBookingPayments(PaymentsUseCase):
    """The payments of a booking (and of the bookings it was rescheduled from), for its
    customer, its provider's staff and admins."""

    async def __call__(
        self, caller: Principal, booking_id: BookingId
    ) -> Result[Sequence[PaymentRecord], DomainError]:
        found = await self.bookings.payable(caller, booking_id)
        if isinstance(found, Failure):
            return found
        ids = await lineage(self.bookings, found.unwrap())
        async with self.uow(Access.of(caller)) as uow:
            return Success(await _records(uow, await payments_of(uow, ids)))


class ListMyPayments(PaymentsUseCase):
    async def __call__(
        self, caller: Principal, limit: int, before: PaymentId | None
    ) -> Result[Sequence[PaymentRecord], DomainError]:
        if not 1 <= limit <= MAX_PAGE:
            return Failure(InvalidInput(field="limit", reason=f"1 to {MAX_PAGE}"))
        async with self.uow(Access.of(caller)) as uow:
            mine = await uow.payments.for_customer(caller.user_id, limit, before)
            return Success(await _records(uow, mine))
