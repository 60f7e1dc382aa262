"""The integration proof of issue 10, as one person's story over real HTTP: the production app
on uvicorn with its in-process worker, over private PostGIS and Redis, paying at the local
Stripe fake through the Stripe SDK and mailing through the SendGrid SDK to the messaging fake.

A person registers, verifies through the mailed link, logs in, books a priced court and pays
for it; the confirmation is mailed. Their export holds all of that. They erase themselves with
their password; the job runs. Then: their sessions and download links are dead, the provider
still has the booking (a bare customer id, no account behind it), the books balance, money can
still go back to the card they paid with, and no table, outbox event, job or SendGrid
suppression list holds their email, phone number, IP address or user agent in clear.

Beside messaging's end-to-end tests because their fixtures carry most of it (real accounts,
the worker, the messaging fake); this module adds the Stripe fake.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from messaging_http_support import (
    PASSWORD,
    Authenticators,
    Client,
    Fake,
    Person,
    eventually,
    ok,
    open_shop,
    scalar,
    verified_person,
)
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from devservers.net import free_port
from devservers.stripe_fake import LocalStripe
from entrypoints.settings import Settings
from raw_dump import raw_database

pytestmark = pytest.mark.usefixtures("worker")

STRIPE_SECRET = "sk_test_reserva_privacy"
STRIPE_PUBLISHABLE = "pk_test_reserva_privacy"
STRIPE_WEBHOOK_SECRET = "whsec_reserva_privacy_0123456789"
CARD = "pm_card_visa"
PRICE = 4200  # EUR minor units
GOODWILL = 500
PHONE = "+4915123456791"
USER_AGENT = "JourneyAgent/1.0 (privacy-proof; marker-ua-9d41)"
CLIENT_IP = "127.0.0.1"  # where the test's requests come from, as the app sees them
# The client's address stored as a value; the same digits inside a URL (another test's webhook
# endpoint, a fake's address) are a server's, not the person's.
STORED_CLIENT_IP = re.compile(r"(?<![/\w.])127\.0\.0\.1(?![:\w.])")


# ---------------------------------------------------------------- the Stripe fake, wired in


@pytest.fixture(scope="module")
def stripe() -> Iterator[LocalStripe]:
    with LocalStripe(free_port()) as fake:
        yield fake


@pytest.fixture
def settings(settings: Settings, stripe: LocalStripe) -> Settings:
    """Messaging's settings, plus payments at the Stripe fake."""
    return settings.model_copy(
        update={
            "stripe_api_key": SecretStr(STRIPE_SECRET),
            "stripe_publishable_key": STRIPE_PUBLISHABLE,
            "stripe_api_base": stripe.api_base,
            "stripe_webhook_secret": SecretStr(STRIPE_WEBHOOK_SECRET),
        }
    )


@pytest.fixture
async def paying(base_url: str, stripe: LocalStripe) -> AsyncIterator[None]:
    """The Stripe fake's webhooks pointed at the app while the test runs."""
    await asyncio.to_thread(stripe.control.reset)
    url = f"{base_url}/webhooks/stripe"
    await asyncio.to_thread(lambda: stripe.control.configure_webhook(url, STRIPE_WEBHOOK_SECRET))
    try:
        yield
    finally:
        await asyncio.to_thread(stripe.control.flush_webhooks)
        await asyncio.to_thread(lambda: stripe.control.configure_webhook(None, None))


@pytest.fixture
async def stripe_api(stripe: LocalStripe) -> AsyncIterator[httpx.AsyncClient]:
    """Stripe's API as the browser (publishable key) and the dashboard (secret key) reach it."""
    async with httpx.AsyncClient(base_url=stripe.api_base, timeout=30) as http:
        yield http


# ---------------------------------------------------------------- chapters of the story


async def open_paid_shop(
    client: Client, people: Authenticators, stripe_api: httpx.AsyncClient
) -> tuple[str, dict[str, str], str]:
    """The messaging tests' shop with a priced court, onboarded at Stripe: (provider id, its
    staff's headers, the offering id)."""
    shop = await open_shop(client, people, price_minor=PRICE)
    provider_id, staff = shop.provider_id, shop.staff
    link = ok(
        await client.post(
            f"/providers/{provider_id}/payments/onboarding",
            json={"return_url": "https://app.reserva.test/done",
                  "refresh_url": "https://app.reserva.test/again"},
            headers=staff,
        )
    )  # fmt: skip
    assert (await stripe_api.get(link["url"])).status_code in (200, 303)  # hosted onboarding

    async def charges_enabled() -> bool:
        balance = ok(await client.get(f"/providers/{provider_id}/balance", headers=staff))
        return bool(balance["charges_enabled"])

    await eventually(charges_enabled, "the provider's account.updated webhook")
    return provider_id, staff, shop.offering_id


