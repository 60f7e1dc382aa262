"""Webhooks for integrators over the memory store: registering, rotating, disabling, dispatching
outbox events, delivering with retries for a day, and redelivering."""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import timedelta

import pytest
from returns.result import Failure, Success

from core.integrations import (
    SIGNATURE_HEADER,
    DeliveryInProgress,
    DeliveryStatus,
    EndpointDisabled,
    EndpointWithSecret,
    ListDeadDeliveries,
    PostOutcome,
    TooManyEndpoints,
    secret_purpose,
)
from core.shared.errors import Forbidden, InvalidInput, NotFound
from core.shared.ids import ProviderId, UserId
from core.shared.principal import MfaRequired, Principal, Role
from integrations_support import World, booking_event, integrator_verifies, staff_of, world

PROVIDER = ProviderId(uuid.uuid4())
OTHER = ProviderId(uuid.uuid4())
STAFF = staff_of(PROVIDER)
URL = "https://hooks.example.com/reserva"


async def _register(w: World, types: tuple[str, ...] = ("held", "confirmed")) -> EndpointWithSecret:
    return (await w.register(STAFF, PROVIDER, URL, list(types), "CRM sync")).unwrap()


async def _deliver_one(w: World, name: str = "bookings.booking_confirmed") -> uuid.UUID:
    event = booking_event(name, PROVIDER, w.clock.now())
    w.store.publish(event)
    assert await w.dispatch(event.id) == 1
    return event.id


async def test_registering_answers_the_secret_once_and_stores_it_only_sealed() -> None:
    w = world()
    created = await _register(w)
    endpoint = created.endpoint
    assert created.secret == "whsec_" + w.secrets[0].hex()
    assert endpoint.active
    assert endpoint.url == URL
    assert endpoint.description == "CRM sync"
    stored = w.store.rows.endpoints[endpoint.id]
    assert created.secret.encode() not in stored.secret.sealed.ciphertext
    opened = await w.keyring.open(stored.secret.sealed, purpose=secret_purpose(endpoint.id))
    assert opened == created.secret.encode()
    assert "whsec_" not in repr(stored)
    assert "whsec_" not in repr(created)
    listed = (await w.list_endpoints(STAFF, PROVIDER)).unwrap()
    assert [e.id for e in listed] == [endpoint.id]


@pytest.mark.parametrize(
    ("caller", "provider", "error"),
    [
        (staff_of(OTHER), PROVIDER, Forbidden),
        (staff_of(PROVIDER, mfa=False), PROVIDER, MfaRequired),
    ],
)
async def test_only_the_providers_staff_with_a_second_factor_register(
    caller: object, provider: ProviderId, error: type
) -> None:
    w = world()
    result = await w.register(caller, provider, URL, ["held"])  # type: ignore[arg-type]
    assert isinstance(result, Failure)
    assert isinstance(result.failure(), error)
    assert w.store.rows.endpoints == {}


async def test_bad_input_is_refused_before_anything_is_stored() -> None:
    w = world()
    for url, types in (("http://x.example/", ["held"]), (URL, ["nope"]), (URL, [])):
        result = await w.register(STAFF, PROVIDER, url, types)
        assert isinstance(result, Failure)
        assert isinstance(result.failure(), InvalidInput)
    refused = await w.register(STAFF, PROVIDER, URL, ["held"], "bad\u202edescription")
    assert isinstance(refused, Failure)
    assert w.store.rows.endpoints == {}


async def test_a_provider_has_at_most_sixteen_active_endpoints() -> None:
    w = world()
    for _ in range(16):
        await _register(w)
    result = await w.register(STAFF, PROVIDER, URL, ["held"])
    assert result == Failure(TooManyEndpoints())
    first = (await w.list_endpoints(STAFF, PROVIDER)).unwrap()[0]
    await w.disable(STAFF, PROVIDER, first.id)
    assert isinstance(await w.register(STAFF, PROVIDER, URL, ["held"]), Success)


