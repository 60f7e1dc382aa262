"""The bookings' part of a person's export and erasure (`PersonalRecords`, section "bookings").

Export: every booking the person made as a customer, with its offering, place, provider,
times, status, seats and price. Erasure keeps the rows: a booking holds no personal value (its
customer is a user id, pseudonymous once the users row is gone), the provider's schedule keeps
the slot, and payments and refunds refer to it (GDPR Art. 17(3)(b), tax law). Nothing to do,
so `erase` only makes sure of that; it is a no-op by design, run again at will.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis.bookings.tables import bookings, offerings, places, providers
from adapters.postgis.unit_of_work import PostgisUnitOfWork
from core.consent.records import Json, PersonalRecords, export_time
from core.shared.ids import UserId
from core.shared.unit_of_work import Access


class PostgisBookingRecords(PersonalRecords):
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @property
    def section(self) -> str:
        return "bookings"

    async def export(self, person: UserId) -> Json:
        query = (
            sa.select(
                bookings.c.id,
                bookings.c.status,
                bookings.c.kind,
                bookings.c.during,
                bookings.c.seats,
                bookings.c.price_minor,
                bookings.c.currency,
                bookings.c.created_at,
                bookings.c.cancelled_at,
                bookings.c.cancelled_by,
                offerings.c.id.label("offering_id"),
                offerings.c.name.label("offering"),
                places.c.id.label("place_id"),
                places.c.name.label("place"),
                providers.c.id.label("provider_id"),
                providers.c.name.label("provider"),
            )
            .join(offerings, offerings.c.id == bookings.c.offering_id)
            .join(places, places.c.id == offerings.c.place_id)
            .join(providers, providers.c.id == bookings.c.provider_id)
            .where(bookings.c.customer_id == person)
            .order_by(bookings.c.created_at, bookings.c.id)
        )
        async with PostgisUnitOfWork(self._engine, Access.user(person)) as uow:
            rows = (await uow.connection.execute(query)).all()
        return [
            {
                "id": str(row.id),
                "status": row.status,
                "kind": row.kind,
                "starts_at": export_time(row.during.lower),
                "ends_at": export_time(row.during.upper),
                "seats": row.seats,
                "price": {"amount_minor": row.price_minor, "currency": row.currency},
                "booked_at": export_time(row.created_at),
                "cancelled_at": export_time(row.cancelled_at),
                "cancelled_by": row.cancelled_by,
                "offering": {"id": str(row.offering_id), "name": row.offering},
                "place": {"id": str(row.place_id), "name": row.place},
                "provider": {"id": str(row.provider_id), "name": row.provider},
            }
            for row in rows
        ]

    async def erase(self, person: UserId) -> None:
        """Bookings stay, pseudonymous: the provider's schedule shows an erased customer."""
        return
