"""The tasks the worker runs: their names, queues and retry policies, written once.

A retry policy is exponential back-off capped at a ceiling, for a number of runs chosen so the
retries span a stated time: a job that still fails after that is dead (status `failed`), kept,
and listed with its last error (`reserva jobs list --status failed`).
"""

from __future__ import annotations

import math
from datetime import timedelta

import attrs
from procrastinate import BaseRetryStrategy, RetryDecision
from procrastinate.jobs import Job

# Task names (procrastinate_jobs.task_name). The outbox trigger of migration 0009 writes
# DISPATCH_EVENT itself: keep the two in step.
DISPATCH_EVENT = "dispatch_event"  # {"event_id"}: one per outbox row
SEND_MESSAGE = "send_message"  # {"message_id"}
SEND_REMINDER = "send_reminder"  # {"booking_id", "offset_minutes"}
DELIVER_WEBHOOK = "deliver_webhook"  # {"delivery_id", "attempt"}
DELETE_MEDIA_ASSET = "delete_media_asset"  # {"photo_id"}
TRACK_EVENT = "track_event"  # {"event_id"}: an outbox event to GA4, with consent (ADR 29)
BUILD_EXPORT = "build_export"  # {"export_id"}: a person's export (issue 10)
ERASE_PERSON = "erase_person"  # {"person_id"}: a person's erasure, resumed step by step
# Periodic, on the maintenance queue: one run per tick across every worker.
SETTLE_PAYMENTS = "settle_payments"  # the payments sweeper (ADR 18)
ENFORCE_RETENTION = "enforce_retention"  # core.consent.retention (finished jobs included)
EXPIRE_HOLDS = "expire_holds"  # core.bookings.expiry: lapsed holds marked expired

# Queues: a worker may serve some of them (`reserva worker --queue messages`).
EVENTS_QUEUE = "events"
MESSAGES_QUEUE = "messages"
REMINDERS_QUEUE = "reminders"
WEBHOOKS_QUEUE = "webhooks"
MEDIA_QUEUE = "media"
PRIVACY_QUEUE = "privacy"
MAINTENANCE_QUEUE = "maintenance"
ANALYTICS_QUEUE = "analytics"
JOBS_QUEUES = (
    EVENTS_QUEUE,
    MESSAGES_QUEUE,
    REMINDERS_QUEUE,
    WEBHOOKS_QUEUE,
    MEDIA_QUEUE,
    PRIVACY_QUEUE,
    MAINTENANCE_QUEUE,
    ANALYTICS_QUEUE,
)

QUEUE_OF = {
    DISPATCH_EVENT: EVENTS_QUEUE,
    SEND_MESSAGE: MESSAGES_QUEUE,
    SEND_REMINDER: REMINDERS_QUEUE,
    DELIVER_WEBHOOK: WEBHOOKS_QUEUE,
    DELETE_MEDIA_ASSET: MEDIA_QUEUE,
    TRACK_EVENT: ANALYTICS_QUEUE,
    BUILD_EXPORT: PRIVACY_QUEUE,
    ERASE_PERSON: PRIVACY_QUEUE,
}


def backed_off(first: timedelta, ceiling: timedelta, attempts: int) -> timedelta:
    """`first` doubled `attempts` times, capped at `ceiling` (without overflowing)."""
    doubled = first
    for _ in range(attempts):
        if doubled >= ceiling:
            break
        doubled *= 2
    return min(doubled, ceiling)


def runs_to_span(first: timedelta, ceiling: timedelta, span: timedelta) -> int:
    """The fewest runs whose waits (first, 2*first, 4*first, ... capped at `ceiling`) add up
    to at least `span`: retries keep going for that long, and no longer than one wait more."""
    if first <= timedelta(0) or ceiling < first:
        raise ValueError("back-off needs 0 < first <= ceiling")
    waited, runs = timedelta(0), 1
    while waited < span:
        wait = backed_off(first, ceiling, runs - 1)
        if wait == ceiling:  # every wait from here on is the ceiling: count them at once
            return runs + -(-(span - waited) // ceiling)
        waited += wait
        runs += 1
    return runs


@attrs.frozen(kw_only=True)
class BackOff(BaseRetryStrategy):
    """Retry after `first`, then twice as long each time up to `ceiling`, for `runs` runs in
    all (the first run included). Every exception retries: handlers raise only for what a
    retry may fix, and record as failed themselves what it cannot."""

    first: timedelta
    ceiling: timedelta
    runs: int

    @classmethod
    def spanning(cls, span: timedelta, *, first: timedelta, ceiling: timedelta) -> BackOff:
        return cls(first=first, ceiling=ceiling, runs=runs_to_span(first, ceiling, span))

    def wait(self, attempts: int) -> timedelta:
        """The wait after the run that made `attempts` previous attempts (0 for the first)."""
        return backed_off(self.first, self.ceiling, attempts)

    def is_last(self, attempts: int) -> bool:
        """Whether a run with `attempts` previous attempts is the last one allowed."""
        return attempts + 1 >= self.runs

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if self.is_last(job.attempts):
            return None
        seconds = math.ceil(self.wait(job.attempts).total_seconds())
        return RetryDecision(retry_in={"seconds": seconds})


MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

# Dispatching an event only reads and writes our database: retried for an hour (a database
# outage), then dead and listed.
# A message waits on the provider: retried for 6 hours (SendGrid and WhatsApp outages are
# shorter); the last run marks the message FAILED.
# Integrators' endpoints get a day, as the issue asks (Stripe retries its own for three).
# Deleting a Cloudinary asset is retried for a week: until done, in practice.
# An analytics event is retried for an hour (a GA4 outage), then dropped: it is not worth more.
# An export is retried for 6 hours (the person may ask again). An erasure must finish: it is
# retried for 30 days (the GDPR's month), resuming at its first step not done.
RETRY_POLICIES: dict[str, BackOff] = {
    DISPATCH_EVENT: BackOff.spanning(HOUR, first=timedelta(seconds=5), ceiling=10 * MINUTE),
    SEND_MESSAGE: BackOff.spanning(6 * HOUR, first=timedelta(seconds=30), ceiling=HOUR),
    SEND_REMINDER: BackOff.spanning(HOUR, first=timedelta(seconds=30), ceiling=10 * MINUTE),
    DELIVER_WEBHOOK: BackOff.spanning(DAY, first=timedelta(seconds=30), ceiling=HOUR),
    DELETE_MEDIA_ASSET: BackOff.spanning(7 * DAY, first=MINUTE, ceiling=6 * HOUR),
    TRACK_EVENT: BackOff.spanning(HOUR, first=timedelta(seconds=30), ceiling=15 * MINUTE),
    BUILD_EXPORT: BackOff.spanning(6 * HOUR, first=timedelta(seconds=30), ceiling=HOUR),
    ERASE_PERSON: BackOff.spanning(30 * DAY, first=MINUTE, ceiling=6 * HOUR),
}
DEFAULT_RETRY = BackOff.spanning(HOUR, first=timedelta(seconds=10), ceiling=10 * MINUTE)


def retry_policy(task: str) -> BackOff:
    return RETRY_POLICIES.get(task, DEFAULT_RETRY)


def queue_of(task: str) -> str:
    return QUEUE_OF.get(task, MAINTENANCE_QUEUE)
