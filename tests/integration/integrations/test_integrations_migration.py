"""Migration 0012: exactly the declared tables, the app role's grants, row-level security (staff
see their provider's endpoints and deliveries only, maintenance all), and down/up cleanly."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis import migrate
from adapters.postgis.integrations import tables
from adapters.postgis.metadata import metadata
from adapters.postgis.unit_of_work import PostgisUnitOfWork
from core.shared.ids import ProviderId
from core.shared.unit_of_work import MAINTENANCE, Access
from devservers.postgres import LocalDatabase, LocalPostgres
from migration_support import below, catalog, declared_catalog, grants, present, query, secured

REVISION = "0012_integrations"
TABLES = {"webhook_endpoints", "webhook_deliveries", "webhook_delivery_attempts"}
GRANTS = {
    "webhook_endpoints": "INSERT,SELECT,UPDATE",
    "webhook_deliveries": "INSERT,SELECT,UPDATE",
    "webhook_delivery_attempts": "INSERT,SELECT",
}


def test_the_migrated_schema_is_exactly_the_declared_tables(
    new_database: LocalDatabase, postgres_server: LocalPostgres
) -> None:
    assert tables.webhook_endpoints.metadata is metadata
    declared = declared_catalog(postgres_server, TABLES)
    migrate.upgrade(new_database.migrator_url)

    migrated = catalog(new_database.migrator_url, TABLES)

    assert migrated - declared == set()
    assert declared - migrated == set()
    assert len(migrated) > 40


def test_every_foreign_key_is_indexed_and_the_app_role_gets_only_its_grants(
    new_database: LocalDatabase,
) -> None:
    migrate.upgrade(new_database.migrator_url)
    unindexed = query(
        new_database.superuser_url,
        """SELECT c.conrelid::regclass::text, c.conname FROM pg_constraint c
           WHERE c.contype = 'f' AND c.conrelid::regclass::text = ANY(:tables)
           AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.conrelid
                           AND (i.indkey::int2[])[0] = c.conkey[1])""",
        tables=sorted(TABLES),
    )
    assert unindexed == []
    assert grants(new_database.superuser_url, TABLES) == GRANTS
    assert secured(new_database.superuser_url, TABLES) == TABLES


def test_down_removes_every_trace_and_up_builds_it_again(new_database: LocalDatabase) -> None:
    url = new_database.migrator_url
    migrate.upgrade(url, REVISION)
    assert present(url, TABLES) == TABLES
    migrate.downgrade(url, below(url, REVISION))
    assert present(url, TABLES) == set()
    migrate.upgrade(url, REVISION)
    assert present(url, TABLES) == TABLES


async def test_staff_see_only_their_providers_endpoints_and_deliveries(
    engine: AsyncEngine,
) -> None:
    mine, theirs = ProviderId(uuid.uuid4()), ProviderId(uuid.uuid4())
    now = datetime(2030, 1, 1, tzinfo=UTC)
    ids = {}
    async with PostgisUnitOfWork(engine, MAINTENANCE) as uow:
        for provider in (mine, theirs):
            endpoint_id, delivery_id = uuid.uuid4(), uuid.uuid4()
            ids[provider] = (endpoint_id, delivery_id)
            await uow.connection.execute(
                tables.webhook_endpoints.insert().values(
                    id=endpoint_id,
                    provider_id=provider,
                    url="https://hooks.example.com/",
                    event_types=["held"],
                    active=True,
                    description="",
                    created_at=now,
                    secret_sealed=b"sealed",
                    secret_created_at=now,
                )
            )
            await uow.connection.execute(
                tables.webhook_deliveries.insert().values(
                    id=delivery_id,
                    endpoint_id=endpoint_id,
                    event_id=uuid.uuid4(),
                    event_type="held",
                    payload={},
                    status="pending",
                    attempts=0,
                    created_at=now,
                )
            )
            await uow.connection.execute(
                tables.webhook_delivery_attempts.insert().values(
                    delivery_id=delivery_id, number=1, at=now, body="", latency_ms=1
                )
            )
        await uow.commit()

    async def visible(access: Access) -> dict[str, set[uuid.UUID]]:
        async with PostgisUnitOfWork(engine, access) as uow:
            return {
                "endpoints": set(
                    (await uow.connection.execute(sa.select(tables.webhook_endpoints.c.id)))
                    .scalars()
                    .all()
                ),
                "deliveries": set(
                    (await uow.connection.execute(sa.select(tables.webhook_deliveries.c.id)))
                    .scalars()
                    .all()
                ),
                "attempts": set(
                    (
                        await uow.connection.execute(
                            sa.select(tables.webhook_delivery_attempts.c.delivery_id)
                        )
                    )
                    .scalars()
                    .all()
                ),
            }

    staff = await visible(Access(provider_ids=frozenset({mine})))
    assert staff == {
        "endpoints": {ids[mine][0]},
        "deliveries": {ids[mine][1]},
        "attempts": {ids[mine][1]},
    }
    nobody = await visible(Access())
    assert nobody == {"endpoints": set(), "deliveries": set(), "attempts": set()}
    everyone = await visible(MAINTENANCE)
    assert everyone["endpoints"] == {ids[mine][0], ids[theirs][0]}

    async with PostgisUnitOfWork(engine, Access(provider_ids=frozenset({mine}))) as uow:
        changed = await uow.connection.execute(
            tables.webhook_endpoints.update()
            .where(tables.webhook_endpoints.c.id == ids[theirs][0])
            .values(active=False)
        )
        assert changed.rowcount == 0
