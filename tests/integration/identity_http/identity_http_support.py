"""Helpers of the identity HTTP tests: accounts, logins and second factors over HTTP."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import httpx
import jwt
import sqlalchemy as sa
from litestar import Litestar

from adapters.postgis.identity.personal import email_hash
from adapters.postgis.identity.tables import users
from adapters.postgis.metadata import outbox
from adapters.postgis.unit_of_work import PostgisUnitOfWork
from adapters.security.totp import PyotpTotpGenerator
from core.identity import open_mailed_token
from core.identity.model import ClientContext, Email
from core.shared.events import Event
from core.shared.ids import ProviderId, UserId
from core.shared.principal import Principal
from core.shared.unit_of_work import MAINTENANCE
from entrypoints.container import Container
from entrypoints.settings import Settings

Client = httpx.AsyncClient
PASSWORD = "plum orbit lantern 77"
PROBLEM = "application/problem+json"


def cheap_settings(database_url: str, redis_url: str, kek_file: Path) -> Settings:
    """Production settings but a cheap Argon2 (1 MiB, one pass) so tests stay quick."""
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        kek_file=kek_file,
        argon2_memory_kib=1024,
        argon2_time_cost=1,
    )


async def operator(container: Container) -> Principal:
    """The caller the CLI acts as: an operator account (admin, with MFA)."""
    started = await container.start_operator_session()(os_user="tests", client=ClientContext())
    return started.unwrap()


def unique_ip() -> str:
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def client_at(app: Litestar, ip: str) -> Client:
    """An HTTP client whose requests come from `ip` (the socket peer the app sees)."""
    transport = httpx.ASGITransport(app=app, client=(ip, 50_000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def unique_loopback_ip() -> str:
    """A loopback address of its own (all of 127.0.0.0/8 reaches a server on 127.0.0.1)."""
    return f"127.{random.randrange(1, 256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def live_client_at(base_url: str, ip: str) -> Client:
    """An HTTP client of a live server whose connections come from `ip`, with no connection
    limit: a burst really opens one connection per request."""
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    transport = httpx.AsyncHTTPTransport(local_address=ip, limits=limits)
    return httpx.AsyncClient(transport=transport, base_url=base_url, timeout=60)


def new_email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}@example.com"


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


def claims(access_token: str) -> dict[str, Any]:
    """The payload of one of our access tokens, unverified (the server verified it)."""
    payload: dict[str, Any] = jwt.decode(access_token, options={"verify_signature": False})
    return payload


def totp_code(secret: str, at: datetime) -> str:
    return PyotpTotpGenerator().code_at(secret, at)


@attrs.frozen(kw_only=True)
class SignedIn:
    email: str
    user_id: str
    access: str
    refresh: str
    session_id: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access)


@attrs.frozen(kw_only=True)
class Enrolled:
    secret: str
    recovery_codes: list[str]
    access: str  # aal2

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access)


async def register(client: Client, email: str, password: str = PASSWORD) -> None:
    response = await client.post("/auth/register", json={"email": email, "password": password})
    assert response.status_code == 202, response.text


async def log_in(client: Client, email: str, password: str = PASSWORD) -> SignedIn:
    response = await client.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["outcome"] == "tokens", body
    me = await client.get("/me", headers=bearer(body["access_token"]))
    return SignedIn(
        email=email,
        user_id=me.json()["id"],
        access=body["access_token"],
        refresh=body["refresh_token"],
        session_id=body["session_id"],
    )


async def new_user(client: Client, tag: str = "user") -> SignedIn:
    email = new_email(tag)
    await register(client, email)
    return await log_in(client, email)


async def enrol_totp(client: Client, user: SignedIn, at: datetime) -> Enrolled:
    started = await client.post("/me/mfa/totp", headers=user.headers)
    assert started.status_code == 201, started.text
    secret = started.json()["secret"]
    confirmed = await client.post(
        "/me/mfa/totp/confirm", json={"code": totp_code(secret, at)}, headers=user.headers
    )
    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()
    return Enrolled(
        secret=secret,
        recovery_codes=body["recovery_codes"],
        access=body["access"]["access_token"],
    )


async def promote(
    container: Container, user: SignedIn, *, admin: bool = False, staff_of: str | None = None
) -> None:
    """Roles granted by the operator (as the CLI does). The user's tokens are refused from now
    on: log in (or refresh) again for a token with the new roles."""
    user_id = UserId(uuid.UUID(user.user_id))
    client_context = ClientContext()
    caller = await operator(container)
    if admin:
        granted = await container.grant_admin()(
            caller=caller, user_id=user_id, client=client_context
        )
        assert granted.unwrap() is None
    if staff_of is not None:
        provider_id = ProviderId(uuid.UUID(staff_of))
        granted = await container.grant_staff()(
            caller=caller, user_id=user_id, provider_id=provider_id, client=client_context
        )
        assert granted.unwrap() is None


async def _user_of(container: Container, email: str) -> sa.ScalarSelect[Any]:
    """The id (as text) of the user with `email`: outbox events carry ids only, and users are
    found by their address's lookup hash, made with the app's own sealing (issue 10)."""
    hashed = await email_hash(container.personal_data(), Email.key_of(email))
    return (
        sa.select(sa.cast(users.c.id, sa.Text))
        .where(users.c.email_hash == hashed)
        .scalar_subquery()
    )


async def mailed_token(container: Container, event: str, email: str) -> str:
    """The token of the newest outbox event `event` sent to `email`."""
    user_id = await _user_of(container, email)
    async with PostgisUnitOfWork(container.engine(), MAINTENANCE) as uow:  # users' rows too
        payload = (
            await uow.connection.execute(
                sa.select(outbox.c.payload)
                .where(outbox.c.name == event, outbox.c.payload["user_id"].astext == user_id)
                .order_by(outbox.c.seq.desc())
                .limit(1)
            )
        ).scalar_one()
    mail = Event(name=event, occurred_at=datetime.now(UTC), payload=payload)
    return await open_mailed_token(container.keyring(), mail)


async def outbox_events(container: Container, email: str) -> list[str]:
    user_id = await _user_of(container, email)
    async with PostgisUnitOfWork(container.engine(), MAINTENANCE) as uow:  # users' rows too
        names = await uow.connection.execute(
            sa.select(outbox.c.name)
            .where(outbox.c.payload["user_id"].astext == user_id)
            .order_by(outbox.c.seq)
        )
        return list(names.scalars())


async def admin_with_mfa(client: Client, container: Container, at: datetime) -> Enrolled:
    """A new admin whose session has a second factor (aal2)."""
    admin = await new_user(client, "admin")
    await promote(container, admin, admin=True)
    return await enrol_totp(client, await log_in(client, admin.email), at)


async def created(client: Client, path: str, body: Any, headers: dict[str, str]) -> Any:
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


@attrs.frozen(kw_only=True)
class Shop:
    provider_id: str
    place_id: str
    offering_id: str
    lat: float
    lng: float


async def open_shop(client: Client, admin: dict[str, str], *, price_minor: int = 2050) -> Shop:
    """A provider somewhere random, open around the clock, with one hour-long appointment."""
    lat, lng = round(random.uniform(-60, 60), 4), round(random.uniform(-170, 170), 4)
    provider = await created(client, "/providers", {"name": "Club"}, admin)
    place = await created(
        client,
        f"/providers/{provider['id']}/places",
        {
            "name": "Club Centre",
            "address": {"line1": "1 Main St", "city": "Madrid", "postal_code": "28001",
                        "country": "ES"},
            "lat": lat,
            "lng": lng,
            "timezone": "Europe/Madrid",
        },
        admin,
    )  # fmt: skip
    all_day = [{"weekday": d, "opens": "00:00", "closes": "24:00"} for d in range(7)]
    hours = await client.put(
        f"/places/{place['id']}/hours", json={"weekly": all_day}, headers=admin
    )
    assert hours.status_code == 200, hours.text
    court = await created(client, f"/places/{place['id']}/resources", {"name": "Court"}, admin)
    offering = await created(
        client,
        f"/places/{place['id']}/offerings",
        {
            "kind": "appointment",
            "name": "Court hire",
            "category": "tennis",
            "price": {"amount_minor": price_minor, "currency": "EUR"},
            "duration_minutes": 60,
            "resource_ids": [court["id"]],
        },
        admin,
    )
    return Shop(
        provider_id=provider["id"],
        place_id=place["id"],
        offering_id=offering["id"],
        lat=lat,
        lng=lng,
    )


def slot_start(now: datetime, days: int = 2) -> str:
    """A whole UTC hour some days ahead: a start of any hour-long appointment."""
    return (now.replace(minute=0, second=0, microsecond=0) + timedelta(days=days)).isoformat()
