"""In-memory media: the photo rows with their unit of work, and an asset store that behaves
like Cloudinary where the core can tell (signed tickets and notifications, destroy that may
fail and is told NOT_FOUND for an asset it does not hold). The contract suite in
tests/integration/media runs the same scenarios here and on PostGIS.

One transaction at a time is enough for the core's unit tests: a unit of work works on a copy
and writes it back on `commit()`; leaving without committing drops its writes and its jobs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from adapters.memory.outbox import MemoryOutbox
from adapters.memory.transaction import MemoryTransaction
from core.media.model import (
    Delivery,
    DestroyOutcome,
    Moderation,
    NoticeKind,
    Owner,
    OwnerKind,
    Photo,
    PhotoId,
    UploadNotice,
    Variant,
)
from core.media.ports import (
    CatalogOwners,
    MediaJobs,
    MediaStore,
    MediaUnitOfWork,
    PhotoRepository,
    UploadRules,
    UploadTicket,
)
from core.shared.ids import ProviderId
from core.shared.unit_of_work import Access

NOTIFICATION_TOLERANCE = timedelta(hours=2)


@attrs.frozen(kw_only=True)
class DeferredDestroy:
    photo_id: PhotoId
    not_before: datetime | None


class MemoryMediaDatabase:
    """The committed rows; calling it opens a unit of work (the use cases' factory)."""

    def __init__(self) -> None:
        self.photos: dict[PhotoId, Photo] = {}
        self.owners: dict[Owner, ProviderId] = {}  # the catalog, as tests set it up
        self.jobs: list[DeferredDestroy] = []  # committed deferrals, in order

    def __call__(self, access: Access) -> MemoryMediaUnitOfWork:
        return MemoryMediaUnitOfWork(self)

    def add_provider(self, provider_id: ProviderId) -> Owner:
        owner = Owner(kind=OwnerKind.PROVIDER, id=provider_id)
        self.owners[owner] = provider_id
        return owner

    def add_owner(self, kind: OwnerKind, provider_id: ProviderId) -> Owner:
        owner = Owner(kind=kind, id=uuid.uuid4())
        self.owners[owner] = provider_id
        return owner


class _Photos(PhotoRepository):
    def __init__(self, rows: dict[PhotoId, Photo]) -> None:
        self.rows = rows

    async def add(self, photo: Photo) -> None:
        if photo.id in self.rows or await self.by_public_id(photo.public_id) is not None:
            raise ValueError(f"photo {photo.id} exists")
        self.rows[photo.id] = photo

    async def get(self, photo_id: PhotoId) -> Photo | None:
        return self.rows.get(photo_id)

    async def by_public_id(self, public_id: str) -> Photo | None:
        return next((p for p in self.rows.values() if p.public_id == public_id), None)

    async def save(self, photo: Photo) -> None:
        if photo.id in self.rows:
            self.rows[photo.id] = photo

    async def of_owner(self, owner: Owner) -> Sequence[Photo]:
        return _oldest_first(p for p in self.rows.values() if p.owner == owner)

    async def of_provider(self, provider_id: ProviderId) -> Sequence[Photo]:
        return _oldest_first(p for p in self.rows.values() if p.provider_id == provider_id)

    async def remove(self, photo_id: PhotoId) -> None:
        self.rows.pop(photo_id, None)


def _oldest_first(photos: Any) -> list[Photo]:
    return sorted(photos, key=lambda p: (p.created_at, str(p.id)))


class _Owners(CatalogOwners):
    def __init__(self, owners: Mapping[Owner, ProviderId]) -> None:
        self._owners = owners

    async def provider_of(self, owner: Owner) -> ProviderId | None:
        return self._owners.get(owner)


class _Jobs(MediaJobs):
    def __init__(self) -> None:
        self.pending: list[DeferredDestroy] = []

    async def destroy_asset(self, photo_id: PhotoId, not_before: datetime | None = None) -> None:
        self.pending.append(DeferredDestroy(photo_id=photo_id, not_before=not_before))


class MemoryMediaUnitOfWork(MemoryTransaction, MediaUnitOfWork):
    def __init__(self, database: MemoryMediaDatabase) -> None:
        self._database = database
        self.outbox = MemoryOutbox()
        self.photos = _Photos(dict(database.photos))
        self.owners = _Owners(database.owners)
        self.jobs = _Jobs()

    def _discard(self) -> None:
        self.outbox.drop()
        self.jobs.pending.clear()

    async def commit(self) -> None:
        self._database.photos = dict(self.photos.rows)
        self._database.jobs.extend(self.jobs.pending)
        self.jobs.pending.clear()
        self.outbox.take()


class AssetStoreDown(Exception):
    """The memory store's transient failure (what a 5xx from Cloudinary becomes)."""


class MemoryAssetStore(MediaStore):
    """Signs like Cloudinary (SHA-1 of the sorted parameters + secret; notifications SHA-1
    of body + timestamp + secret), keeps the uploaded public ids, and fails the next
    `fail_destroys` destroys with `AssetStoreDown`."""

    def __init__(self, secret: str = "memory-secret", api_key: str = "memory-key") -> None:  # noqa: S107
        self.secret = secret
        self.api_key = api_key
        self.assets: set[str] = set()
        self.destroyed: list[str] = []  # every destroy call, failed ones included
        self.fail_destroys = 0

    def upload_ticket(
        self, public_id: str, folder: str, rules: UploadRules, now: datetime
    ) -> UploadTicket:
        params = {
            "timestamp": str(int(now.timestamp())),
            "folder": folder,
            "public_id": public_id,
            "allowed_formats": ",".join(rules.allowed_formats),
            "eager": "|".join(f"c_limit,w_{w}" for w in rules.eager_widths),
        }
        if rules.moderation:
            params["moderation"] = rules.moderation
        to_sign = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
        signature = hashlib.sha1((to_sign + self.secret).encode()).hexdigest()  # noqa: S324
        return UploadTicket(
            url="memory://upload",
            fields={**params, "api_key": self.api_key, "signature": signature},
            max_bytes=rules.max_bytes,
            expires_at=now + timedelta(hours=1),
        )

    def upload(self, ticket: UploadTicket) -> str:
        """As the browser's upload would: the asset exists; its full public id."""
        public_id = f"{ticket.fields['folder']}/{ticket.fields['public_id']}"
        self.assets.add(public_id)
        return public_id

    def notification(
        self,
        body: Mapping[str, Any],
        at: datetime,
        *,
        secret: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """A signed notification as the store would POST it: (body, lower-case headers)."""
        raw = json.dumps(body).encode()
        timestamp = str(int(at.timestamp()))
        key = self.secret if secret is None else secret
        signature = hashlib.sha1(raw + timestamp.encode() + key.encode()).hexdigest()  # noqa: S324
        return raw, {"x-cld-timestamp": timestamp, "x-cld-signature": signature}

    def verify_notification(
        self, body: bytes, headers: Mapping[str, str], now: datetime
    ) -> UploadNotice | None:
        timestamp = headers.get("x-cld-timestamp", "")
        signature = headers.get("x-cld-signature", "")
        if not timestamp.isdigit():
            return None
        sent = datetime.fromtimestamp(int(timestamp), tz=now.tzinfo)
        if not now - NOTIFICATION_TOLERANCE <= sent <= now + timedelta(minutes=5):
            return None
        expected = hashlib.sha1(body + timestamp.encode() + self.secret.encode()).hexdigest()  # noqa: S324
        if not hmac.compare_digest(expected, signature):
            return None
        return notice_of(body)

    def delivery(self, public_id: str, version: int | None, widths: Sequence[int]) -> Delivery:
        variants = tuple(
            Variant(
                width=w,
                url=f"https://memory.test/image/upload/c_limit,w_{w}/f_auto,q_auto/"
                f"v{version or 1}/{public_id}",
            )
            for w in widths
        )
        return Delivery.of(variants)

    async def destroy(self, public_id: str) -> DestroyOutcome:
        self.destroyed.append(public_id)
        if self.fail_destroys > 0:
            self.fail_destroys -= 1
            raise AssetStoreDown("memory asset store: 500")
        if public_id in self.assets:
            self.assets.discard(public_id)
            return DestroyOutcome.DESTROYED
        return DestroyOutcome.NOT_FOUND


def notice_of(body: bytes) -> UploadNotice:
    """A verified notification's JSON as a notice (OTHER: about something else)."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("public_id"), str):
        return UploadNotice(kind=NoticeKind.OTHER, public_id="")
    kind = data.get("notification_type")
    if kind == "upload":
        moderation = data.get("moderation")
        status = None
        if isinstance(moderation, list) and moderation and isinstance(moderation[0], dict):
            status = _moderation(moderation[0].get("status"))
        return UploadNotice(
            kind=NoticeKind.UPLOAD,
            public_id=data["public_id"],
            version=_int(data.get("version")),
            format=data.get("format") if isinstance(data.get("format"), str) else None,
            width=_int(data.get("width")),
            height=_int(data.get("height")),
            bytes=_int(data.get("bytes")),
            moderation=status,
        )
    if kind == "moderation":
        return UploadNotice(
            kind=NoticeKind.MODERATION,
            public_id=data["public_id"],
            moderation=_moderation(data.get("moderation_status")),
        )
    return UploadNotice(kind=NoticeKind.OTHER, public_id=data["public_id"])


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _moderation(value: object) -> Moderation | None:
    return next((m for m in Moderation if m.value == value), None)


def media_in_memory() -> tuple[MemoryMediaDatabase, MemoryAssetStore]:
    return MemoryMediaDatabase(), MemoryAssetStore()
