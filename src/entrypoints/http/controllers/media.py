"""Photos of providers, places and offerings (Cloudinary).

The bytes never pass through this API: staff ask for signed upload parameters and the
browser posts the file with them straight to Cloudinary (`upload_url`, multipart, the
`fields` as they are plus `file`). Cloudinary's signed notification (`POST
/webhooks/cloudinary`) attaches the photo; only then is it listed, with delivery URLs that
let the CDN pick the format and quality (`f_auto,q_auto`) at the width the page needs
(`srcset`). Deleting hides the photo at once; a job destroys the asset at Cloudinary.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import partial
from typing import Any, Literal

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from core.media import (
    AttachUploadedPhoto,
    DeletePhoto,
    ListPhotos,
    Owner,
    OwnerKind,
    Photo,
    PhotoId,
    PhotoView,
    RequestPhotoUpload,
)
from core.shared.ids import ProviderId
from core.shared.principal import Principal
from entrypoints.http.auth import PUBLIC, SECURITY
from entrypoints.http.edge import SIGNED_WEBHOOKS
from entrypoints.http.problems import PUBLIC_PROBLEMS, SIGNED_IN_PROBLEMS, documented, ok

# What a browser may cache of a public photo list: photos change rarely, and a deleted one
# disappears within this many seconds.
LIST_CACHE = "public, max-age=60"


class OwnerIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    kind: Literal["provider", "place", "offering"]
    id: uuid.UUID


class UploadIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    owner: OwnerIn


class UploadOut(msgspec.Struct, frozen=True):
    photo_id: str
    status: str
    upload_url: str  # POST here, multipart: every entry of `fields`, then `file`
    fields: dict[str, str]
    api_key: str
    timestamp: str
    signature: str
    folder: str
    public_id: str
    allowed_formats: list[str]
    max_file_size: int  # bytes; larger files are refused
    eager: list[str]
    notification_url: str
    expires_at: datetime


class VariantOut(msgspec.Struct, frozen=True):
    width: int
    url: str


class PhotoOut(msgspec.Struct, frozen=True):
    id: str
    owner_kind: str
    owner_id: str
    url: str
    srcset: str
    width: int | None
    height: int | None
    format: str | None
    variants: list[VariantOut]

    @classmethod
    def of(cls, view: PhotoView) -> PhotoOut:
        photo, delivery = view.photo, view.delivery
        return cls(
            id=str(photo.id),
            owner_kind=photo.owner.kind.value,
            owner_id=str(photo.owner.id),
            url=delivery.url,
            srcset=delivery.srcset,
            width=photo.width,
            height=photo.height,
            format=photo.format,
            variants=[VariantOut(width=v.width, url=v.url) for v in delivery.variants],
        )


class DeletedOut(msgspec.Struct, frozen=True):
    id: str
    status: str


class NotifiedOut(msgspec.Struct, frozen=True):
    received: bool
    photo_id: str | None  # the photo the notification named, None for none of ours
    status: str | None


@post(
    "/providers/{provider_id:str}/photos/uploads",
    summary="Signed parameters to upload a photo straight to Cloudinary (staff)",
    description="For the provider itself, one of its places or one of its offerings "
    "(`owner`). Answers a pending photo and the parameters the browser posts, with the file, "
    "to `upload_url` within the hour (`expires_at`); Cloudinary refuses other formats, larger "
    "files and changed parameters. The photo is listed once Cloudinary notifies us. Staff of "
    "the provider or admins, with a second factor.",
    tags=["media"],
    security=SECURITY,
    status_code=201,
    responses=SIGNED_IN_PROBLEMS,
)
async def request_upload(
    provider_id: FromPath[uuid.UUID],
    data: JSONBody[UploadIn],
    principal: NamedDependency[Principal],
    request_photo_upload: NamedDependency[RequestPhotoUpload],
) -> UploadOut:
    owner = Owner(kind=OwnerKind(data.owner.kind), id=data.owner.id)
    pending = ok(await request_photo_upload(principal, ProviderId(provider_id), owner))
    fields = dict(pending.ticket.fields)
    return UploadOut(
        photo_id=str(pending.photo.id),
        status=pending.photo.status.value,
        upload_url=pending.ticket.url,
        fields=fields,
        api_key=fields.get("api_key", ""),
        timestamp=fields.get("timestamp", ""),
        signature=fields.get("signature", ""),
        folder=fields.get("folder", ""),
        public_id=fields.get("public_id", ""),
        allowed_formats=[f for f in fields.get("allowed_formats", "").split(",") if f],
        max_file_size=pending.ticket.max_bytes,
        eager=[t for t in fields.get("eager", "").split("|") if t],
        notification_url=fields.get("notification_url", ""),
        expires_at=pending.ticket.expires_at,
    )


@post(
    f"{SIGNED_WEBHOOKS}cloudinary",
    summary="Cloudinary notification endpoint",
    description="Cloudinary's upload and moderation notifications, signed with "
    "`X-Cld-Signature` over the body and `X-Cld-Timestamp`. A bad or stale signature is a "
    "401 problem and changes nothing; a notification about an asset we do not know is "
    "acknowledged and ignored.",
    tags=["webhooks"],
    opt={PUBLIC: True},
    status_code=200,
    responses=documented(400, 401, 503),
)
async def cloudinary_notification(
    request: Request[Any, Any, Any],
    attach_uploaded_photo: NamedDependency[AttachUploadedPhoto],
) -> NotifiedOut:
    body = await request.body()
    headers = {
        name: request.headers.get(name, "") for name in ("x-cld-timestamp", "x-cld-signature")
    }
    photo = ok(await attach_uploaded_photo(body, headers))
    return NotifiedOut(
        received=True,
        photo_id=str(photo.id) if photo else None,
        status=photo.status.value if photo else None,
    )


async def _listed(
    list_photos: ListPhotos, kind: OwnerKind, owner_id: uuid.UUID
) -> Response[list[PhotoOut]]:
    views = ok(await list_photos(Owner(kind=kind, id=owner_id)))
    return Response([PhotoOut.of(view) for view in views], headers={"Cache-Control": LIST_CACHE})


_LIST_DESCRIPTION = (
    "Anyone: the photos shown, oldest first, each with `url` (a middle width), `srcset` "
    "(every width, for `<img srcset>`), the original's `width` and `height`. Photos still "
    "uploading, held by moderation or being deleted are not listed."
)
_list = partial(
    get,
    tags=["media"],
    opt={PUBLIC: True},
    responses=PUBLIC_PROBLEMS,
    description=_LIST_DESCRIPTION,
)


@_list("/providers/{provider_id:str}/photos", summary="A provider's photos")
async def provider_photos(
    provider_id: FromPath[uuid.UUID], list_photos: NamedDependency[ListPhotos]
) -> Response[list[PhotoOut]]:
    return await _listed(list_photos, OwnerKind.PROVIDER, provider_id)


@_list("/places/{place_id:str}/photos", summary="A place's photos")
async def place_photos(
    place_id: FromPath[uuid.UUID], list_photos: NamedDependency[ListPhotos]
) -> Response[list[PhotoOut]]:
    return await _listed(list_photos, OwnerKind.PLACE, place_id)


@_list("/offerings/{offering_id:str}/photos", summary="An offering's photos")
async def offering_photos(
    offering_id: FromPath[uuid.UUID], list_photos: NamedDependency[ListPhotos]
) -> Response[list[PhotoOut]]:
    return await _listed(list_photos, OwnerKind.OFFERING, offering_id)


@delete(
    "/photos/{photo_id:str}",
    summary="Delete a photo (staff)",
    description="The photo stops being listed at once; its asset is destroyed at Cloudinary "
    "by a job, retried until Cloudinary confirms. Deleting it again is accepted. Staff of the "
    "photo's provider or admins, with a second factor.",
    tags=["media"],
    security=SECURITY,
    status_code=202,
    responses=SIGNED_IN_PROBLEMS,
)
async def remove_photo(
    photo_id: FromPath[uuid.UUID],
    principal: NamedDependency[Principal],
    delete_photo: NamedDependency[DeletePhoto],
) -> DeletedOut:
    photo: Photo = ok(await delete_photo(principal, PhotoId(photo_id)))
    return DeletedOut(id=str(photo.id), status=photo.status.value)


ROUTES = [
    request_upload,
    cloudinary_notification,
    provider_photos,
    place_photos,
    offering_photos,
    remove_photo,
]
