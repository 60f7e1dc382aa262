"""Events are recorded as Stripe records them and delivered signed, in order, with retries."""

from __future__ import annotations

import pytest
import stripe
from stripe_fake_support import WEBHOOK_SECRET, WebhookReceiver

from devservers.stripe_fake import StripeControl

PAID = ["payment_intent.created", "charge.succeeded", "payment_intent.succeeded"]


def pay(client: stripe.StripeClient) -> stripe.PaymentIntent:
    return client.v1.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )


def test_delivered_events_verify_with_the_sdk_and_arrive_in_creation_order(
    client: stripe.StripeClient, control: StripeControl, webhook_receiver: WebhookReceiver
) -> None:
    pi = pay(client)
    control.flush_webhooks()

    delivered = webhook_receiver.succeeded()
    events = [
        stripe.Webhook.construct_event(r.body, r.headers["Stripe-Signature"], WEBHOOK_SECRET)
        for r in delivered
    ]
    assert [event.type for event in events] == PAID
    assert [event.id for event in events] == [e["event"]["id"] for e in control.events()]
    assert delivered[0].headers["Content-Type"] == "application/json; charset=utf-8"
    succeeded = events[-1]
    assert succeeded.data.object["id"] == pi.id
    assert succeeded.data.object["status"] == "succeeded"
    assert succeeded.request is not None
    assert succeeded.request.idempotency_key
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            delivered[0].body, delivered[0].headers["Stripe-Signature"], "whsec_other"
        )


def test_events_carry_the_object_as_it_was_when_they_happened(
    client: stripe.StripeClient, control: StripeControl
) -> None:
    pi = client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    client.v1.payment_intents.update(pi.id, params={"amount": 1200})
    client.v1.payment_intents.confirm(pi.id, params={"payment_method": "pm_card_visa"})

    created = client.v1.events.list(params={"type": "payment_intent.created"}).data[0]
    fetched = client.v1.events.retrieve(created.id)
    succeeded = client.v1.events.list(params={"type": "payment_intent.succeeded"}).data[0]

    assert fetched.data.object["id"] == pi.id
    assert (fetched.data.object["status"], fetched.data.object["amount"]) == (
        "requires_payment_method",
        1000,
    )
    assert succeeded.data.object["amount_received"] == 1200
    assert fetched.api_version
    assert fetched.livemode is False


def test_a_failing_endpoint_gets_the_event_again_until_it_answers_2xx(
    client: stripe.StripeClient, control: StripeControl, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.fail_next = 2

    pay(client)
    control.flush_webhooks()

    first = control.events()[0]
    assert [attempt["status"] for attempt in first["deliveries"]] == [500, 500, 200]
    assert webhook_receiver.types() == PAID  # the retried event still came first


def test_paused_events_queue_and_can_be_delivered_out_of_order(
    client: stripe.StripeClient, control: StripeControl, webhook_receiver: WebhookReceiver
) -> None:
    control.pause_webhooks()
    pay(client)

    left = control.flush_webhooks(timeout=0.2)
    assert (left, webhook_receiver.received) == (3, [])
    control.deliver_shuffled(order="reversed")

    assert webhook_receiver.types() == PAID[::-1]
    assert control.flush_webhooks() == 0


def test_resuming_delivers_what_queued_in_order(
    client: stripe.StripeClient, control: StripeControl, webhook_receiver: WebhookReceiver
) -> None:
    control.pause_webhooks()
    pay(client)
    control.resume_webhooks()
    control.flush_webhooks()

    assert webhook_receiver.types() == PAID


def test_an_event_can_be_delivered_again_as_a_replay(
    client: stripe.StripeClient, control: StripeControl, webhook_receiver: WebhookReceiver
) -> None:
    pay(client)
    control.flush_webhooks()
    last = control.events()[-1]["event"]["id"]

    replays = control.deliver_event(last, times=2)

    assert [replay["status"] for replay in replays] == [200, 200]
    ids = [received.event["id"] for received in webhook_receiver.succeeded()]
    assert ids.count(last) == 3


def test_the_endpoint_can_be_changed_at_run_time(
    client: stripe.StripeClient, control: StripeControl, webhook_receiver: WebhookReceiver
) -> None:
    control.configure_webhook(None, None)
    try:
        pay(client)
        control.flush_webhooks()
    finally:
        control.configure_webhook(webhook_receiver.url, WEBHOOK_SECRET)

    assert webhook_receiver.received == []
    assert all(e["event"]["pending_webhooks"] == 0 for e in control.events())
