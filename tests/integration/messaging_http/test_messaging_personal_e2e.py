"""Issue 10: after registration, a WhatsApp opt-in, a booking and a bounce, messaging's and the
job queue's rows hold no email address or phone number in clear (outbox payloads carry ids;
addresses and phones are sealed per person; bounces and service windows are hashes)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from messaging_http_support import (
    Authenticators,
    Client,
    Fake,
    book,
    message_of,
    ok,
    open_shop,
    verified_person,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from raw_dump import raw_database

pytestmark = pytest.mark.usefixtures("worker")

PHONE = "+4915123456790"
START = datetime(2027, 4, 14, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))
CHECKED = (
    "outbox",
    "procrastinate_jobs",
    "procrastinate_events",
    "job_failures",
    "messages",
    "contact_preferences",
    "undeliverable_addresses",
    "whatsapp_windows",
    "payments",
    "refunds",
)


async def test_no_address_or_phone_in_clear_in_outbox_jobs_or_messaging_rows(
    client: Client, fake: Fake, people: Authenticators, owner: AsyncEngine
) -> None:
    person = await verified_person(client, fake, "sealed")
    ok(
        await client.put(
            "/me/contact-preferences",
            json={"locale": "en", "phone": PHONE, "whatsapp_opt_in": True},
            headers=person.headers,
        )
    )
    shop = await open_shop(client, people)
    await book(client, person, shop, START)
    confirmed = await fake.mail_to(person.email, "booking_confirmed")
    await fake.events({"x_message_id": confirmed["x_message_id"], "event": "bounce"})
    await message_of(client, person, "booking_confirmed", "bounced")

    rows = [
        line
        for line in (await raw_database(owner)).splitlines()
        if line.split(": ", 1)[0] in CHECKED
    ]
    for table in ("outbox", "procrastinate_jobs", "messages", "contact_preferences"):
        assert any(line.startswith(f"{table}: ") for line in rows)
    values = (person.email, person.email.lower(), PHONE, PHONE.removeprefix("+"))
    assert [line for line in rows if any(value in line for value in values)] == []
    # ... and people still read their own addresses back
    mine = ok(await client.get("/me/messages", headers=person.headers))["items"]
    assert {m["address"] for m in mine} >= {person.email}
