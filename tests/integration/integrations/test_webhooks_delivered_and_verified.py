"""Webhooks end to end on PostGIS and the job queue, to a real HTTPS receiver on 127.0.0.1:
an outbox event becomes a signed delivery that the receiver verifies the way an integrator
would, rotation keeps both secrets valid for 24 h (the clock is injected), failures are
retried with back-off as scheduled jobs and recorded with their responses, and the poster
refuses non-public addresses unless allowed."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest
import sqlalchemy as sa
from integrations_pg_support import postgis_jobs
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.clock import FixedClock
from adapters.postgis.integrations import PostgisIntegrationsUnitOfWork
from adapters.postgis.jobs import DELIVER_WEBHOOK
from adapters.postgis.sealed import PostgisSealedSecrets
from adapters.postgis.unit_of_work import PostgisUnitOfWork
from adapters.security.keyring import AesGcmKeyring, FileKeyStore
from adapters.webhooks_out import HttpxWebhookPoster
from core.integrations import (
    DeliverWebhook,
    Delivery,
    DeliveryId,
    DeliveryStatus,
    DispatchEventToEndpoints,
    EndpointWithSecret,
    IntegrationsUnitOfWork,
    ListDeliveries,
    RedeliverWebhook,
    RegisterEndpoint,
    RotateEndpointSecret,
)
from core.shared.events import Event
from core.shared.ids import ProviderId, UserId
from core.shared.keyring import Sealed
from core.shared.principal import Principal, Role
from core.shared.unit_of_work import MAINTENANCE, Access, UnitOfWorkFactory
from webhook_receiver import Answer, Receiver, https_receiver

TOLERANCE_SECONDS = 300


# --- what an integrator writes, from our documentation alone --------------------------------


def verify_reserva_signature(header: str, raw_body: bytes, secret: str, now: float) -> bool:
    """Parse `t=<unix>,v1=<hex>[,v1=<hex>]`, recompute HMAC-SHA256(secret, "<t>." + body),
    compare in constant time with each v1, refuse timestamps more than 5 minutes off."""
    fields = [part.split("=", 1) for part in header.split(",") if "=" in part]
    timestamps = [value for key, value in fields if key.strip() == "t"]
    signatures = [value for key, value in fields if key.strip() == "v1"]
    if len(timestamps) != 1 or not signatures:
        return False
    try:
        t = int(timestamps[0])
    except ValueError:
        return False
    if abs(now - t) > TOLERANCE_SECONDS:
        return False
    signed_payload = f"{t}.".encode() + raw_body
    expected = hmac.new(secret.encode("utf-8"), signed_payload, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, signature) for signature in signatures)


# --- the world ------------------------------------------------------------------------------


@attrs.define
class World:
    engine: AsyncEngine
    owner: AsyncEngine
    clock: FixedClock
    receiver: Receiver
    keyring: AesGcmKeyring
    poster: HttpxWebhookPoster
    provider: ProviderId
    staff: Principal

    def uow(self) -> UnitOfWorkFactory[IntegrationsUnitOfWork]:
        engine = self.engine

        def factory(access: Access) -> IntegrationsUnitOfWork:
            return PostgisIntegrationsUnitOfWork(engine, access)

        return factory

    async def register(self, *types: str) -> EndpointWithSecret:
        register = RegisterEndpoint(uow=self.uow(), keyring=self.keyring, clock=self.clock)
        created = await register(self.staff, self.provider, self.receiver.url, list(types))
        return created.unwrap()

    async def rotate(self, endpoint: EndpointWithSecret) -> EndpointWithSecret:
        rotate = RotateEndpointSecret(uow=self.uow(), keyring=self.keyring, clock=self.clock)
        return (await rotate(self.staff, self.provider, endpoint.endpoint.id)).unwrap()

    async def event(self, name: str = "bookings.booking_confirmed", **extra: object) -> Event:
        """An event committed to the outbox (its trigger defers the dispatch job), dispatched."""
        event = Event(
            name=name,
            occurred_at=self.clock.now(),
            payload={
                "booking_id": str(uuid.uuid4()),
                "offering_id": str(uuid.uuid4()),
                "provider_id": str(self.provider),
                "customer_id": str(uuid.uuid4()),
                "start": (self.clock.now() + timedelta(days=3)).isoformat(),
                "end": (self.clock.now() + timedelta(days=3, hours=1)).isoformat(),
                "seats": 2,
                "status": "confirmed",
                "rescheduled_from": None,
                **extra,
            },
        )
        async with PostgisUnitOfWork(self.engine, MAINTENANCE) as uow:
            await uow.outbox.add(event)
            await uow.commit()
        dispatch = DispatchEventToEndpoints(uow=self.uow(), keyring=self.keyring, clock=self.clock)
        await dispatch(event.id)
        return event

    async def run_due_jobs(self) -> int:
        """A worker's turn over the webhooks queue: every deliver_webhook job due by the test
        clock runs DeliverWebhook with its args, and is marked done."""
        deliver = DeliverWebhook(
            uow=self.uow(),
            keyring=self.keyring,
            clock=self.clock,
            poster=self.poster,
        )
        async with self.owner.begin() as connection:
            rows = (
                await connection.execute(
                    sa.text(
                        "SELECT id, args FROM procrastinate_jobs WHERE task_name = :task"
                        " AND status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= :now)"
                        " ORDER BY id"
                    ),
                    {"task": DELIVER_WEBHOOK, "now": self.clock.now()},
                )
            ).all()
            await connection.execute(
                sa.text("UPDATE procrastinate_jobs SET status = 'succeeded' WHERE id = ANY(:ids)"),
                {"ids": [row.id for row in rows]},
            )
        for row in rows:
            await deliver(DeliveryId(uuid.UUID(row.args["delivery_id"])), row.args["attempt"])
        return len(rows)

    async def next_job_at(self) -> datetime | None:
        async with self.owner.connect() as connection:
            found = await connection.execute(
                sa.text(
                    "SELECT min(scheduled_at) FROM procrastinate_jobs"
                    " WHERE task_name = :task AND status = 'todo'"
                ),
                {"task": DELIVER_WEBHOOK},
            )
            value = found.scalar_one()
        return None if value is None else value.astimezone(UTC)

    async def deliveries(self, endpoint: EndpointWithSecret) -> list[Delivery]:
        listing = ListDeliveries(uow=self.uow(), keyring=self.keyring, clock=self.clock)
        return list((await listing(self.staff, self.provider, endpoint.endpoint.id, 100)).unwrap())


@pytest.fixture
def receiver_clock() -> FixedClock:
    return FixedClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def receiver(receiver_clock: FixedClock) -> Iterator[Receiver]:
    with https_receiver(receiver_clock.now) as running:
        yield running


@pytest.fixture
async def w(
    engine: AsyncEngine,
    owner_engine: AsyncEngine,
    receiver: Receiver,
    receiver_clock: FixedClock,
    kek_file: Path,
) -> AsyncIterator[World]:
    provider = ProviderId(uuid.uuid4())
    staff = Principal(
        user_id=UserId(uuid.uuid4()),
        roles=frozenset({Role.STAFF}),
        provider_ids=frozenset({provider}),
        mfa=True,
    )
    # The receiver is on 127.0.0.1: allowed here, as in development (never in production).
    poster = HttpxWebhookPoster(allow_private_addresses=True, verify=receiver.trust)
    world = World(
        engine=engine,
        owner=owner_engine,
        clock=receiver_clock,
        receiver=receiver,
        keyring=AesGcmKeyring(FileKeyStore(kek_file)),
        poster=poster,
        provider=provider,
        staff=staff,
    )
    yield world
    await poster.close()


# --- the tests ------------------------------------------------------------------------------


async def test_an_outbox_event_arrives_signed_and_the_integrator_verifies_it(w: World) -> None:
    endpoint = await w.register("confirmed", "cancelled")
    event = await w.event("bookings.booking_confirmed", paid=True)

    [job] = await postgis_jobs(w.owner)  # deferred in the dispatch's transaction
    assert job.attempt == 1
    assert await w.run_due_jobs() == 1

    [arrived] = w.receiver.received
    header = arrived.headers["Reserva-Signature"]
    now = arrived.at.timestamp()
    assert verify_reserva_signature(header, arrived.body, endpoint.secret, now)
    assert not verify_reserva_signature(header, arrived.body + b"\n", endpoint.secret, now)
    assert not verify_reserva_signature(header, arrived.body, "whsec_" + "0" * 64, now)
    assert not verify_reserva_signature(header, arrived.body, endpoint.secret, now + 301)
    assert arrived.path == "/hooks/reserva"
    assert arrived.headers["Content-Type"] == "application/json"
    body = json.loads(arrived.body)
    assert body["id"] == str(event.id)
    assert body["type"] == "confirmed"
    assert body["data"]["booking_id"] == event.payload["booking_id"]
    assert body["data"]["paid"] is True
    assert "customer_id" not in body["data"]

    [delivery] = await w.deliveries(endpoint)
    assert delivery.status is DeliveryStatus.SUCCEEDED
    [attempt] = delivery.attempt_log
    assert attempt.outcome.status == 200
    assert attempt.outcome.body == "ok"
    assert attempt.outcome.latency_ms >= 0

    async with w.owner.connect() as connection:
        stored = (
            await connection.execute(sa.text("SELECT secret_sealed FROM webhook_endpoints"))
        ).scalar_one()
        jobs = (
            (await connection.execute(sa.text("SELECT args::text FROM procrastinate_jobs")))
            .scalars()
            .all()
        )
    assert endpoint.secret.encode() not in bytes(stored)
    assert all(endpoint.secret not in args for args in jobs)


async def test_during_a_rotation_both_secrets_verify_and_after_24_hours_only_the_new(
    w: World,
) -> None:
    old = await w.register("held", "rescheduled")
    new = await w.rotate(old)
    await w.event("bookings.slot_held", status="held")
    await w.run_due_jobs()
    during = w.receiver.received[-1]
    header = during.headers["Reserva-Signature"]
    assert header.count("v1=") == 2
    assert verify_reserva_signature(header, during.body, old.secret, during.at.timestamp())
    assert verify_reserva_signature(header, during.body, new.secret, during.at.timestamp())

    w.clock.advance(timedelta(hours=24))
    await w.event("bookings.slot_held", status="held", rescheduled_from=str(uuid.uuid4()))
    await w.run_due_jobs()
    after = w.receiver.received[-1]
    header = after.headers["Reserva-Signature"]
    assert json.loads(after.body)["type"] == "rescheduled"
    assert header.count("v1=") == 1
    assert verify_reserva_signature(header, after.body, new.secret, after.at.timestamp())
    assert not verify_reserva_signature(header, after.body, old.secret, after.at.timestamp())


async def test_failures_are_retried_with_back_off_and_recorded_with_their_responses(
    w: World,
) -> None:
    endpoint = await w.register("confirmed")
    w.receiver.script.extend(
        [Answer(500, b"database down"), Answer(429, b"slow down"), Answer(503, b"x" * 5000)]
    )
    start = w.clock.now()
    await w.event()

    tried_at = []
    while (due := await w.next_job_at()) is not None or await w.run_due_jobs():
        if due is not None:
            w.clock.set(max(due, w.clock.now()))
        await w.run_due_jobs()
        tried_at.append(w.clock.now())
    [delivery] = await w.deliveries(endpoint)
    assert delivery.status is DeliveryStatus.SUCCEEDED
    assert [a.outcome.status for a in delivery.attempt_log] == [500, 429, 503, 200]
    assert delivery.attempt_log[0].outcome.body == "database down"
    assert delivery.attempt_log[2].outcome.body == "x" * 1024  # the first kilobyte
    assert [a.at - start for a in delivery.attempt_log] == [
        timedelta(0),
        timedelta(minutes=1),
        timedelta(minutes=4),
        timedelta(minutes=13),
    ]
    assert len(w.receiver.received) == 4
    assert {r.body for r in w.receiver.received} == {w.receiver.received[0].body}
    assert [r.headers["Reserva-Delivery-Attempt"] for r in w.receiver.received] == [
        "1",
        "2",
        "3",
        "4",
    ]


async def test_a_delivery_failing_for_a_day_is_dead_listed_and_can_be_redelivered(
    w: World,
) -> None:
    endpoint = await w.register("cancelled")
    w.receiver.script.extend([Answer(502, b"bad gateway")] * 9)
    start = w.clock.now()
    await w.event("bookings.booking_cancelled", status="cancelled")
    while (due := await w.next_job_at()) is not None or await w.run_due_jobs():
        if due is not None:
            w.clock.set(max(due, w.clock.now()))
        await w.run_due_jobs()

    [dead] = await w.deliveries(endpoint)
    assert dead.status is DeliveryStatus.DEAD
    assert dead.attempts == 9
    assert dead.attempt_log[-1].at - start == timedelta(hours=24)
    assert all(a.outcome.status == 502 for a in dead.attempt_log)

    redeliver = RedeliverWebhook(uow=w.uow(), keyring=w.keyring, clock=w.clock)
    assert (await redeliver(w.staff, w.provider, dead.id, endpoint.endpoint.id)).unwrap()
    await w.run_due_jobs()
    [done] = await w.deliveries(endpoint)
    assert done.status is DeliveryStatus.SUCCEEDED
    assert done.attempts == 10


async def test_a_redirect_is_recorded_not_followed(w: World) -> None:
    endpoint = await w.register("confirmed")
    w.receiver.script.append(Answer(307, b"", {"Location": "https://127.0.0.1:1/internal"}))
    await w.event()
    await w.run_due_jobs()
    [delivery] = await w.deliveries(endpoint)
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.attempt_log[0].outcome.status == 307
    assert len(w.receiver.received) == 1


async def test_signing_secrets_are_rewrapped_by_a_kek_rotation_and_still_sign(
    w: World, tmp_path: Path
) -> None:
    key_file = tmp_path / "kek.json"
    FileKeyStore.create(key_file)
    store = FileKeyStore(key_file)
    w.keyring = AesGcmKeyring(store)
    endpoint = await w.register("confirmed")
    rotated = await w.rotate(endpoint)  # a current and a previous secret, both sealed

    await store.rotate()
    assert await PostgisSealedSecrets(w.engine, w.keyring).rewrap_all() >= 2
    new_kek = await store.active()
    async with w.owner.connect() as connection:
        row = (
            await connection.execute(
                sa.text("SELECT secret_sealed, previous_secret_sealed FROM webhook_endpoints")
            )
        ).one()
    assert Sealed.from_bytes(bytes(row.secret_sealed)).kek_id == new_kek
    assert Sealed.from_bytes(bytes(row.previous_secret_sealed)).kek_id == new_kek

    await w.event()
    await w.run_due_jobs()
    arrived = w.receiver.received[-1]
    header = arrived.headers["Reserva-Signature"]
    assert verify_reserva_signature(header, arrived.body, rotated.secret, arrived.at.timestamp())
    assert verify_reserva_signature(header, arrived.body, endpoint.secret, arrived.at.timestamp())
