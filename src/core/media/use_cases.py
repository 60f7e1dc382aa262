"""The media context's use cases: one class each, one transaction per call.

Uploads go from the browser straight to the store with parameters this API signs; the store's
signed notification attaches the photo. Assets are destroyed by a job (`DestroyAsset`) deferred
in the same transaction that marks the photo DELETING, retried until the store confirms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

import attrs
from returns.result import Failure, Result, Success

from core.media.model import (
    BadNotificationSignature,
    DestroyOutcome,
    Owner,
    OwnerKind,
    Photo,
    PhotoId,
    PhotoLimitReached,
    PhotoStatus,
    PhotoView,
)
from core.media.ports import MediaStore, MediaUnitOfWork, UploadRules, UploadTicket
from core.shared.errors import DomainError, NotFound
from core.shared.ids import ProviderId, new_id
from core.shared.principal import Principal, may_manage
from core.shared.time import Clock
from core.shared.unit_of_work import MAINTENANCE, PUBLIC, Access, UnitOfWorkFactory
from core.shared.use_case import UseCase

# Cloudinary refuses a signed upload whose timestamp is more than an hour old.
TICKET_LIFETIME = timedelta(hours=1)


@attrs.frozen(kw_only=True)
class MediaSettings:
    folder_root: str = "reserva"
    allowed_formats: tuple[str, ...] = ("jpg", "png", "webp", "heic")
    max_bytes: int = 10 * 1024 * 1024
    widths: tuple[int, ...] = (320, 640, 960, 1280, 1920)  # the srcset
    eager_widths: tuple[int, ...] = (640, 1280)  # made at upload: the common first views
    max_photos_per_owner: int = 30
    moderation: str | None = None  # e.g. "manual": photos wait for a moderator's approval

    @property
    def rules(self) -> UploadRules:
        return UploadRules(
            allowed_formats=self.allowed_formats,
            max_bytes=self.max_bytes,
            eager_widths=self.eager_widths,
            moderation=self.moderation,
        )


@attrs.frozen(kw_only=True)
class MediaUseCase(UseCase):
    uow: UnitOfWorkFactory[MediaUnitOfWork]
    store: MediaStore
    clock: Clock
    settings: MediaSettings = MediaSettings()


@attrs.frozen(kw_only=True)
class PendingUpload:
    photo: Photo
    ticket: UploadTicket


def _owner_not_found(owner: Owner) -> NotFound:
    return NotFound(kind=owner.kind.value, id=str(owner.id))


class RequestPhotoUpload(MediaUseCase):
    """Staff of the provider (or an admin) ask to add a photo to the provider, one of its
    places or one of its offerings: a PENDING photo and the signed upload parameters."""

    async def __call__(
        self, caller: Principal, provider_id: ProviderId, owner: Owner
    ) -> Result[PendingUpload, DomainError]:
        allowed = may_manage(caller, provider_id)
        if isinstance(allowed, Failure):
            return Failure(allowed.failure())
        now = self.clock.now()
        photo_id = PhotoId(new_id())
        folder = f"{self.settings.folder_root}/{provider_id}/{owner.folder_name}"
        async with self.uow(Access.of(caller)) as uow:
            if await uow.owners.provider_of(owner) != provider_id:
                return Failure(_owner_not_found(owner))
            kept = [
                p for p in await uow.photos.of_owner(owner) if p.status is not PhotoStatus.DELETING
            ]
            if len(kept) >= self.settings.max_photos_per_owner:
                return Failure(PhotoLimitReached(limit=self.settings.max_photos_per_owner))
            photo = Photo(
                id=photo_id,
                owner=owner,
                provider_id=provider_id,
                public_id=f"{folder}/{photo_id}",
                status=PhotoStatus.PENDING,
                created_at=now,
            )
            await uow.photos.add(photo)
            await uow.commit()
        ticket = self.store.upload_ticket(str(photo_id), folder, self.settings.rules, now)
        return Success(PendingUpload(photo=photo, ticket=ticket))


class AttachUploadedPhoto(MediaUseCase):
    """The store's notification (upload done, or moderation decided), verified first. A
    notice for an unknown public id is ignored; a redelivery changes nothing. The photo
    after the notice, or None when it named no photo of ours."""

    async def __call__(
        self, body: bytes, headers: Mapping[str, str]
    ) -> Result[Photo | None, BadNotificationSignature]:
        now = self.clock.now()
        notice = self.store.verify_notification(body, headers, now)
        if notice is None:
            return Failure(BadNotificationSignature())
        async with self.uow(MAINTENANCE) as uow:
            photo = await uow.photos.by_public_id(notice.public_id)
            if photo is None:
                return Success(None)
            changed = photo.apply(notice, now)
            if changed != photo:
                await uow.photos.save(changed)
                await uow.commit()
        return Success(changed)


class ListPhotos(MediaUseCase):
    """Anyone: the photos shown for a catalog owner, oldest first, with delivery URLs."""

    async def __call__(self, owner: Owner) -> Result[Sequence[PhotoView], DomainError]:
        async with self.uow(PUBLIC) as uow:
            if await uow.owners.provider_of(owner) is None:
                return Failure(_owner_not_found(owner))
            photos = await uow.photos.of_owner(owner)
        return Success(
            [
                PhotoView(
                    photo=photo,
                    delivery=self.store.delivery(
                        photo.public_id, photo.version, self.settings.widths
                    ),
                )
                for photo in photos
                if photo.visible
            ]
        )


class DeletePhoto(MediaUseCase):
    """Staff of the photo's provider (or an admin): the photo disappears now, its asset
    is destroyed by a job. Deleting a photo already being deleted is a success."""

    async def __call__(self, caller: Principal, photo_id: PhotoId) -> Result[Photo, DomainError]:
        async with self.uow(Access.of(caller)) as uow:
            photo = await uow.photos.get(photo_id)
            if photo is None:
                return Failure(NotFound(kind="photo", id=str(photo_id)))
            allowed = may_manage(caller, photo.provider_id)
            if isinstance(allowed, Failure):
                return Failure(allowed.failure())
            if photo.status is PhotoStatus.DELETING:
                return Success(photo)
            deleting = await _delete(uow, photo)
            await uow.commit()
        return Success(deleting)


class DeleteOwnerPhotos(MediaUseCase):
    """For the service itself, when a place or offering is deleted or a provider leaves:
    every photo of the owner (a provider: its places' and offerings' too) is deleted. The
    number of photos newly marked."""

    async def __call__(self, owner: Owner) -> int:
        async with self.uow(MAINTENANCE) as uow:
            if owner.kind is OwnerKind.PROVIDER:
                photos = await uow.photos.of_provider(ProviderId(owner.id))
            else:
                photos = await uow.photos.of_owner(owner)
            marked = 0
            for photo in photos:
                if photo.status is not PhotoStatus.DELETING:
                    await _delete(uow, photo)
                    marked += 1
            await uow.commit()
        return marked


async def _delete(uow: MediaUnitOfWork, photo: Photo) -> Photo:
    """Mark the photo and defer the destruction of its asset, in this transaction. A photo
    still pending may be uploaded until its ticket expires: its asset is destroyed after
    that, so an upload finishing late leaves nothing behind."""
    deleting = photo.deleting()
    await uow.photos.save(deleting)
    pending = photo.status is PhotoStatus.PENDING
    await uow.jobs.destroy_asset(
        photo.id, photo.created_at + TICKET_LIFETIME + timedelta(minutes=5) if pending else None
    )
    return deleting


class DestroyAsset(MediaUseCase):
    """The job: destroy a DELETING photo's asset at the store, then remove its row. Raises
    when the store fails (the job queue retries until done); idempotent: a photo already
    removed, or not being deleted, is left alone (None)."""

    async def __call__(self, photo_id: PhotoId) -> DestroyOutcome | None:
        async with self.uow(MAINTENANCE) as uow:
            photo = await uow.photos.get(photo_id)
        if photo is None or photo.status is not PhotoStatus.DELETING:
            return None
        outcome = await self.store.destroy(photo.public_id)  # raises: the job is retried
        async with self.uow(MAINTENANCE) as uow:
            await uow.photos.remove(photo_id)
            await uow.commit()
        return outcome
