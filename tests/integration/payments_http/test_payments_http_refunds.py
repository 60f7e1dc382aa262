"""Money going back: cancellations refund by the terms the customer accepted (in full when the
provider cancels), a hold paid after its slot was taken is refunded in full, a refund Stripe
fails is shown to admins, retried and resolved, and the day still reconciles."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from payments_http_support import (
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
    outbox,
    pay,
    payments_of,
    start_in,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.clock import FixedClock
from devservers.stripe_fake import LocalStripe
from entrypoints.container import Container


async def _paid(
    client: Client, browser: Browser, shop: Shop, me: dict[str, str], start: Any, card: str
) -> dict[str, Any]:
    """A hold, paid and confirmed; the booking."""
    held = await hold(client, me, shop, start)
    await browser.confirm(ok(await pay(client, me, held["id"]), 201), card)

    async def confirmed() -> bool:
        return await booking_status(client, me, held["id"]) == "confirmed"

    await eventually(confirmed, "the paid booking confirmed")
    return held


def _today(clock: FixedClock) -> dict[str, str]:
    midnight = clock.now().replace(hour=0, minute=0, second=0)
    return {"since": midnight.isoformat(), "until": (midnight + timedelta(days=1)).isoformat()}


async def _refunds_settled(
    client: Client, me: dict[str, str], booking_id: str, status: str
) -> list[dict[str, Any]]:
    async def settled() -> list[dict[str, Any]] | None:
        (record,) = await payments_of(client, me, booking_id)
        refunds: list[dict[str, Any]] = record["refunds"]
        return refunds if refunds and all(r["status"] == status for r in refunds) else None

    return await eventually(settled, f"refunds {status}")


async def test_a_cancellation_refunds_by_the_terms_accepted_even_after_they_changed(
    client: Client, tokens: TokenTable, browser: Browser, clock: FixedClock
) -> None:
    shop = await open_shop(client, tokens, browser)
    terms_path = f"/offerings/{shop.offering['id']}/terms"
    generous = {"tiers": [{"notice_minutes": 48 * 60, "percent": 100},
                          {"notice_minutes": 24 * 60, "percent": 50}]}  # fmt: skip
    set_first = ok(await client.put(terms_path, json=generous, headers=shop.staff))
    me = tokens.customer()
    held = await _paid(client, browser, shop, me, start_in(clock, 30), "pm_card_visa")
    stingy = {"tiers": [{"notice_minutes": 0, "percent": 0}]}  # nothing back, ever
    set_later = ok(await client.put(terms_path, json=stingy, headers=shop.staff))
    public = ok(await client.get(terms_path))

    cancelled = ok(await client.post(f"/bookings/{held['id']}/cancel", headers=me))
    (refund,) = await _refunds_settled(client, me, held["id"], "succeeded")

    assert set_first["version"] == 1
    assert held["terms"]["version"] == 1  # what the customer accepted by holding
    assert set_later["version"] == 2
    assert public["version"] == 2  # what a new hold would accept
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelled_by"] == "customer"
    assert cancelled["offering_id"] == shop.offering["id"]  # the booking, as before
    # 24 h <= notice < 48 h under version 1: half back, whatever version 2 says.
    assert [r["amount"]["amount_minor"] for r in cancelled["refunds"]] == [PRICE // 2]
    assert refund["amount"]["amount_minor"] == PRICE // 2
    assert refund["reason"] == "cancellation"


async def test_the_provider_cancelling_refunds_everything(
    client: Client, tokens: TokenTable, browser: Browser, clock: FixedClock
) -> None:
    shop = await open_shop(client, tokens, browser)
    me = tokens.customer()
    held = await _paid(client, browser, shop, me, start_in(clock, 2), "pm_card_visa")

    cancelled = ok(await client.post(f"/bookings/{held['id']}/cancel", headers=shop.staff))
    (refund,) = await _refunds_settled(client, me, held["id"], "succeeded")

    assert cancelled["cancelled_by"] == "provider"
    assert refund["amount"]["amount_minor"] == PRICE  # 2 h notice: the customer's would be 0
    (record,) = await payments_of(client, me, held["id"])
    assert record["payment"]["refundable"]["amount_minor"] == 0


async def test_a_customer_cancelling_late_gets_nothing_back(
    client: Client, tokens: TokenTable, browser: Browser, clock: FixedClock
) -> None:
    shop = await open_shop(client, tokens, browser)
    me = tokens.customer()
    held = await _paid(client, browser, shop, me, start_in(clock, 2), "pm_card_visa")

    cancelled = ok(await client.post(f"/bookings/{held['id']}/cancel", headers=me))

    assert cancelled["refunds"] == []
    (record,) = await payments_of(client, me, held["id"])
    assert record["refunds"] == []


async def test_a_hold_paid_after_its_slot_was_taken_is_refunded_in_full(
    client: Client,
    tokens: TokenTable,
    browser: Browser,
    clock: FixedClock,
    owner: AsyncEngine,
) -> None:
    shop = await open_shop(client, tokens, browser)
    me, rival = tokens.customer(), tokens.customer()
    start = start_in(clock, 72)
    held = await hold(client, me, shop, start)
    checkout = ok(await pay(client, me, held["id"]), 201)
    clock.advance(timedelta(minutes=11))  # the hold expires while the customer types
    taken = await hold(client, rival, shop, start)
    ok(await client.post(f"/bookings/{taken['id']}/confirm", headers=shop.staff))
    await browser.confirm(checkout, "pm_card_visa")  # the money arrives anyway

    (refund,) = await _refunds_settled(client, me, held["id"], "succeeded")
    (record,) = await payments_of(client, me, held["id"])
    told = await outbox(owner, "payments.slot_lost_refunded", booking_id=held["id"])

    assert record["payment"]["status"] == "succeeded"
    assert record["payment"]["booking_outcome"] == "slot_lost"
    assert refund["reason"] == "slot_lost"
    assert refund["amount"]["amount_minor"] == PRICE
    assert await booking_status(client, me, held["id"]) == "expired"
    assert await booking_status(client, rival, taken["id"]) == "confirmed"
    assert len(told) == 1  # the customer is told why (the message comes with messaging)


async def test_a_refund_stripe_fails_is_shown_retried_resolved_and_the_day_reconciles(
    client: Client,
    tokens: TokenTable,
    browser: Browser,
    clock: FixedClock,
    fake: LocalStripe,
) -> None:
    shop = await open_shop(client, tokens, browser)
    me, admin = tokens.customer(), tokens.admin()
    held = await _paid(client, browser, shop, me, start_in(clock, 72), "pm_card_refundFail")

    cancelled = ok(await client.post(f"/bookings/{held['id']}/cancel", headers=me))
    (failed,) = await _refunds_settled(client, me, held["id"], "failed")
    listed = ok(await client.get("/admin/refunds", params={"status": "failed"}, headers=admin))
    retried = ok(await client.post(f"/admin/refunds/{failed['id']}/retry", headers=admin))
    (failed_again,) = await _refunds_settled(client, me, held["id"], "failed")
    resolved = ok(
        await client.post(
            f"/admin/refunds/{failed['id']}/resolve",
            json={"note": "paid back by bank transfer, ref 4711"},
            headers=admin,
        )
    )
    reconciled = ok(
        await client.get(
            "/admin/reconciliation", params={"day": clock.now().date().isoformat()}, headers=admin
        )
    )
    actions = {
        action: ok(await client.get("/admin/audit", params={"action": action}, headers=admin))
        for action in ("refund.requested", "refund.failed", "refund.retried", "refund.resolved")
    }

    assert [r["amount"]["amount_minor"] for r in cancelled["refunds"]] == [PRICE]
    assert failed["failure"]  # in words, e.g. the card expired or was cancelled
    assert failed["id"] in [r["id"] for r in listed["items"]]
    assert retried["attempt"] == 2
    assert failed_again["attempt"] == 2
    assert resolved["status"] == "succeeded"
    assert resolved["note"] == "paid back by bank transfer, ref 4711"
    assert resolved["resolved_by"] == tokens.user_id(admin)
    # Everything at the (reset) fake today is this test's: nothing of it is missing from the
    # ledger, and its charge matches. (Earlier tests' charges, gone from the fake with its
    # reset, show as missing at the processor: the shared database remembers them.)
    charge = next(
        t["source"]
        for t in ok(await client.get("/admin/ledger", params=_today(clock), headers=admin))["items"]
        if t["key"] == f"capture:{failed['payment_id']}"
    )
    assert [d for d in reconciled["differences"] if d["kind"] != "missing_at_processor"] == []
    assert charge not in {d["source"] for d in reconciled["differences"]}
    assert reconciled["matched"] >= 1  # the charge; the failed refunds net to nothing
    for action, entries in actions.items():
        assert any(e["details"].get("refund_id") == failed["id"] for e in entries), action
    stats = await in_thread(fake.control.stats)
    (moved,) = stats["payment_intents"].values()
    assert moved == {"currency": "eur", "charged": PRICE, "refunded": 0}  # both attempts failed


async def test_a_deposit_now_and_the_balance_charged_off_session_when_due(
    client: Client,
    tokens: TokenTable,
    browser: Browser,
    clock: FixedClock,
    container: Container,
    owner: AsyncEngine,
) -> None:
    shop = await open_shop(client, tokens, browser)
    terms = {
        "tiers": [{"notice_minutes": 48 * 60, "percent": 100}],
        "deposit": {"percent": 30, "balance_due_before_minutes": 24 * 60},
    }
    ok(await client.put(f"/offerings/{shop.offering['id']}/terms", json=terms, headers=shop.staff))
    me = tokens.customer()
    held = await _paid(client, browser, shop, me, start_in(clock, 72), "pm_card_visa")
    parts = {r["payment"]["part"]: r["payment"] for r in await payments_of(client, me, held["id"])}
    deposit, balance = parts["deposit"], parts["balance"]

    clock.advance(timedelta(hours=49))  # the balance falls due 24 h before the start
    report = await container.settle_payments()()  # the sweeper `serve` runs every minute

    async def balance_paid() -> bool:
        found = [r["payment"] for r in await payments_of(client, me, held["id"])]
        return [p["status"] for p in found] == ["succeeded", "succeeded"]

    await eventually(balance_paid, "the balance charged off-session")

    assert held["terms"]["deposit"]["percent"] == 30
    assert (deposit["part"], deposit["amount"]["amount_minor"]) == ("deposit", 615)
    assert (balance["part"], balance["amount"]["amount_minor"]) == ("balance", PRICE - 615)
    assert balance["status"] == "created"
    assert balance["due_at"] is not None
    assert report.balances_charged == 1
    assert await booking_status(client, me, held["id"]) == "confirmed"
