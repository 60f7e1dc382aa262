"""Use cases of webhooks for integrators.

Staff of a provider (or admins), with a second factor, register, list, rotate and disable its
endpoints and read and redeliver their deliveries. The worker runs `DispatchEventToEndpoints`
for every outbox event and `DeliverWebhook` for every delivery job; both are idempotent:
one delivery per (endpoint, event), and an attempt is recorded only by the run that finds the
delivery where that attempt left it (a job run twice records once).

Retries are scheduled here, explicitly: a failed attempt records its response and defers the
next attempt as a new job at `retry_at(...)` in the same transaction; the job itself ends
normally. The whole schedule is thus in `core.integrations.model` and visible on the delivery
(`next_attempt_at`), not in the job queue's retry settings.
"""

from __future__ import annotations

import secrets as random_source
from collections.abc import Callable, Sequence
from datetime import datetime

import attrs
from returns.result import Failure, Result, Success

from core.integrations.model import (
    ATTEMPT_LEASE,
    ENDPOINTS_PER_PROVIDER,
    SECRET_BYTES,
    SIGNATURE_HEADER,
    Delivery,
    DeliveryId,
    DeliveryInProgress,
    DeliveryStatus,
    Endpoint,
    EndpointDisabled,
    EndpointId,
    SealedSecret,
    TooManyEndpoints,
    event_type_of,
    new_secret,
    parse_event_types,
    parse_url,
    provider_of,
    secret_purpose,
    signature_header,
    webhook_payload,
)
from core.integrations.ports import IntegrationsUnitOfWork, WebhookPoster
from core.shared.errors import DomainError, NotFound
from core.shared.ids import EventId, ProviderId, new_id
from core.shared.keyring import Keyring
from core.shared.principal import Principal, may_manage, require_admin
from core.shared.text import clean_text
from core.shared.time import Clock
from core.shared.unit_of_work import MAINTENANCE, Access, UnitOfWorkFactory
from core.shared.use_case import UseCase

USER_AGENT = "Reserva-Webhooks/1"
PAGE_MAX = 100


@attrs.frozen(kw_only=True)
class IntegrationsUseCase(UseCase):
    uow: UnitOfWorkFactory[IntegrationsUnitOfWork]
    keyring: Keyring
    clock: Clock


@attrs.frozen(kw_only=True)
class EndpointWithSecret:
    """An endpoint and its new signing secret in clear: answered once, never stored so."""

    endpoint: Endpoint
    secret: str = attrs.field(repr=False)


def _secret_bytes() -> bytes:
    return random_source.token_bytes(SECRET_BYTES)


async def _sealed(
    keyring: Keyring, endpoint_id: EndpointId, secret: str, at: datetime
) -> SealedSecret:
    sealed = await keyring.seal(secret.encode(), purpose=secret_purpose(endpoint_id))
    return SealedSecret(sealed=sealed, created_at=at)


async def _endpoint_of(
    uow: IntegrationsUnitOfWork,
    provider_id: ProviderId,
    endpoint_id: EndpointId,
    *,
    for_update: bool = False,
) -> Result[Endpoint, DomainError]:
    endpoint = await uow.endpoints.get(endpoint_id, for_update=for_update)
    if endpoint is None or endpoint.provider_id != provider_id:
        return Failure(NotFound(kind="webhook endpoint", id=str(endpoint_id)))
    return Success(endpoint)


# --- staff ----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class RegisterEndpoint(IntegrationsUseCase):
    """A new endpoint for some of the provider's events; its secret is shown in the answer.
    At most ENDPOINTS_PER_PROVIDER active endpoints: the store counts and inserts atomically
    (a count here, then an insert, let concurrent registrations past the limit)."""

    random: Callable[[], bytes] = _secret_bytes

    async def __call__(
        self,
        caller: Principal,
        provider_id: ProviderId,
        url: str,
        event_types: Sequence[str],
        description: str = "",
    ) -> Result[EndpointWithSecret, DomainError]:
        allowed = may_manage(caller, provider_id)
        if isinstance(allowed, Failure):
            return allowed
        checked_url = parse_url(url)
        if isinstance(checked_url, Failure):
            return checked_url
        types = parse_event_types(list(event_types))
        if isinstance(types, Failure):
            return types
        words = clean_text("description", description, max_len=200, required=False)
        if isinstance(words, Failure):
            return words
        now = self.clock.now()
        endpoint_id = EndpointId(new_id())
        secret = new_secret(self.random())
        endpoint = Endpoint(
            id=endpoint_id,
            provider_id=provider_id,
            url=checked_url.unwrap(),
            event_types=types.unwrap(),
            active=True,
            created_at=now,
            secret=await _sealed(self.keyring, endpoint_id, secret, now),
            description=words.unwrap(),
        )
        async with self.uow(Access.of(caller)) as uow:
            if not await uow.endpoints.add(endpoint, limit=ENDPOINTS_PER_PROVIDER):
                return Failure(TooManyEndpoints())
            await uow.commit()
        return Success(EndpointWithSecret(endpoint=endpoint, secret=secret))


