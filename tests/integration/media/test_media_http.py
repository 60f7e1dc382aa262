"""The media routes over HTTP, end to end on the real adapters: staff get a ticket, the
browser uploads to the Cloudinary fake, the fake's notification (the very bytes and headers
it POSTed) reaches POST /webhooks/cloudinary and attaches the photo, the public list shows it
with its srcset, and DELETE defers the destroy job in PostgreSQL. Forgeries are a 401 problem.

The app here is small: the media routes, the house's bearer authentication, dependencies and
problem rendering. The composition root (container, app) registers the same routes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from litestar import Litestar
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.testing import AsyncTestClient
from media_support import NotificationReceiver, png
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.cloudinary import CloudinaryMediaStore
from adapters.postgis.media import PostgisMediaUnitOfWork
from adapters.system.clock import SystemClock
from core import media as media_context
from core.media import (
    AttachUploadedPhoto,
    DeletePhoto,
    DestroyAsset,
    ListPhotos,
    MediaUseCase,
    PhotoId,
    RequestPhotoUpload,
)
from core.shared.ids import ProviderId, UserId
from core.shared.principal import Principal, Role
from core.shared.problems import merged
from devservers.cloudinary_fake import LocalCloudinary
from entrypoints.http import problems
from entrypoints.http.auth import BearerAuthentication, current_principal
from entrypoints.http.controllers import media
from entrypoints.http.dependencies import provide
from entrypoints.http.problems import EXCEPTION_HANDLERS

STAFF_TOKEN, OTHER_TOKEN = "staff-token", "other-token"


@pytest.fixture
def provider_id() -> ProviderId:
    return ProviderId(uuid.uuid4())


@pytest.fixture
async def client(
    media_engine: AsyncEngine,
    media_owner_engine: AsyncEngine,
    cloudinary_store: CloudinaryMediaStore,
    provider_id: ProviderId,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    # What http/problems.py does once the media context is registered there.
    if media_context.BadNotificationSignature not in problems.PROBLEMS:
        merged_tables = merged([problems.PROBLEMS, media_context.PROBLEMS])
        monkeypatch.setattr(problems, "PROBLEMS", merged_tables)
    async with media_owner_engine.begin() as connection:
        await connection.execute(
            sa.text("INSERT INTO providers (id, name) VALUES (:id, 'Studio')"), {"id": provider_id}
        )
    principals = {
        STAFF_TOKEN: _staff(provider_id),
        OTHER_TOKEN: _staff(ProviderId(uuid.uuid4())),
    }

    async def authenticate(token: str) -> Principal | None:
        return principals.get(token)

    parts: dict[str, Any] = {
        "uow": PostgisMediaUnitOfWork.factory(media_engine),
        "store": cloudinary_store,
        "clock": SystemClock(),
    }
    use_cases: dict[str, MediaUseCase] = {
        "request_photo_upload": RequestPhotoUpload(**parts),
        "attach_uploaded_photo": AttachUploadedPhoto(**parts),
        "list_photos": ListPhotos(**parts),
        "delete_photo": DeletePhoto(**parts),
    }
    app = Litestar(
        route_handlers=media.ROUTES,
        dependencies={
            **{name: provide(_constant(use_case)) for name, use_case in use_cases.items()},
            "principal": Provide(current_principal),
        },
        middleware=[DefineMiddleware(BearerAuthentication, authenticator=lambda: authenticate)],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    app.state["destroy"] = DestroyAsset(**parts)
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


def _constant(use_case: MediaUseCase) -> Callable[[], MediaUseCase]:
    return lambda: use_case


def _staff(provider_id: ProviderId) -> Principal:
    return Principal(
        user_id=UserId(uuid.uuid4()),
        roles=frozenset({Role.STAFF}),
        provider_ids=frozenset({provider_id}),
        mfa=True,
    )


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_upload_notify_list_and_delete_over_http(
    client: AsyncTestClient[Litestar],
    provider_id: ProviderId,
    receiver: NotificationReceiver,
    local_cloudinary: LocalCloudinary,
    media_owner_engine: AsyncEngine,
) -> None:
    asked = await client.post(
        f"/providers/{provider_id}/photos/uploads",
        json={"owner": {"kind": "provider", "id": str(provider_id)}},
        headers=_bearer(STAFF_TOKEN),
    )
    assert asked.status_code == 201, asked.text
    ticket = asked.json()
    assert ticket["status"] == "pending"
    assert ticket["allowed_formats"] == ["jpg", "png", "webp", "heic"]
    assert ticket["notification_url"] == receiver.url
    assert ticket["upload_url"] == f"{local_cloudinary.api_base}/v1_1/reserva-local/image/upload"

    async with httpx.AsyncClient() as browser:  # straight to Cloudinary, never through us
        uploaded = await browser.post(
            ticket["upload_url"], data=ticket["fields"], files={"file": ("a.png", png(30, 20))}
        )
    assert uploaded.status_code == 200, uploaded.text
    (notification,) = receiver.wait_for(1)
    before = await client.get(f"/providers/{provider_id}/photos")
    assert before.json() == []

    notified = await client.post(
        "/webhooks/cloudinary", content=notification.body, headers=notification.headers
    )

    assert notified.status_code == 200, notified.text
    assert notified.json() == {
        "received": True,
        "photo_id": ticket["photo_id"],
        "status": "attached",
    }
    listed = await client.get(f"/providers/{provider_id}/photos")
    assert listed.headers["cache-control"] == "public, max-age=60"
    (photo,) = listed.json()
    assert (photo["id"], photo["width"], photo["height"]) == (ticket["photo_id"], 30, 20)
    assert [v["width"] for v in photo["variants"]] == [320, 640, 960, 1280, 1920]
    assert "f_auto,q_auto" in photo["url"]
    assert photo["srcset"].endswith(" 1920w")

    refused = await client.delete(f"/photos/{photo['id']}", headers=_bearer(OTHER_TOKEN))
    deleted = await client.delete(f"/photos/{photo['id']}", headers=_bearer(STAFF_TOKEN))

    assert refused.status_code == 403
    assert deleted.status_code == 202
    assert deleted.json() == {"id": photo["id"], "status": "deleting"}
    assert (await client.get(f"/providers/{provider_id}/photos")).json() == []
    async with media_owner_engine.connect() as connection:
        jobs = (
            await connection.execute(
                sa.text(
                    "SELECT task_name, queue_name, args FROM procrastinate_jobs"
                    " WHERE status = 'todo'"
                )
            )
        ).all()
    assert [tuple(job) for job in jobs] == [
        ("delete_media_asset", "media", {"photo_id": photo["id"]})
    ]
    destroy: DestroyAsset = client.app.state["destroy"]
    await destroy(PhotoId(uuid.UUID(photo["id"])))
    assert local_cloudinary.control.assets() == []


async def test_a_forged_notification_is_a_401_problem_and_changes_nothing(
    client: AsyncTestClient[Litestar],
    provider_id: ProviderId,
    receiver: NotificationReceiver,
) -> None:
    asked = await client.post(
        f"/providers/{provider_id}/photos/uploads",
        json={"owner": {"kind": "provider", "id": str(provider_id)}},
        headers=_bearer(STAFF_TOKEN),
    )
    ticket = asked.json()
    async with httpx.AsyncClient() as browser:
        await browser.post(
            ticket["upload_url"], data=ticket["fields"], files={"file": ("a.png", png(3, 3))}
        )
    (notification,) = receiver.wait_for(1)
    forged_headers = {**notification.headers, "x-cld-signature": "0" * 40}

    forged = await client.post(
        "/webhooks/cloudinary", content=notification.body, headers=forged_headers
    )

    assert forged.status_code == 401
    assert forged.headers["content-type"].startswith("application/problem+json")
    assert forged.json()["type"] == "urn:reserva:problem:bad-notification-signature"
    assert (await client.get(f"/providers/{provider_id}/photos")).json() == []


async def test_bad_requests_are_problems(
    client: AsyncTestClient[Litestar], provider_id: ProviderId
) -> None:
    unknown_place = await client.post(
        f"/providers/{provider_id}/photos/uploads",
        json={"owner": {"kind": "place", "id": str(uuid.uuid4())}},
        headers=_bearer(STAFF_TOKEN),
    )
    bad_kind = await client.post(
        f"/providers/{provider_id}/photos/uploads",
        json={"owner": {"kind": "customer", "id": str(uuid.uuid4())}},
        headers=_bearer(STAFF_TOKEN),
    )
    other = await client.post(
        f"/providers/{provider_id}/photos/uploads",
        json={"owner": {"kind": "provider", "id": str(provider_id)}},
        headers=_bearer(OTHER_TOKEN),
    )
    anonymous = await client.post(
        f"/providers/{provider_id}/photos/uploads",
        json={"owner": {"kind": "provider", "id": str(provider_id)}},
    )
    missing = await client.get(f"/offerings/{uuid.uuid4()}/photos")

    assert unknown_place.status_code == 404
    assert bad_kind.status_code == 422
    assert bad_kind.json()["type"] == "urn:reserva:problem:invalid-input"
    assert other.status_code == 403
    assert anonymous.status_code == 401
    assert missing.status_code == 404
