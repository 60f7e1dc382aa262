"""What the processor's word does to our payments, and the sweeper that keeps asking for it.

`Settler` is the only place a payment's status moves after it was started: it asks the
processor (never a webhook's copy), records the answer under the payment's version, and on
the transition to SUCCEEDED, in the same transaction, posts the capture (the ledger's keys
make a replay post nothing) and announces it. Then, outside that transaction, it confirms the
booking, or refunds in full when the slot was lost meanwhile.

`SettlePayments` is the sweeper (`reserva serve` runs it periodically, `reserva payments
settle` once): processor events, succeeded payments whose booking or fee was not settled,
refunds stuck before or at the processor, cancellations not refunded, and balances due.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

import attrs
from returns.result import Failure, Result, Success

from core.payments import fraud, ledger
from core.payments.model import (
    BookingOutcome,
    CardNotCharged,
    IntentView,
    Payment,
    PaymentId,
    PaymentPart,
    PaymentStatus,
    Refund,
    RefundReason,
    RefundStatus,
    ReviewState,
)
from core.payments.ports import (
    BookingDesk,
    BookingState,
    CustomerRef,
    InboxItem,
    OffSessionRequest,
    PaymentGateway,
    PaymentsUnitOfWork,
    ProcessorEvent,
)
from core.payments.refunds import (
    SLOT_LOST_KEY,
    RefundDesk,
    refund_cancellation,
    refund_in_full,
)
from core.payments.service import PaymentSettings, PaymentsUseCase
from core.payments.steps import audit, cancel_unstarted_balances, save_payment
from core.shared.time import Clock
from core.shared.unit_of_work import MAINTENANCE, UnitOfWorkFactory

STALE = timedelta(minutes=1)  # a refund untouched this long is sent or asked about again
CANCELLATIONS_LOOKBACK = timedelta(days=2)
MAX_BACKOFF_DOUBLINGS = 12  # a failing event is retried at most ~34 h apart (30 s base)
SWEEP_BATCH = 100
REFUND_EVENTS = ("charge.refunded", "charge.refund.updated")

RefundStep = Callable[[Refund], Awaitable[Refund]]  # send again, or ask again
T = TypeVar("T")


@attrs.frozen(kw_only=True)
class Settler:
    uow: UnitOfWorkFactory[PaymentsUnitOfWork]
    gateway: PaymentGateway
    bookings: BookingDesk
    clock: Clock
    settings: PaymentSettings
    desk: RefundDesk

    @classmethod
    def of(cls, case: PaymentsUseCase) -> Settler:
        return cls(
            uow=case.uow,
            gateway=case.gateway,
            bookings=case.bookings,
            clock=case.clock,
            settings=case.settings,
            desk=RefundDesk.of(case),
        )

    async def sync_intent(self, intent_id: str) -> Payment | None:
        """Re-read the intent and settle its payment; None for an intent that is not ours
        (the processor is not even asked)."""
        async with self.uow(MAINTENANCE) as uow:
            payment = await uow.payments.for_intent(intent_id)
        if payment is None:
            return None
        return await self.settle(payment, await self.gateway.intent(intent_id))

    async def settle(self, seen: Payment, view: IntentView) -> Payment:
        """Record `view`, read from the processor after `seen` was read from the store,
        then settle the booking."""
        return await self.follow_booking(await self._record(seen, view))

    async def _record(self, seen: Payment, view: IntentView) -> Payment:
        """A view is only as fresh as the moment it was read: if the payment was saved by
        someone else since `seen`, their view may be newer, so the processor is asked again
        rather than letting an older view move a status back (FAILED to PROCESSING, say)."""
        for _ in range(3):
            async with self.uow(MAINTENANCE) as uow:
                stored = await self._get(uow, seen.id)
                if stored.version == seen.version:
                    recorded = await self._write(uow, stored, view)
                    if recorded is not None:
                        return recorded
            seen, view = stored, await self.gateway.intent(view.intent_id)
        async with self.uow(MAINTENANCE) as uow:
            return await self._get(uow, seen.id)

    async def _write(
        self, uow: PaymentsUnitOfWork, before: Payment, view: IntentView
    ) -> Payment | None:
        """The payment as `view` describes it, saved with its consequences (None: someone
        saved it first)."""
        after = before.observe(view, self.clock.now())
        if attrs.evolve(after, updated_at=before.updated_at) == before:
            return before  # nothing new (a duplicate event): no write
        saved = await save_payment(uow, await self._judged(uow, before, after))
        if saved is not None:
            await self._consequences(uow, before, saved)
            await uow.commit()
        return saved

    @staticmethod
    async def _get(uow: PaymentsUnitOfWork, payment_id: PaymentId) -> Payment:
        payment = await uow.payments.get(payment_id)
        if payment is None:
            raise LookupError(f"payment {payment_id} vanished")
        return payment

    async def _judged(self, uow: PaymentsUnitOfWork, before: Payment, after: Payment) -> Payment:
        """Our own rules after a success (Radar's risk, the card's failures): review."""
        if not _just(PaymentStatus.SUCCEEDED, before, after) or after.review is not None:
            return after
        seen = await uow.payments.velocity(
            after.customer_id,
            after.card_fingerprint,
            after.client_ip,
            self.clock.now() - fraud.WINDOW,
        )
        judged = fraud.after_success(after.risk, seen, self.settings.velocity)
        if judged.allowed:
            return after
        return attrs.evolve(after, review=ReviewState.PENDING, review_reason=judged.reason)

    async def _consequences(self, uow: PaymentsUnitOfWork, before: Payment, after: Payment) -> None:
        now = self.clock.now()
        if _just(PaymentStatus.SUCCEEDED, before, after):
            await uow.ledger.post(ledger.capture(after, now))
            await uow.outbox.add(after.event("payment_succeeded", now))
            await audit(uow, "payment.succeeded", now, None, after)
            if after.review is ReviewState.PENDING and before.review is None:
                await uow.outbox.add(after.event("review_opened", now, reason=after.review_reason))
        if after.status is PaymentStatus.SUCCEEDED and after.fee is not None:
            await uow.ledger.post(ledger.processor_fee(after, after.fee, now))  # once, by key
        if _just(PaymentStatus.FAILED, before, after):
            await uow.outbox.add(after.event("payment_failed", now, failure=after.failure))
            await audit(uow, "payment.failed", now, None, after, failure=after.failure)

    async def follow_booking(self, payment: Payment) -> Payment:
        """A succeeded payment's booking: confirmed, or its slot lost and the money sent
        back. Recorded once (booking_outcome); confirm_paid is idempotent meanwhile."""
        if payment.status is not PaymentStatus.SUCCEEDED or payment.booking_outcome is not None:
            return payment
        if payment.part is PaymentPart.BALANCE:
            return await self._outcome(payment.id, BookingOutcome.NOT_NEEDED)
        confirmed = await self.bookings.confirm_paid(payment.booking_id)
        if isinstance(confirmed, Success):
            return await self._outcome(payment.id, BookingOutcome.CONFIRMED)
        return await self._slot_lost(payment.id)

    async def _outcome(self, payment_id: PaymentId, outcome: BookingOutcome) -> Payment:
        for _ in range(2):
            async with self.uow(MAINTENANCE) as uow:
                payment = await self._get(uow, payment_id)
                if payment.booking_outcome is not None:
                    return payment
                changed = attrs.evolve(
                    payment, booking_outcome=outcome, updated_at=self.clock.now()
                )
                saved = await save_payment(uow, changed)
                if saved is not None:
                    await uow.commit()
                    return saved
        async with self.uow(MAINTENANCE) as uow:
            return await self._get(uow, payment_id)

    async def _slot_lost(self, payment_id: PaymentId) -> Payment:
        """Paid after the hold expired, and the slot went to someone else: all of it back."""
        now = self.clock.now()
        async with self.uow(MAINTENANCE) as uow:
            payment = await self._get(uow, payment_id)
            if payment.booking_outcome is not None:
                return payment
            lost = attrs.evolve(payment, booking_outcome=BookingOutcome.SLOT_LOST, updated_at=now)
            saved = await save_payment(uow, lost)
            if saved is None:  # someone settled it meanwhile
                return await self._get(uow, payment_id)
            opened = (
                await refund_in_full(self.desk, uow, saved, RefundReason.SLOT_LOST, SLOT_LOST_KEY)
            ).unwrap()
            await cancel_unstarted_balances(uow, saved.booking_id, now)
            refund_id = None if opened is None else str(opened.refund.id)
            await uow.outbox.add(saved.event("slot_lost_refunded", now, refund_id=refund_id))
            await uow.commit()
        if opened is not None:
            await self.desk.submit(opened.refund)
        return saved


def _just(status: PaymentStatus, before: Payment, after: Payment) -> bool:
    """`after` has just reached `status`."""
    return after.status is status and before.status is not status


# --- processor events -----------------------------------------------------------------------


# How long claimed events stay out of other claims while one claimer handles them: longer than
# a batch's processor reads take, short enough that a dead claimer's events come back soon.
EVENT_LEASE = timedelta(minutes=5)


async def process_events(case: PaymentsUseCase, limit: int) -> int:
    """Handle the inbox's due events; each is claimed and leased in a short transaction, then
    handled with no connection held, then marked done, or failed with a back-off: never lost.

    Holding the claim's transaction open across the handlers (processor reads, the bookings
    context) kept a pooled connection per batch for seconds while each handler asked the same
    fixed pool for more: under load every connection was such a claim and the pool timed out
    (bench/payments.py, docs/adr/0035)."""
    now = case.clock.now()
    async with case.uow(MAINTENANCE) as uow:
        items = await uow.inbox.claim(now, limit)
        await uow.inbox.lease([item.event.id for item in items], now + EVENT_LEASE)
        await uow.commit()
    for item in items:
        await _attempt(case, item, now)
    return len(items)


async def _attempt(case: PaymentsUseCase, item: InboxItem, now: datetime) -> None:
    error: Exception | None = None
    try:
        await handle_event(case, item.event)
    # The one broad catch of the context: any failure of a handler (the processor down, a
    # bug) must leave the event in the inbox for a later attempt, never lose it.
    except Exception as failure:
        error = failure
    async with case.uow(MAINTENANCE) as uow:
        if error is None:
            await uow.inbox.done(item.event.id, now)
        else:
            backoff = case.settings.event_retry * 2 ** min(item.attempts, MAX_BACKOFF_DOUBLINGS)
            await uow.inbox.failed(
                item.event.id, f"{type(error).__name__}: {error}"[:500], now + backoff
            )
        await uow.commit()


# What may move a payment; "payment_intent.created" and the charge.* copies of a success never
# do (the intent's own events say it), so they cost no processor read.
INTENT_CHANGES = frozenset(
    "payment_intent." + change
    for change in (
        "requires_action",
        "processing",
        "succeeded",
        "payment_failed",
        "canceled",
        "amount_capturable_updated",
        "partially_funded",
    )
)


async def handle_event(case: PaymentsUseCase, event: ProcessorEvent) -> None:
    """Every handler re-reads the object from the processor: an event only says where to look."""
    if event.type in INTENT_CHANGES:
        await Settler.of(case).sync_intent(event.object_id)
    elif event.type.startswith("refund.") or event.type in REFUND_EVENTS:
        await RefundDesk.of(case).sync(event.object_id)
    elif event.type == "account.updated":
        await _sync_account(case, event.object_id)
    elif event.type == "payout.paid" and event.account_ref is not None:
        await _post_payout(case, event.account_ref, event.object_id)


async def _sync_account(case: PaymentsUseCase, account_ref: str) -> None:
    view = await case.gateway.account(account_ref)
    async with case.uow(MAINTENANCE) as uow:
        account = await uow.accounts.by_ref(account_ref)
        if account is None:
            return
        await uow.accounts.put(
            attrs.evolve(
                account,
                charges_enabled=view.charges_enabled,
                payouts_enabled=view.payouts_enabled,
                updated_at=case.clock.now(),
            )
        )
        await uow.commit()


async def _post_payout(case: PaymentsUseCase, account_ref: str, payout_ref: str) -> None:
    """Money that reached a provider's bank: payable -> paid out (once, by the payout's key)."""
    view = await case.gateway.payout(account_ref, payout_ref)
    if view.status != "paid":
        return
    async with case.uow(MAINTENANCE) as uow:
        account = await uow.accounts.by_ref(view.account_ref)
        if account is None:
            return
        at = view.arrived_at or case.clock.now()
        await uow.ledger.post(ledger.payout(account.provider_id, view.amount, view.payout_ref, at))
        await uow.commit()


# --- the sweeper ----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SettlementReport:
    events: int = 0
    payments_settled: int = 0
    refunds_sent: int = 0
    refunds_checked: int = 0
    cancellations_refunded: int = 0
    balances_charged: int = 0
    balances_need_customer: int = 0
    errors: tuple[str, ...] = ()  # items that failed this sweep; the next one tries again


class SettlePayments(PaymentsUseCase):
    """One sweep; each step is idempotent, so sweeps may overlap or repeat."""

    async def __call__(self) -> SettlementReport:
        sweep = _Sweep(case=self, settler=Settler.of(self))
        desk = sweep.settler.desk
        counts = {
            "events": await process_events(self, SWEEP_BATCH),
            "payments_settled": await sweep.unsettled(),
            "refunds_sent": await sweep.stale_refunds(RefundStatus.REQUESTED, desk.submit),
            "refunds_checked": await sweep.stale_refunds(RefundStatus.PENDING, desk.recheck),
            "cancellations_refunded": await sweep.cancellations(),
        }
        charged = await sweep.balances()
        return SettlementReport(
            **counts,
            balances_charged=charged.count(PaymentStatus.SUCCEEDED),
            balances_need_customer=charged.count(PaymentStatus.FAILED),
            errors=tuple(sweep.errors),
        )


@attrs.define(kw_only=True)
class _Sweep:
    case: PaymentsUseCase
    settler: Settler
    errors: list[str] = attrs.field(factory=list)

    async def each(self, what: str, key: object, step: Awaitable[T]) -> T | None:
        """One item's step. A failure (the processor down, a bug) is reported, not raised:
        one stuck item must not starve the others, and the next sweep tries it again."""
        try:
            return await step
        except Exception as error:
            self.errors.append(f"{what} {key}: {type(error).__name__}: {error}"[:500])
            return None

    async def unsettled(self) -> int:
        async with self.case.uow(MAINTENANCE) as uow:
            payments = await uow.payments.unsettled(SWEEP_BATCH)
        for payment in payments:
            if payment.intent_id is not None:
                await self.each("payment", payment.id, self.settler.sync_intent(payment.intent_id))
        return len(payments)

    async def stale_refunds(self, status: RefundStatus, again: RefundStep) -> int:
        since = self.case.clock.now() - STALE
        async with self.case.uow(MAINTENANCE) as uow:
            stale = await uow.refunds.with_status(status, since, SWEEP_BATCH)
        for refund in stale:
            await self.each("refund", refund.id, again(refund))
        return len(stale)

    async def cancellations(self) -> int:
        """Every cancellation of the lookback window, a batch at a time from the oldest: the
        next batch starts at the last one's instant (read twice, refunded once)."""
        since = self.case.clock.now() - CANCELLATIONS_LOOKBACK
        refunded = 0
        while True:
            batch = await self.case.bookings.cancelled_since(since, SWEEP_BATCH)
            for booking in batch:
                opened = await self.each(
                    "booking", booking.id, refund_cancellation(self.case, booking, by=None)
                )
                refunded += sum(1 for o in opened or () if o.new)
            last = batch[-1].cancelled_at if len(batch) == SWEEP_BATCH else None
            if last is None or last == since:  # the end, or a whole batch at one instant
                return refunded
            since = last

    async def balances(self) -> list[PaymentStatus | None]:
        async with self.case.uow(MAINTENANCE) as uow:
            due = await uow.payments.balances_due(self.case.clock.now(), SWEEP_BATCH)
        charger = BalanceCharger(case=self.case, settler=self.settler)
        return [await self.each("balance", b.id, charger.charge(b)) for b in due]


