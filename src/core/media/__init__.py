"""The media context's public API: photos of providers, places and offerings, uploaded by
the browser straight to the asset store (Cloudinary) with parameters this API signs.

Use cases are built with a media unit-of-work factory, a `MediaStore`, a clock and
`MediaSettings`. The ports adapters implement are in `core.media.ports`.
"""

from core.media.model import (
    BadNotificationSignature,
    Delivery,
    DestroyOutcome,
    Moderation,
    NoticeKind,
    Owner,
    OwnerKind,
    Photo,
    PhotoId,
    PhotoLimitReached,
    PhotoStatus,
    PhotoView,
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
from core.media.problems import PROBLEMS
from core.media.use_cases import (
    TICKET_LIFETIME,
    AttachUploadedPhoto,
    DeleteOwnerPhotos,
    DeletePhoto,
    DestroyAsset,
    ListPhotos,
    MediaSettings,
    MediaUseCase,
    PendingUpload,
    RequestPhotoUpload,
)

__all__ = [
    "PROBLEMS",
    "TICKET_LIFETIME",
    "AttachUploadedPhoto",
    "BadNotificationSignature",
    "CatalogOwners",
    "DeleteOwnerPhotos",
    "DeletePhoto",
    "Delivery",
    "DestroyAsset",
    "DestroyOutcome",
    "ListPhotos",
    "MediaJobs",
    "MediaSettings",
    "MediaStore",
    "MediaUnitOfWork",
    "MediaUseCase",
    "Moderation",
    "NoticeKind",
    "Owner",
    "OwnerKind",
    "PendingUpload",
    "Photo",
    "PhotoId",
    "PhotoLimitReached",
    "PhotoRepository",
    "PhotoStatus",
    "PhotoView",
    "RequestPhotoUpload",
    "UploadNotice",
    "UploadRules",
    "UploadTicket",
    "Variant",
]
