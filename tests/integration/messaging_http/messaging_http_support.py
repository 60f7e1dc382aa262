"""Helpers of the messaging end-to-end tests: people with real accounts (registered and
verified over HTTP, through the mail the worker sends), a provider open in Berlin, the
messaging fake's /_test controls, and the job queue as the database holds it."""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import attrs
import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from api_test_support import TokenTable
from api_test_support import eventually as shared_eventually
from api_test_support import ok as ok
from core.shared.principal import Authenticator

T = TypeVar("T")
Client = httpx.AsyncClient
WEB = "https://app.reserva.test"  # PUBLIC_WEB_URL: where mails' links point
PASSWORD = "correct horse battery staple 42"
ZONE = "Europe/Berlin"


class Authenticators(TokenTable):
    """Test tokens for staff and admins (no identity service), real access tokens for
    everyone else: customers register and log in over HTTP, as messaging reads them."""

    def __init__(self, real: Authenticator) -> None:
        super().__init__(fallback=real)


async def eventually(
    check: Callable[[], Awaitable[T | None]], what: str, within: float = 30.0
) -> T:
    """Poll until `check` answers something truthy (the worker runs beside the test)."""
    return await shared_eventually(check, what, within=within, every=0.1)


def unique_email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@mail.reserva.test"


# ---------------------------------------------------------------- the messaging fake


@attrs.frozen
class Fake:
    """The messaging fake (SendGrid + WhatsApp) through its /_test controls."""

    http: httpx.AsyncClient  # base URL: the fake

    async def mails_to(self, address: str) -> list[dict[str, Any]]:
        """Mails accepted for `address`, oldest first, each with the recipient's row."""
        mails = ok(await self.http.get("/_test/sendgrid/mails"))["mails"]
        found = []
        for mail in mails:
            for recipient in mail["recipients"]:
                if recipient["email"] == address:
                    found.append({**mail, "recipient": recipient})
        return found

    async def mail_to(self, address: str, kind: str, count: int = 1) -> dict[str, Any]:
        """The `count`th mail of `kind` (our category) to `address`, waiting for it."""

        async def arrived() -> dict[str, Any] | None:
            mails = [m for m in await self.mails_to(address) if kind in categories(m)]
            return mails[count - 1] if len(mails) >= count else None

        return await eventually(arrived, f"mail {kind} #{count} to {address}")

    async def whatsapp_to(self, phone: str) -> list[dict[str, Any]]:
        messages = ok(await self.http.get("/_test/whatsapp/messages"))["messages"]
        digits = phone.lstrip("+")
        return [m for m in messages if str(m.get("to", "")).lstrip("+") == digits]

    async def events(self, *specs: dict[str, Any], post: bool = True) -> dict[str, Any]:
        """SendGrid events about sent mails, signed by the fake and POSTed to the app (unless
        `post` is false: then only the body and headers it would send)."""
        answer: dict[str, Any] = ok(
            await self.http.post(
                "/_test/sendgrid/events", json={"events": list(specs), "post": post}
            )
        )
        return answer

    async def point_webhooks(self, base_url: str, whatsapp_secret: str) -> None:
        ok(
            await self.http.post(
                "/_test/webhooks",
                json={
                    "sendgrid_url": f"{base_url}/webhooks/sendgrid",
                    "whatsapp_url": f"{base_url}/webhooks/whatsapp",
                    "whatsapp_app_secret": whatsapp_secret,
                },
            )
        )


def categories(mail: dict[str, Any]) -> list[str]:
    found: list[str] = mail["request"].get("categories") or []
    return found


def content(mail: dict[str, Any], media_type: str) -> str:
    for part in mail["request"]["content"]:
        if part["type"].startswith(media_type):
            text: str = part["value"]
            return text
    raise AssertionError(f"no {media_type} part in {mail['request']['content']}")


def attachment(mail: dict[str, Any], suffix: str) -> tuple[dict[str, Any], bytes]:
    for part in mail["request"].get("attachments") or []:
        if part["filename"].endswith(suffix):
            return part, base64.b64decode(part["content"])
    raise AssertionError(f"no *{suffix} attachment")


def link_token(mail: dict[str, Any]) -> str:
    """The token of the one link to the web client in the mail's text part."""
    text = content(mail, "text/plain")
    links = set(re.findall(re.escape(WEB) + r"/[^\s<>\"')]+", text))
    assert len(links) == 1, links
    (link,) = links
    query = parse_qs(urlsplit(link).query)
    if "token" in query:
        return query["token"][0]
    return link.rstrip("/").rsplit("/", 1)[-1]


# ---------------------------------------------------------------- people and providers


@attrs.frozen(kw_only=True)
class Person:
    email: str
    user_id: str
    headers: dict[str, str]


async def register(client: Client, email: str) -> None:
    ok(await client.post("/auth/register", json={"email": email, "password": PASSWORD}), 202)


