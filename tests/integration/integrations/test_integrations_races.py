"""Every check-then-act of the integrations context, run concurrently on the memory and PostGIS
stores: the limit of active endpoints, two rotations at once, a rotation against a disable, two
redeliveries at once, a redelivery while an attempt is in flight, and a second run of an attempt
under way. Each is atomic in the store (locks held until the transaction ends)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from integrations_pg_support import Store
from returns.result import Failure, Success
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.clock import FixedClock
from adapters.memory.keyring import MemoryKeyring
from adapters.postgis.integrations.repositories import dead_deliveries_query
from core.integrations import (
    DeliverWebhook,
    DeliveryId,
    DeliveryInProgress,
    DeliveryStatus,
    DisableEndpoint,
    DispatchEventToEndpoints,
    EndpointWithSecret,
    ListDeadDeliveries,
    PostOutcome,
    RedeliverWebhook,
    RegisterEndpoint,
    RotateEndpointSecret,
    TooManyEndpoints,
    WebhookPoster,
    secret_purpose,
)
from core.integrations.model import ATTEMPT_LEASE, ENDPOINTS_PER_PROVIDER
from core.shared.ids import ProviderId, UserId
from core.shared.principal import Principal, Role
from core.shared.unit_of_work import MAINTENANCE
from integrations_support import booking_event, staff_of

NOW = datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)
URL = "https://hooks.example.com/reserva"
ADMIN = Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.ADMIN}), mfa=True)


class GatedPoster(WebhookPoster):
    """Answers `status` to every request; while `gate` is closed, requests wait in flight."""

    def __init__(self, status: int = 500) -> None:
        self.status = status
        self.gate = asyncio.Event()
        self.gate.set()
        self.in_flight = asyncio.Event()
        self.requests = 0

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> PostOutcome:
        self.requests += 1
        self.in_flight.set()
        await self.gate.wait()
        return PostOutcome(status=self.status, body="no", latency_ms=1)


class Setup:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.keyring = MemoryKeyring()
        self.clock = FixedClock(NOW)
        self.provider = ProviderId(uuid.uuid4())
        self.staff = staff_of(self.provider)
        self.poster = GatedPoster()
        self.ports = {"uow": store.uow, "keyring": self.keyring, "clock": self.clock}

    async def register(self) -> EndpointWithSecret:
        register = RegisterEndpoint(**self.ports)  # type: ignore[arg-type]
        return (await register(self.staff, self.provider, URL, ["confirmed"])).unwrap()

    @property
    def deliver(self) -> DeliverWebhook:
        return DeliverWebhook(**self.ports, poster=self.poster)  # type: ignore[arg-type]

    @property
    def redeliver(self) -> RedeliverWebhook:
        return RedeliverWebhook(**self.ports)  # type: ignore[arg-type]

    async def delivery(self) -> DeliveryId:
        """One delivery of a new event to the provider's endpoints, not tried yet."""
        event = booking_event("bookings.booking_confirmed", self.provider, self.clock.now())
        await self.store.publish(event)
        before = len(await self.store.jobs())
        dispatch = DispatchEventToEndpoints(**self.ports)  # type: ignore[arg-type]
        assert await dispatch(event.id) == 1
        [job] = (await self.store.jobs())[before:]
        return job.delivery_id

    async def dead_delivery(self) -> DeliveryId:
        """A delivery whose every attempt failed for a day."""
        delivery_id = await self.delivery()
        assert (await self.deliver(delivery_id, 1)).delivery is not None
        self.clock.advance(timedelta(hours=24))
        dead = (await self.deliver(delivery_id, 2)).delivery
        assert dead is not None
        assert dead.status is DeliveryStatus.DEAD
        return delivery_id

    async def status(self, delivery_id: DeliveryId) -> tuple[DeliveryStatus, int]:
        async with self.store.uow(MAINTENANCE) as uow:
            found = await uow.deliveries.get(delivery_id)
            assert found is not None
            return found.status, found.attempts


