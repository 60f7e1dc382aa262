"""Photos, the catalog owners as media sees them, and the deferral of destroy jobs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from adapters.postgis.bookings.tables import offerings, places, providers
from adapters.postgis.jobs import DELETE_MEDIA_ASSET, MEDIA_QUEUE, defer
from adapters.postgis.media.tables import photos
from adapters.postgis.unit_of_work import PostgisPart
from core.media import (
    CatalogOwners,
    MediaJobs,
    Moderation,
    Owner,
    OwnerKind,
    Photo,
    PhotoId,
    PhotoRepository,
    PhotoStatus,
)
from core.shared.ids import ProviderId
from core.shared.time import to_utc

P = photos.c


def _row(photo: Photo) -> dict[str, Any]:
    return {
        "id": photo.id,
        "owner_kind": photo.owner.kind.value,
        "owner_id": photo.owner.id,
        "provider_id": photo.provider_id,
        "public_id": photo.public_id,
        "status": photo.status.value,
        "moderation": photo.moderation.value if photo.moderation else None,
        "version": photo.version,
        "format": photo.format,
        "width": photo.width,
        "height": photo.height,
        "bytes": photo.bytes,
        "created_at": photo.created_at,
        "attached_at": photo.attached_at,
    }


def _photo(row: Any) -> Photo:
    return Photo(
        id=PhotoId(row.id),
        owner=Owner(kind=OwnerKind(row.owner_kind), id=row.owner_id),
        provider_id=ProviderId(row.provider_id),
        public_id=row.public_id,
        status=PhotoStatus(row.status),
        moderation=Moderation(row.moderation) if row.moderation else None,
        version=row.version,
        format=row.format,
        width=row.width,
        height=row.height,
        bytes=row.bytes,
        created_at=to_utc(row.created_at),
        attached_at=to_utc(row.attached_at) if row.attached_at else None,
    )


class PostgisPhotoRepository(PostgisPart, PhotoRepository):
    async def add(self, photo: Photo) -> None:
        await self._run(photos.insert().values(_row(photo)))

    async def get(self, photo_id: PhotoId) -> Photo | None:
        row = (await self._run(photos.select().where(P.id == photo_id))).first()
        return None if row is None else _photo(row)

    async def by_public_id(self, public_id: str) -> Photo | None:
        row = (await self._run(photos.select().where(P.public_id == public_id))).first()
        return None if row is None else _photo(row)

    async def save(self, photo: Photo) -> None:
        values = _row(photo)
        del values["id"]
        await self._run(photos.update().where(P.id == photo.id).values(values))

    async def of_owner(self, owner: Owner) -> Sequence[Photo]:
        query = (
            photos.select()
            .where(P.owner_kind == owner.kind.value, P.owner_id == owner.id)
            .order_by(P.created_at, P.id)
        )
        return [_photo(row) for row in await self._run(query)]

    async def of_provider(self, provider_id: ProviderId) -> Sequence[Photo]:
        query = photos.select().where(P.provider_id == provider_id).order_by(P.created_at, P.id)
        return [_photo(row) for row in await self._run(query)]

    async def remove(self, photo_id: PhotoId) -> None:
        await self._run(photos.delete().where(P.id == photo_id))


class PostgisCatalogOwners(PostgisPart, CatalogOwners):
    """Reads the public catalog tables of the bookings context (no personal rows)."""

    async def provider_of(self, owner: Owner) -> ProviderId | None:
        query: sa.Select[Any]
        match owner.kind:
            case OwnerKind.PROVIDER:
                query = sa.select(providers.c.id).where(providers.c.id == owner.id)
            case OwnerKind.PLACE:
                query = sa.select(places.c.provider_id).where(places.c.id == owner.id)
            case OwnerKind.OFFERING:
                query = sa.select(offerings.c.provider_id).where(offerings.c.id == owner.id)
        found = (await self._run(query)).scalar_one_or_none()
        return None if found is None else ProviderId(found)


class PostgisMediaJobs(PostgisPart, MediaJobs):
    """`DELETE_MEDIA_ASSET {"photo_id"}` on the media queue, in this transaction."""

    async def destroy_asset(self, photo_id: PhotoId, not_before: datetime | None = None) -> None:
        await defer(
            self._conn,
            DELETE_MEDIA_ASSET,
            {"photo_id": str(photo_id)},
            queue=MEDIA_QUEUE,
            schedule_at=not_before,
        )
