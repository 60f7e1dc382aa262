"""What only the PostGIS store has: migration 0011 builds exactly the declared table with
the app role's grants, and row-level security keeps photos public to read and written only
by their provider's staff, admins or maintenance."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import attrs
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis import migrate
from adapters.postgis.media import PostgisMediaUnitOfWork
from adapters.postgis.media.tables import MEDIA_TABLES
from core.media import Owner, OwnerKind, Photo, PhotoId, PhotoStatus
from core.shared.ids import ProviderId
from core.shared.unit_of_work import MAINTENANCE, PUBLIC, Access
from devservers.postgres import LocalDatabase, LocalPostgres
from migration_support import below, catalog, declared_catalog, grants, query, secured

REVISION = "0011_media"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_the_migrated_schema_is_exactly_the_declared_table(
    new_database: LocalDatabase, postgres_server: LocalPostgres
) -> None:
    declared = declared_catalog(postgres_server, MEDIA_TABLES)
    migrate.upgrade(new_database.migrator_url)

    migrated = catalog(new_database.migrator_url, MEDIA_TABLES)

    assert migrated - declared == set()
    assert declared - migrated == set()
    assert len(migrated) > 20


def test_grants_row_level_security_and_a_clean_downgrade(new_database: LocalDatabase) -> None:
    url = new_database.migrator_url
    migrate.upgrade(url, REVISION)
    assert grants(new_database.superuser_url, ["photos"]) == {
        "photos": "DELETE,INSERT,SELECT,UPDATE"
    }
    assert secured(url, ["photos"]) == {"photos"}

    migrate.downgrade(url, below(url, REVISION))
    assert query(url, "SELECT count(*) FROM pg_tables WHERE tablename = 'photos'") == [(0,)]
    migrate.upgrade(url, REVISION)
    assert query(url, "SELECT count(*) FROM pg_tables WHERE tablename = 'photos'") == [(1,)]


async def _provider(owner_engine: AsyncEngine) -> ProviderId:
    provider_id = ProviderId(uuid.uuid4())
    async with owner_engine.begin() as connection:
        await connection.execute(
            sa.text("INSERT INTO providers (id, name) VALUES (:id, 'Studio')"), {"id": provider_id}
        )
    return provider_id


def _photo(provider_id: ProviderId) -> Photo:
    photo_id = PhotoId(uuid.uuid4())
    return Photo(
        id=photo_id,
        owner=Owner(kind=OwnerKind.PROVIDER, id=provider_id),
        provider_id=provider_id,
        public_id=f"reserva/{provider_id}/{photo_id}",
        status=PhotoStatus.PENDING,
        created_at=NOW,
    )


async def test_photos_are_public_to_read_and_written_only_by_their_staff(
    media_engine: AsyncEngine, media_owner_engine: AsyncEngine
) -> None:
    uow = PostgisMediaUnitOfWork.factory(media_engine)
    mine, theirs = await _provider(media_owner_engine), await _provider(media_owner_engine)
    photo = _photo(mine)
    async with uow(Access(provider_ids=frozenset({mine}))) as work:
        await work.photos.add(photo)
        await work.commit()

    async with uow(PUBLIC) as work:
        assert await work.photos.get(photo.id) == photo  # anyone reads

    stranger = Access(provider_ids=frozenset({theirs}))
    for access in (PUBLIC, stranger):
        with pytest.raises(DBAPIError, match="row-level security"):
            async with uow(access) as work:
                await work.photos.add(_photo(mine))
        async with uow(access) as work:
            await work.photos.save(photo.deleting())  # an UPDATE that reaches no row
            await work.photos.remove(photo.id)
            await work.commit()
    async with uow(PUBLIC) as work:
        assert await work.photos.get(photo.id) == photo

    async with uow(MAINTENANCE) as work:
        await work.photos.save(photo.deleting())
        await work.commit()
    async with uow(PUBLIC) as work:
        found = await work.photos.get(photo.id)
    assert found is not None
    assert found.status is PhotoStatus.DELETING


async def test_a_public_id_names_one_photo(
    media_engine: AsyncEngine, media_owner_engine: AsyncEngine
) -> None:
    uow = PostgisMediaUnitOfWork.factory(media_engine)
    provider_id = await _provider(media_owner_engine)
    photo = _photo(provider_id)
    async with uow(MAINTENANCE) as work:
        await work.photos.add(photo)
        await work.commit()

    with pytest.raises(DBAPIError, match="uq_photos_public_id"):
        async with uow(MAINTENANCE) as work:
            await work.photos.add(attrs.evolve(photo, id=PhotoId(uuid.uuid4())))
