"""PostGIS repositories and unit of work of the bookings context, one module per repository.

Every integrity rule is the database's (ADR 4): an exclusion constraint refuses overlapping
appointments, a row lock on the occurrence serialises seat counts, and transitions are
conditional updates. Rows become attrs domain values here and nowhere else (ADR 2).
"""

from adapters.postgis.bookings.bookable import PostgisBookableCatalog
from adapters.postgis.bookings.holds import PostgisBookingHolds
from adapters.postgis.bookings.unit_of_work import PostgisBookingsUnitOfWork

__all__ = ["PostgisBookableCatalog", "PostgisBookingHolds", "PostgisBookingsUnitOfWork"]
