"""One contract for the media stores: the in-memory rows the core's unit tests use and the
PostGIS unit of work (as the app role, under row-level security, with procrastinate jobs)
behave the same."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.clock import FixedClock
from adapters.memory.media import MemoryAssetStore, MemoryMediaDatabase
from adapters.postgis.media import PostgisMediaUnitOfWork
from core.media import (
    AttachUploadedPhoto,
    DeleteOwnerPhotos,
    DeletePhoto,
    DestroyAsset,
    ListPhotos,
    MediaUnitOfWork,
    Moderation,
    Owner,
    OwnerKind,
    Photo,
    PhotoId,
    PhotoStatus,
    RequestPhotoUpload,
)
from core.shared.ids import ProviderId, UserId
from core.shared.principal import Principal, Role
from core.shared.unit_of_work import MAINTENANCE, PUBLIC, Access, UnitOfWorkFactory

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@attrs.frozen
class Store:
    uow: UnitOfWorkFactory[MediaUnitOfWork]
    add_owner: Callable[[OwnerKind, ProviderId], Awaitable[Owner]]
    add_provider: Callable[[], Awaitable[ProviderId]]
    jobs: Callable[[], Awaitable[list[tuple[PhotoId, datetime | None]]]]


def memory_store() -> Store:
    database = MemoryMediaDatabase()

    async def add_provider() -> ProviderId:
        provider_id = ProviderId(uuid.uuid4())
        database.add_provider(provider_id)
        return provider_id

    async def add_owner(kind: OwnerKind, provider_id: ProviderId) -> Owner:
        return database.add_owner(kind, provider_id)

    async def jobs() -> list[tuple[PhotoId, datetime | None]]:
        return [(job.photo_id, job.not_before) for job in database.jobs]

    return Store(database, add_owner, add_provider, jobs)


def postgis_store(app: AsyncEngine, owner: AsyncEngine) -> Store:
    async def run(sql: str, **values: Any) -> Any:
        async with owner.begin() as connection:
            return await connection.execute(sa.text(sql), values)

    async def add_provider() -> ProviderId:
        provider_id = ProviderId(uuid.uuid4())
        await run("INSERT INTO providers (id, name) VALUES (:id, 'Studio')", id=provider_id)
        return provider_id

    async def add_owner(kind: OwnerKind, provider_id: ProviderId) -> Owner:
        place_id = uuid.uuid4()
        await run(
            "INSERT INTO places (id, provider_id, name, line1, city, postal_code, country,"
            " location, timezone) VALUES (:id, :provider, 'Hall', 'Road 1', 'Berlin', '10115',"
            " 'DE', ST_GeogFromText('POINT(13.4 52.5)'), 'Europe/Berlin')",
            id=place_id,
            provider=provider_id,
        )
        if kind is OwnerKind.PLACE:
            return Owner(kind=kind, id=place_id)
        offering_id = uuid.uuid4()
        await run(
            "INSERT INTO offerings (id, provider_id, place_id, kind, name, category, price_minor,"
            " currency, duration, slot_step, buffer_before, buffer_after, lead_time, horizon,"
            " capacity) VALUES (:id, :provider, :place, 'session', 'Yoga', 'yoga', 1000, 'EUR',"
            " '1 hour', '1 hour', '0', '0', '0', '30 days', 10)",
            id=offering_id,
            provider=provider_id,
            place=place_id,
        )
        return Owner(kind=OwnerKind.OFFERING, id=offering_id)

    async def jobs() -> list[tuple[PhotoId, datetime | None]]:
        rows = await run(
            "SELECT args->>'photo_id', scheduled_at, queue_name FROM procrastinate_jobs"
            " WHERE task_name = 'delete_media_asset' ORDER BY id"
        )
        found = []
        for photo_id, scheduled_at, queue in rows:
            assert queue == "media"
            found.append((PhotoId(uuid.UUID(photo_id)), scheduled_at))
        return found

    return Store(PostgisMediaUnitOfWork.factory(app), add_owner, add_provider, jobs)


@pytest.fixture(params=["memory", "postgis"])
def store(request: pytest.FixtureRequest) -> Store:
    if request.param == "memory":
        return memory_store()
    app = request.getfixturevalue("media_engine")
    return postgis_store(app, request.getfixturevalue("media_owner_engine"))


def _photo(owner: Owner, provider_id: ProviderId, at: datetime, **more: Any) -> Photo:
    photo_id = PhotoId(uuid.uuid4())
    return Photo(
        id=photo_id,
        owner=owner,
        provider_id=provider_id,
        public_id=f"reserva/{provider_id}/{owner.folder_name}/{photo_id}",
        status=PhotoStatus.PENDING,
        created_at=at,
        **more,
    )


def _staff(provider_id: ProviderId) -> Principal:
    return Principal(
        user_id=UserId(uuid.uuid4()),
        roles=frozenset({Role.STAFF}),
        provider_ids=frozenset({provider_id}),
        mfa=True,
    )


async def test_photos_round_trip_in_order(store: Store) -> None:
    provider_id = await store.add_provider()
    provider = Owner(kind=OwnerKind.PROVIDER, id=provider_id)
    place = await store.add_owner(OwnerKind.PLACE, provider_id)
    later = _photo(provider, provider_id, NOW + timedelta(minutes=1))
    first = _photo(provider, provider_id, NOW)
    of_place = _photo(place, provider_id, NOW - timedelta(minutes=1))
    attached = attrs.evolve(
        first,
        status=PhotoStatus.ATTACHED,
        moderation=Moderation.APPROVED,
        version=1764244800,
        format="webp",
        width=1920,
        height=1080,
        bytes=345_678,
        attached_at=NOW + timedelta(seconds=5),
    )

    async with store.uow(Access.of(_staff(provider_id))) as uow:
        for photo in (later, first, of_place):
            await uow.photos.add(photo)
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        await uow.photos.save(attached)
        await uow.commit()

    async with store.uow(PUBLIC) as uow:
        assert await uow.photos.get(first.id) == attached
        assert await uow.photos.by_public_id(later.public_id) == later
        assert await uow.photos.of_owner(provider) == [attached, later]
        assert await uow.photos.of_owner(place) == [of_place]
        assert await uow.photos.of_provider(provider_id) == [of_place, attached, later]
        assert await uow.photos.get(PhotoId(uuid.uuid4())) is None
        assert await uow.photos.by_public_id("reserva/none") is None
    async with store.uow(MAINTENANCE) as uow:
        await uow.photos.remove(later.id)
        await uow.commit()
    async with store.uow(PUBLIC) as uow:
        assert await uow.photos.of_owner(provider) == [attached]


async def test_leaving_without_commit_keeps_no_photo_and_no_job(store: Store) -> None:
    provider_id = await store.add_provider()
    photo = _photo(Owner(kind=OwnerKind.PROVIDER, id=provider_id), provider_id, NOW)

    async with store.uow(MAINTENANCE) as uow:
        await uow.photos.add(photo)
        await uow.jobs.destroy_asset(photo.id)

    async with store.uow(PUBLIC) as uow:
        assert await uow.photos.get(photo.id) is None
    assert await store.jobs() == []


async def test_jobs_are_deferred_with_the_commit(store: Store) -> None:
    provider_id = await store.add_provider()
    photo = _photo(Owner(kind=OwnerKind.PROVIDER, id=provider_id), provider_id, NOW)
    later = NOW + timedelta(hours=2)

    async with store.uow(MAINTENANCE) as uow:
        await uow.photos.add(photo)
        await uow.jobs.destroy_asset(photo.id)
        await uow.jobs.destroy_asset(photo.id, later)
        await uow.commit()

    assert await store.jobs() == [(photo.id, None), (photo.id, later)]


async def test_owners_name_their_provider(store: Store) -> None:
    provider_id = await store.add_provider()
    other = await store.add_provider()
    place = await store.add_owner(OwnerKind.PLACE, provider_id)
    offering = await store.add_owner(OwnerKind.OFFERING, other)

    async with store.uow(PUBLIC) as uow:
        owners = uow.owners
        assert await owners.provider_of(Owner(kind=OwnerKind.PROVIDER, id=provider_id)) == (
            provider_id
        )
        assert await owners.provider_of(place) == provider_id
        assert await owners.provider_of(offering) == other
        for kind in OwnerKind:
            assert await owners.provider_of(Owner(kind=kind, id=uuid.uuid4())) is None
        # an id of another kind is no owner of this kind
        assert await owners.provider_of(Owner(kind=OwnerKind.OFFERING, id=place.id)) is None


async def test_the_use_cases_run_end_to_end(store: Store) -> None:
    provider_id = await store.add_provider()
    offering = await store.add_owner(OwnerKind.OFFERING, provider_id)
    staff = _staff(provider_id)
    assets = MemoryAssetStore()
    clock = FixedClock(NOW)
    parts: dict[str, Any] = {"uow": store.uow, "store": assets, "clock": clock}

    pending = (await RequestPhotoUpload(**parts)(staff, provider_id, offering)).unwrap()
    public_id = assets.upload(pending.ticket)
    body = {"notification_type": "upload", "public_id": public_id, "width": 5, "height": 4}
    attached = (await AttachUploadedPhoto(**parts)(*assets.notification(body, NOW))).unwrap()
    (view,) = (await ListPhotos(**parts)(offering)).unwrap()
    deleted = (await DeletePhoto(**parts)(staff, pending.photo.id)).unwrap()
    assert await DeleteOwnerPhotos(**parts)(Owner(kind=OwnerKind.PROVIDER, id=provider_id)) == 0
    destroyed = await DestroyAsset(**parts)(pending.photo.id)

    assert attached is not None
    assert (attached.width, attached.height, attached.status) == (5, 4, PhotoStatus.ATTACHED)
    assert view.photo == attached
    assert deleted.status is PhotoStatus.DELETING
    assert await store.jobs() == [(pending.photo.id, None)]
    assert destroyed is not None
    assert assets.assets == set()
    async with store.uow(PUBLIC) as uow:
        assert await uow.photos.get(pending.photo.id) is None
