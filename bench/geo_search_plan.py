"""EXPLAIN (ANALYZE) the geo search query on a few thousand places; prints Markdown.

    .venv/bin/python bench/geo_search_plan.py [N_PLACES] > plan.md

Starts a throwaway private PostGIS cluster, migrates it, seeds N places (three offerings each)
scattered over ~70 x 70 km around Berlin, then captures the exact SQL the PostGIS offering
repository sends for a few searches and runs it again under EXPLAIN (ANALYZE, BUFFERS).
"""

from __future__ import annotations

import asyncio
import random
import shutil
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis import migrate
from adapters.postgis.bookings import PostgisBookingsUnitOfWork
from adapters.postgis.database import create_engine
from core.bookings.model import (
    Address,
    BookingRules,
    Offering,
    OfferingKind,
    Place,
    Provider,
    Resource,
)
from core.bookings.ports import Page, SearchQuery
from core.shared.geo import GeoPoint
from core.shared.ids import OfferingId, PlaceId, ProviderId, ResourceId, new_id
from core.shared.money import Money
from core.shared.unit_of_work import PUBLIC
from devservers.net import free_port
from devservers.postgres import LocalPostgres

CENTRE = GeoPoint(52.52, 13.405)
CATEGORIES = ("tennis", "yoga", "padel", "massage")
RULES = BookingRules(duration=timedelta(hours=1), slot_step=timedelta(hours=1))


async def seed(engine: AsyncEngine, places: int, rng: random.Random) -> None:
    provider = Provider(id=ProviderId(new_id()), name="Bench")
    async with PostgisBookingsUnitOfWork(engine, PUBLIC) as uow:
        await uow.providers.add(provider)
        for n in range(places):
            point = GeoPoint(
                CENTRE.lat + rng.uniform(-0.3, 0.3), CENTRE.lng + rng.uniform(-0.5, 0.5)
            )
            place = Place(
                id=PlaceId(new_id()),
                provider_id=provider.id,
                name=f"Place {n}",
                address=Address(line1="Street 1", city="Berlin", postal_code="10115", country="DE"),
                point=point,
                timezone="Europe/Berlin",
            )
            resource = Resource(
                id=ResourceId(new_id()), provider_id=provider.id, place_id=place.id, name="r"
            )
            await uow.places.add(place)
            await uow.resources.add(resource)
            for _ in range(3):
                await uow.offerings.add(
                    Offering(
                        id=OfferingId(new_id()),
                        provider_id=provider.id,
                        place_id=place.id,
                        kind=OfferingKind.APPOINTMENT,
                        name="Offer",
                        category=rng.choice(CATEGORIES),
                        price=Money.of(rng.randrange(1000, 9000, 100), "EUR").unwrap(),
                        rules=RULES,
                        resource_ids=(resource.id,),
                    )
                )
        await uow.commit()
    async with engine.begin() as conn:
        await conn.execute(sa.text("ANALYZE"))


async def explain(engine: AsyncEngine, title: str, query: SearchQuery) -> str:
    """Run the search once to capture its SQL, then EXPLAIN that very statement."""
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        captured.append((statement, params))

    sa.event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        async with PostgisBookingsUnitOfWork(engine, PUBLIC) as uow:
            hits = await uow.offerings.search(query)
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", capture)
    statement, params = next((s, p) for s, p in captured if "ST_DWithin" in s)
    async with engine.connect() as conn:
        plan = await conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
        text = "\n".join(row[0] for row in plan)
    return f"### {title} ({len(hits)} hits)\n\n```sql\n{statement}\n```\n\n```\n{text}\n```\n"


async def main(places: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="reserva-bench-"))
    server = LocalPostgres(workdir / "data", free_port(), durable=False)
    try:
        server.ensure_running()
        database = server.create_database("geo_bench")
        migrate.upgrade(database.migrator_url)
        engine = create_engine(database.app_url)
        try:
            await seed(engine, places, random.Random(42))
            first = SearchQuery(near=CENTRE, radius_m=2_000, page=Page(limit=20))
            async with PostgisBookingsUnitOfWork(engine, PUBLIC) as uow:
                cursor = (await uow.offerings.search(first))[-1].cursor
            sections = [
                await explain(engine, "2 km, first page of 20", first),
                await explain(
                    engine,
                    "2 km, second page (keyset cursor)",
                    SearchQuery(near=CENTRE, radius_m=2_000, page=Page(limit=20, after=cursor)),
                ),
                await explain(
                    engine,
                    "50 km (every place), first page of 20",
                    SearchQuery(near=CENTRE, radius_m=50_000, page=Page(limit=20)),
                ),
                await explain(
                    engine,
                    "10 km, category yoga, EUR 20-50, first page of 20",
                    SearchQuery(
                        near=CENTRE,
                        radius_m=10_000,
                        category="yoga",
                        currency="EUR",
                        min_price_minor=2000,
                        max_price_minor=5000,
                        page=Page(limit=20),
                    ),
                ),
            ]
        finally:
            await engine.dispose()
    finally:
        server.stop()
        shutil.rmtree(workdir)
    print(f"{places} places, {places * 3} offerings, seeded around Berlin (~70 x 70 km).\n")
    print("\n".join(sections))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5_000))
