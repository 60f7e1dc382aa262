"""The memory adapters behave as the ports say: transactions, atomic guards, the processor's
idempotency and faults, the webhook signature, and the bookings context's rules."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import attrs
import pytest
from payments_support import (
    DAY,
    HOUR,
    NOW,
    World,
    a_payment,
    a_refund,
    eur,
    failure,
    ok,
    open_world,
)
from returns.result import Failure

from adapters.memory.clock import FixedClock
from adapters.memory.payments import (
    ASKS_3DS_ALWAYS,
    GOOD,
    SIGNATURE,
    IdempotencyConflict,
    MemoryBookingDesk,
    MemoryDeadlock,
    MemoryPaymentGateway,
    MemoryPaymentsStore,
    MemoryWebhookVerifier,
    ProcessorCrash,
    ProcessorRefused,
    payload_of,
)
from core.bookings.model import InvalidTransition, SlotUnavailable
from core.payments import (
    BadSignature,
    BookingState,
    Canceller,
    CardNotCharged,
    Payment,
    PaymentPart,
    PaymentStatus,
    RefundStatus,
)
from core.payments.ledger import CUSTOMER, REVENUE, Entry, LedgerTransaction
from core.payments.ports import IntentRequest, OffSessionRequest, ProcessorEvent, RefundRequest
from core.shared.errors import NotFound
from core.shared.ids import ProviderId
from core.shared.principal import MfaRequired
from core.shared.unit_of_work import MAINTENANCE


def payment_with(**changes: object) -> Payment:
    return attrs.evolve(a_payment(), **changes)  # type: ignore[arg-type]


async def stored(store: MemoryPaymentsStore, payment: Payment) -> Payment:
    async with store(MAINTENANCE) as uow:
        assert await uow.payments.add(payment)
        await uow.commit()
    return payment


# --- the store -----------------------------------------------------------------------------


async def test_writes_show_only_after_commit_and_vanish_without_it() -> None:
    store = MemoryPaymentsStore()
    payment = payment_with()
    async with store(MAINTENANCE) as writer:
        await writer.payments.add(payment)
        await writer.outbox.add(payment.event("payment_succeeded", NOW))
        async with store(MAINTENANCE) as reader:
            assert await reader.payments.get(payment.id) is None
        assert await writer.payments.get(payment.id) == payment
    assert store.payments == []
    assert store.outbox == ()

    await stored(store, payment)
    assert store.payments == [payment]


async def test_save_writes_only_the_version_it_read_and_never_undoes_a_reservation() -> None:
    store = MemoryPaymentsStore()
    payment = await stored(store, payment_with())
    async with store(MAINTENANCE) as uow:
        assert await uow.payments.reserve_refund(payment.id, eur(4_000))
        assert await uow.payments.save(attrs.evolve(payment, failure="x"))  # read before
        assert not await uow.payments.save(attrs.evolve(payment, failure="y"))  # stale now
        await uow.commit()

    now = store.payment(payment.id)
    assert (now.version, now.failure, now.refunded) == (1, "x", eur(4_000))


async def test_reservations_stay_within_what_was_captured_however_tasks_interleave() -> None:
    store = MemoryPaymentsStore(interleave=True)
    payment = await stored(store, payment_with())

    async def reserve() -> bool:
        async with store(MAINTENANCE) as uow:
            await asyncio.sleep(0)
            taken = await uow.payments.reserve_refund(payment.id, eur(3_000))
            await asyncio.sleep(0)
            await uow.commit()
            return taken

    taken = await asyncio.gather(*(reserve() for _ in range(5)))

    assert taken.count(True) == 3
    assert store.payment(payment.id).refunded == eur(9_000)
    async with store(MAINTENANCE) as uow:
        with pytest.raises(ValueError, match="releasing more"):
            await uow.payments.release_refund(payment.id, eur(9_001))


async def test_a_booking_has_one_live_payment_per_part() -> None:
    store = MemoryPaymentsStore()
    first = await stored(store, payment_with(status=PaymentStatus.CREATED))
    second = payment_with(booking_id=first.booking_id, status=PaymentStatus.CREATED)
    balance = payment_with(booking_id=first.booking_id, part=PaymentPart.BALANCE)

    async with store(MAINTENANCE) as uow:
        assert not await uow.payments.add(second)
        assert await uow.payments.add(balance)
        assert await uow.payments.save(attrs.evolve(first, status=PaymentStatus.CANCELLED))
        assert await uow.payments.add(second)
        await uow.commit()
    assert [p.part for p in store.payments if p.booking_id == first.booking_id].count(
        PaymentPart.FULL
    ) == 2


async def test_one_refund_per_request_key_and_one_posting_per_ledger_key() -> None:
    store = MemoryPaymentsStore()
    payment = await stored(store, payment_with())
    txn = LedgerTransaction(
        key="refund:x",
        at=NOW,
        entries=(
            Entry(account=CUSTOMER, minor=100, currency=eur(0).currency),
            Entry(account=REVENUE, minor=-100, currency=eur(0).currency),
        ),
    )
    async with store(MAINTENANCE) as uow:
        assert await uow.refunds.add(a_refund(payment, key="same"))
        assert not await uow.refunds.add(a_refund(payment, key="same"))
        assert await uow.ledger.post(txn)
        assert not await uow.ledger.post(txn)
        await uow.commit()
    assert len(store.refunds) == len(store.ledger) == 1


async def test_a_refund_saves_only_over_the_status_and_attempt_it_read() -> None:
    store = MemoryPaymentsStore()
    payment = await stored(store, payment_with())
    refund = a_refund(payment)
    async with store(MAINTENANCE) as uow:
        await uow.refunds.add(refund)
        failed = attrs.evolve(refund, status=RefundStatus.FAILED)
        assert await uow.refunds.save(failed, RefundStatus.REQUESTED, 1)
        assert not await uow.refunds.save(refund, RefundStatus.REQUESTED, 1)
        assert await uow.refunds.with_status(RefundStatus.FAILED, NOW, 10) == []
        assert await uow.refunds.with_status(RefundStatus.FAILED, NOW + HOUR, 10) == [failed]


async def test_a_claimed_event_is_skipped_by_others_until_its_transaction_ends() -> None:
    store = MemoryPaymentsStore()
    event = ProcessorEvent(
        id="evt_1",
        type="payment_intent.succeeded",
        object_id="pi_1",
        account_ref=None,
        created_at=NOW,
    )
    async with store(MAINTENANCE) as uow:
        assert await uow.inbox.record(event, NOW)
        assert not await uow.inbox.record(event, NOW)
        await uow.commit()

    async with store(MAINTENANCE) as first:
        (claimed,) = await first.inbox.claim(NOW, 10)
        other = store(MAINTENANCE)
        async with other:
            assert await other.inbox.claim(NOW, 10) == []
        await first.inbox.failed(claimed.event.id, "boom", NOW + HOUR)
        await first.commit()

    async with store(MAINTENANCE) as later:
        assert await later.inbox.claim(NOW, 10) == []
        (again,) = await later.inbox.claim(NOW + HOUR, 10)
    assert (again.attempts, again.last_error) == (1, "boom")


async def test_waiting_on_a_transaction_the_same_task_keeps_open_is_a_deadlock() -> None:
    store = MemoryPaymentsStore()
    payment = await stored(store, payment_with())
    async with store(MAINTENANCE) as outer:
        await outer.payments.reserve_refund(payment.id, eur(1))
        async with store(MAINTENANCE) as inner:
            with pytest.raises(MemoryDeadlock):
                await inner.payments.reserve_refund(payment.id, eur(1))


# --- the processor -------------------------------------------------------------------------


def intent_request(key: str = "pay-1", amount: int = 5_000) -> IntentRequest:
    return IntentRequest(
        idempotency_key=key,
        amount=eur(amount),
        commission=eur(amount // 10),
        destination="acct_000001",
        customer_ref="cus_1",
        save_card=True,
        metadata={},
    )


@pytest.fixture
async def gateway() -> MemoryPaymentGateway:
    processor = MemoryPaymentGateway(FixedClock(NOW))
    account = await processor.create_account(ProviderId(uuid.uuid4()), None, "DE", "acct-key")
    assert account.account_ref == "acct_000001"
    return processor


async def test_the_same_key_answers_the_first_answer_and_moves_nothing_again(
    gateway: MemoryPaymentGateway,
) -> None:
    first = await gateway.create_intent(intent_request())
    again = await gateway.create_intent(intent_request())
    gateway.pay(first.intent_id)
    intent = await gateway.intent(first.intent_id)
    refund = RefundRequest(
        idempotency_key="refund-1",
        intent_id=first.intent_id,
        amount=eur(1_000),
        reverse_transfer=True,
        metadata={},
    )

    views = [await gateway.refund(refund) for _ in range(3)]

    assert again == first  # the stored snapshot, not the intent as it is now
    assert intent.status is PaymentStatus.SUCCEEDED
    assert len({v.refund_id for v in views}) == 1
    assert gateway.net_received(eur(0).currency) == 4_000
    with pytest.raises(IdempotencyConflict):
        await gateway.create_intent(intent_request(amount=6_000))
    with pytest.raises(IdempotencyConflict):
        await gateway.refund(attrs.evolve(refund, amount=eur(2_000)))


async def test_a_refund_above_what_is_left_is_refused_outright(
    gateway: MemoryPaymentGateway,
) -> None:
    intent = await gateway.create_intent(intent_request())
    gateway.pay(intent.intent_id)

    with pytest.raises(ProcessorRefused):
        await gateway.refund(
            RefundRequest(
                idempotency_key="r",
                intent_id=intent.intent_id,
                amount=eur(5_001),
                reverse_transfer=True,
                metadata={},
            )
        )


async def test_a_crash_acts_then_loses_the_answer_and_an_outage_acts_not_at_all(
    gateway: MemoryPaymentGateway,
) -> None:
    gateway.crash_after("create_intent")
    with pytest.raises(ProcessorCrash):
        await gateway.create_intent(intent_request("pay-a"))
    made = gateway.intent_of("pay-a")
    assert made is not None
    assert (await gateway.create_intent(intent_request("pay-a"))).intent_id == made.intent_id

    gateway.outage("create_intent")
    with pytest.raises(ProcessorCrash):
        await gateway.create_intent(intent_request("pay-b"))
    assert gateway.intent_of("pay-b") is None


async def test_cancelling_is_final_and_too_late_answers_what_the_intent_is(
    gateway: MemoryPaymentGateway,
) -> None:
    open_one = await gateway.create_intent(intent_request("open"))
    paid = await gateway.create_intent(intent_request("paid"))
    gateway.pay(paid.intent_id)

    assert (await gateway.cancel_intent(open_one.intent_id)).status is PaymentStatus.CANCELLED
    assert (await gateway.cancel_intent(open_one.intent_id)).status is PaymentStatus.CANCELLED
    # Too late to cancel: the answer is what it is (StripePaymentGateway's contract).
    assert (await gateway.cancel_intent(paid.intent_id)).status is PaymentStatus.SUCCEEDED


async def test_off_session_charges_need_a_card_that_allows_them(
    gateway: MemoryPaymentGateway,
) -> None:
    methods = {}
    for key, card in (("good", GOOD), ("strict", ASKS_3DS_ALWAYS)):
        intent = await gateway.create_intent(intent_request(key))
        gateway.pay(intent.intent_id, card)
        if card.asks_3ds:
            gateway.authenticate(intent.intent_id)
        methods[key] = (await gateway.intent(intent.intent_id)).payment_method_id

    def balance(key: str) -> OffSessionRequest:
        return OffSessionRequest(
            idempotency_key=f"balance-{key}",
            amount=eur(2_000),
            commission=eur(200),
            destination="acct_000001",
            customer_ref="cus_1",
            payment_method_id=methods[key] or "",
            metadata={},
        )

    charged = await gateway.charge_off_session(balance("good"))
    refused = await gateway.charge_off_session(balance("strict"))

    assert ok(charged).status is PaymentStatus.SUCCEEDED
    assert isinstance(refused, Failure)
    assert isinstance(refused.failure(), CardNotCharged)
    assert await gateway.charge_off_session(balance("strict")) == refused  # replayed


async def test_every_change_is_a_webhook_with_the_test_signature(
    gateway: MemoryPaymentGateway,
) -> None:
    intent = await gateway.create_intent(intent_request())
    gateway.pay(intent.intent_id)

    hooks = gateway.webhooks()

    assert [h.event.type for h in hooks] == [
        "payment_intent.created",
        "payment_intent.succeeded",
        "charge.succeeded",
    ]
    assert all(h.signature == SIGNATURE for h in hooks)
    assert gateway.webhooks() == []


# --- the webhook verifier ------------------------------------------------------------------


def test_the_verifier_accepts_only_the_test_signature() -> None:
    verifier = MemoryWebhookVerifier()
    event = ProcessorEvent(
        id="evt_9", type="refund.updated", object_id="re_1", account_ref="acct_1", created_at=NOW
    )

    assert ok(verifier.verify(payload_of(event), SIGNATURE)) == event
    assert isinstance(failure(verifier.verify(payload_of(event), "v1=other")), BadSignature)
    assert isinstance(failure(verifier.verify(b"{}", SIGNATURE)), BadSignature)


# --- the bookings fake ---------------------------------------------------------------------


@pytest.fixture
async def world() -> World:
    return await open_world()


async def test_confirming_a_paid_hold_is_idempotent(world: World) -> None:
    desk: MemoryBookingDesk = world.app.desk
    booking = world.hold()

    first = ok(await desk.confirm_paid(booking.id))
    second = ok(await desk.confirm_paid(booking.id))

    assert first.state is second.state is BookingState.CONFIRMED


async def test_an_expired_hold_is_confirmed_only_while_its_slot_is_free(world: World) -> None:
    desk = world.app.desk
    free, taken = world.hold(), world.hold(starts_in=6 * DAY)
    world.app.clock.advance(HOUR)
    desk.take_slot(taken.id)

    assert ok(await desk.confirm_paid(free.id)).state is BookingState.CONFIRMED
    assert isinstance(failure(await desk.confirm_paid(taken.id)), SlotUnavailable)
    ok(await desk.cancel(world.customer, free.id))
    assert isinstance(failure(await desk.confirm_paid(free.id)), InvalidTransition)


async def test_who_cancels_decides_the_side(world: World) -> None:
    desk = world.app.desk
    mine, theirs = world.hold(), world.hold(starts_in=6 * DAY)

    by_customer = ok(await desk.cancel(world.customer, mine.id))
    by_staff = ok(await desk.cancel(world.manager, theirs.id))

    assert (by_customer.cancelled_by, by_staff.cancelled_by) == (
        Canceller.CUSTOMER,
        Canceller.PROVIDER,
    )
    assert by_customer.cancelled_at == NOW
    assert {b.id for b in await desk.cancelled_since(NOW, 10)} == {mine.id, theirs.id}
    assert await desk.cancelled_since(NOW + timedelta(seconds=1), 10) == []


async def test_only_the_customer_and_the_providers_staff_see_a_booking(world: World) -> None:
    desk = world.app.desk
    booking = world.hold()
    unverified = world.app.staff(world.provider, mfa=False)

    assert ok(await desk.payable(world.customer, booking.id)).id == booking.id
    assert ok(await desk.payable(world.manager, booking.id)).id == booking.id
    assert isinstance(failure(await desk.payable(world.app.customer(), booking.id)), NotFound)
    assert isinstance(failure(await desk.payable(unverified, booking.id)), MfaRequired)
    assert isinstance(failure(await desk.cancel(world.app.customer(), booking.id)), NotFound)
