"""The proof of issue 9 over real HTTP, with a real worker: every mail leaves through the
SendGrid SDK to the local fake exactly once, carries what it should (a working link, a valid
.ics), reminders sit in the queue at the right UTC instants, and the providers' signed
webhooks move statuses forward (a forged one changes nothing)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import ics
import pytest
from click.testing import Result
from messaging_http_support import (
    PASSWORD,
    WEB,
    ZONE,
    Authenticators,
    Client,
    Fake,
    attachment,
    book,
    content,
    eventually,
    link_token,
    log_in,
    message_of,
    my_messages,
    ok,
    open_shop,
    pending_reminders,
    register,
    unique_email,
    verified_person,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from devservers.postgres import LocalDatabase
from entrypoints.cli.main import app
from raw_dump import raw_database

VERIFY_TOKEN = "whatsapp-verify-e2e"

pytestmark = pytest.mark.usefixtures("worker")

BERLIN = ZoneInfo(ZONE)
# Summer time starts in Berlin on 2027-03-28 at 02:00 (clocks jump to 03:00): that day has
# 23 hours, so "24 hours before" 10:00 on the 28th is 09:00 on the 27th, local time.
DST_DAY_START = datetime(2027, 3, 28, 10, 0, tzinfo=BERLIN)  # 08:00 UTC (CEST, +02:00)
NEXT_DAY_START = datetime(2027, 3, 29, 10, 0, tzinfo=BERLIN)  # 08:00 UTC
HOUR = timedelta(hours=1)
runner = CliRunner()


def utc(year: int, month: int, day: int, hour: int) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


async def test_registering_mails_a_link_that_verifies_the_account(
    client: Client, fake: Fake
) -> None:
    email = unique_email("verify")
    await register(client, email)

    mail = await fake.mail_to(email, "email_verification")
    assert mail["request"]["from"]["email"]
    assert content(mail, "text/html")  # HTML and text parts both
    assert WEB in content(mail, "text/plain")
    ok(await client.post("/auth/verify-email", json={"token": link_token(mail)}), 204)

    headers = await log_in(client, email)
    assert ok(await client.get("/me", headers=headers))["email_verified"] is True
    mine = ok(await client.get("/me/messages", headers=headers))["items"]
    assert [(m["kind"], m["status"]) for m in mine] == [("email_verification", "sent")]
    assert mine[0]["provider_message_id"]


async def test_mailed_tokens_are_only_in_the_mails_never_in_a_row_or_a_job(
    client: Client, fake: Fake, owner: AsyncEngine
) -> None:
    email = unique_email("dump")
    await register(client, email)
    verification = await fake.mail_to(email, "email_verification")
    ok(await client.post("/auth/password/reset-request", json={"email": email}), 202)
    reset = await fake.mail_to(email, "password_reset")

    dump = await raw_database(owner)
    tokens = [link_token(verification), link_token(reset)]

    assert all(len(token) >= 32 for token in tokens)
    for table in ("outbox", "procrastinate_jobs", "messages"):
        assert f"{table}: " in dump  # the rows that carried these mails are there
    assert [token for token in tokens if token in dump] == []


async def test_a_password_reset_mail_carries_a_link_that_resets_the_password(
    client: Client, fake: Fake
) -> None:
    person = await verified_person(client, fake, "reset")

    ok(await client.post("/auth/password/reset-request", json={"email": person.email}), 202)
    mail = await fake.mail_to(person.email, "password_reset")
    new_password = "a brand new passphrase 77"
    ok(
        await client.post(
            "/auth/password/reset", json={"token": link_token(mail), "new_password": new_password}
        ),
        204,
    )

    assert (await client.post("/auth/login", json={"email": person.email, "password": PASSWORD})
            ).status_code == 401  # fmt: skip
    await log_in(client, person.email, new_password)


async def test_a_confirmed_booking_mails_a_valid_calendar_entry(
    client: Client, fake: Fake, people: Authenticators
) -> None:
    person = await verified_person(client, fake, "confirm")
    shop = await open_shop(client, people)

    booking = await book(client, person, shop, DST_DAY_START)

    mail = await fake.mail_to(person.email, "booking_confirmed")
    part, data = attachment(mail, ".ics")
    assert part["type"].startswith("text/calendar")
    calendar = ics.Calendar(data.decode())  # a parser we did not write
    (event,) = calendar.events
    assert event.begin.datetime == DST_DAY_START.astimezone(UTC)
    assert event.end.datetime == DST_DAY_START.astimezone(UTC) + HOUR
    assert event.uid
    assert "Court hire" in (event.name or "")
    held = await fake.mail_to(person.email, "booking_held")
    assert (
        held["recipient"]["custom_args"]["reserva_message_id"]
        != (mail["recipient"]["custom_args"]["reserva_message_id"])
    )
    confirmed = await message_of(client, person, "booking_confirmed", "sent")
    assert confirmed["booking_id"] == booking["id"]


async def test_reminders_wait_at_the_right_utc_instants_move_on_reschedule_and_vanish_on_cancel(
    client: Client, fake: Fake, people: Authenticators, owner: AsyncEngine
) -> None:
    person = await verified_person(client, fake, "remind")
    shop = await open_shop(client, people)
    booking = await book(client, person, shop, DST_DAY_START)

    async def reminders_of(booking_id: str, count: int) -> set[tuple[int, datetime]] | None:
        found = await pending_reminders(owner, booking_id)
        return found if len(found) == count else None

    first = await eventually(lambda: reminders_of(booking["id"], 2), "the reminders")
    assert first == {(24 * 60, utc(2027, 3, 27, 8)), (2 * 60, utc(2027, 3, 28, 6))}

    moved = ok(
        await client.post(
            f"/bookings/{booking['id']}/reschedule",
            json={"offering_id": shop.offering_id, "start": NEXT_DAY_START.isoformat()},
            headers=person.headers,
        )
    )
    second = await eventually(lambda: reminders_of(moved["id"], 2), "the moved reminders")
    assert second == {(24 * 60, utc(2027, 3, 28, 8)), (2 * 60, utc(2027, 3, 29, 6))}
    assert await pending_reminders(owner, booking["id"]) == set()
    await fake.mail_to(person.email, "booking_rescheduled")

    ok(await client.post(f"/bookings/{moved['id']}/cancel", headers=person.headers))

    async def gone() -> bool:
        return await pending_reminders(owner, moved["id"]) == set()

    await eventually(gone, "no reminders left")
    cancelled = await fake.mail_to(person.email, "booking_cancelled")
    _, data = attachment(cancelled, ".ics")
    assert b"METHOD:CANCEL" in data
    ics.Calendar(data.decode())


async def test_delivered_and_bounce_events_update_statuses_and_a_bounce_stops_mail(
    client: Client, fake: Fake
) -> None:
    person = await verified_person(client, fake, "events")
    verification = await fake.mail_to(person.email, "email_verification")

    await fake.events({"x_message_id": verification["x_message_id"], "event": "delivered"})
    await message_of(client, person, "email_verification", "delivered")

    ok(await client.post("/auth/password/reset-request", json={"email": person.email}), 202)
    reset = await fake.mail_to(person.email, "password_reset")
    await fake.events({"x_message_id": reset["x_message_id"], "event": "bounce", "type": "bounce"})
    await message_of(client, person, "password_reset", "bounced")

    # The address is undeliverable now: the next mail is suppressed, never sent.
    ok(await client.post("/auth/password/reset-request", json={"email": person.email}), 202)

    async def suppressed() -> bool:
        kinds = [(m["kind"], m["status"]) for m in await my_messages(client, person)]
        return ("password_reset", "suppressed") in kinds

    await eventually(suppressed, "the suppressed reset mail")
    resets = [m for m in await fake.mails_to(person.email) if "password_reset" in str(m)]
    assert len(resets) == 1


async def test_a_forged_sendgrid_signature_is_refused_and_changes_nothing(
    client: Client, fake: Fake
) -> None:
    person = await verified_person(client, fake, "forged")
    mail = await fake.mail_to(person.email, "email_verification")
    signed = await fake.events(
        {"x_message_id": mail["x_message_id"], "event": "delivered"}, post=False
    )
    forged_body = signed["body"].replace('"delivered"', '"bounce"')
    headers = {k: v for k, v in signed["headers"].items() if k.lower() != "content-length"}

    refused = await client.post("/webhooks/sendgrid", content=forged_body, headers=headers)
    unsigned = await client.post(
        "/webhooks/sendgrid", content=signed["body"], headers={"Content-Type": "application/json"}
    )

    assert refused.status_code == 401, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert unsigned.status_code == 401
    (message,) = await my_messages(client, person)
    assert message["status"] == "sent"
    # The genuine body with its genuine signature still goes through.
    genuine = await client.post("/webhooks/sendgrid", content=signed["body"], headers=headers)
    assert genuine.status_code == 200, genuine.text
    await message_of(client, person, "email_verification", "delivered")


async def test_whatsapp_opt_in_brings_template_messages_and_the_handshake_answers(
    client: Client, fake: Fake, people: Authenticators
) -> None:
    person = await verified_person(client, fake, "whatsapp")
    preferences = ok(
        await client.put(
            "/me/contact-preferences",
            json={"locale": "de", "phone": "+49 151 23456789", "whatsapp_opt_in": True},
            headers=person.headers,
        )
    )
    assert preferences["phone"] == "+4915123456789"
    assert ok(await client.get("/me/contact-preferences", headers=person.headers)) == preferences
    shop = await open_shop(client, people)

    await book(client, person, shop, DST_DAY_START)

    async def template() -> list[dict[str, object]] | None:
        sent = [m for m in await fake.whatsapp_to("+4915123456789") if m.get("type") == "template"]
        return sent or None

    (first, *_) = await eventually(template, "a WhatsApp template message")
    assert first["template"]
    assert first["template"]["language"]["code"] == "de"
    fired = ok(
        await fake.http.post(
            "/_test/whatsapp/statuses", json={"statuses": [{"id": first["id"], "status": "read"}]}
        )
    )
    assert fired["delivery"]["status"] == 200

    async def read() -> bool:
        return any(
            (m["channel"], m["status"], m["provider_message_id"])
            == ("whatsapp", "read", first["id"])
            for m in await my_messages(client, person)
        )

    await eventually(read, "the WhatsApp message read")

    challenge = await client.get(
        "/webhooks/whatsapp",
        params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "42"},
    )
    assert (challenge.status_code, challenge.text) == (200, "42")
    wrong = await client.get(
        "/webhooks/whatsapp",
        params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "42"},
    )
    assert wrong.status_code == 403
    forged = await client.post(
        "/webhooks/whatsapp",
        content=b'{"object":"whatsapp_business_account","entry":[]}',
        headers={"X-Hub-Signature-256": "sha256=" + "0" * 64, "Content-Type": "application/json"},
    )
    assert forged.status_code == 401


async def test_staff_and_admins_read_messages_and_a_calendar_feed_lists_bookings(
    client: Client, fake: Fake, people: Authenticators
) -> None:
    person = await verified_person(client, fake, "feeds")
    shop = await open_shop(client, people)
    booking = await book(client, person, shop, DST_DAY_START)
    confirmed = await message_of(client, person, "booking_confirmed", "sent")

    staff_view = ok(
        await client.get(f"/providers/{shop.provider_id}/messages", headers=shop.staff)
    )["items"]
    assert confirmed["id"] in {m["id"] for m in staff_view}
    admin_view = ok(
        await client.get(
            "/admin/messages", params={"recipient_id": person.user_id}, headers=people.admin()
        )
    )["items"]
    assert {m["recipient_id"] for m in admin_view} == {person.user_id}
    one = ok(await client.get(f"/messages/{confirmed['id']}", headers=person.headers))
    assert one["booking_id"] == booking["id"]
    stranger = await verified_person(client, fake, "stranger")
    assert (await client.get(f"/messages/{confirmed['id']}", headers=stranger.headers)
            ).status_code in (403, 404)  # fmt: skip

    feed = ok(await client.post("/me/calendar-feed", headers=person.headers), 201)
    path = feed["url"].split("/calendar/", 1)[1]
    served = await client.get(f"/calendar/{path}")
    assert served.status_code == 200, served.text
    assert served.headers["content-type"] == "text/calendar; charset=utf-8"
    (event,) = ics.Calendar(served.text).events
    assert event.begin.datetime == DST_DAY_START.astimezone(UTC)
    assert (await client.get("/calendar/not-a-feed-token-at-all.ics")).status_code == 404


async def test_an_operator_lists_shows_and_resends_messages_from_the_command_line(
    client: Client,
    fake: Fake,
    messaging_http_database: LocalDatabase,
    redis_url: str,
    kek_file: Path,
) -> None:
    person = await verified_person(client, fake, "cli")
    first = await message_of(client, person, "email_verification", "sent")
    env = {
        "DATABASE_URL": messaging_http_database.app_url,
        "REDIS_URL": redis_url,
        "KEK_FILE": str(kek_file),
        "COLUMNS": "400",
    }

    async def reserva(*args: str) -> Result:
        return await asyncio.to_thread(partial(runner.invoke, app, list(args), env=env))

    listed = await reserva("messages", "list", "--user", person.email)
    assert listed.exit_code == 0, listed.output
    assert first["id"] in listed.output
    assert "email_verification" in listed.output
    shown = await reserva("messages", "show", first["id"])
    assert shown.exit_code == 0, shown.output
    assert first["provider_message_id"] in shown.output
    failed = await reserva("messages", "list", "--status", "lost")
    assert failed.exit_code == 1
    assert "--status must be one of" in failed.output

    resent = await reserva("messages", "resend", first["id"])

    assert resent.exit_code == 0, resent.output
    await fake.mail_to(person.email, "email_verification", count=2)
    statuses = [m["status"] for m in await my_messages(client, person)]
    assert statuses == ["sent", "sent"]
