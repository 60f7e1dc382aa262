"""What surrounds a payment: who may pay and see it, the 402 for confirming a priced hold by
word, declines that never echo card details, admins' goodwill refunds and reviews, providers'
money, the webhook endpoint's refusals, and the audit trail of every money action."""

from __future__ import annotations

import json
import uuid
from typing import Any

from payments_http_support import (
    COMMISSION,
    PRICE,
    Browser,
    Client,
    Shop,
    TokenTable,
    booking_status,
    eventually,
    hold,
    in_thread,
    ok,
    open_shop,
    pay,
    payments_of,
    start_in,
)

from adapters.memory.clock import FixedClock
from devservers.stripe_fake import LocalStripe

# What must never appear in our answers: payment-method ids, card fingerprints, card numbers.
CARD_DETAILS = ("pm_", "fingerprint", "4242424242424242", "4000000000000002", "last4")


def _no_card_details(*answers: Any) -> None:
    for answer in answers:
        text = answer if isinstance(answer, str) else json.dumps(answer)
        for detail in CARD_DETAILS:
            assert detail not in text, (detail, text)


async def _paid(
    client: Client, browser: Browser, shop: Shop, me: dict[str, str], clock: FixedClock, card: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    held = await hold(client, me, shop, start_in(clock, 72))
    checkout = ok(await pay(client, me, held["id"]), 201)
    await browser.confirm(checkout, card)

    async def settled() -> dict[str, Any] | None:
        (record,) = await payments_of(client, me, held["id"])
        payment: dict[str, Any] = record["payment"]
        return payment if payment["booking_outcome"] else None

    return held, await eventually(settled, "the payment settled")


async def test_a_customer_confirming_a_priced_hold_by_word_gets_402(
    client: Client, tokens: TokenTable, browser: Browser, clock: FixedClock
) -> None:
    shop = await open_shop(client, tokens, browser)
    me = tokens.customer()
    held = await hold(client, me, shop, start_in(clock, 72))

    refused = await client.post(f"/bookings/{held['id']}/confirm", headers=me)

    assert refused.status_code == 402
    assert refused.json()["type"] == "urn:reserva:problem:payment-required"
    assert f"/bookings/{held['id']}/payment" in refused.json()["detail"]
    assert await booking_status(client, me, held["id"]) == "held"


async def test_only_the_customer_pays_and_others_see_only_what_they_may(
    client: Client, tokens: TokenTable, browser: Browser, clock: FixedClock
) -> None:
    shop = await open_shop(client, tokens, browser)
    me, stranger, admin = tokens.customer(), tokens.customer(), tokens.admin()
    held = await hold(client, me, shop, start_in(clock, 72))
    ok(await pay(client, me, held["id"]), 201)

    strangers_pay = await pay(client, stranger, held["id"])
    strangers_look = await client.get(f"/bookings/{held['id']}/payment", headers=stranger)
    staff_pay = await pay(client, shop.staff, held["id"])
    unknown = await pay(client, me, str(uuid.uuid4()))

    assert strangers_pay.status_code == 404
    assert strangers_look.status_code == 404
    assert staff_pay.status_code == 403  # staff see it, but only its customer pays
    assert unknown.status_code == 404
    assert len(await payments_of(client, shop.staff, held["id"])) == 1
    assert len(await payments_of(client, admin, held["id"])) == 1
    assert ok(await client.get("/me/payments", headers=stranger))["items"] == []


async def test_a_declined_card_fails_the_payment_in_words_without_card_details(
    client: Client, tokens: TokenTable, browser: Browser, clock: FixedClock
) -> None:
    shop = await open_shop(client, tokens, browser)
    me = tokens.customer()
    held = await hold(client, me, shop, start_in(clock, 72))
    checkout = ok(await pay(client, me, held["id"]), 201)
    await browser.confirm(checkout, "pm_card_chargeDeclined")

    async def failed() -> dict[str, Any] | None:
        (record,) = await payments_of(client, me, held["id"])
        payment: dict[str, Any] = record["payment"]
        return payment if payment["status"] == "failed" else None

    payment = await eventually(failed, "payment_intent.payment_failed")
    again = ok(await pay(client, me, held["id"]))  # another card, on the same payment
    card_in_body = await client.post(
        f"/bookings/{held['id']}/payment",
        headers=me,
        json={"card": "4242 4242 4242 4242", "cvc": "123"},
    )

    assert payment["failure"] == "Your card was declined."
    assert await booking_status(client, me, held["id"]) == "held"
    assert again["payment"]["id"] == payment["id"]
    assert card_in_body.status_code == 400
    assert card_in_body.json()["type"] == "urn:reserva:problem:card-data-refused"
    _no_card_details(payment, again, card_in_body.text, checkout)


async def test_goodwill_refunds_need_a_request_key_refund_once_and_are_capped(
    client: Client, tokens: TokenTable, browser: Browser, clock: FixedClock, fake: LocalStripe
) -> None:
    shop = await open_shop(client, tokens, browser)
    me, admin = tokens.customer(), tokens.admin()
    _, payment = await _paid(client, browser, shop, me, clock, "pm_card_visa")
    path = f"/admin/payments/{payment['id']}/refunds"
    body = {"amount_minor": 300, "currency": "EUR", "note": "the court lights failed"}
    key = {"Idempotency-Key": f"ticket-{uuid.uuid4()}"}

    keyless = await client.post(path, json=body, headers=admin)
    first = await client.post(path, json=body, headers=admin | key)
    replay = await client.post(path, json=body, headers=admin | key)
    over_cap = await client.post(
        path,
        json=body | {"amount_minor": PRICE // 2},
        headers=admin | {"Idempotency-Key": f"ticket-{uuid.uuid4()}"},
    )
    not_admin = await client.post(path, json=body, headers=shop.staff | {"Idempotency-Key": "mine"})
    stats = await in_thread(fake.control.stats)

    assert keyless.status_code == 422  # the key names the refund: it is required
    assert keyless.json()["errors"][0]["field"] == "Idempotency-Key"
    assert first.status_code == 201
    assert first.json()["reason"] == "goodwill"
    assert first.json()["amount"]["amount_minor"] == 300
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] == first.json()["id"]
    assert over_cap.status_code == 422
    assert over_cap.json()["type"] == "urn:reserva:problem:goodwill-cap-exceeded"
    assert not_admin.status_code == 403
    (moved,) = stats["payment_intents"].values()
    assert moved["refunded"] == 300  # once
    _no_card_details(first.json(), over_cap.json())


async def test_an_admin_rejects_a_risky_payment_the_booking_is_cancelled_and_refunded(
    client: Client, tokens: TokenTable, browser: Browser, clock: FixedClock
) -> None:
    shop = await open_shop(client, tokens, browser)
    me, admin = tokens.customer(), tokens.admin()
    held, payment = await _paid(client, browser, shop, me, clock, "pm_card_riskLevelElevated")

    queue = ok(await client.get("/admin/payments/review", headers=admin))
    rejected = ok(
        await client.post(
            f"/admin/payments/{payment['id']}/review",
            json={"approve": False, "note": "stolen card, the bank says"},
            headers=admin,
        )
    )
    twice = await client.post(
        f"/admin/payments/{payment['id']}/review",
        json={"approve": True, "note": "changed my mind"},
        headers=admin,
    )

    item = next(i for i in queue if i["payment"]["id"] == payment["id"])
    assert payment["review"] == "pending"
    assert "elevated" in item["reason"]
    assert item["risk"]["level"] == "elevated"
    assert rejected["payment"]["review"] == "rejected"
    assert rejected["refund"]["amount"]["amount_minor"] == PRICE
    assert rejected["refund"]["reason"] == "review_rejected"
    assert twice.status_code == 409
    assert await booking_status(client, me, held["id"]) == "cancelled"
    _no_card_details(queue, rejected)


async def test_staff_see_their_providers_money_and_admins_the_books(
    client: Client, tokens: TokenTable, browser: Browser, clock: FixedClock
) -> None:
    shop = await open_shop(client, tokens, browser)
    me, admin = tokens.customer(), tokens.admin()
    await _paid(client, browser, shop, me, clock, "pm_card_visa")

    money = ok(await client.get(f"/providers/{shop.provider_id}/balance", headers=shop.staff))
    others = await client.get(f"/providers/{shop.provider_id}/balance", headers=me)
    books = ok(
        await client.get(
            "/admin/ledger/balances", params={"provider_id": shop.provider_id}, headers=admin
        )
    )
    everything = ok(await client.get("/admin/ledger/balances", headers=admin))

    owed = {(b["account"], b["balance"]["amount_minor"]) for b in money["ledger"]}
    assert money["charges_enabled"] is True
    assert ("provider_payable", PRICE - COMMISSION) in owed
    assert [m["amount"]["currency"] for m in money["processor"]] == ["EUR"] * len(
        money["processor"]
    )
    assert others.status_code == 403
    assert {(b["account"], b["balance"]["amount_minor"]) for b in books["items"]} == owed
    totals: dict[str, int] = {}
    for balance in everything["items"]:
        currency = balance["balance"]["currency"]
        totals[currency] = totals.get(currency, 0) + balance["balance"]["amount_minor"]
    assert set(totals.values()) == {0}  # the books balance


async def test_terms_are_public_to_read_and_staff_with_mfa_change_them(
    client: Client, tokens: TokenTable, browser: Browser
) -> None:
    shop = await open_shop(client, tokens, browser)
    path = f"/offerings/{shop.offering['id']}/terms"
    deposit = {
        "tiers": [{"notice_minutes": 2880, "percent": 100}],
        "deposit": {"percent": 30, "balance_due_before_minutes": 1440},
    }

    default = ok(await client.get(path))
    without_mfa = await client.put(
        path, json=deposit, headers=tokens.staff(shop.provider_id, mfa=False)
    )
    customer = await client.put(path, json=deposit, headers=tokens.customer())
    rising = await client.put(
        path,
        json={"tiers": [{"notice_minutes": 60, "percent": 100},
                        {"notice_minutes": 2880, "percent": 50}]},
        headers=shop.staff,
    )  # fmt: skip
    changed = ok(await client.put(path, json=deposit, headers=shop.staff))
    unknown = await client.get(f"/offerings/{uuid.uuid4()}/terms")

    assert default["version"] == 0
    assert without_mfa.status_code == 403
    assert without_mfa.json()["type"] == "urn:reserva:problem:mfa-required"
    assert customer.status_code in (403, 404)
    assert rising.status_code == 422  # cancelling later may never refund more
    assert changed["version"] == 1
    assert changed["deposit"]["percent"] == 30
    assert changed["summary"][0] == "pay 30 % now, the rest 24 h before the start"
    assert ok(await client.get(path)) == changed
    assert unknown.status_code == 404


async def test_the_webhook_endpoint_refuses_what_stripe_did_not_sign(client: Client) -> None:
    event = json.dumps({"id": "evt_forged", "type": "payment_intent.succeeded"}).encode()

    unsigned = await client.post(
        "/webhooks/stripe", content=event, headers={"Content-Type": "application/json"}
    )
    forged = await client.post(
        "/webhooks/stripe",
        content=event,
        headers={"Content-Type": "application/json", "Stripe-Signature": "t=1,v1=deadbeef"},
    )

    for refused in (unsigned, forged):
        assert refused.status_code == 400
        assert refused.json()["type"] == "urn:reserva:problem:bad-signature"
        assert "evt_forged" not in refused.text


async def test_every_money_action_is_in_the_audit_log(
    client: Client, tokens: TokenTable, browser: Browser, clock: FixedClock
) -> None:
    shop = await open_shop(client, tokens, browser)
    me, admin = tokens.customer(), tokens.admin()
    terms = {"tiers": [{"notice_minutes": 2880, "percent": 100}]}
    ok(await client.put(f"/offerings/{shop.offering['id']}/terms", json=terms, headers=shop.staff))
    held, payment = await _paid(client, browser, shop, me, clock, "pm_card_visa")
    ok(await client.post(f"/bookings/{held['id']}/cancel", headers=me))

    async def refunded() -> bool:
        (record,) = await payments_of(client, me, held["id"])
        return [r["status"] for r in record["refunds"]] == ["succeeded"]

    await eventually(refunded, "the cancellation refund")
    log = ok(await client.get("/admin/audit", params={"limit": 1000}, headers=admin))
    about_payment = {e["action"] for e in log if e["details"].get("payment_id") == payment["id"]}
    by_staff = {e["action"] for e in log if e["actor_user_id"] == tokens.user_id(shop.staff)}

    assert {"payment.started", "payment.succeeded", "refund.requested", "refund.succeeded"} <= (
        about_payment
    )
    assert {"connect.onboarding_started", "terms.changed"} <= by_staff
    _no_card_details(log)