async def log_in(client: Client, email: str, password: str = PASSWORD) -> dict[str, str]:
    tokens = ok(await client.post("/auth/login", json={"email": email, "password": password}))
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def verified_person(client: Client, fake: Fake, tag: str) -> Person:
    """Registered over HTTP, verified with the link the mail carried, logged in."""
    email = unique_email(tag)
    await register(client, email)
    mail = await fake.mail_to(email, "email_verification")
    ok(await client.post("/auth/verify-email", json={"token": link_token(mail)}), 204)
    headers = await log_in(client, email)
    me = ok(await client.get("/me", headers=headers))
    return Person(email=email, user_id=me["id"], headers=headers)


@attrs.frozen(kw_only=True)
class Shop:
    provider_id: str
    staff: dict[str, str]
    offering_id: str


async def open_shop(client: Client, people: Authenticators, price_minor: int = 0) -> Shop:
    """A court in Berlin, free unless `price_minor` says otherwise, open all day, bookable a
    year ahead."""
    admin = people.admin()
    provider = ok(
        await client.post("/providers", json={"name": "Spree Tennis"}, headers=admin), 201
    )
    place = ok(
        await client.post(
            f"/providers/{provider['id']}/places",
            json={"name": "Court centre", "address": {"line1": "Am Ufer 1", "city": "Berlin",
                  "postal_code": "10117", "country": "DE"}, "lat": 52.52, "lng": 13.40,
                  "timezone": ZONE},
            headers=admin,
        ),
        201,
    )  # fmt: skip
    staff = people.staff(provider["id"])
    all_day = [{"weekday": d, "opens": "00:00", "closes": "24:00"} for d in range(7)]
    ok(await client.put(f"/places/{place['id']}/hours", json={"weekly": all_day}, headers=staff))
    court = ok(
        await client.post(
            f"/places/{place['id']}/resources", json={"name": "Court"}, headers=staff
        ),
        201,
    )
    offering = ok(
        await client.post(
            f"/places/{place['id']}/offerings",
            json={"kind": "appointment", "name": "Court hire", "category": "Tennis",
                  "price": {"amount_minor": price_minor, "currency": "EUR"},
                  "duration_minutes": 60,
                  "resource_ids": [court["id"]], "horizon_days": 365},
            headers=staff,
        ),
        201,
    )  # fmt: skip
    return Shop(provider_id=provider["id"], staff=staff, offering_id=offering["id"])


async def book(client: Client, person: Person, shop: Shop, start: datetime) -> dict[str, Any]:
    """Hold and confirm (a free court: its customer confirms)."""
    held = ok(
        await client.post(
            "/bookings",
            json={"offering_id": shop.offering_id, "start": start.isoformat()},
            headers=person.headers,
        ),
        201,
    )
    confirmed: dict[str, Any] = ok(
        await client.post(f"/bookings/{held['id']}/confirm", headers=person.headers)
    )
    return confirmed


async def my_messages(client: Client, person: Person) -> list[dict[str, Any]]:
    page = ok(await client.get("/me/messages", params={"limit": 100}, headers=person.headers))
    items: list[dict[str, Any]] = page["items"]
    return items


async def message_of(
    client: Client, person: Person, kind: str, status: str | None = None
) -> dict[str, Any]:
    """Wait for the person's email message of `kind` (in `status`, if given)."""

    async def found() -> dict[str, Any] | None:
        for message in await my_messages(client, person):
            wanted = status is None or message["status"] == status
            if message["kind"] == kind and message["channel"] == "email" and wanted:
                return message
        return None

    return await eventually(found, f"{kind} message ({status or 'any status'})")


# ---------------------------------------------------------------- the job queue


async def pending_reminders(owner: AsyncEngine, booking_id: str) -> set[tuple[int, datetime]]:
    """(offset minutes, UTC instant) of the booking's waiting reminder jobs."""
    async with owner.connect() as connection:
        rows = await connection.execute(
            sa.text(
                "SELECT (args->>'offset_minutes')::int, scheduled_at FROM procrastinate_jobs"
                " WHERE task_name = 'send_reminder' AND status = 'todo'"
                " AND args->>'booking_id' = :booking"
            ),
            {"booking": booking_id},
        )
        return {(offset, at.astimezone(UTC)) for offset, at in rows}


async def jobs_of(owner: AsyncEngine, task: str, **args: str) -> list[dict[str, Any]]:
    async with owner.connect() as connection:
        rows = await connection.execute(
            sa.text(
                "SELECT id, args, status::text AS status FROM procrastinate_jobs"
                " WHERE task_name = :task AND args @> CAST(:args AS jsonb) ORDER BY id"
            ),
            {"task": task, "args": json.dumps(args)},
        )
        return [dict(row) for row in rows.mappings()]


async def scalar(owner: AsyncEngine, sql: str, **params: Any) -> Any:
    async with owner.connect() as connection:
        return (await connection.execute(sa.text(sql), params)).scalar()