async def test_a_hundred_registrations_at_once_create_exactly_the_limit(store: Store) -> None:
    s = Setup(store)
    register = RegisterEndpoint(**s.ports)  # type: ignore[arg-type]
    results = await asyncio.gather(
        *(register(s.staff, s.provider, f"{URL}/{n}", ["held"]) for n in range(100))
    )
    created = [r.unwrap() for r in results if isinstance(r, Success)]
    refused = [r.failure() for r in results if isinstance(r, Failure)]
    assert len(created) == ENDPOINTS_PER_PROVIDER
    assert refused == [TooManyEndpoints()] * (100 - ENDPOINTS_PER_PROVIDER)
    async with store.uow(MAINTENANCE) as uow:
        stored = await uow.endpoints.of_provider(s.provider)
    assert {e.id for e in stored} == {c.endpoint.id for c in created}


async def test_a_disabled_endpoint_frees_its_place_under_the_limit(store: Store) -> None:
    s = Setup(store)
    endpoints = [await s.register() for _ in range(ENDPOINTS_PER_PROVIDER)]
    register = RegisterEndpoint(**s.ports)  # type: ignore[arg-type]
    full = await register(s.staff, s.provider, URL, ["held"])
    assert full.failure() == TooManyEndpoints()
    disable = DisableEndpoint(**s.ports)  # type: ignore[arg-type]
    (await disable(s.staff, s.provider, endpoints[0].endpoint.id)).unwrap()
    assert (await register(s.staff, s.provider, URL, ["held"])).unwrap().endpoint.active


async def test_two_rotations_at_once_leave_both_new_secrets_valid(store: Store) -> None:
    s = Setup(store)
    endpoint = (await s.register()).endpoint
    rotate = RotateEndpointSecret(**s.ports)  # type: ignore[arg-type]
    first, second = await asyncio.gather(
        rotate(s.staff, s.provider, endpoint.id), rotate(s.staff, s.provider, endpoint.id)
    )
    async with store.uow(MAINTENANCE) as uow:
        stored = await uow.endpoints.get(endpoint.id)
    assert stored is not None
    purpose = secret_purpose(endpoint.id)
    valid = {
        (await s.keyring.open(secret.sealed, purpose=purpose)).decode()
        for secret in stored.secrets_at(s.clock.now())
    }
    # One ran after the other: the later one's secret is current, the earlier one's previous.
    assert valid == {first.unwrap().secret, second.unwrap().secret}


async def test_a_rotation_racing_a_disable_never_writes_the_endpoint_back_active(
    store: Store,
) -> None:
    s = Setup(store)
    endpoint = (await s.register()).endpoint
    rotate = RotateEndpointSecret(**s.ports)  # type: ignore[arg-type]
    disable = DisableEndpoint(**s.ports)  # type: ignore[arg-type]
    await asyncio.gather(
        rotate(s.staff, s.provider, endpoint.id), disable(s.staff, s.provider, endpoint.id)
    )
    async with store.uow(MAINTENANCE) as uow:
        stored = await uow.endpoints.get(endpoint.id)
    assert stored is not None
    assert not stored.active


async def test_two_redeliveries_at_once_make_one_attempt(store: Store) -> None:
    s = Setup(store)
    await s.register()
    delivery_id = await s.dead_delivery()
    jobs_before = len(await store.jobs())
    results = await asyncio.gather(
        s.redeliver(s.staff, s.provider, delivery_id),
        s.redeliver(s.staff, s.provider, delivery_id),
    )
    assert sorted(isinstance(r, Success) for r in results) == [False, True]
    assert [r.failure() for r in results if isinstance(r, Failure)] == [DeliveryInProgress()]
    assert len(await store.jobs()) == jobs_before + 1
    assert await s.status(delivery_id) == (DeliveryStatus.PENDING, 2)


