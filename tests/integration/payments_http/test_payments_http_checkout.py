"""A customer pays for a hold: 3-D Secure at the bank, Stripe's word confirms the booking, the
ledger records the capture; duplicated and reordered webhooks change nothing twice; a lost
answer from Stripe followed by a retry charges once."""

from __future__ import annotations

from typing import Any

from dependency_injector import providers
from payments_http_support import (
    COMMISSION,
    PRICE,
    PUBLISHABLE_KEY,
    Browser,
    Client,
    TokenTable,
    booking_status,
    eventually,
    hold,
    in_thread,
    ok,
    open_shop,
    outbox,
    pay,
    payments_of,
    scalar,
    start_in,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.clock import FixedClock
from devservers.stripe_fake import LocalStripe
from entrypoints.container import Container


def _entries(txn: dict[str, Any]) -> dict[str, int]:
    return {e["account"]: e["amount_minor"] for e in txn["entries"]}


async def _ledger(client: Client, admin: dict[str, str], clock: FixedClock) -> list[dict[str, Any]]:
    window = {
        "since": (clock.now().replace(hour=0, minute=0, second=0)).isoformat(),
        "until": (clock.now().replace(hour=23, minute=59, second=59)).isoformat(),
    }
    items: list[dict[str, Any]] = ok(
        await client.get("/admin/ledger", params=window, headers=admin)
    )["items"]
    return items


async def test_hold_pay_with_3ds_and_stripes_webhook_confirms_the_booking(
    client: Client, tokens: TokenTable, browser: Browser, clock: FixedClock, owner: AsyncEngine
) -> None:
    shop = await open_shop(client, tokens, browser)
    me, admin = tokens.customer(), tokens.admin()
    held = await hold(client, me, shop, start_in(clock, 72))

    first = await pay(client, me, held["id"])
    again = await pay(client, me, held["id"])
    checkout = ok(first, 201)
    challenged = await browser.confirm(checkout, "pm_card_threeDSecure2Required")

    async def asked_for_3ds() -> bool:
        (payment,) = await payments_of(client, me, held["id"])
        return payment["payment"]["status"] == "requires_action"

    await eventually(asked_for_3ds, "payment_intent.requires_action")
    still_held = await booking_status(client, me, held["id"])
    await browser.authenticate(challenged["id"])

    async def confirmed() -> bool:
        return await booking_status(client, me, held["id"]) == "confirmed"

    await eventually(confirmed, "payment_intent.succeeded to confirm the booking")
    (record,) = await payments_of(client, me, held["id"])
    payment = record["payment"]
    mine = ok(await client.get("/me/payments", headers=me))
    ledger = await _ledger(client, admin, clock)
    capture = next(t for t in ledger if t["key"] == f"capture:{payment['id']}")

    # The hold shows the terms the customer accepts; paying answers them and the secret.
    assert held["terms"]["version"] == 0  # the platform default: the offering set none
    assert [t["percent"] for t in held["terms"]["tiers"]] == [100, 50]
    assert again.status_code == 200  # the open payment, returned
    assert again.json()["payment"]["id"] == checkout["payment"]["id"]
    assert checkout["publishable_key"] == PUBLISHABLE_KEY
    assert checkout["client_secret"].startswith(challenged["id"])
    assert checkout["terms"] == held["terms"]
    assert checkout["payment"]["amount"]["amount_minor"] == PRICE
    assert challenged["status"] == "requires_action"
    assert still_held == "held"  # the browser's word confirms nothing
    # Stripe's word did: the money, the booking, the books.
    assert payment["status"] == "succeeded"
    assert payment["captured"]["amount_minor"] == PRICE
    assert payment["booking_outcome"] == "confirmed"
    assert record["refunds"] == []
    assert [p["payment"]["id"] for p in mine["items"]] == [payment["id"]]
    assert _entries(capture) == {
        "customer": -PRICE,
        "provider_payable": PRICE - COMMISSION,
        "platform_revenue": COMMISSION,
    }
    assert capture["source"].startswith("ch_")  # the charge, as Stripe's balance names it
    fee = next(t for t in ledger if t["key"] == f"fee:{payment['id']}")
    assert _entries(fee)["processor_fees"] > 0
    assert sum(_entries(fee).values()) == 0
    assert len(await outbox(owner, "payments.payment_succeeded", payment_id=payment["id"])) == 1
    confirmations = await outbox(owner, "bookings.booking_confirmed", booking_id=held["id"])
    assert [event["paid"] for event in confirmations] == [True]


async def test_the_same_webhook_ten_times_and_out_of_order_changes_things_once(
    client: Client,
    tokens: TokenTable,
    browser: Browser,
    clock: FixedClock,
    fake: LocalStripe,
    owner: AsyncEngine,
) -> None:
    shop = await open_shop(client, tokens, browser)
    me, admin = tokens.customer(), tokens.admin()
    held = await hold(client, me, shop, start_in(clock, 72))
    await in_thread(fake.control.pause_webhooks)
    checkout = ok(await pay(client, me, held["id"]), 201)
    paid = await browser.confirm(checkout, "pm_card_visa")

    reordered = await in_thread(lambda: fake.control.deliver_shuffled("reversed"))
    succeeded = next(
        e["event"]["id"]
        for e in await in_thread(fake.control.events)
        if e["event"]["type"] == "payment_intent.succeeded"
        and e["event"]["data"]["object"]["id"] == paid["id"]
    )
    replays = await in_thread(lambda: fake.control.deliver_event(succeeded, times=10))
    await in_thread(fake.control.resume_webhooks)

    async def confirmed() -> bool:
        return await booking_status(client, me, held["id"]) == "confirmed"

    await eventually(confirmed, "the booking confirmed once")
    (record,) = await payments_of(client, me, held["id"])
    payment_id = record["payment"]["id"]
    captures = [
        t for t in await _ledger(client, admin, clock) if t["key"] == f"capture:{payment_id}"
    ]
    audited = ok(
        await client.get("/admin/audit", params={"action": "payment.succeeded"}, headers=admin)
    )

    assert paid["status"] == "succeeded"
    queued = [e["event"]["id"] for e in await in_thread(fake.control.events)]
    delivered = list(dict.fromkeys(d["event"] for d in reordered))
    assert len(delivered) >= 3
    assert delivered == [i for i in reversed(queued) if i in delivered]  # newest first
    assert {d["status"] for d in reordered} == {200}
    assert [d["status"] for d in replays] == [200] * 10
    assert record["payment"]["status"] == "succeeded"
    assert len(captures) == 1
    assert len(await outbox(owner, "payments.payment_succeeded", payment_id=payment_id)) == 1
    assert len(await outbox(owner, "bookings.booking_confirmed", booking_id=held["id"])) == 1
    assert [e["details"].get("payment_id") for e in audited].count(payment_id) == 1
    recorded = await scalar(
        owner, "SELECT count(*) FROM processor_events WHERE id = :id", id=succeeded
    )
    assert recorded == 1


class CrashAfter:
    """The app's gateway, but the answer of the next `operation` is lost after Stripe acted:
    what a crash of the process (or a network cut past the SDK's own retries) leaves."""

    def __init__(self, gateway: Any) -> None:
        self._gateway = gateway
        self._armed: set[str] = set()

    def arm(self, operation: str) -> None:
        self._armed.add(operation)

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._gateway, name)
        if name not in self._armed:
            return real

        async def acted_then_lost(*args: Any) -> Any:
            self._armed.discard(name)
            await real(*args)
            raise ConnectionError(f"the answer of {name} was lost")

        return acted_then_lost


