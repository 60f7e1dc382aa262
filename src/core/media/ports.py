"""What the media context needs from the outside world. Adapters subclass these.

Stores: `MediaUnitOfWork` (one transaction: photos, the catalog owners as media sees them,
and `jobs`, whose deferrals happen in that same transaction). The asset store: `MediaStore`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

import attrs

from core.media.model import (
    Delivery,
    DestroyOutcome,
    Owner,
    Photo,
    PhotoId,
    UploadNotice,
)
from core.shared.ids import ProviderId
from core.shared.unit_of_work import UnitOfWork


@attrs.frozen(kw_only=True)
class UploadRules:
    """What the store must refuse of an upload (it enforces them: the signature covers them)."""

    allowed_formats: tuple[str, ...]
    max_bytes: int
    eager_widths: tuple[int, ...]  # variants made at upload time, so first views are fast
    moderation: str | None = None  # the store's moderation kind ("manual", ...), None: off


@attrs.frozen(kw_only=True)
class UploadTicket:
    """Signed parameters for one upload, straight from the browser to the store: POST
    `fields` and the file (multipart field `file`) to `url` before `expires_at`."""

    url: str
    fields: Mapping[str, str]  # api_key, timestamp, signature, folder, public_id, ...
    max_bytes: int  # the largest file the store takes (for the client to check first)
    expires_at: datetime


class MediaStore(Protocol):
    """The asset store (Cloudinary). Only `destroy` calls it; the rest is local computation
    with the account's secret. `destroy` raises on a transient failure (the job retries)."""

    def upload_ticket(
        self, public_id: str, folder: str, rules: UploadRules, now: datetime
    ) -> UploadTicket:
        """Parameters signed for an upload of the asset `folder/public_id`."""
        ...

    def verify_notification(
        self, body: bytes, headers: Mapping[str, str], now: datetime
    ) -> UploadNotice | None:
        """The notice of a notification whose signature and timestamp verify (kind OTHER for
        one about something media does not follow); None for a forged or stale one.
        `headers` with lower-case names."""
        ...

    def delivery(self, public_id: str, version: int | None, widths: Sequence[int]) -> Delivery: ...

    async def destroy(self, public_id: str) -> DestroyOutcome:
        """Delete the asset and invalidate its cached copies; NOT_FOUND counts as done."""
        ...


class PhotoRepository(Protocol):
    async def add(self, photo: Photo) -> None: ...

    async def get(self, photo_id: PhotoId) -> Photo | None: ...

    async def by_public_id(self, public_id: str) -> Photo | None: ...

    async def save(self, photo: Photo) -> None:
        """Write every field of an existing photo."""
        ...

    async def of_owner(self, owner: Owner) -> Sequence[Photo]:
        """Every photo of the owner, whatever its status, oldest first."""
        ...

    async def of_provider(self, provider_id: ProviderId) -> Sequence[Photo]:
        """Every photo of the provider and of its places and offerings, oldest first."""
        ...

    async def remove(self, photo_id: PhotoId) -> None: ...


class CatalogOwners(Protocol):
    """The bookings catalog as media sees it (read-only, public rows)."""

    async def provider_of(self, owner: Owner) -> ProviderId | None:
        """The provider an owner belongs to (a provider: itself); None if there is none."""
        ...


class MediaJobs(Protocol):
    async def destroy_asset(self, photo_id: PhotoId, not_before: datetime | None = None) -> None:
        """Defer the `DestroyAsset` job, in the unit of work's transaction."""
        ...


class MediaUnitOfWork(UnitOfWork, Protocol):
    photos: PhotoRepository
    owners: CatalogOwners
    jobs: MediaJobs