@attrs.frozen(kw_only=True)
class ListEndpoints(IntegrationsUseCase):
    async def __call__(
        self, caller: Principal, provider_id: ProviderId
    ) -> Result[Sequence[Endpoint], DomainError]:
        allowed = may_manage(caller, provider_id)
        if isinstance(allowed, Failure):
            return allowed
        async with self.uow(Access.of(caller)) as uow:
            return Success(await uow.endpoints.of_provider(provider_id))


@attrs.frozen(kw_only=True)
class RotateEndpointSecret(IntegrationsUseCase):
    """A new secret, shown once; the previous one keeps signing for 24 h beside it. Rotating
    again within those 24 h ends the older secret at once (two at most are ever valid).
    The endpoint is read locked: two rotations at once run one after the other (the second
    keeps the first's secret as its previous one), never both from the same old secret,
    which would leave the first caller's new secret valid nowhere."""

    random: Callable[[], bytes] = _secret_bytes

    async def __call__(
        self, caller: Principal, provider_id: ProviderId, endpoint_id: EndpointId
    ) -> Result[EndpointWithSecret, DomainError]:
        allowed = may_manage(caller, provider_id)
        if isinstance(allowed, Failure):
            return allowed
        now = self.clock.now()
        secret = new_secret(self.random())
        sealed = await _sealed(self.keyring, endpoint_id, secret, now)
        async with self.uow(Access.of(caller)) as uow:
            found = await _endpoint_of(uow, provider_id, endpoint_id, for_update=True)
            if isinstance(found, Failure):
                return found
            endpoint = found.unwrap()
            if not endpoint.active:
                return Failure(EndpointDisabled())
            rotated = endpoint.rotated(sealed.sealed, now)
            await uow.endpoints.update(rotated)
            await uow.commit()
        return Success(EndpointWithSecret(endpoint=rotated, secret=secret))


@attrs.frozen(kw_only=True)
class DisableEndpoint(IntegrationsUseCase):
    """No new deliveries; deliveries still scheduled for it end dead without a request.
    Disabling a disabled endpoint changes nothing. Read locked, like a rotation: a rotation
    running meanwhile cannot write the endpoint back active."""

    async def __call__(
        self, caller: Principal, provider_id: ProviderId, endpoint_id: EndpointId
    ) -> Result[Endpoint, DomainError]:
        allowed = may_manage(caller, provider_id)
        if isinstance(allowed, Failure):
            return allowed
        async with self.uow(Access.of(caller)) as uow:
            found = await _endpoint_of(uow, provider_id, endpoint_id, for_update=True)
            if isinstance(found, Failure):
                return found
            endpoint = found.unwrap()
            if endpoint.active:
                endpoint = attrs.evolve(endpoint, active=False)
                await uow.endpoints.update(endpoint)
                await uow.commit()
            return Success(endpoint)


@attrs.frozen(kw_only=True)
class ListDeliveries(IntegrationsUseCase):
    """An endpoint's deliveries, newest first, each with every attempt's response."""

    async def __call__(
        self,
        caller: Principal,
        provider_id: ProviderId,
        endpoint_id: EndpointId,
        limit: int = 50,
        before: DeliveryId | None = None,
    ) -> Result[Sequence[Delivery], DomainError]:
        allowed = may_manage(caller, provider_id)
        if isinstance(allowed, Failure):
            return allowed
        async with self.uow(Access.of(caller)) as uow:
            found = await _endpoint_of(uow, provider_id, endpoint_id)
            if isinstance(found, Failure):
                return found
            page = max(1, min(limit, PAGE_MAX))
            return Success(await uow.deliveries.of_endpoint(endpoint_id, before=before, limit=page))