async def test_dispatch_makes_one_delivery_per_subscribed_endpoint_once() -> None:
    w = world()
    wants = await _register(w, ("confirmed",))
    await _register(w, ("cancelled",))  # not subscribed
    await w.register(staff_of(OTHER), OTHER, URL, ["confirmed"])  # another provider's
    event = booking_event("bookings.booking_confirmed", PROVIDER, w.clock.now())
    w.store.publish(event)

    assert await w.dispatch(event.id) == 1
    assert await w.dispatch(event.id) == 0  # a second run for the same event adds nothing
    assert await w.dispatch(uuid.uuid4()) == 0  # type: ignore[arg-type]

    jobs = w.store.take_jobs()
    assert [(j.attempt, j.at) for j in jobs] == [(1, None)]
    delivery = w.store.rows.deliveries[jobs[0].delivery_id]
    assert delivery.endpoint_id == wants.endpoint.id
    assert delivery.status is DeliveryStatus.PENDING
    assert delivery.payload["type"] == "confirmed"


async def test_a_delivery_is_signed_and_succeeds_on_2xx() -> None:
    w = world()
    created = await _register(w)
    event_id = await _deliver_one(w)
    assert await w.run_due_jobs() == 1

    [sent] = w.poster.requests
    assert sent.url == URL
    assert integrator_verifies(sent.headers[SIGNATURE_HEADER], sent.body, created.secret, sent.at)
    assert json.loads(sent.body)["id"] == str(event_id)
    assert sent.headers["Reserva-Event-Id"] == str(event_id)
    [delivery] = (await w.list_deliveries(STAFF, PROVIDER, created.endpoint.id)).unwrap()
    assert delivery.status is DeliveryStatus.SUCCEEDED
    assert delivery.attempts == 1
    assert delivery.last is not None
    assert delivery.last.outcome.status == 200
    assert w.store.take_jobs() == []


async def test_running_the_same_attempt_twice_records_it_once() -> None:
    w = world()
    await _register(w)
    await _deliver_one(w)
    [job] = w.store.take_jobs()
    await w.deliver(job.delivery_id, 1)
    again = await w.deliver(job.delivery_id, 1)
    assert again.delivery is None
    assert len(w.poster.requests) == 1
    assert w.store.rows.deliveries[job.delivery_id].attempts == 1


async def test_failures_back_off_for_a_day_then_the_delivery_is_dead() -> None:
    w = world()
    created = await _register(w)
    await _deliver_one(w)
    w.poster.answer(*[PostOutcome(status=503, body="down", latency_ms=7)] * 20)
    started = w.clock.now()

    await w.run_due_jobs()
    times = [w.poster.requests[-1].at]
    while w.store.jobs:
        [job] = w.store.jobs
        assert job.at is not None
        w.clock.set(job.at)
        await w.run_due_jobs()
        times.append(w.poster.requests[-1].at)

    gaps = [(b - a) / timedelta(minutes=1) for a, b in itertools.pairwise(times)]
    assert gaps[:7] == [1, 3, 9, 27, 81, 243, 729]
    assert times[-1] - started == timedelta(hours=24)
    [delivery] = (await w.list_deliveries(STAFF, PROVIDER, created.endpoint.id)).unwrap()
    assert delivery.status is DeliveryStatus.DEAD
    assert delivery.attempts == 9
    assert delivery.next_attempt_at is None
    assert [a.outcome.status for a in delivery.attempt_log] == [503] * 9
    assert all(a.outcome.body == "down" for a in delivery.attempt_log)


async def test_a_retry_that_succeeds_ends_the_back_off() -> None:
    w = world()
    await _register(w)
    await _deliver_one(w)
    w.poster.answer(PostOutcome(status=None, error="ConnectError: refused"))
    await w.run_due_jobs()
    [job] = w.store.jobs
    delivery = w.store.rows.deliveries[job.delivery_id]
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.next_attempt_at == job.at == w.clock.now() + timedelta(minutes=1)
    assert await w.run_due_jobs() == 0  # not due yet
    w.clock.advance(timedelta(minutes=1))
    assert await w.run_due_jobs() == 1
    assert w.store.rows.deliveries[job.delivery_id].status is DeliveryStatus.SUCCEEDED
    assert w.store.jobs == []


