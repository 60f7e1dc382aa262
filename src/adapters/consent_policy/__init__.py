"""Messaging's `ConsentPolicy` answered by the consent ledger (ADR 26)."""

from adapters.consent_policy.ledger import LedgerConsentPolicy

__all__ = ["LedgerConsentPolicy"]
