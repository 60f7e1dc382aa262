"""The consent ledger, policy documents and the consent part of a person's records on
PostgreSQL (migration 0017_consent, ADR 26)."""

from adapters.postgis.consent.records import PostgisConsentRecords
from adapters.postgis.consent.store import (
    PostgisConsentLedger,
    PostgisConsentUnitOfWork,
    PostgisPolicyDocuments,
)

__all__ = [
    "PostgisConsentLedger",
    "PostgisConsentRecords",
    "PostgisConsentUnitOfWork",
    "PostgisPolicyDocuments",
]