async def test_after_a_rotation_both_secrets_sign_for_24_hours_then_only_the_new() -> None:
    w = world()
    old = await _register(w)
    new = (await w.rotate(STAFF, PROVIDER, old.endpoint.id)).unwrap()
    assert new.secret != old.secret
    assert new.endpoint.previous_secret is not None

    await _deliver_one(w)
    await w.run_due_jobs()
    during = w.poster.requests[-1]
    header = during.headers[SIGNATURE_HEADER]
    assert header.count("v1=") == 2
    assert integrator_verifies(header, during.body, old.secret, during.at)
    assert integrator_verifies(header, during.body, new.secret, during.at)

    w.clock.advance(timedelta(hours=24))
    await _deliver_one(w, "bookings.slot_held")
    await w.run_due_jobs()
    after = w.poster.requests[-1]
    header = after.headers[SIGNATURE_HEADER]
    assert header.count("v1=") == 1
    assert integrator_verifies(header, after.body, new.secret, after.at)
    assert not integrator_verifies(header, after.body, old.secret, after.at)


async def test_rotating_twice_keeps_only_the_last_two_secrets() -> None:
    w = world()
    first = await _register(w)
    second = (await w.rotate(STAFF, PROVIDER, first.endpoint.id)).unwrap()
    third = (await w.rotate(STAFF, PROVIDER, first.endpoint.id)).unwrap()
    await _deliver_one(w)
    await w.run_due_jobs()
    sent = w.poster.requests[-1]
    header = sent.headers[SIGNATURE_HEADER]
    assert header.count("v1=") == 2
    assert integrator_verifies(header, sent.body, third.secret, sent.at)
    assert integrator_verifies(header, sent.body, second.secret, sent.at)
    assert not integrator_verifies(header, sent.body, first.secret, sent.at)


async def test_another_providers_staff_cannot_touch_an_endpoint() -> None:
    w = world()
    created = await _register(w)
    stranger = staff_of(OTHER)
    for result in (
        await w.rotate(stranger, OTHER, created.endpoint.id),
        await w.disable(stranger, OTHER, created.endpoint.id),
        await w.list_deliveries(stranger, OTHER, created.endpoint.id),
    ):
        assert isinstance(result, Failure)
        assert isinstance(result.failure(), NotFound)
    assert w.store.rows.endpoints[created.endpoint.id].active


async def test_a_disabled_endpoint_gets_no_new_deliveries_and_its_pending_ones_die() -> None:
    w = world()
    created = await _register(w)
    await _deliver_one(w)  # a job is waiting
    disabled = (await w.disable(STAFF, PROVIDER, created.endpoint.id)).unwrap()
    assert not disabled.active
    assert (await w.disable(STAFF, PROVIDER, created.endpoint.id)).unwrap() == disabled

    await w.run_due_jobs()
    assert w.poster.requests == []
    [delivery] = (await w.list_deliveries(STAFF, PROVIDER, created.endpoint.id)).unwrap()
    assert delivery.status is DeliveryStatus.DEAD
    assert delivery.last is not None
    assert delivery.last.outcome.error == "endpoint disabled"

    event = booking_event("bookings.booking_confirmed", PROVIDER, w.clock.now())
    w.store.publish(event)
    assert await w.dispatch(event.id) == 0
    rotated = await w.rotate(STAFF, PROVIDER, created.endpoint.id)
    assert rotated == Failure(EndpointDisabled())


