"""The Cloudinary adapter (the official SDK) against the local fake: a browser's direct
upload with the signed ticket, the signed notification verified and the photo attached,
forgeries refused, and the destroy job retried through injected failures."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import httpx
import pytest
from media_support import MAX_BYTES, NotificationReceiver, gif, png
from returns.result import Failure, Success

from adapters.cloudinary import CloudinaryConfig, CloudinaryMediaStore, CloudinaryUnavailable
from adapters.memory.media import MemoryMediaDatabase
from adapters.system.clock import SystemClock
from core.media import (
    AttachUploadedPhoto,
    BadNotificationSignature,
    DeletePhoto,
    DestroyAsset,
    DestroyOutcome,
    ListPhotos,
    MediaSettings,
    MediaUseCase,
    Moderation,
    NoticeKind,
    Photo,
    PhotoStatus,
    RequestPhotoUpload,
    UploadTicket,
)
from core.shared.ids import ProviderId, UserId
from core.shared.principal import Principal, Role
from devservers.cloudinary_fake import LocalCloudinary
from devservers.cloudinary_fake.signing import notification_signature
from devservers.net import free_port

SETTINGS = MediaSettings(max_bytes=MAX_BYTES)
U = TypeVar("U", bound=MediaUseCase)


async def browser_upload(
    ticket: UploadTicket, content: bytes, name: str = "me.png", **changed: str
) -> httpx.Response:
    """What the browser does with the ticket: a multipart POST straight to Cloudinary."""
    async with httpx.AsyncClient() as client:
        return await client.post(
            ticket.url, data={**ticket.fields, **changed}, files={"file": (name, content)}
        )


class Media:
    def __init__(self, store: CloudinaryMediaStore, settings: MediaSettings = SETTINGS) -> None:
        self.database = MemoryMediaDatabase()
        self.provider_id = ProviderId(uuid.uuid4())
        self.owner = self.database.add_provider(self.provider_id)
        self.staff = Principal(
            user_id=UserId(uuid.uuid4()),
            roles=frozenset({Role.STAFF}),
            provider_ids=frozenset({self.provider_id}),
            mfa=True,
        )
        clock = SystemClock()

        def build(cls: type[U]) -> U:
            return cls(uow=self.database, store=store, clock=clock, settings=settings)

        self.request = build(RequestPhotoUpload)
        self.attach = build(AttachUploadedPhoto)
        self.list = build(ListPhotos)
        self.delete = build(DeletePhoto)
        self.destroy = build(DestroyAsset)

    async def ticket(self) -> tuple[Photo, UploadTicket]:
        pending = (await self.request(self.staff, self.provider_id, self.owner)).unwrap()
        return pending.photo, pending.ticket


async def test_a_direct_upload_is_notified_verified_and_attached(
    cloudinary_store: CloudinaryMediaStore,
    receiver: NotificationReceiver,
    local_cloudinary: LocalCloudinary,
) -> None:
    media = Media(cloudinary_store)
    photo, ticket = await media.ticket()

    uploaded = await browser_upload(ticket, png(64, 48))

    assert uploaded.status_code == 200, uploaded.text
    answer = uploaded.json()
    assert answer["public_id"] == photo.public_id
    assert (answer["width"], answer["height"], answer["format"]) == (64, 48, "png")
    assert [e["transformation"] for e in answer["eager"]] == ["c_limit,w_640", "c_limit,w_1280"]
    (notification,) = receiver.wait_for(1)
    assert notification.path == "/webhooks/cloudinary"
    assert set(notification.headers) >= {"x-cld-timestamp", "x-cld-signature"}

    attached = (await media.attach(notification.body, notification.headers)).unwrap()
    again = (await media.attach(notification.body, notification.headers)).unwrap()

    assert attached is not None
    assert (attached.status, attached.width, attached.height) == (PhotoStatus.ATTACHED, 64, 48)
    assert (attached.format, attached.bytes, attached.version) == (
        "png",
        answer["bytes"],
        answer["version"],
    )
    assert again == attached
    (view,) = (await media.list(media.owner)).unwrap()
    assert [v.width for v in view.delivery.variants] == [320, 640, 960, 1280, 1920]
    for variant in view.delivery.variants:
        assert f"/c_limit,w_{variant.width}/f_auto,q_auto/v{answer['version']}/" in variant.url
        assert f"{variant.url} {variant.width}w" in view.delivery.srcset
    async with httpx.AsyncClient() as client:
        served = await client.get(view.delivery.url)  # the fake serves the original for any variant
    assert served.status_code == 200
    assert served.content == png(64, 48)
    assert local_cloudinary.control.assets()[0]["public_id"] == photo.public_id


async def test_forged_and_replayed_notifications_are_refused(
    cloudinary_store: CloudinaryMediaStore,
    receiver: NotificationReceiver,
) -> None:
    media = Media(cloudinary_store)
    photo, ticket = await media.ticket()
    assert (await browser_upload(ticket, png(10, 10))).status_code == 200
    (real,) = receiver.wait_for(1)
    timestamp = real.headers["x-cld-timestamp"]
    forged_body = json.dumps({"notification_type": "upload", "public_id": photo.public_id})
    old = str(int((datetime.now(UTC) - timedelta(hours=3)).timestamp()))
    attempts = [
        # signed with a guessed secret
        (
            forged_body.encode(),
            {
                "x-cld-timestamp": timestamp,
                "x-cld-signature": notification_signature(
                    forged_body.encode(), timestamp, "guessed", "sha1"
                ),
            },
        ),
        # the real signature over another body
        (real.body.replace(b'"width": 10', b'"width": 11'), real.headers),
        # the real body with another timestamp
        (real.body, {**real.headers, "x-cld-timestamp": str(int(timestamp) + 1)}),
        # a genuine signature made long ago
        (
            real.body,
            {
                "x-cld-timestamp": old,
                "x-cld-signature": notification_signature(
                    real.body, old, cloudinary_store._config.api_secret, "sha1"
                ),
            },
        ),
        (real.body, {}),
    ]

    for body, headers in attempts:
        assert await media.attach(body, headers) == Failure(BadNotificationSignature())
    assert media.database.photos[photo.id].status is PhotoStatus.PENDING


@pytest.mark.parametrize("change", ["folder", "public_id", "allowed_formats", "signature"])
async def test_the_fake_refuses_a_ticket_changed_by_the_browser(
    cloudinary_store: CloudinaryMediaStore, change: str
) -> None:
    _, ticket = await Media(cloudinary_store).ticket()
    value = {"allowed_formats": "jpg,png,webp,heic,gif"}.get(change, "elsewhere")

    refused = await browser_upload(ticket, png(4, 4), **{change: value})

    assert refused.status_code == 401
    assert "Invalid Signature" in refused.json()["error"]["message"]


async def test_the_fake_refuses_stale_tickets_other_formats_and_large_files(
    cloudinary_store: CloudinaryMediaStore,
    local_cloudinary: LocalCloudinary,
    receiver: NotificationReceiver,
) -> None:
    _, ticket = await Media(cloudinary_store).ticket()
    stale = cloudinary_store.upload_ticket(
        "stale", "reserva/x", SETTINGS.rules, datetime.now(UTC) - timedelta(minutes=61)
    )

    answers = {
        "stale": await browser_upload(stale, png(4, 4)),
        "gif": await browser_upload(ticket, gif(4, 4), "x.gif"),
        "large": await browser_upload(ticket, png(4, 4, noise=MAX_BYTES)),
        "not an image": await browser_upload(ticket, b"%PDF-1.7", "x.pdf"),
    }

    messages = {name: (r.status_code, r.json()["error"]["message"]) for name, r in answers.items()}
    assert messages["stale"][0] == 400
    assert messages["stale"][1].startswith("Stale request")
    assert messages["gif"] == (400, "Image file format gif not allowed")
    assert messages["large"][0] == 400
    assert messages["large"][1].startswith("File size too large")
    assert messages["not an image"][0] == 400
    assert local_cloudinary.control.assets() == []
    assert local_cloudinary.control.notifications() == []


async def test_a_used_ticket_cannot_replace_the_asset(
    cloudinary_store: CloudinaryMediaStore, local_cloudinary: LocalCloudinary
) -> None:
    _, ticket = await Media(cloudinary_store).ticket()
    first = (await browser_upload(ticket, png(8, 8))).json()

    second = (await browser_upload(ticket, png(16, 16))).json()

    assert second["existing"] is True
    assert (second["width"], second["version"]) == (8, first["version"])
    assert len(local_cloudinary.control.notifications()) == 1


async def test_the_destroy_job_is_retried_until_cloudinary_confirms(
    cloudinary_store: CloudinaryMediaStore,
    receiver: NotificationReceiver,
    local_cloudinary: LocalCloudinary,
) -> None:
    media = Media(cloudinary_store)
    photo, ticket = await media.ticket()
    await browser_upload(ticket, png(12, 12))
    (notification,) = receiver.wait_for(1)
    await media.attach(notification.body, notification.headers)
    assert isinstance(await media.delete(media.staff, photo.id), Success)
    local_cloudinary.control.fail_destroys(2)

    for _ in range(2):
        with pytest.raises(CloudinaryUnavailable):
            await media.destroy(photo.id)
        assert media.database.photos[photo.id].status is PhotoStatus.DELETING
    assert await media.destroy(photo.id) is DestroyOutcome.DESTROYED

    assert photo.id not in media.database.photos
    assert local_cloudinary.control.assets() == []
    assert local_cloudinary.control.destroyed() == [
        {"public_id": photo.public_id, "invalidate": True, "result": "ok"}
    ]
    assert await cloudinary_store.destroy(photo.public_id) is DestroyOutcome.NOT_FOUND


async def test_moderation_holds_a_photo_until_approved(
    cloudinary_store: CloudinaryMediaStore,
    receiver: NotificationReceiver,
    local_cloudinary: LocalCloudinary,
) -> None:
    media = Media(cloudinary_store, MediaSettings(max_bytes=MAX_BYTES, moderation="manual"))
    photo, ticket = await media.ticket()
    assert ticket.fields["moderation"] == "manual"
    await browser_upload(ticket, png(20, 20))
    (uploaded,) = receiver.wait_for(1)
    held = (await media.attach(uploaded.body, uploaded.headers)).unwrap()
    assert held is not None
    assert held.moderation is Moderation.PENDING
    assert (await media.list(media.owner)).unwrap() == []

    local_cloudinary.control.moderate(photo.public_id, "approved")
    _, verdict = receiver.wait_for(2)
    notice = cloudinary_store.verify_notification(verdict.body, verdict.headers, datetime.now(UTC))
    assert notice is not None
    assert notice.kind is NoticeKind.MODERATION
    await media.attach(verdict.body, verdict.headers)

    (view,) = (await media.list(media.owner)).unwrap()
    assert view.photo.moderation is Moderation.APPROVED


async def test_an_account_signing_with_sha256(receiver: NotificationReceiver) -> None:
    with LocalCloudinary(free_port(), signature_algorithm="sha256") as fake:
        store = CloudinaryMediaStore(
            CloudinaryConfig(
                cloud_name=fake.cloud_name,
                api_key=fake.api_key,
                api_secret=fake.api_secret,
                notification_url=receiver.url,
                upload_prefix=fake.api_base,
                signature_algorithm="sha256",
            )
        )
        receiver.received.clear()
        media = Media(store)
        photo, ticket = await media.ticket()
        assert len(ticket.fields["signature"]) == 64

        assert (await browser_upload(ticket, png(6, 6))).status_code == 200
        (notification,) = receiver.wait_for(1)
        assert len(notification.headers["x-cld-signature"]) == 64
        attached = (await media.attach(notification.body, notification.headers)).unwrap()
        assert attached is not None
        assert attached.status is PhotoStatus.ATTACHED
        assert await store.destroy(photo.public_id) is DestroyOutcome.DESTROYED