@attrs.frozen(kw_only=True)
class BalanceCharger:
    """Charges a balance off-session with the card the deposit saved; when the bank wants
    the customer present (or declines), the customer pays it through PayForBooking."""

    case: PaymentsUseCase
    settler: Settler

    async def charge(self, balance: Payment) -> PaymentStatus | None:
        booking = (await self.case.bookings.read([balance.booking_id])).get(balance.booking_id)
        state = None if booking is None else booking.state
        if state is BookingState.HELD or balance.intent_id is not None:
            return None  # the deposit is still on its way, or someone already started
        async with self.case.uow(MAINTENANCE) as uow:
            deposit = await _deposit_of(uow, balance)
            customer = await uow.customers.get(balance.customer_id)
        if state in (None, BookingState.EXPIRED, BookingState.CANCELLED) or deposit is None:
            await self._drop(balance)
            return PaymentStatus.CANCELLED
        charged = await self._off_session(balance, deposit, customer)
        if isinstance(charged, Failure):
            await self._needs_customer(balance, charged.failure())
            return PaymentStatus.FAILED
        return (await self.settler.settle(balance, charged.unwrap())).status

    async def _off_session(
        self, balance: Payment, deposit: Payment, customer: CustomerRef | None
    ) -> Result[IntentView, CardNotCharged]:
        # The deposit was paid by this customer, with a card it saved.
        assert customer is not None
        assert customer.customer_ref is not None
        assert deposit.payment_method_id is not None
        return await self.case.gateway.charge_off_session(
            OffSessionRequest(
                idempotency_key=balance.idempotency_key,  # stored with the deposit
                amount=balance.amount,
                commission=balance.commission,
                destination=balance.processor_account,
                customer_ref=customer.customer_ref,
                payment_method_id=deposit.payment_method_id,
                metadata={"payment_id": str(balance.id), "booking_id": str(balance.booking_id)},
            )
        )

    async def _drop(self, balance: Payment) -> None:
        async with self.case.uow(MAINTENANCE) as uow:
            await cancel_unstarted_balances(uow, balance.booking_id, self.case.clock.now())
            await uow.commit()

    async def _needs_customer(self, balance: Payment, refused: CardNotCharged) -> None:
        """FAILED with the bank's reason; the customer's own attempt gets a key of its own
        (the off-session key stays bound to the refused charge)."""
        now = self.case.clock.now()
        failed = attrs.evolve(
            balance,
            status=PaymentStatus.FAILED,
            failure=refused.reason,
            idempotency_key=f"{balance.idempotency_key}-by-customer",
            updated_at=now,
        )
        async with self.case.uow(MAINTENANCE) as uow:
            saved = await save_payment(uow, failed)
            if saved is None:
                return  # settled meanwhile by someone else
            await uow.outbox.add(saved.event("balance_needs_customer", now, failure=refused.reason))
            await audit(uow, "payment.failed", now, None, saved, failure=refused.reason)
            await uow.commit()


async def _deposit_of(uow: PaymentsUnitOfWork, balance: Payment) -> Payment | None:
    """The succeeded deposit of the balance's booking, with the card it saved."""
    return next(
        (
            p
            for p in await uow.payments.for_booking(balance.booking_id)
            if p.part is PaymentPart.DEPOSIT
            and p.status is PaymentStatus.SUCCEEDED
            and p.payment_method_id is not None
            and p.booking_outcome is BookingOutcome.CONFIRMED
        ),
        None,
    )
