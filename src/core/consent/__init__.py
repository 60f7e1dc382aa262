"""Consent and privacy: the consent ledger, policy documents and cookie choices, analytics
consent, and a person's export, erasure and the retention of their data (issue 10)."""

from core.consent.analytics import (
    Analytics,
    AnalyticsConsent,
    AnalyticsEvent,
    AnalyticsEventSource,
    AnalyticsJobs,
    AnalyticsUnitOfWork,
    AnonymousId,
    QueueTracking,
    Subject,
    TrackEvent,
    TrackOutcome,
)

__all__ = [
    "Analytics",
    "AnalyticsConsent",
    "AnalyticsEvent",
    "AnalyticsEventSource",
    "AnalyticsJobs",
    "AnalyticsUnitOfWork",
    "AnonymousId",
    "QueueTracking",
    "Subject",
    "TrackEvent",
    "TrackOutcome",
]
