"""The analytics unit of work: outbox events read by id, `track_event` jobs deferred."""

from adapters.postgis.analytics.unit_of_work import (
    PostgisAnalyticsEvents,
    PostgisAnalyticsJobs,
    PostgisAnalyticsUnitOfWork,
    tracking_lock,
)

__all__ = [
    "PostgisAnalyticsEvents",
    "PostgisAnalyticsJobs",
    "PostgisAnalyticsUnitOfWork",
    "tracking_lock",
]
