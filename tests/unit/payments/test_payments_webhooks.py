"""Processor events: verified, stored once by id, processed by asking the processor again, so
duplicates and any delivery order leave one state change, one ledger entry, one message."""

from __future__ import annotations

import asyncio
import random

import pytest
from payments_support import World, assert_books_balance, eur, failure, ok, open_world
from returns.result import Success

from adapters.memory.payments import ASKS_3DS_ONCE, SIGNATURE, SLOW, RefundMode, payload_of
from core.payments import (
    BadSignature,
    BookingState,
    CancelWithRefund,
    PaymentStatus,
    ProcessProcessorEvents,
    ProviderMoney,
    ReceiveProcessorEvent,
    RefundStatus,
)
from core.payments.ledger import AccountKind
from core.payments.ports import ProcessorEvent
from core.payments.settlement import Settler
from core.shared.unit_of_work import MAINTENANCE


@pytest.fixture
async def world() -> World:
    return await open_world()


async def test_a_webhook_that_does_not_verify_is_refused_and_kept_nowhere(world: World) -> None:
    receive = world.app(ReceiveProcessorEvent)
    event = ProcessorEvent(
        id="evt_forged",
        type="payment_intent.succeeded",
        object_id="pi_1",
        account_ref=None,
        created_at=world.app.clock.now(),
    )

    assert isinstance(failure(await receive(payload_of(event), "t=1,v1=forged")), BadSignature)
    assert isinstance(failure(await receive(b"not json", SIGNATURE)), BadSignature)
    assert [row.event.id for row in world.store.inbox if row.event.id == "evt_forged"] == []


async def test_the_same_event_ten_times_changes_the_payment_once(world: World) -> None:
    booking = world.hold()
    started = await world.start(booking)
    assert started.payment.intent_id is not None
    world.app.gateway.pay(started.payment.intent_id)
    hooks = world.app.gateway.webhooks()
    succeeded = next(h for h in hooks if h.event.type == "payment_intent.succeeded")
    receive = world.app(ReceiveProcessorEvent)

    answers = [ok(await receive(succeeded.payload, succeeded.signature)) for _ in range(10)]
    handled = await world.app(ProcessProcessorEvents)()
    await world.app.deliver([succeeded] * 10)

    assert answers == [True] + [False] * 9
    assert handled == 1
    assert [t.key.split(":")[0] for t in world.store.ledger] == ["capture", "fee"]
    assert world.event_names() == ["payments.payment_succeeded"]
    assert world.app.desk.confirmations == [booking.id]
    assert world.app.desk.booking(booking.id).state is BookingState.CONFIRMED


@pytest.mark.parametrize("seed", range(6))
async def test_events_in_any_order_never_move_a_payment_backwards(world: World, seed: int) -> None:
    """3-D Secure, then a slow method: requires_action, processing and succeeded arrive
    shuffled and repeated; the payment ends succeeded and is captured once."""
    booking = world.hold()
    started = await world.start(booking)
    intent = started.payment.intent_id
    assert intent is not None
    world.app.gateway.pay(intent, ASKS_3DS_ONCE)
    world.app.gateway.authenticate(intent)
    hooks = world.app.gateway.webhooks()
    hooks = hooks + random.Random(seed).sample(hooks, len(hooks))
    random.Random(seed).shuffle(hooks)

    await world.app.deliver(hooks)

    assert world.payment(started.payment.id).status is PaymentStatus.SUCCEEDED
    assert len([t for t in world.store.ledger if t.key.startswith("capture")]) == 1
    assert world.event_names().count("payments.payment_succeeded") == 1


async def test_a_late_processing_event_does_not_undo_a_success(world: World) -> None:
    booking = world.hold()
    started = await world.start(booking)
    intent = started.payment.intent_id
    assert intent is not None
    world.app.gateway.pay(intent, SLOW)
    processing = world.app.gateway.webhooks()
    world.app.gateway.finish_processing(intent)
    await world.app.deliver()  # succeeded first

    await world.app.deliver(processing)  # then the older event

    assert world.payment(started.payment.id).status is PaymentStatus.SUCCEEDED


async def test_an_event_about_a_stale_state_records_the_current_one(world: World) -> None:
    booking = world.hold()
    started = await world.start(booking)
    intent = started.payment.intent_id
    assert intent is not None
    world.app.gateway.pay(intent, ASKS_3DS_ONCE)
    requires_action = world.app.gateway.webhooks()
    world.app.gateway.authenticate(intent)

    await world.app.deliver(requires_action)  # says "requires action"; the processor: paid

    assert world.payment(started.payment.id).status is PaymentStatus.SUCCEEDED
    assert world.app.desk.booking(booking.id).state is BookingState.CONFIRMED


async def test_a_failing_handler_keeps_the_event_and_retries_it_later(world: World) -> None:
    booking = world.hold()
    started = await world.start(booking)
    assert started.payment.intent_id is not None
    await world.app.deliver()  # payment_intent.created
    world.app.gateway.pay(started.payment.intent_id)
    world.app.gateway.outage("intent")

    await world.app.deliver()
    (row,) = [r for r in world.store.inbox if r.event.type == "payment_intent.succeeded"]
    assert (row.attempts, row.done_at) == (1, None)
    assert "ProcessorCrash" in (row.last_error or "")
    assert row.due_at == world.app.clock.now() + world.app.ports.settings.event_retry
    assert await world.app(ProcessProcessorEvents)() == 0  # not due yet

    world.app.clock.advance(world.app.ports.settings.event_retry)
    assert await world.app(ProcessProcessorEvents)() == 1
    assert world.payment(started.payment.id).status is PaymentStatus.SUCCEEDED


