"""Consent and privacy: the consent ledger, policy documents and cookie choices, analytics
consent, and a person's export, erasure and the retention of their data (issue 10)."""

from core.consent.retention import (
    RETENTION,
    AbandonedAccounts,
    Action,
    ClassReport,
    DataClass,
    EnforceRetention,
    RetentionReport,
    RetentionStore,
    Rule,
    period_text,
)

__all__ = [
    "RETENTION",
    "AbandonedAccounts",
    "Action",
    "ClassReport",
    "DataClass",
    "EnforceRetention",
    "RetentionReport",
    "RetentionStore",
    "Rule",
    "period_text",
]
