"""One contract for the memory and PostGIS integrations stores: what the use cases rely on
(round trips of sealed secrets, one delivery per endpoint and event, attempts recorded once,
newest-first pages, jobs that exist exactly when their transaction commits)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import attrs
from integrations_pg_support import Store, scheduled

from adapters.memory.keyring import MemoryKeyring
from core.integrations import (
    Delivery,
    DeliveryId,
    DeliveryStatus,
    DispatchEventToEndpoints,
    Endpoint,
    EndpointId,
    EventType,
    PostOutcome,
    SealedSecret,
)
from core.shared.events import Event
from core.shared.ids import EventId, ProviderId
from core.shared.unit_of_work import MAINTENANCE

NOW = datetime(2030, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
PROVIDER = ProviderId(uuid.uuid4())


async def _endpoint(
    keyring: MemoryKeyring,
    provider: ProviderId = PROVIDER,
    types: frozenset[EventType] = frozenset({EventType.HELD, EventType.PAID}),
    created_at: datetime = NOW,
) -> Endpoint:
    endpoint_id = EndpointId(uuid.uuid4())
    sealed = await keyring.seal(b"whsec_x", purpose=f"integrations.webhook_secret/{endpoint_id}")
    return Endpoint(
        id=endpoint_id,
        provider_id=provider,
        url="https://hooks.example.com/in?x=1",
        event_types=types,
        active=True,
        created_at=created_at,
        secret=SealedSecret(sealed=sealed, created_at=created_at),
        description="CRM",
    )


def _delivery(endpoint: Endpoint, event_id: EventId | None = None, at: datetime = NOW) -> Delivery:
    return Delivery(
        id=DeliveryId(uuid.uuid4()),
        endpoint_id=endpoint.id,
        event_id=event_id or EventId(uuid.uuid4()),
        event_type=EventType.HELD,
        payload={"id": "e", "type": "held", "data": {"seats": 2}},
        created_at=at,
        next_attempt_at=at,
    )


async def _add(store: Store, *endpoints: Endpoint) -> None:
    async with store.uow(MAINTENANCE) as uow:
        for endpoint in endpoints:
            await uow.endpoints.add(endpoint)
        await uow.commit()


async def test_endpoints_round_trip_with_their_sealed_secrets(store: Store) -> None:
    keyring = MemoryKeyring()
    endpoint = await _endpoint(keyring)
    await _add(store, endpoint)
    new = await keyring.seal(b"whsec_y", purpose=f"integrations.webhook_secret/{endpoint.id}")
    rotated = endpoint.rotated(new, NOW + timedelta(hours=1))
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.endpoints.get(endpoint.id) == endpoint
        await uow.endpoints.update(rotated)
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        found = await uow.endpoints.get(endpoint.id)
        assert found == rotated
        assert found is not None
        assert found.previous_secret is not None
        assert found.previous_secret.expires_at == NOW + timedelta(hours=25)
        assert await uow.endpoints.get(EndpointId(uuid.uuid4())) is None


async def test_endpoints_are_listed_per_provider_and_by_subscription(store: Store) -> None:
    keyring = MemoryKeyring()
    first = await _endpoint(keyring)
    second = await _endpoint(
        keyring, types=frozenset({EventType.CANCELLED}), created_at=NOW + timedelta(seconds=1)
    )
    off = attrs.evolve(
        await _endpoint(keyring, created_at=NOW + timedelta(seconds=2)), active=False
    )
    stranger = await _endpoint(keyring, provider=ProviderId(uuid.uuid4()))
    await _add(store, first, second, off, stranger)
    async with store.uow(MAINTENANCE) as uow:
        assert [e.id for e in await uow.endpoints.of_provider(PROVIDER)] == [
            first.id,
            second.id,
            off.id,
        ]
        assert [e.id for e in await uow.endpoints.wanting(PROVIDER, EventType.HELD)] == [first.id]
        assert await uow.endpoints.wanting(PROVIDER, EventType.REFUNDED) == []


async def test_one_delivery_per_endpoint_and_event(store: Store) -> None:
    endpoint = await _endpoint(MemoryKeyring())
    await _add(store, endpoint)
    delivery = _delivery(endpoint)
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.deliveries.add(delivery)
        assert not await uow.deliveries.add(_delivery(endpoint, delivery.event_id))
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        assert not await uow.deliveries.add(_delivery(endpoint, delivery.event_id))
        assert await uow.deliveries.get(delivery.id) == delivery


async def test_an_attempt_is_recorded_only_from_the_count_it_was_made_from(store: Store) -> None:
    endpoint = await _endpoint(MemoryKeyring())
    await _add(store, endpoint)
    delivery = _delivery(endpoint)
    async with store.uow(MAINTENANCE) as uow:
        await uow.deliveries.add(delivery)
        await uow.commit()
    failed = delivery.tried(
        PostOutcome(status=502, body="bad gateway \x00", latency_ms=12), NOW + timedelta(seconds=1)
    )
    timed_out = delivery.tried(PostOutcome(status=None, error="timed out"), NOW)
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.deliveries.record(failed, attempts_before=0)
        assert not await uow.deliveries.record(timed_out, attempts_before=0)
        await uow.commit()
    ok = failed.tried(PostOutcome(status=204, latency_ms=3), NOW + timedelta(minutes=1))
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.deliveries.record(ok, attempts_before=1)
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        found = await uow.deliveries.get(delivery.id)
    assert found is not None
    assert found.status is DeliveryStatus.SUCCEEDED
    assert found.attempts == 2
    assert [a.outcome.status for a in found.attempt_log] == [502, 204]
    assert found.attempt_log[0].outcome.latency_ms == 12
    assert found.attempt_log[0].outcome.body.startswith("bad gateway")
    assert found.attempt_log[0].at == NOW + timedelta(seconds=1)


async def test_deliveries_page_newest_first(store: Store) -> None:
    endpoint = await _endpoint(MemoryKeyring())
    other = await _endpoint(MemoryKeyring())
    await _add(store, endpoint, other)
    made = []
    for n in range(5):
        async with store.uow(MAINTENANCE) as uow:
            delivery = _delivery(endpoint, at=NOW + timedelta(seconds=n))
            await uow.deliveries.add(delivery)
            await uow.deliveries.add(_delivery(other))
            await uow.commit()
        made.append(delivery.id)
    async with store.uow(MAINTENANCE) as uow:
        first = await uow.deliveries.of_endpoint(endpoint.id, limit=2)
        rest = await uow.deliveries.of_endpoint(endpoint.id, before=first[-1].id, limit=10)
    assert [d.id for d in first] == made[::-1][:2]
    assert [d.id for d in rest] == made[::-1][2:]


async def test_jobs_and_rows_exist_exactly_when_the_transaction_commits(store: Store) -> None:
    endpoint = await _endpoint(MemoryKeyring())
    await _add(store, endpoint)
    kept, dropped = _delivery(endpoint), _delivery(endpoint)
    later = NOW + timedelta(minutes=3)
    async with store.uow(MAINTENANCE) as uow:
        await uow.deliveries.add(dropped)
        await uow.jobs.deliver(dropped.id, 1, None)  # never committed
    async with store.uow(MAINTENANCE) as uow:
        await uow.deliveries.add(kept)
        await uow.jobs.deliver(kept.id, 1, None)
        await uow.jobs.deliver(kept.id, 2, later)
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.deliveries.get(dropped.id) is None
    assert scheduled(await store.jobs()) == [(kept.id, 1, None), (kept.id, 2, later)]


async def test_events_are_read_from_the_outbox_by_id(store: Store) -> None:
    event = Event(
        name="bookings.slot_held",
        occurred_at=NOW,
        payload={"booking_id": str(uuid.uuid4()), "provider_id": str(PROVIDER), "seats": 1},
    )
    await store.publish(event)
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.events.get(event.id) == event
        assert await uow.events.get(EventId(uuid.uuid4())) is None


async def test_dispatching_an_event_twice_makes_its_deliveries_and_jobs_once(store: Store) -> None:
    keyring = MemoryKeyring()
    endpoint = await _endpoint(keyring)
    await _add(store, endpoint)
    event = Event(
        name="payments.payment_succeeded",
        occurred_at=NOW,
        payload={"payment_id": "p", "provider_id": str(PROVIDER), "amount_minor": 100},
    )
    await store.publish(event)

    class Clock:
        def now(self) -> datetime:
            return NOW

    dispatch = DispatchEventToEndpoints(uow=store.uow, keyring=keyring, clock=Clock())
    assert await dispatch(event.id) == 1
    assert await dispatch(event.id) == 0
    [job] = await store.jobs()
    assert job.attempt == 1
    async with store.uow(MAINTENANCE) as uow:
        [delivery] = await uow.deliveries.of_endpoint(endpoint.id)
    assert delivery.id == job.delivery_id
    assert delivery.payload["type"] == "paid"
    assert delivery.payload["data"] == {
        "payment_id": "p",
        "provider_id": str(PROVIDER),
        "amount_minor": 100,
    }
