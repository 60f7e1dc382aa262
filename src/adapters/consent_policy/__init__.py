"""Messaging's `ConsentPolicy` and analytics' `AnalyticsConsent`, answered by the consent
ledger (ADR 26)."""

from adapters.consent_policy.ledger import LedgerAnalyticsConsent, LedgerConsentPolicy

__all__ = ["LedgerAnalyticsConsent", "LedgerConsentPolicy"]
