"""Webhooks for integrators: a provider's staff register HTTPS endpoints for its booking
events, rotate their signing secrets, disable them, and read and redeliver their deliveries.

Deliveries are POSTed as JSON with `Reserva-Signature: t=<unix>,v1=<hex>[,v1=<hex>]`, one
`v1` per valid secret, each HMAC-SHA256 over f"{t}.{raw body}" (as Stripe signs its own). A
secret is answered once: when the endpoint is created and when it is rotated; the previous
secret keeps signing beside the new one for 24 h. Staff of the provider or admins, with a
second factor.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import partial
from typing import Annotated

import msgspec
from litestar import delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from core.integrations import (
    Attempt,
    DeliveryId,
    DisableEndpoint,
    EndpointId,
    EndpointWithSecret,
    ListDeliveries,
    ListEndpoints,
    RedeliverWebhook,
    RegisterEndpoint,
    RotateEndpointSecret,
)
from core.integrations import Delivery as DeliveryRecord
from core.integrations import Endpoint as EndpointRecord
from core.shared.ids import ProviderId
from core.shared.principal import Principal
from entrypoints.http.auth import SECURITY
from entrypoints.http.dto import DEFAULT_LIMIT, Limit
from entrypoints.http.problems import SIGNED_IN_PROBLEMS, ok

ENDPOINTS = "/providers/{provider_id:str}/webhook-endpoints"
ENDPOINT = ENDPOINTS + "/{endpoint_id:str}"

Before = Annotated[
    uuid.UUID | None,
    QueryParameter(description="the id of the last delivery of the previous page"),
]

_get = partial(get, tags=["integrations"], security=SECURITY, responses=SIGNED_IN_PROBLEMS)
_post = partial(post, tags=["integrations"], security=SECURITY, responses=SIGNED_IN_PROBLEMS)
_delete = partial(delete, tags=["integrations"], security=SECURITY, responses=SIGNED_IN_PROBLEMS)


class EndpointIn(msgspec.Struct, forbid_unknown_fields=True):
    url: str
    event_types: list[str]
    description: str = ""


class EndpointOut(msgspec.Struct, frozen=True):
    id: str
    url: str
    event_types: list[str]
    active: bool
    description: str
    created_at: datetime
    secret_created_at: datetime
    previous_secret_expires_at: datetime | None

    @classmethod
    def of(cls, endpoint: EndpointRecord) -> EndpointOut:
        previous = endpoint.previous_secret
        return cls(
            id=str(endpoint.id),
            url=endpoint.url,
            event_types=sorted(t.value for t in endpoint.event_types),
            active=endpoint.active,
            description=endpoint.description,
            created_at=endpoint.created_at,
            secret_created_at=endpoint.secret.created_at,
            previous_secret_expires_at=None if previous is None else previous.expires_at,
        )


class EndpointWithSecretOut(msgspec.Struct, frozen=True):
    endpoint: EndpointOut
    secret: str  # shown once: store it now; we keep it only sealed

    @classmethod
    def of(cls, created: EndpointWithSecret) -> EndpointWithSecretOut:
        return cls(endpoint=EndpointOut.of(created.endpoint), secret=created.secret)


class AttemptOut(msgspec.Struct, frozen=True):
    number: int
    at: datetime
    response_status: int | None
    response_body: str  # its first kilobyte
    latency_ms: int
    error: str | None

    @classmethod
    def of(cls, attempt: Attempt) -> AttemptOut:
        outcome = attempt.outcome
        return cls(
            number=attempt.number,
            at=attempt.at,
            response_status=outcome.status,
            response_body=outcome.body,
            latency_ms=outcome.latency_ms,
            error=outcome.error,
        )


class DeliveryOut(msgspec.Struct, frozen=True):
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    payload: dict[str, object]
    responses: list[AttemptOut]  # every attempt, oldest first

    @classmethod
    def of(cls, delivery: DeliveryRecord) -> DeliveryOut:
        return cls(
            id=str(delivery.id),
            endpoint_id=str(delivery.endpoint_id),
            event_id=str(delivery.event_id),
            event_type=delivery.event_type.value,
            status=delivery.status.value,
            attempts=delivery.attempts,
            next_attempt_at=delivery.next_attempt_at,
            created_at=delivery.created_at,
            payload=delivery.payload,
            responses=[AttemptOut.of(attempt) for attempt in delivery.attempt_log],
        )


class DeliveriesOut(msgspec.Struct, frozen=True):
    items: list[DeliveryOut]
    next: str | None


@_post(
    ENDPOINTS,
    status_code=201,
    summary="Register a webhook endpoint (staff)",
    description="An https URL (no credentials, at most 2048 characters) and the event types "
    "to send it: `held`, `confirmed`, `cancelled`, `rescheduled`, `paid`, `refunded`. The "
    "answer carries the signing secret (`whsec_...`) once; it is not shown again.",
)
async def register_webhook_endpoint(
    provider_id: FromPath[uuid.UUID],
    data: JSONBody[EndpointIn],
    principal: NamedDependency[Principal],
    register_endpoint: NamedDependency[RegisterEndpoint],
) -> EndpointWithSecretOut:
    created = await register_endpoint(
        principal, ProviderId(provider_id), data.url, data.event_types, data.description
    )
    return EndpointWithSecretOut.of(ok(created))


@_get(
    ENDPOINTS,
    summary="A provider's webhook endpoints (staff)",
    description="Active and disabled, oldest first; never their secrets.",
)
async def webhook_endpoints(
    provider_id: FromPath[uuid.UUID],
    principal: NamedDependency[Principal],
    list_endpoints: NamedDependency[ListEndpoints],
) -> list[EndpointOut]:
    found = ok(await list_endpoints(principal, ProviderId(provider_id)))
    return [EndpointOut.of(endpoint) for endpoint in found]


@_post(
    ENDPOINT + "/rotate-secret",
    status_code=200,
    summary="Rotate a webhook endpoint's signing secret (staff)",
    description="A new secret, answered once. For 24 h deliveries carry a signature with "
    "the new secret and one with the previous, so the receiver can switch without losing "
    "any; then only the new one.",
)
async def rotate_webhook_secret(
    provider_id: FromPath[uuid.UUID],
    endpoint_id: FromPath[uuid.UUID],
    principal: NamedDependency[Principal],
    rotate_endpoint_secret: NamedDependency[RotateEndpointSecret],
) -> EndpointWithSecretOut:
    rotated = await rotate_endpoint_secret(
        principal, ProviderId(provider_id), EndpointId(endpoint_id)
    )
    return EndpointWithSecretOut.of(ok(rotated))


@_delete(
    ENDPOINT,
    status_code=204,
    summary="Disable a webhook endpoint (staff)",
    description="No new deliveries; those still scheduled end dead without a request. Its "
    "deliveries stay listed.",
)
async def disable_webhook_endpoint(
    provider_id: FromPath[uuid.UUID],
    endpoint_id: FromPath[uuid.UUID],
    principal: NamedDependency[Principal],
    disable_endpoint: NamedDependency[DisableEndpoint],
) -> None:
    ok(await disable_endpoint(principal, ProviderId(provider_id), EndpointId(endpoint_id)))


@_get(
    ENDPOINT + "/deliveries",
    summary="A webhook endpoint's deliveries (staff)",
    description="Newest first, with every attempt's response (status, first kilobyte of the "
    "body, latency). Statuses: `pending`, `failed` (retrying at `next_attempt_at`), "
    "`succeeded`, `dead` (retried with back-off for 24 h, in vain). Pages by `before`.",
)
async def webhook_deliveries(
    provider_id: FromPath[uuid.UUID],
    endpoint_id: FromPath[uuid.UUID],
    principal: NamedDependency[Principal],
    list_deliveries: NamedDependency[ListDeliveries],
    limit: Limit = DEFAULT_LIMIT,
    before: Before = None,
) -> DeliveriesOut:
    cursor = None if before is None else DeliveryId(before)
    found = ok(
        await list_deliveries(
            principal, ProviderId(provider_id), EndpointId(endpoint_id), limit, cursor
        )
    )
    return DeliveriesOut(
        items=[DeliveryOut.of(delivery) for delivery in found],
        next=str(found[-1].id) if len(found) == limit else None,
    )


@_post(
    ENDPOINT + "/deliveries/{delivery_id:str}/redeliver",
    status_code=202,
    summary="Send a delivery again (staff)",
    description="One more attempt now, with the same body and event id (receivers dedupe by "
    "it). For a delivery tried at least once: succeeded, failed or dead.",
)
async def redeliver_webhook_delivery(
    provider_id: FromPath[uuid.UUID],
    endpoint_id: FromPath[uuid.UUID],
    delivery_id: FromPath[uuid.UUID],
    principal: NamedDependency[Principal],
    redeliver_webhook: NamedDependency[RedeliverWebhook],
) -> DeliveryOut:
    due = await redeliver_webhook(
        principal, ProviderId(provider_id), DeliveryId(delivery_id), EndpointId(endpoint_id)
    )
    return DeliveryOut.of(ok(due))


ROUTES = [
    register_webhook_endpoint,
    webhook_endpoints,
    rotate_webhook_secret,
    disable_webhook_endpoint,
    webhook_deliveries,
    redeliver_webhook_delivery,
]