async def book_and_pay(
    client: Client, stripe_api: httpx.AsyncClient, person: Person, offering_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Hold a slot three days ahead, pay with a test card in the 'browser' (Stripe.js talks
    to Stripe, never to us), wait for the webhook to confirm: (booking, payment)."""
    start = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    held = ok(
        await client.post(
            "/bookings",
            json={"offering_id": offering_id, "start": start.isoformat()},
            headers=person.headers,
        ),
        201,
    )
    checkout = ok(await client.post(f"/bookings/{held['id']}/payment", headers=person.headers), 201)
    intent = checkout["client_secret"].split("_secret_")[0]
    confirmed = await stripe_api.post(
        f"/v1/payment_intents/{intent}/confirm",
        data={"client_secret": checkout["client_secret"], "payment_method": CARD,
              "return_url": "https://app.reserva.test/paid"},
        headers={"Authorization": f"Bearer {checkout['publishable_key']}"},
    )  # fmt: skip
    assert confirmed.status_code == 200, confirmed.text

    async def booking_confirmed() -> dict[str, Any] | None:
        booking = ok(await client.get(f"/bookings/{held['id']}", headers=person.headers))
        return booking if booking["status"] == "confirmed" else None

    booking = await eventually(booking_confirmed, "the paid booking confirmed")
    (record,) = ok(await client.get(f"/bookings/{held['id']}/payment", headers=person.headers))
    return booking, record["payment"]


async def grant_marketing(client: Client, people: Authenticators, person: Person) -> None:
    published = await client.post(
        "/admin/privacy/policies",
        json={"kind": "privacy", "text": "We keep what you give us, sealed, until you erase it."},
        headers=people.admin(),
    )
    ok(published, 201)
    ok(
        await client.post(
            "/me/consents",
            json={"purpose": "marketing", "channel": "email", "decision": "granted"},
            headers=person.headers,
        ),
        201,
    )


async def download_export(client: Client, person: Person) -> tuple[str, dict[str, Any]]:
    """GET /me/export until the job built it; (the download link, the document)."""

    async def ready() -> dict[str, Any] | None:
        answer = await client.get("/me/export", headers=person.headers)
        assert answer.status_code in (200, 202), answer.text
        assert answer.headers["Cache-Control"] == "no-store"
        return answer.json() if answer.status_code == 200 else None

    export = await eventually(ready, "the export built")
    download = await client.get(export["download_url"])  # no bearer: the link is the credential
    assert download.status_code == 200, download.text
    assert "attachment" in download.headers["Content-Disposition"]
    return export["download_url"], download.json()


async def erasure_completed(owner: AsyncEngine, person: Person) -> list[str]:
    async def completed() -> list[str] | None:
        steps = await scalar(
            owner,
            "SELECT steps_done FROM erasure_requests"
            " WHERE person_id = CAST(:person AS uuid) AND completed_at IS NOT NULL",
            person=person.user_id,
        )
        return list(steps) if steps is not None else None

    return await eventually(completed, "the erase_person job completed")


async def refunds_settled(
    client: Client, staff: dict[str, str], booking_id: str, count: int
) -> list[dict[str, Any]]:
    async def settled() -> list[dict[str, Any]] | None:
        (record,) = ok(await client.get(f"/bookings/{booking_id}/payment", headers=staff))
        refunds: list[dict[str, Any]] = record["refunds"]
        done = len(refunds) == count and all(r["status"] == "succeeded" for r in refunds)
        return refunds if done else None

    return await eventually(settled, f"{count} refunds succeeded")


def assert_the_books_balance(
    balances: dict[str, Any], ledger: dict[str, Any], payment_id: str
) -> None:
    totals: dict[str, int] = {}
    for item in balances["items"]:
        money = item["balance"]
        totals[money["currency"]] = totals.get(money["currency"], 0) + money["amount_minor"]
    assert "EUR" in totals
    assert set(totals.values()) == {0}, totals
    mine = [txn for txn in ledger["items"] if txn["payment_id"] == payment_id]
    assert len(mine) >= 3, mine  # the charge, the goodwill refund, the cancellation's refund
    for txn in ledger["items"]:
        assert sum(entry["amount_minor"] for entry in txn["entries"]) == 0, txn


async def suppression_lists(fake: Fake) -> dict[str, Any]:
    lists: dict[str, Any] = ok(await fake.http.get("/_test/sendgrid/suppressions"))["suppressions"]
    return lists


async def redis_entries(redis_url: str) -> list[str]:
    """Every Redis key with its value (throttles, live sessions, idempotency), as text."""
    redis = Redis.from_url(redis_url)
    try:
        entries = []
        async for key in redis.scan_iter():
            kind = (await redis.type(key)).decode()
            value: object = await redis.get(key) if kind == "string" else None
            if kind == "hash":
                value = await redis.hgetall(key)
            entries.append(f"{key!r} {value!r}")
        return entries
    finally:
        await redis.aclose()


# ---------------------------------------------------------------- the story


@pytest.mark.usefixtures("paying")
async def test_a_paying_customer_exports_then_erases_and_the_books_still_balance(
    client: Client,
    fake: Fake,
    people: Authenticators,
    owner: AsyncEngine,
    stripe_api: httpx.AsyncClient,
    redis_url: str,
) -> None:
    client.headers["User-Agent"] = USER_AGENT
    admin = people.admin()

    # -- register, verify through the mailed link, log in; a phone for WhatsApp; a consent
    person = await verified_person(client, fake, "journey")
    ok(
        await client.put(
            "/me/contact-preferences",
            json={"locale": "en", "phone": PHONE, "whatsapp_opt_in": True},
            headers=person.headers,
        )
    )
    await grant_marketing(client, people, person)

    # -- book a priced court and pay at Stripe; the worker mails the confirmation
    provider_id, staff, offering_id = await open_paid_shop(client, people, stripe_api)
    booking, payment = await book_and_pay(client, stripe_api, person, offering_id)
    confirmation = await fake.mail_to(person.email, "booking_confirmed")
    assert payment["amount"]["amount_minor"] == PRICE
    assert payment["status"] == "succeeded"
    # SendGrid listed the address (say, a spam report): a copy of it at the provider
    ok(
        await fake.http.post(
            "/_test/sendgrid/suppressions",
            json={"list": "spam_reports", "email": person.email},
        )
    )
    assert person.email.lower() in json.dumps(await suppression_lists(fake)).lower()

    # -- the export holds the account, the booking, the payment, the messages, consents, sessions
    old_link, export = await download_export(client, person)
    assert export["format"] == "reserva-export/1"
    assert export["person"] == person.user_id
    assert export["account"]["email"] == person.email
    assert [b["id"] for b in export["bookings"]] == [booking["id"]]
    assert export["bookings"][0]["price"] == {"amount_minor": PRICE, "currency": "EUR"}
    (paid,) = export["payments"]
    assert paid["amount"] == {"amount_minor": PRICE, "currency": "EUR"}
    assert "pm_" not in json.dumps(paid)  # never card data
    mailed = {(m["kind"], m["address"]) for m in export["messages"]["messages"]}
    assert ("email_verification", person.email) in mailed
    assert ("booking_confirmed", person.email) in mailed
    assert export["messages"]["contact_preferences"]["whatsapp_phone"] == PHONE
    assert ("marketing", "email", "granted") in {
        (c["purpose"], c["channel"], c["decision"]) for c in export["consents"]
    }
    assert any(s["user_agent"] == USER_AGENT for s in export["sessions"])

    # -- erasure: the current password, then the job
    wrong = await client.post(
        "/me/erasure", json={"password": "not my password"}, headers=person.headers
    )
    assert wrong.status_code == 403
    asked = ok(
        await client.post("/me/erasure", json={"password": PASSWORD}, headers=person.headers), 202
    )
    assert asked["status"] in ("requested", "completed")
    steps = await erasure_completed(owner, person)
    assert steps[:3] == ["privacy.exports", "erase:messages", "erase:photos"]
    assert "shred" in steps
    assert steps.index("shred") < steps.index("erase:account")

    # -- the person is gone: no session, no export, no link, no login
    assert (await client.get("/me/export", headers=person.headers)).status_code == 401
    assert (await client.get("/me", headers=person.headers)).status_code == 401
    assert (await client.get(old_link)).status_code in (404, 410)
    relogin = await client.post("/auth/login", json={"email": person.email, "password": PASSWORD})
    assert relogin.status_code == 401

    # -- the provider still has the booking in its schedule, as "erased customer"
    schedule = ok(await client.get(f"/providers/{provider_id}/bookings", headers=staff))["items"]
    (kept,) = [b for b in schedule if b["id"] == booking["id"]]
    assert kept["status"] == "confirmed"
    assert kept["customer_id"] == person.user_id
    assert kept["customer"] == {"id": person.user_id, "erased": True}
    assert person.email not in json.dumps(schedule)
    users = await scalar(
        owner, "SELECT count(*) FROM users WHERE id = CAST(:id AS uuid)", id=person.user_id
    )
    assert users == 0

    # -- money can still go back to the card: a goodwill refund, then the provider cancels
    goodwill = await client.post(
        f"/admin/payments/{payment['id']}/refunds",
        json={"amount_minor": GOODWILL, "currency": "EUR", "note": "court lights failed"},
        headers=admin | {"Idempotency-Key": f"ticket-{uuid.uuid4()}"},
    )
    ok(goodwill, 201)
    cancelled = ok(await client.post(f"/bookings/{booking['id']}/cancel", headers=staff))
    assert cancelled["cancelled_by"] == "provider"
    refunds = await refunds_settled(client, staff, booking["id"], 2)
    assert sorted(r["amount"]["amount_minor"] for r in refunds) == [GOODWILL, PRICE - GOODWILL]
    secret = {"Authorization": f"Bearer {STRIPE_SECRET}"}
    (intent_id,) = {
        r["payment_intent"] for r in await _stripe_list(stripe_api, "/v1/charges", secret)
    }
    charges = await _stripe_list(stripe_api, "/v1/charges", secret, payment_intent=intent_id)
    (charge,) = charges
    at_stripe = await _stripe_list(stripe_api, "/v1/refunds", secret, payment_intent=intent_id)
    assert sorted(r["amount"] for r in at_stripe) == [GOODWILL, PRICE - GOODWILL]
    assert {r["charge"] for r in at_stripe} == {charge["id"]}  # the original charge's card
    assert {r["status"] for r in at_stripe} == {"succeeded"}

    # -- the books balance
    now = datetime.now(UTC)
    window = {
        "since": (now - timedelta(hours=1)).isoformat(),
        "until": (now + timedelta(hours=1)).isoformat(),
    }
    assert_the_books_balance(
        ok(await client.get("/admin/ledger/balances", headers=admin)),
        ok(await client.get("/admin/ledger", params=window, headers=admin)),
        payment["id"],
    )

    # -- nothing of the person in clear: every table (outbox and job queue included), SendGrid's
    # suppression lists; SendGrid's activity keeps the mails it sent (no deletion API: it
    # expires after SendGrid's retention, as docs/privacy.md says), and nothing new was sent
    dump = await raw_database(owner)
    assert any(
        line.startswith("bookings: ") and booking["id"] in line for line in dump.splitlines()
    )
    assert any(
        line.startswith("payments: ") and payment["id"] in line for line in dump.splitlines()
    )
    for table in ("outbox", "procrastinate_jobs"):
        assert any(line.startswith(f"{table}: ") for line in dump.splitlines())
    values = (person.email, person.email.lower(), person.email.split("@")[0], PHONE,
              PHONE.removeprefix("+"), USER_AGENT, "marker-ua-9d41")  # fmt: skip
    leaks = [
        line[:200]
        for line in dump.splitlines()
        if any(v in line for v in values) or STORED_CLIENT_IP.search(line)
    ]
    assert leaks == []
    assert person.email.lower() not in json.dumps(await suppression_lists(fake)).lower()
    assert [
        entry
        for entry in await redis_entries(redis_url)
        if any(v in entry for v in values) or STORED_CLIENT_IP.search(entry)
    ] == []
    sent = await fake.mails_to(person.email)
    assert confirmation["x_message_id"] in {m["x_message_id"] for m in sent}
    assert "booking_cancelled" not in {
        c for m in sent for c in m["request"].get("categories") or []
    }


async def _stripe_list(
    http: httpx.AsyncClient, path: str, headers: dict[str, str], **params: str
) -> list[dict[str, Any]]:
    answer = await http.get(path, params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["data"]
    return found