async def test_a_redelivery_while_an_attempt_is_in_flight_is_refused(store: Store) -> None:
    s = Setup(store)
    await s.register()
    delivery_id = await s.delivery()
    assert (await s.deliver(delivery_id, 1)).delivery is not None  # failed: retry in 1 min
    s.clock.advance(timedelta(minutes=1))
    s.poster.gate.clear()
    s.poster.in_flight.clear()
    attempt = asyncio.create_task(s.deliver(delivery_id, 2))
    await s.poster.in_flight.wait()
    assert await s.status(delivery_id) == (DeliveryStatus.PENDING, 1)  # claimed
    refused = await s.redeliver(s.staff, s.provider, delivery_id)
    assert refused.failure() == DeliveryInProgress()
    s.poster.gate.set()
    done = (await attempt).delivery
    assert done is not None
    assert (done.status, done.attempts) == (DeliveryStatus.FAILED, 2)
    assert s.poster.requests == 2


async def test_a_failed_delivery_whose_retry_is_due_is_not_redelivered_twice(
    store: Store,
) -> None:
    s = Setup(store)
    await s.register()
    delivery_id = await s.delivery()
    await s.deliver(delivery_id, 1)
    s.clock.advance(timedelta(minutes=1))  # its retry job is due: the worker may be on it
    refused = await s.redeliver(s.staff, s.provider, delivery_id)
    assert refused.failure() == DeliveryInProgress()


async def test_a_second_run_of_an_attempt_in_flight_posts_nothing_and_looks_again_later(
    store: Store,
) -> None:
    s = Setup(store)
    await s.register()
    delivery_id = await s.delivery()
    s.poster.gate.clear()
    first = asyncio.create_task(s.deliver(delivery_id, 1))
    await s.poster.in_flight.wait()
    again = await s.deliver(delivery_id, 1)  # the same job run twice (a worker restarted)
    assert again.delivery is None
    assert s.poster.requests == 1
    lease_end = NOW + ATTEMPT_LEASE
    assert [(j.attempt, j.at) for j in await store.jobs() if j.at == lease_end] == [(1, lease_end)]
    s.poster.gate.set()
    assert (await first).delivery is not None
    s.clock.set(lease_end)
    assert (await s.deliver(delivery_id, 1)).delivery is None  # recorded already: nothing
    assert s.poster.requests == 1


async def test_admins_list_dead_deliveries_of_every_endpoint_newest_first(store: Store) -> None:
    s = Setup(store)
    await s.register()
    older = await s.dead_delivery()
    other = Setup(store)
    other.clock = s.clock
    other.ports["clock"] = s.clock
    await other.register()
    s.clock.advance(timedelta(minutes=5))
    newer = await other.dead_delivery()
    await s.delivery()  # pending: not listed
    listing = ListDeadDeliveries(**s.ports)  # type: ignore[arg-type]
    page = (await listing(ADMIN, limit=10)).unwrap()
    assert [d.delivery.id for d in page] == [newer, older]
    assert [d.provider_id for d in page] == [other.provider, s.provider]
    assert page[0].url == URL
    assert page[0].delivery.attempt_log[-1].outcome.status == 500
    assert [d.delivery.id for d in (await listing(ADMIN, limit=1)).unwrap()] == [newer]
    after = (await listing(ADMIN, before=newer, limit=10)).unwrap()
    assert [d.delivery.id for d in after] == [older]
    assert (await listing(ADMIN, before=older)).unwrap() == []
    assert isinstance(await listing(s.staff), Failure)


async def test_the_dead_deliveries_page_reads_the_partial_index(engine: AsyncEngine) -> None:
    """`status` is written into the query as a literal: a generic plan of `status = $1` (what a
    prepared statement runs after a few executions) could not use the partial index."""
    query = dead_deliveries_query(DeliveryId(uuid.uuid4()), 50)
    sql = str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    async with engine.connect() as connection:
        await connection.execute(sa.text("SET LOCAL enable_seqscan = off"))
        plan = (await connection.execute(sa.text(f"EXPLAIN {sql}"))).scalars().all()
    assert "ix_webhook_deliveries_dead" in "\n".join(plan)