async def test_a_dead_delivery_can_be_redelivered_by_hand() -> None:
    w = world()
    created = await _register(w)
    await _deliver_one(w)
    w.poster.answer(*[PostOutcome(status=500)] * 9)
    while w.store.jobs:
        next_at = min(j.at or w.clock.now() for j in w.store.jobs)
        w.clock.set(max(next_at, w.clock.now()))
        await w.run_due_jobs()
    [dead] = (await w.list_deliveries(STAFF, PROVIDER, created.endpoint.id)).unwrap()
    assert dead.status is DeliveryStatus.DEAD

    again = (await w.redeliver(STAFF, PROVIDER, dead.id, created.endpoint.id)).unwrap()
    assert again.status is DeliveryStatus.PENDING
    assert await w.redeliver(STAFF, PROVIDER, dead.id) == Failure(DeliveryInProgress())
    await w.run_due_jobs()
    [done] = (await w.list_deliveries(STAFF, PROVIDER, created.endpoint.id)).unwrap()
    assert done.status is DeliveryStatus.SUCCEEDED
    assert done.attempts == 10
    assert w.poster.requests[-1].body == w.poster.requests[0].body  # the same body
    assert w.poster.requests[-1].headers["Reserva-Delivery-Attempt"] == "10"


async def test_redelivering_a_delivery_of_another_endpoint_or_provider_is_not_found() -> None:
    w = world()
    created = await _register(w)
    other = await _register(w, ("paid",))
    await _deliver_one(w)
    await w.run_due_jobs()
    [delivery] = (await w.list_deliveries(STAFF, PROVIDER, created.endpoint.id)).unwrap()
    wrong_endpoint = await w.redeliver(STAFF, PROVIDER, delivery.id, other.endpoint.id)
    assert isinstance(wrong_endpoint, Failure)
    assert isinstance(wrong_endpoint.failure(), NotFound)
    stranger = await w.redeliver(staff_of(OTHER), OTHER, delivery.id)
    assert isinstance(stranger, Failure)
    assert isinstance(stranger.failure(), NotFound)


async def test_deliveries_list_newest_first_and_page_by_before() -> None:
    w = world()
    created = await _register(w, ("held",))
    ids = []
    for _ in range(5):
        event = booking_event("bookings.slot_held", PROVIDER, w.clock.now())
        w.store.publish(event)
        await w.dispatch(event.id)
        ids.append(w.store.jobs[-1].delivery_id)
        w.clock.advance(timedelta(seconds=1))
    page = (await w.list_deliveries(STAFF, PROVIDER, created.endpoint.id, 3)).unwrap()
    assert [d.id for d in page] == ids[::-1][:3]
    rest = (await w.list_deliveries(STAFF, PROVIDER, created.endpoint.id, 3, page[-1].id)).unwrap()
    assert [d.id for d in rest] == ids[::-1][3:]


ADMIN = Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.ADMIN}), mfa=True)


@pytest.mark.parametrize(
    ("caller", "error"),
    [
        (STAFF, Forbidden),
        (Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.ADMIN})), MfaRequired),
    ],
)
async def test_only_admins_with_a_second_factor_list_dead_deliveries_or_redeliver_any(
    caller: Principal, error: type[Exception]
) -> None:
    w = world()
    await _register(w)
    await _deliver_one(w)
    [job] = w.store.jobs
    listing = ListDeadDeliveries(uow=w.store, keyring=w.keyring, clock=w.clock)
    listed = await listing(caller)
    assert isinstance(listed, Failure)
    assert isinstance(listed.failure(), error)
    redelivered = await w.redeliver(caller, None, job.delivery_id)
    assert isinstance(redelivered, Failure)
    assert isinstance(redelivered.failure(), error)


async def test_an_admin_redelivers_a_dead_delivery_of_any_provider_without_naming_it() -> None:
    w = world()
    await _register(w)
    await _deliver_one(w)
    w.poster.answer(*[PostOutcome(status=500)] * 20)
    while w.store.jobs:
        w.clock.set(max(min(j.at or w.clock.now() for j in w.store.jobs), w.clock.now()))
        await w.run_due_jobs()
    listing = ListDeadDeliveries(uow=w.store, keyring=w.keyring, clock=w.clock)
    [dead] = (await listing(ADMIN)).unwrap()
    assert dead.provider_id == PROVIDER
    assert dead.url == URL
    again = (await w.redeliver(ADMIN, None, dead.delivery.id)).unwrap()
    assert again.status is DeliveryStatus.PENDING
    assert (await listing(ADMIN)).unwrap() == []
