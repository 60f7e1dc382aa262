"""The worker's task table: what each job runs, on the container's use cases.

Job arguments carry ids only. Every handler is idempotent (each use case is: dedupe keys,
statuses that only move forward), so a job run twice, after a crash between the effect and
the acknowledgement, has its effect once. A handler raises only for what a retry may fix.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from adapters.postgis.jobs import (
    DELETE_MEDIA_ASSET,
    DELIVER_WEBHOOK,
    DISPATCH_EVENT,
    SEND_MESSAGE,
    SEND_REMINDER,
)
from core.integrations import DeliveryId
from core.media import PhotoId
from core.messaging import MessageId
from core.shared.ids import BookingId, EventId
from entrypoints.container import Container
from entrypoints.worker.registry import current_job

Handler = Callable[[Any, dict[str, Any]], Awaitable[None]]


def _id(args: Mapping[str, Any], name: str) -> uuid.UUID:
    return uuid.UUID(str(args[name]))


async def dispatch_event(container: Container, args: dict[str, Any]) -> None:
    """An outbox event: messages planned (and their send jobs deferred), then integrators'
    deliveries. Each part commits on its own and is idempotent, so a retry after the second
    failed redoes nothing of the first."""
    event_id = EventId(_id(args, "event_id"))
    await container.dispatch_event()(event_id)
    await container.dispatch_event_to_endpoints()(event_id)


async def send_message(container: Container, args: dict[str, Any]) -> None:
    """One message to its provider; the last attempt marks it FAILED instead of raising."""
    message_id = MessageId(_id(args, "message_id"))
    await container.send_message()(message_id, final_attempt=current_job().last)


async def send_reminder(container: Container, args: dict[str, Any]) -> None:
    booking_id = BookingId(_id(args, "booking_id"))
    await container.send_reminder()(booking_id, int(args["offset_minutes"]))


async def deliver_webhook(container: Container, args: dict[str, Any]) -> None:
    delivery_id = DeliveryId(_id(args, "delivery_id"))
    await container.deliver_webhook()(delivery_id, final_attempt=current_job().last)


async def delete_media_asset(container: Container, args: dict[str, Any]) -> None:
    await container.destroy_asset()(PhotoId(_id(args, "photo_id")))


HANDLERS: dict[str, Handler] = {
    DISPATCH_EVENT: dispatch_event,
    SEND_MESSAGE: send_message,
    SEND_REMINDER: send_reminder,
    DELIVER_WEBHOOK: deliver_webhook,
    DELETE_MEDIA_ASSET: delete_media_asset,
}
