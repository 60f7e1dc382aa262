"""`places.catalog_version` (migration 0020): every change to what a hold is decided with moves
it, whoever makes the change; what a hold writes does not."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis import migrate
from adapters.postgis.bookings import PostgisBookingsUnitOfWork
from adapters.postgis.database import create_engine
from core.bookings.model import (
    Address,
    BookingRules,
    Occurrence,
    Offering,
    OfferingKind,
    Place,
    Provider,
    Resource,
)
from core.shared.geo import GeoPoint
from core.shared.ids import OccurrenceId, OfferingId, PlaceId, ProviderId, ResourceId
from core.shared.money import Money
from core.shared.time import TimeRange
from core.shared.unit_of_work import MAINTENANCE
from devservers.postgres import LocalDatabase, LocalPostgres

T0 = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def migrated(postgres_server: LocalPostgres) -> LocalDatabase:
    database = postgres_server.create_database(f"versions_{uuid.uuid4().hex[:12]}")
    migrate.upgrade(database.migrator_url)
    return database


@pytest.fixture
async def engines(migrated: LocalDatabase) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """The app role's engine, and the owner's (for what the app role may not do)."""
    app, owner = create_engine(migrated.app_url), create_engine(migrated.migrator_url)
    try:
        yield app, owner
    finally:
        await app.dispose()
        await owner.dispose()


async def _place_with_catalog(app: AsyncEngine) -> dict[str, uuid.UUID]:
    provider = Provider(id=ProviderId(uuid.uuid4()), name="Club")
    place = Place(
        id=PlaceId(uuid.uuid4()),
        provider_id=provider.id,
        name="Courts",
        address=Address(line1="1 Main St", city="Lisbon", postal_code="1100", country="PT"),
        point=GeoPoint(38.7, -9.1),
        timezone="Europe/Lisbon",
    )
    court = Resource(
        id=ResourceId(uuid.uuid4()), provider_id=provider.id, place_id=place.id, name="1"
    )
    offering = Offering(
        id=OfferingId(uuid.uuid4()),
        provider_id=provider.id,
        place_id=place.id,
        kind=OfferingKind.SESSION,
        name="yoga",
        category="yoga",
        price=Money.of(1000, "EUR").unwrap(),
        rules=BookingRules(duration=timedelta(hours=1), slot_step=timedelta(hours=1)),
        capacity=5,
    )
    run = Occurrence(
        id=OccurrenceId(uuid.uuid4()),
        offering_id=offering.id,
        during=TimeRange(T0, T0 + timedelta(hours=1)),
        capacity=5,
    )
    async with PostgisBookingsUnitOfWork(app, MAINTENANCE) as uow:
        await uow.providers.add(provider)
        await uow.places.add(place)
        await uow.resources.add(court)
        await uow.offerings.add(offering)
        await uow.occurrences.add([run])
        await uow.commit()
    return {"place": place.id, "offering": offering.id, "run": run.id, "court": court.id}


async def _version(app: AsyncEngine, place_id: uuid.UUID) -> int:
    async with app.connect() as conn:
        query = sa.text("SELECT catalog_version FROM places WHERE id = :id")
        version: int = (await conn.execute(query, {"id": place_id})).scalar_one()
        return version


HOURS = "INSERT INTO opening_hours VALUES (:place, 0, 480, 1200)"
EXCEPTION = "INSERT INTO opening_exceptions VALUES (:place, '2030-03-05')"
# (what is changed, the statements before it (not counted), the change, as the owner?)
CHANGES = {
    "place": ((), "UPDATE places SET name = 'Renamed' WHERE id = :place", False),
    "weekly hours added": ((), HOURS, False),
    "weekly hours changed": (
        (HOURS,),
        "UPDATE opening_hours SET closes = 1000 WHERE place_id = :place",
        False,
    ),
    "weekly hours removed": ((HOURS,), "DELETE FROM opening_hours WHERE place_id = :place", False),
    "day closed": ((), EXCEPTION, False),
    "day's hours": (
        (EXCEPTION,),
        "INSERT INTO opening_exception_intervals VALUES (:place, '2030-03-05', 600, 700)",
        False,
    ),
    "day reopened": ((EXCEPTION,), "DELETE FROM opening_exceptions WHERE place_id = :place", False),
    "offering changed": (
        (),
        "UPDATE offerings SET horizon = '10 days' WHERE id = :offering",
        False,
    ),
    "offering's resources": (
        (),
        "INSERT INTO offering_resources VALUES (:offering, :court, 0)",
        False,
    ),
    "run moved": ((), "UPDATE occurrences SET capacity = 3 WHERE id = :run", False),
    "run deleted": ((), "DELETE FROM occurrences WHERE id = :run", True),
}
UNCHANGED = {
    "new run": "INSERT INTO occurrences VALUES (gen_random_uuid(), :offering,"
    " tstzrange('2030-03-06 09:00Z', '2030-03-06 10:00Z'), 5)",
    "run locked for seats": "SELECT 1 FROM occurrences WHERE id = :run FOR UPDATE",
}


@pytest.mark.parametrize("change", CHANGES)
async def test_a_catalog_change_moves_the_places_version(
    engines: tuple[AsyncEngine, AsyncEngine], change: str
) -> None:
    app, owner = engines
    ids = await _place_with_catalog(app)
    before_change, statement, as_owner = CHANGES[change]
    async with app.begin() as conn:
        for setup in before_change:
            await conn.execute(sa.text(setup), ids)
    before = await _version(app, ids["place"])

    async with (owner if as_owner else app).begin() as conn:
        await conn.execute(sa.text(statement), ids)

    assert await _version(app, ids["place"]) > before


@pytest.mark.parametrize("change", UNCHANGED)
async def test_what_decides_no_hold_leaves_the_version(
    engines: tuple[AsyncEngine, AsyncEngine], change: str
) -> None:
    app, _ = engines
    ids = await _place_with_catalog(app)
    before = await _version(app, ids["place"])

    async with app.begin() as conn:
        await conn.execute(sa.text(UNCHANGED[change]), ids)

    assert await _version(app, ids["place"]) == before
