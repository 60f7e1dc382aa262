"""Photos of providers, places and offerings, kept at an asset store (Cloudinary).

A photo row exists before its bytes do: asking to upload makes a PENDING photo with the
public id the asset will have, and hands the browser signed parameters to upload straight to
the store (the API never sees the bytes). The store's signed notification attaches it. Deleting
marks it DELETING and leaves the asset's destruction to a job, retried until the store says the
asset is gone; only then is the row removed.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import NewType

import attrs

from core.shared.errors import DomainError
from core.shared.ids import ProviderId

PhotoId = NewType("PhotoId", uuid.UUID)


class OwnerKind(enum.StrEnum):
    PROVIDER = "provider"
    PLACE = "place"
    OFFERING = "offering"


@attrs.frozen(kw_only=True)
class Owner:
    """What a photo shows: a provider, one of its places or one of its offerings."""

    kind: OwnerKind
    id: uuid.UUID

    @property
    def folder_name(self) -> str:
        return f"{self.kind.value}s/{self.id}"


class PhotoStatus(enum.StrEnum):
    PENDING = "pending"  # upload parameters handed out; no verified notification yet
    ATTACHED = "attached"  # the store said the asset exists: shown (unless moderation holds it)
    REJECTED = "rejected"  # moderation refused it: never shown
    DELETING = "deleting"  # a job destroys the asset, then the row goes


class Moderation(enum.StrEnum):
    """The store's moderation status, kept when moderation is enabled (None otherwise)."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class NoticeKind(enum.StrEnum):
    UPLOAD = "upload"
    MODERATION = "moderation"
    OTHER = "other"  # genuine, about something else (eager variants ready, ...): acknowledged


@attrs.frozen(kw_only=True)
class UploadNotice:
    """A verified notification from the store, about one asset."""

    kind: NoticeKind
    public_id: str
    version: int | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    bytes: int | None = None
    moderation: Moderation | None = None


@attrs.frozen(kw_only=True)
class Photo:
    id: PhotoId
    owner: Owner
    provider_id: ProviderId
    public_id: str  # the asset's full public id at the store (folder included)
    status: PhotoStatus
    created_at: datetime
    version: int | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    bytes: int | None = None
    moderation: Moderation | None = None
    attached_at: datetime | None = None

    @property
    def visible(self) -> bool:
        """Shown to the public: attached, and not held or refused by moderation."""
        return self.status is PhotoStatus.ATTACHED and self.moderation in (
            None,
            Moderation.APPROVED,
        )

    def apply(self, notice: UploadNotice, at: datetime) -> Photo:
        """The photo after a verified notice; `self` (unchanged) when the notice changes
        nothing: a redelivery, or a notice for a photo being deleted."""
        if self.status is PhotoStatus.DELETING or notice.kind is NoticeKind.OTHER:
            return self
        if notice.kind is NoticeKind.UPLOAD:
            if self.status is not PhotoStatus.PENDING:
                return self  # the same upload notified again
            attached = attrs.evolve(
                self,
                status=PhotoStatus.ATTACHED,
                version=notice.version,
                format=notice.format,
                width=notice.width,
                height=notice.height,
                bytes=notice.bytes,
                moderation=notice.moderation,
                attached_at=at,
            )
            return attached.moderated(notice.moderation)
        if notice.moderation is None or self.status is PhotoStatus.PENDING:
            return self  # moderation of an upload we have not heard of yet: it comes again
        return self.moderated(notice.moderation)

    def moderated(self, moderation: Moderation | None) -> Photo:
        if moderation is None:
            return self
        status = PhotoStatus.REJECTED if moderation is Moderation.REJECTED else PhotoStatus.ATTACHED
        if (moderation, status) == (self.moderation, self.status):
            return self
        return attrs.evolve(self, moderation=moderation, status=status)

    def deleting(self) -> Photo:
        return attrs.evolve(self, status=PhotoStatus.DELETING)


@attrs.frozen(kw_only=True)
class Variant:
    width: int
    url: str


@attrs.frozen(kw_only=True)
class Delivery:
    """How a browser loads a photo: `url` (a middle width) and a `srcset` of the widths, each
    converted to the best format the browser takes at an automatic quality (f_auto,q_auto)."""

    url: str
    srcset: str
    variants: tuple[Variant, ...]

    @classmethod
    def of(cls, variants: tuple[Variant, ...], *, unsized: str | None = None) -> Delivery:
        """The middle width's URL as `url` (`unsized`, the URL at no set width, when there are
        no widths) and every width in `srcset`."""
        url = variants[len(variants) // 2].url if variants else unsized
        if url is None:
            raise ValueError("a delivery without widths needs the unsized URL")
        return cls(
            url=url, srcset=", ".join(f"{v.url} {v.width}w" for v in variants), variants=variants
        )


@attrs.frozen(kw_only=True)
class PhotoView:
    photo: Photo
    delivery: Delivery


class DestroyOutcome(enum.StrEnum):
    DESTROYED = "destroyed"
    NOT_FOUND = "not_found"  # already gone (or never uploaded): done as well


# --------------------------------------------------------------------------------- errors


@attrs.frozen
class BadNotificationSignature(DomainError):
    """The notification's signature or timestamp does not verify: it did not come from the
    store, or is too old to trust. Nothing changes."""

    @property
    def detail(self) -> str:
        return "the notification's X-Cld-Signature / X-Cld-Timestamp do not verify"


@attrs.frozen
class PhotoLimitReached(DomainError):
    limit: int

    @property
    def detail(self) -> str:
        return f"this owner has the most photos allowed ({self.limit}); delete one first"
