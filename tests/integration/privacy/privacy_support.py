"""Helpers of the privacy integration tests (fixtures live in conftest.py)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from core.shared.ids import BookingId, ProviderId, UserId


async def insert_booking(
    owner: AsyncEngine, person: UserId, now: datetime, hour: int
) -> tuple[BookingId, ProviderId]:
    """A confirmed booking of `person`, made at `now`, for an hour `hour` hours later, with its
    own provider, place, resource and offering: written as rows (the catalog is not what the
    privacy tests test)."""
    ids = {k: uuid.uuid4() for k in ("provider", "place", "resource", "offering", "booking")}
    start = now + timedelta(hours=hour)
    during = f"[{start.isoformat()},{(start + timedelta(hours=1)).isoformat()})"
    values = {**ids, "user": person, "now": now, "during": during}
    async with owner.begin() as connection:
        for statement in (
            "INSERT INTO providers VALUES (:provider, 'Court Club')",
            "INSERT INTO places VALUES (:place, :provider, 'Centre', '1 Rua', 'Lisbon', '1100',"
            " 'PT', 'POINT(-9.14 38.72)', 'Europe/Lisbon')",
            "INSERT INTO resources VALUES (:resource, :provider, :place, 'Court')",
            "INSERT INTO offerings VALUES (:offering, :provider, :place, 'appointment', 'Hour',"
            " 'tennis', 3000, 'EUR', '1 hour', '1 hour', '0', '0', '0', '30 days', 1)",
            "INSERT INTO bookings (id, offering_id, provider_id, customer_id, kind, during,"
            " blocked, resource_id, seats, price_minor, currency, status, created_at)"
            " VALUES (:booking, :offering, :provider, :user, 'appointment',"
            " CAST(:during AS tstzrange), CAST(:during AS tstzrange), :resource, 1, 3000, 'EUR',"
            " 'confirmed', :now)",
        ):
            await connection.execute(sa.text(statement), values)
    return BookingId(ids["booking"]), ProviderId(ids["provider"])
