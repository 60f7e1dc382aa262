"""The worker's task table: task name -> handler(container, args), on the container's use cases.

Job arguments carry ids only. Every handler is idempotent (each use case is: unique dedupe keys,
statuses that only move forward, attempts numbered), so a job run twice, after a crash between
its effect and its acknowledgement, has its effect once. A handler raises only for what a retry
may fix; task names and their queues and retry policies are in adapters.postgis.jobs.tasks.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import attrs
import structlog
from returns.result import Failure, Success

from adapters.postgis.jobs import (
    BUILD_EXPORT,
    DELETE_MEDIA_ASSET,
    DELIVER_WEBHOOK,
    DISPATCH_EVENT,
    ENFORCE_RETENTION,
    ERASE_PERSON,
    EXPIRE_HOLDS,
    SEND_MESSAGE,
    SEND_REMINDER,
    SETTLE_PAYMENTS,
    TRACK_EVENT,
)
from core.consent import ExportId
from core.integrations import DeliveryId
from core.media import PhotoId
from core.messaging.model import MessageId
from core.shared.ids import BookingId, EventId, UserId
from entrypoints.metrics import count_domain_event
from entrypoints.worker.registry import Handler, PeriodicTask, current_job

_log = structlog.get_logger("reserva.worker")


def _id(args: Mapping[str, Any], name: str) -> uuid.UUID:
    return uuid.UUID(str(args[name]))


def _last_run() -> bool:
    """Whether no retry follows a failure of this run (False outside a worker: tests)."""
    try:
        return current_job().last
    except LookupError:
        return False


async def dispatch_event(container: Any, args: dict[str, Any]) -> None:
    """An outbox event: its messages planned (their send jobs and reminders deferred), then
    integrators' deliveries, then its analytics job (if analytics is on, the event is tracked
    and its person consented). Each part commits on its own and is idempotent, so a retry
    after a later one failed redoes nothing of the earlier ones."""
    event_id = EventId(_id(args, "event_id"))
    dispatched = await container.dispatch_event()(event_id)
    if isinstance(dispatched, Failure):  # the event is gone: nothing will ever bring it back
        _log.warning("dispatching an unknown event", event_id=str(event_id))
    await container.dispatch_event_to_endpoints()(event_id)
    await container.queue_tracking()(event_id)
    if isinstance(dispatched, Success):  # counted once every part is done (a retry redoes none)
        count_domain_event(dispatched.unwrap().event_name)


async def track_event(container: Any, args: dict[str, Any]) -> None:
    """One outbox event to GA4, if its person still consents (checked now); a GA4 outage
    raises and the job retries for an hour."""
    event_id = EventId(_id(args, "event_id"))
    outcome = await container.track_event()(event_id)
    _log.debug("analytics", event_id=str(event_id), outcome=str(outcome))


async def send_message(container: Any, args: dict[str, Any]) -> None:
    """One message to its provider; the last attempt marks it FAILED instead of retrying."""
    message_id = MessageId(_id(args, "message_id"))
    sent = await container.send_message()(message_id, final_attempt=_last_run())
    if isinstance(sent, Failure):
        _log.warning("sending an unknown message", message_id=str(message_id))


async def send_reminder(container: Any, args: dict[str, Any]) -> None:
    booking_id = BookingId(_id(args, "booking_id"))
    await container.send_reminder()(booking_id, int(args["offset_minutes"]))


async def deliver_webhook(container: Any, args: dict[str, Any]) -> None:
    """One attempt of an integrator's delivery; a failed one defers the next itself."""
    await container.deliver_webhook()(DeliveryId(_id(args, "delivery_id")), int(args["attempt"]))


async def delete_media_asset(container: Any, args: dict[str, Any]) -> None:
    """Destroy a deleted photo's asset at Cloudinary; raises (and retries) until done."""
    await container.destroy_asset()(PhotoId(_id(args, "photo_id")))


async def build_export(container: Any, args: dict[str, Any]) -> None:
    """A person's export: every store's section, stored sealed (a built one is left alone)."""
    await container.build_export()(ExportId(_id(args, "export_id")))


async def erase_person(container: Any, args: dict[str, Any]) -> None:
    """A person's erasure, resumed at its first step not done; raises (and retries for a
    month) until every step succeeded."""
    await container.run_erasure()(UserId(_id(args, "person_id")), requested_by="self")


async def settle_payments(container: Any, args: dict[str, Any]) -> None:
    """The payments sweeper (ADR 18): events not processed yet, payments and refunds a crash
    left half done, cancellations not refunded, balances due. A failed round raises; the next
    tick tries again, and nothing is lost by waiting."""
    if not container.config.stripe_api_key():
        return  # no processor configured: nothing to settle against
    report = await container.settle_payments()()
    done = attrs.asdict(report)
    if any(done.values()):
        _log.info("payments settled", **done)


async def enforce_retention(container: Any, args: dict[str, Any]) -> None:
    """Everything past its retention period goes (core.consent.retention): sessions, tokens,
    messages, expired holds, finished and dead jobs, ... in short batches. Counts only."""
    report = await container.enforce_retention()()
    removed = {item.rule.data.value: item.count for item in report.classes if item.count}
    if removed:
        _log.info("retention enforced", **removed)


async def expire_holds(container: Any, args: dict[str, Any]) -> None:
    """Holds past their expiry marked expired, in bounded batches (reads already show them
    expired: this keeps the rows honest and the live ones few). Counts only."""
    marked = await container.expire_holds()()
    if marked:
        _log.info("lapsed holds expired", count=marked)


HANDLERS: dict[str, Handler] = {
    DISPATCH_EVENT: dispatch_event,
    SEND_MESSAGE: send_message,
    SEND_REMINDER: send_reminder,
    DELIVER_WEBHOOK: deliver_webhook,
    DELETE_MEDIA_ASSET: delete_media_asset,
    TRACK_EVENT: track_event,
    BUILD_EXPORT: build_export,
    ERASE_PERSON: erase_person,
}
PERIODIC: dict[str, PeriodicTask] = {
    SETTLE_PAYMENTS: PeriodicTask(cron="* * * * *", handler=settle_payments),
    # Daily, at a quiet hour: finished jobs (kept 7 days) are among the classes it sweeps.
    ENFORCE_RETENTION: PeriodicTask(cron="23 3 * * *", handler=enforce_retention),
    # Every minute: a hold lives 10 minutes by default, reads show it expired meanwhile.
    EXPIRE_HOLDS: PeriodicTask(cron="* * * * *", handler=expire_holds),
}
