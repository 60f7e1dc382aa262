"""Privacy rights in PostgreSQL: exports and erasures (migration 0018), and the bookings' and
media's parts of a person's export and erasure."""

from adapters.postgis.privacy.bookings import PostgisBookingRecords
from adapters.postgis.privacy.media import MediaRecords
from adapters.postgis.privacy.rights import (
    EXPORT_FIELD,
    PostgisRightsUnitOfWork,
    erasure_lock,
)
from adapters.postgis.privacy.tables import PRIVACY_TABLES, erasure_requests, privacy_exports

__all__ = [
    "EXPORT_FIELD",
    "PRIVACY_TABLES",
    "MediaRecords",
    "PostgisBookingRecords",
    "PostgisRightsUnitOfWork",
    "erasure_lock",
    "erasure_requests",
    "privacy_exports",
]