async def test_a_lost_answer_from_stripe_then_a_retry_charges_once(
    container: Container,
    client: Client,
    tokens: TokenTable,
    browser: Browser,
    clock: FixedClock,
    fake: LocalStripe,
) -> None:
    gateway = CrashAfter(container.payment_gateway())
    container.payment_gateway.override(providers.Object(gateway))
    shop = await open_shop(client, tokens, browser)
    me = tokens.customer()
    held = await hold(client, me, shop, start_in(clock, 72))
    # The SDK loses Stripe's first answer and retries with the same key (Stripe replays it);
    # then the app loses the answer too, after the key was stored and Stripe acted.
    await in_thread(lambda: fake.control.drop_responses("/v1/payment_intents", times=1))
    gateway.arm("create_intent")

    lost = await pay(client, me, held["id"])
    retried = await pay(client, me, held["id"])
    checkout = ok(retried)
    await browser.confirm(checkout, "pm_card_visa")

    async def confirmed() -> bool:
        return await booking_status(client, me, held["id"]) == "confirmed"

    await eventually(confirmed, "the booking confirmed")
    stats = await in_thread(fake.control.stats)

    assert lost.status_code == 503
    assert lost.headers["retry-after"]
    assert lost.json()["type"] == "urn:reserva:problem:service-unavailable"
    assert checkout["payment"]["status"] == "created"
    assert stats["counts"]["payment_intents"] == 1
    assert stats["counts"]["charges"] == 1
    (moved,) = stats["payment_intents"].values()
    assert moved["charged"] == PRICE
    (record,) = await payments_of(client, me, held["id"])
    assert record["payment"]["status"] == "succeeded"
