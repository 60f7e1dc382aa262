"""The guards that keep a stale read from moving money backwards: a final payment and a
failed refund attempt ignore older views of the processor."""

from __future__ import annotations

import attrs
import pytest
from payments_support import World, a_payment, assert_books_balance, eur, ok, open_world

from adapters.memory.payments import RefundMode
from core.payments import (
    CancelWithRefund,
    PaymentStatus,
    RefundStatus,
)
from core.payments.model import IntentView
from core.payments.refunds import RefundDesk
from core.payments.webhooks import ProcessProcessorEvents


def test_a_final_payment_ignores_an_older_view_but_learns_its_late_fee() -> None:
    older = IntentView(intent_id="pi_1", status=PaymentStatus.REQUIRES_ACTION, amount_received=0)
    succeeded = attrs.evolve(a_payment(), status=PaymentStatus.CREATED, captured=eur(0))
    succeeded = succeeded.observe(
        IntentView(intent_id="pi_1", status=PaymentStatus.SUCCEEDED, amount_received=10_000),
        succeeded.updated_at,
    )

    after_older = succeeded.observe(older, succeeded.updated_at)
    with_fee = succeeded.observe(
        IntentView(
            intent_id="pi_1",
            status=PaymentStatus.SUCCEEDED,
            amount_received=10_000,
            fee_minor=300,
            charge_id="ch_1",
        ),
        succeeded.updated_at,
    )

    assert after_older == succeeded
    assert (with_fee.status, with_fee.fee, with_fee.charge_id) == (
        PaymentStatus.SUCCEEDED,
        eur(300),
        "ch_1",
    )


@pytest.fixture
async def world() -> World:
    return await open_world()


async def test_a_failed_refund_attempt_ignores_an_older_pending_view(world: World) -> None:
    booking = world.hold()
    await world.pay(booking)
    world.app.gateway.refund_mode = RefundMode.PENDING
    (refund,) = ok(await world.app(CancelWithRefund)(world.customer, booking.id)).refunds
    assert refund.processor_refund_id is not None
    stale = await world.app.gateway.refund_view(refund.processor_refund_id)  # PENDING
    world.app.gateway.settle_refund(refund.processor_refund_id, succeeded=False)
    await world.app.deliver()  # recorded FAILED, the amount released

    desk = RefundDesk.of(world.app(ProcessProcessorEvents))
    after = await desk.record(refund.id, stale)

    assert stale.status is RefundStatus.PENDING
    assert after.status is RefundStatus.FAILED
    assert world.payment(refund.payment_id).refunded == eur(0)
    assert_books_balance(world.app)
