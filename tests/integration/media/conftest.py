"""Media integration fixtures: the Cloudinary fake (one per session), a receiver of its
notifications, the real SDK-backed store pointed at both, and a migrated database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import sqlalchemy as sa
from media_support import MAX_BYTES, NotificationReceiver
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.cloudinary import CloudinaryConfig, CloudinaryMediaStore
from adapters.postgis.database import create_engine
from devservers.cloudinary_fake import LocalCloudinary
from devservers.net import free_port
from devservers.postgres import LocalDatabase, LocalPostgres
from postgres_support import migrated_database


@pytest.fixture(scope="session")
def local_cloudinary() -> Iterator[LocalCloudinary]:
    with LocalCloudinary(free_port(), max_file_size=MAX_BYTES) as fake:
        yield fake


@pytest.fixture(scope="session")
def receiver() -> Iterator[NotificationReceiver]:
    server = NotificationReceiver(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def cloudinary_store(
    local_cloudinary: LocalCloudinary, receiver: NotificationReceiver
) -> CloudinaryMediaStore:
    local_cloudinary.control.reset()
    receiver.received.clear()
    return CloudinaryMediaStore(
        CloudinaryConfig(
            cloud_name=local_cloudinary.cloud_name,
            api_key=local_cloudinary.api_key,
            api_secret=local_cloudinary.api_secret,
            notification_url=receiver.url,
            upload_prefix=local_cloudinary.api_base,
            delivery_host=local_cloudinary.delivery_host,
        )
    )


@pytest.fixture(scope="session")
def media_database(postgres_server: LocalPostgres) -> LocalDatabase:
    return migrated_database(postgres_server, "reserva_media")


@pytest.fixture(scope="session")
async def media_app_engine(media_database: LocalDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(media_database.app_url, pool_size=4, max_overflow=0)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def media_owner_engine(media_database: LocalDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(media_database.migrator_url, pool_size=2, max_overflow=0)
    yield engine
    await engine.dispose()


@pytest.fixture
async def media_engine(
    media_app_engine: AsyncEngine, media_owner_engine: AsyncEngine
) -> AsyncEngine:
    """The app role's engine over emptied media, catalog and job tables."""
    async with media_owner_engine.begin() as connection:
        await connection.execute(sa.text("TRUNCATE photos, providers, procrastinate_jobs CASCADE"))
    return media_app_engine