@attrs.frozen(kw_only=True)
class RedeliverWebhook(IntegrationsUseCase):
    """A manual retry of any delivery tried at least once (succeeded, failed or dead): one more
    attempt now, with the same body. A delivery older than the retry span that fails again is
    dead again; a younger one goes on with its back-off.

    Refused (DeliveryInProgress) while an attempt is due or under way: pending (not tried yet,
    redelivered already, or claimed by a run posting it now) or failed with its retry due. The
    delivery is read locked, so two redeliveries at once make one attempt, not two."""

    async def __call__(
        self,
        caller: Principal,
        provider_id: ProviderId | None,
        delivery_id: DeliveryId,
        endpoint_id: EndpointId | None = None,
    ) -> Result[Delivery, DomainError]:
        """`endpoint_id`, when given (the URL names it), must be the delivery's. `provider_id`
        None: an admin redelivering a delivery of any provider (the CLI)."""
        allowed = require_admin(caller) if provider_id is None else may_manage(caller, provider_id)
        if isinstance(allowed, Failure):
            return allowed
        now = self.clock.now()
        async with self.uow(Access.of(caller)) as uow:
            delivery = await uow.deliveries.get(delivery_id, for_update=True)
            missing = NotFound(kind="webhook delivery", id=str(delivery_id))
            if delivery is None or endpoint_id not in (None, delivery.endpoint_id):
                return Failure(missing)
            endpoint = await uow.endpoints.get(delivery.endpoint_id)
            if endpoint is None or provider_id not in (None, endpoint.provider_id):
                return Failure(missing)
            if not endpoint.active:
                return Failure(EndpointDisabled())
            if _attempt_due(delivery, now):
                return Failure(DeliveryInProgress())
            due = delivery.redelivered(now)
            if not await uow.deliveries.record(due, attempts_before=delivery.attempts):
                return Failure(DeliveryInProgress())  # an attempt landed meanwhile
            await uow.jobs.deliver(delivery_id, delivery.attempts + 1, None)
            await uow.commit()
        return Success(due)


@attrs.frozen(kw_only=True)
class DeadDelivery:
    """A dead delivery with the endpoint and provider it was for."""

    delivery: Delivery
    provider_id: ProviderId
    url: str


@attrs.frozen(kw_only=True)
class ListDeadDeliveries(IntegrationsUseCase):
    """Admins: dead deliveries of every endpoint, newest first, each with every attempt's
    response and its endpoint's URL and provider; `before` is the last id of the previous page
    (read through the partial index on dead deliveries)."""

    async def __call__(
        self, caller: Principal, before: DeliveryId | None = None, limit: int = 50
    ) -> Result[Sequence[DeadDelivery], DomainError]:
        allowed = require_admin(caller)
        if isinstance(allowed, Failure):
            return allowed
        page = max(1, min(limit, PAGE_MAX))
        async with self.uow(Access.of(caller)) as uow:
            dead = await uow.deliveries.dead(before=before, limit=page)
            endpoints: dict[EndpointId, Endpoint | None] = {}
            listed = []
            for delivery in dead:
                if delivery.endpoint_id not in endpoints:
                    endpoints[delivery.endpoint_id] = await uow.endpoints.get(delivery.endpoint_id)
                endpoint = endpoints[delivery.endpoint_id]
                if endpoint is not None:  # a delivery's endpoint is a foreign key: always
                    listed.append(
                        DeadDelivery(
                            delivery=delivery, provider_id=endpoint.provider_id, url=endpoint.url
                        )
                    )
        return Success(listed)