async def test_events_of_unknown_types_or_objects_are_done(world: World) -> None:
    receive = world.app(ReceiveProcessorEvent)
    for n, kind in enumerate(("customer.created", "payment_intent.succeeded", "refund.updated")):
        event = ProcessorEvent(
            id=f"evt_other_{n}",
            type=kind,
            object_id=f"obj_{n}",
            account_ref=None,
            created_at=world.app.clock.now(),
        )
        ok(await receive(payload_of(event), SIGNATURE))
    calls = len(world.app.gateway.calls)

    assert await world.app(ProcessProcessorEvents)() == 3
    others = [r for r in world.store.inbox if r.event.id.startswith("evt_other")]
    assert all(r.done_at is not None for r in others)
    assert len(world.app.gateway.calls) == calls  # objects not ours: the processor not asked


async def test_a_redelivery_is_answered_at_once_while_the_event_is_being_processed(
    world: World,
) -> None:
    booking = world.hold()
    started = await world.start(booking)
    assert started.payment.intent_id is not None
    world.app.gateway.pay(started.payment.intent_id)
    hooks = world.app.gateway.webhooks()
    receive = world.app(ReceiveProcessorEvent)
    for hook in hooks:
        ok(await receive(hook.payload, hook.signature))

    async with world.store(MAINTENANCE) as processing:
        claimed = await processing.inbox.claim(world.app.clock.now(), 10)
        assert claimed
        answers = [await asyncio.wait_for(receive(h.payload, h.signature), 1) for h in hooks]

    assert answers == [Success(False)] * len(hooks)


async def test_account_updates_are_read_from_the_processor(world: World) -> None:
    (account,) = world.store.accounts
    assert (account.charges_enabled, account.payouts_enabled) == (True, True)


async def test_a_payout_moves_the_providers_money_from_payable_to_paid_out_once(
    world: World,
) -> None:
    await world.pay(world.hold())
    (account,) = world.store.accounts
    assert account.account_ref is not None
    world.app.gateway.pay_out(account.account_ref, eur(5_000))
    hooks = world.app.gateway.webhooks()

    await world.app.deliver(hooks + hooks)

    payouts = [t for t in world.store.ledger if t.key.startswith("payout:")]
    assert len(payouts) == 1
    view = ok(await world.app(ProviderMoney)(world.manager, world.provider))
    books = {b.account.kind: b.minor for b in view.ledger}
    assert books == {AccountKind.PROVIDER_PAYABLE: 4_000, AccountKind.PROVIDER_PAID_OUT: 5_000}
    assert view.processor == (("available", eur(4_000)),)
    assert_books_balance(world.app)


async def test_refund_events_re_read_the_refund(world: World) -> None:
    booking = world.hold()
    paid = await world.pay(booking)
    world.app.gateway.refund_mode = RefundMode.PENDING
    (pending,) = ok(await world.app(CancelWithRefund)(world.customer, booking.id)).refunds
    assert pending.status is RefundStatus.PENDING
    assert pending.processor_refund_id is not None

    world.app.gateway.settle_refund(pending.processor_refund_id)
    hooks = world.app.gateway.webhooks()
    await world.app.deliver(hooks + hooks[::-1])

    (refund,) = world.store.refunds
    assert refund.status is RefundStatus.SUCCEEDED
    assert len([t for t in world.store.ledger if t.key.startswith("refund:")]) == 1
    assert world.payment(paid.id).refunded == eur(10_000)
    assert world.event_names().count("payments.refund_succeeded") == 1


async def test_a_view_read_before_someone_elses_save_is_read_again(world: World) -> None:
    """A slow reader saw PROCESSING; meanwhile the payment was recorded FAILED: the reader's
    older view must not move it back."""
    booking = world.hold()
    started = await world.start(booking)
    intent = started.payment.intent_id
    assert intent is not None
    world.app.gateway.pay(intent, SLOW)
    await world.app.deliver()
    seen = world.payment(started.payment.id)
    stale = await world.app.gateway.intent(intent)  # PROCESSING
    world.app.gateway.finish_processing(intent, succeeded=False)
    await world.app.deliver()  # recorded FAILED by the event

    settled = await Settler.of(world.app(ProcessProcessorEvents)).settle(seen, stale)

    assert stale.status is PaymentStatus.PROCESSING
    assert settled.status is PaymentStatus.FAILED
    assert world.payment(started.payment.id).status is PaymentStatus.FAILED


async def test_an_event_that_cannot_move_a_payment_costs_no_processor_read(world: World) -> None:
    booking = world.hold()
    await world.start(booking)
    created = [h for h in world.app.gateway.webhooks() if h.event.type == "payment_intent.created"]
    reads_before = world.app.gateway.calls.count("intent")

    await world.app.deliver(created)

    assert len(created) == 1
    assert world.app.gateway.calls.count("intent") == reads_before
    assert all(row.done_at is not None for row in world.store.inbox)
