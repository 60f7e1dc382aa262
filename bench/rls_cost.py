"""What row-level security costs a request: a seat hold and a booking read, with it and without.

    .venv/bin/python bench/rls_cost.py [ROUNDS]

Starts a throwaway private PostGIS cluster, migrates it, seeds one court open around the clock
and 2,000 other customers' bookings, then runs the HoldSlot and GetBooking use cases one at a
time, alternating in each round between:
- on:  the app role, the caller sent with the BEGIN (one pipeline), the policies applied;
- off: the owner, which row-level security exempts, and a unit of work that sends no caller
       (what every request did before migration 0004).
Prints the median and p90 latency of each and the ratio on/off, all from the same run.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Self

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis import migrate
from adapters.postgis.bookings import (
    PostgisBookableCatalog,
    PostgisBookingHolds,
    PostgisBookingsUnitOfWork,
)
from adapters.postgis.database import create_engine
from adapters.system.clock import SystemClock
from core.bookings import GetBooking, HoldSlot, SlotRequest
from core.bookings.model import (
    Address,
    BookingRules,
    LocalInterval,
    Offering,
    OfferingKind,
    OpeningHours,
    Place,
    Provider,
    Resource,
    WeeklyRule,
)
from core.shared.geo import GeoPoint
from core.shared.ids import BookingId, OfferingId, PlaceId, ProviderId, ResourceId, UserId, new_id
from core.shared.money import Money
from core.shared.principal import Principal, Role
from core.shared.unit_of_work import MAINTENANCE
from devservers.net import free_port
from devservers.postgres import LocalPostgres

HOUR = timedelta(hours=1)
OTHERS = 2_000  # other customers' bookings already in the table


class WithoutCaller(PostgisBookingsUnitOfWork):
    """The unit of work as it was before row-level security: no caller sent."""

    async def __aenter__(self) -> Self:
        self._connection = await self._engine.connect()
        await self._connection.begin()
        return self


def _customer() -> Principal:
    return Principal(user_id=UserId(new_id()), roles=frozenset({Role.CUSTOMER}))


async def _court(engine: AsyncEngine) -> tuple[Offering, ResourceId]:
    provider = Provider(id=ProviderId(new_id()), name="Bench")
    place = Place(
        id=PlaceId(new_id()), provider_id=provider.id, name="Bench",
        address=Address(line1="Rua 1", city="Lisbon", postal_code="1100", country="PT"),
        point=GeoPoint(38.72, -9.14), timezone="UTC",
    )  # fmt: skip
    resource = Resource(id=ResourceId(new_id()), provider_id=provider.id, place_id=place.id,
                        name="Court")  # fmt: skip
    offering = Offering(
        id=OfferingId(new_id()), provider_id=provider.id, place_id=place.id,
        kind=OfferingKind.APPOINTMENT, name="Court hour", category="tennis",
        price=Money.of(3000, "EUR").unwrap(),
        rules=BookingRules(duration=HOUR, slot_step=HOUR, horizon=timedelta(days=730)),
        resource_ids=(resource.id,),
    )  # fmt: skip
    every_day = [WeeklyRule(weekday=d, interval=LocalInterval(0, 24 * 60)) for d in range(7)]
    hours = OpeningHours.create(place.id, every_day, []).unwrap()
    async with PostgisBookingsUnitOfWork(engine, MAINTENANCE) as uow:
        await uow.providers.add(provider)
        await uow.places.add(place)
        await uow.places.set_hours(hours)
        await uow.resources.add(resource)
        await uow.offerings.add(offering)
        await uow.commit()
    return offering, resource.id


def _holds(engine: AsyncEngine, clock: SystemClock) -> HoldSlot:
    return HoldSlot(
        catalog=PostgisBookableCatalog(engine), holds=PostgisBookingHolds(engine), clock=clock
    )


def _line(name: str, on: list[float], off: list[float]) -> str:
    def p90(values: list[float]) -> float:
        return statistics.quantiles(values, n=10)[8] * 1000

    on_median, off_median = statistics.median(on) * 1000, statistics.median(off) * 1000
    return (
        f"| {name} | {off_median:.2f} | {p90(off):.2f} | {on_median:.2f} | {p90(on):.2f} "
        f"| {on_median / off_median:.3f} |"
    )


async def run(app_url: str, owner_url: str, rounds: int) -> None:
    on_engine, off_engine = create_engine(app_url), create_engine(owner_url)
    clock = SystemClock()
    try:
        offering, _ = await _court(off_engine)
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + 2 * HOUR
        hours = iter(range(10**6))
        hold = {
            # A hold is one round trip (ADR 30) that always carries the caller; "off" runs it as
            # the owner, whom row-level security exempts.
            "on": _holds(on_engine, clock),
            "off": _holds(off_engine, clock),
        }
        read = {
            "on": GetBooking(uow=PostgisBookingsUnitOfWork.factory(on_engine), clock=clock),
            "off": GetBooking(uow=lambda access: WithoutCaller(off_engine, access), clock=clock),
        }

        async def hold_one(variant: str, customer: Principal) -> BookingId:
            request = SlotRequest(offering_id=offering.id, start=start + next(hours) * HOUR)
            return (await hold[variant](customer, request)).unwrap().id

        for _ in range(OTHERS):  # other people's bookings the policies must filter out
            await hold_one("off", _customer())
        samples: dict[str, list[float]] = {f"{k}-{v}": [] for k in ("hold", "read")
                                           for v in ("on", "off")}  # fmt: skip
        for n in range(rounds):
            for variant in ("on", "off") if n % 2 == 0 else ("off", "on"):
                customer = _customer()
                started = time.perf_counter()
                booking = await hold_one(variant, customer)
                held = time.perf_counter()
                await read[variant](customer, booking)
                samples[f"hold-{variant}"].append(held - started)
                samples[f"read-{variant}"].append(time.perf_counter() - held)
        print(f"{rounds} rounds, {OTHERS} other bookings; latency in ms, one request at a time\n")
        print("| request | off median | off p90 | on median | on p90 | on/off |")
        print("|---|---|---|---|---|---|")
        print(_line("seat hold (HoldSlot)", samples["hold-on"], samples["hold-off"]))
        print(_line("booking read (GetBooking)", samples["read-on"], samples["read-off"]))
    finally:
        await on_engine.dispose()
        await off_engine.dispose()


def main(rounds: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="reserva-rls-"))
    server = LocalPostgres(workdir / "data", free_port(), durable=False)
    try:
        server.ensure_running()
        database = server.create_database("rls_bench")
        migrate.upgrade(database.migrator_url)
        asyncio.run(run(database.app_url, database.migrator_url, rounds))
    finally:
        server.stop()
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