# --- the worker ------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class DispatchEventToEndpoints(IntegrationsUseCase):
    """One delivery per subscribed active endpoint of the event's provider, each with its job
    (deferred in the same transaction). Run twice for one event, it adds nothing the second
    time. Returns how many deliveries it created."""

    async def __call__(self, event_id: EventId) -> int:
        async with self.uow(MAINTENANCE) as uow:
            event = await uow.events.get(event_id)
            if event is None:
                return 0
            event_type = event_type_of(event)
            provider_id = provider_of(event)
            if event_type is None or provider_id is None:
                return 0
            payload = webhook_payload(event, event_type)
            created = 0
            now = self.clock.now()
            for endpoint in await uow.endpoints.wanting(provider_id, event_type):
                delivery = Delivery(
                    id=DeliveryId(new_id()),
                    endpoint_id=endpoint.id,
                    event_id=event.id,
                    event_type=event_type,
                    payload=payload,
                    created_at=now,
                    next_attempt_at=now,
                )
                if await uow.deliveries.add(delivery):
                    await uow.jobs.deliver(delivery.id, 1, None)
                    created += 1
            await uow.commit()
        return created


@attrs.frozen(kw_only=True)
class DeliveryOutcome:
    """What one run of DeliverWebhook did: `delivery` as recorded, or None when the run had
    nothing to do (unknown delivery, already finished, or this attempt already recorded)."""

    delivery: Delivery | None


@attrs.frozen(kw_only=True)
class DeliverWebhook(IntegrationsUseCase):
    """The `attempt`-th try of a delivery: sign with every valid secret, POST, record the
    response; on failure defer the next attempt (or end dead after the retry span). No
    transaction is open during the request."""

    poster: WebhookPoster

    async def __call__(self, delivery_id: DeliveryId, attempt: int) -> DeliveryOutcome:
        async with self.uow(MAINTENANCE) as uow:
            delivery = await uow.deliveries.get(delivery_id, for_update=True)
            if delivery is None or not _due(delivery, attempt):
                return DeliveryOutcome(delivery=None)
            endpoint = await uow.endpoints.get(delivery.endpoint_id)
            if endpoint is None or not endpoint.active:
                dead = delivery.abandoned("endpoint disabled", self.clock.now())
                recorded = await uow.deliveries.record(dead, attempts_before=delivery.attempts)
                await uow.commit()
                return DeliveryOutcome(delivery=dead if recorded else None)
            now = self.clock.now()
            busy_until = delivery.next_attempt_at
            if busy_until is not None and busy_until > now:
                # Another run of this attempt claimed it (or it is not due yet): look again
                # when its lease ends; a run killed mid-request is taken over then.
                await uow.jobs.deliver(delivery.id, attempt, busy_until)
                await uow.commit()
                return DeliveryOutcome(delivery=None)
            claimed = delivery.claimed(now + ATTEMPT_LEASE)
            await uow.deliveries.record(claimed, attempts_before=delivery.attempts)
            await uow.commit()
        now = self.clock.now()
        body = delivery.body()
        signing = [
            (await self.keyring.open(s.sealed, purpose=secret_purpose(endpoint.id))).decode()
            for s in endpoint.secrets_at(now)
        ]
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: signature_header(tuple(signing), int(now.timestamp()), body),
            "Reserva-Event-Id": str(delivery.event_id),
            "Reserva-Event-Type": delivery.event_type.value,
            "Reserva-Delivery-Id": str(delivery.id),
            "Reserva-Delivery-Attempt": str(attempt),
        }
        outcome = await self.poster.post(endpoint.url, body, headers)
        tried = delivery.tried(outcome, self.clock.now())
        async with self.uow(MAINTENANCE) as uow:
            if not await uow.deliveries.record(tried, attempts_before=delivery.attempts):
                return DeliveryOutcome(delivery=None)
            if tried.status is DeliveryStatus.FAILED:
                await uow.jobs.deliver(tried.id, tried.attempts + 1, tried.next_attempt_at)
            await uow.commit()
        return DeliveryOutcome(delivery=tried)


def _attempt_due(delivery: Delivery, now: datetime) -> bool:
    """An attempt is waiting to run or under way: pending (new, redelivered or claimed by a
    run posting it), or failed with its retry due."""
    if delivery.status is DeliveryStatus.PENDING:
        return True
    due_at = delivery.next_attempt_at
    return delivery.status is DeliveryStatus.FAILED and due_at is not None and due_at <= now


def _due(delivery: Delivery, attempt: int) -> bool:
    """This run is the next attempt of a delivery not finished yet."""
    unfinished = delivery.status in (DeliveryStatus.PENDING, DeliveryStatus.FAILED)
    return unfinished and delivery.attempts == attempt - 1
