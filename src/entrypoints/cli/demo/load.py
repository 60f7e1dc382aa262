"""Loading the demo catalog through the bookings ports, one transaction per batch."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

import attrs

from core.bookings.ports import BookingsUnitOfWork, Page
from core.shared.unit_of_work import MAINTENANCE, PUBLIC, UnitOfWorkFactory
from entrypoints.cli.demo.catalog import DemoProvider, demo_catalog

BATCH = 100  # providers per transaction: few round trips per commit, bounded rollback on failure


# ---------------------------------------------------------------- loading through the ports


@attrs.frozen(kw_only=True)
class DemoSummary:
    providers: int = 0
    places: int = 0
    resources: int = 0
    offerings: int = 0
    occurrences: int = 0
    cities: int = 0  # distinct cities with at least one provider

    def plus(self, batch: Sequence[DemoProvider], *, cities: int) -> DemoSummary:
        return DemoSummary(
            providers=self.providers + len(batch),
            places=self.places + len(batch),
            resources=self.resources + sum(len(d.resources) for d in batch),
            offerings=self.offerings + sum(len(d.offerings) for d in batch),
            occurrences=self.occurrences + sum(len(d.occurrences) for d in batch),
            cities=cities,
        )


async def is_empty(uow_factory: UnitOfWorkFactory[BookingsUnitOfWork]) -> bool:
    async with uow_factory(PUBLIC) as uow:
        return not await uow.providers.list(Page(limit=1))


async def _write(uow: BookingsUnitOfWork, demo: DemoProvider) -> None:
    await uow.providers.add(demo.provider)
    await uow.places.add(demo.place)
    await uow.places.set_hours(demo.hours)
    for resource in demo.resources:
        await uow.resources.add(resource)
    for offering in demo.offerings:
        await uow.offerings.add(offering)
    if demo.occurrences:
        await uow.occurrences.add(demo.occurrences)


def _batches(items: Iterator[DemoProvider], size: int) -> Iterator[list[DemoProvider]]:
    while batch := list(itertools.islice(items, size)):
        yield batch


async def load(
    uow_factory: UnitOfWorkFactory[BookingsUnitOfWork],
    *,
    count: int = 3000,
    seed: int = 7,
    now: datetime,
    progress: Callable[[int], None] | None = None,
) -> DemoSummary:
    """Write `count` demo providers, one transaction per batch of BATCH providers.

    Refuses (an all-zero summary) unless the catalog is empty. `progress` is called after each
    committed batch with the number of providers it held (suits `rich.progress.Progress.advance`).
    A failure leaves the batches committed so far in place.
    """
    if not await is_empty(uow_factory):
        return DemoSummary()
    summary, cities = DemoSummary(), set[int]()
    for batch in _batches(demo_catalog(count, seed=seed, now=now), BATCH):
        async with uow_factory(MAINTENANCE) as uow:
            for demo in batch:
                await _write(uow, demo)
            await uow.commit()
        cities.update(demo.city.geonameid for demo in batch)
        summary = summary.plus(batch, cities=len(cities))
        if progress is not None:
            progress(len(batch))
    return summary
