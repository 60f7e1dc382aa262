"""The media use cases over the in-memory rows and asset store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from returns.result import Failure, Success

from adapters.memory.clock import FixedClock
from adapters.memory.media import AssetStoreDown, MemoryAssetStore, MemoryMediaDatabase
from core.media import (
    TICKET_LIFETIME,
    AttachUploadedPhoto,
    BadNotificationSignature,
    DeleteOwnerPhotos,
    DeletePhoto,
    DestroyAsset,
    DestroyOutcome,
    ListPhotos,
    MediaSettings,
    Moderation,
    NoticeKind,
    Owner,
    OwnerKind,
    Photo,
    PhotoId,
    PhotoLimitReached,
    PhotoStatus,
    RequestPhotoUpload,
    UploadNotice,
)
from core.shared.errors import Forbidden, NotFound
from core.shared.ids import ProviderId, UserId
from core.shared.principal import MfaRequired, Principal, Role

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@attrs.define
class World:
    database: MemoryMediaDatabase
    store: MemoryAssetStore
    clock: FixedClock
    provider_id: ProviderId
    staff: Principal
    settings: MediaSettings = attrs.field(factory=MediaSettings)

    def use(self, cls: type[Any]) -> Any:
        return cls(uow=self.database, store=self.store, clock=self.clock, settings=self.settings)

    async def upload(self, owner: Owner, *, moderation: str | None = None) -> Photo:
        """Ask, upload as the browser would, and deliver the store's notification."""
        pending = (await self.use(RequestPhotoUpload)(self.staff, self.provider_id, owner)).unwrap()
        public_id = self.store.upload(pending.ticket)
        body: dict[str, Any] = {
            "notification_type": "upload",
            "public_id": public_id,
            "version": 1700000000,
            "format": "jpg",
            "width": 1600,
            "height": 1200,
            "bytes": 204800,
        }
        if moderation is not None:
            body["moderation"] = [{"kind": "manual", "status": moderation}]
        raw, headers = self.store.notification(body, self.clock.now())
        attached = (await self.use(AttachUploadedPhoto)(raw, headers)).unwrap()
        assert isinstance(attached, Photo)
        return attached


@pytest.fixture
def world() -> World:
    provider_id = ProviderId(uuid.uuid4())
    database = MemoryMediaDatabase()
    database.add_provider(provider_id)
    staff = Principal(
        user_id=UserId(uuid.uuid4()),
        roles=frozenset({Role.STAFF}),
        provider_ids=frozenset({provider_id}),
        mfa=True,
    )
    return World(database, MemoryAssetStore(), FixedClock(NOW), provider_id, staff)


def _provider(world: World) -> Owner:
    return Owner(kind=OwnerKind.PROVIDER, id=world.provider_id)


# ---------------------------------------------------------------- asking to upload


async def test_staff_get_signed_parameters_and_a_pending_photo(world: World) -> None:
    place = world.database.add_owner(OwnerKind.PLACE, world.provider_id)

    pending = (await world.use(RequestPhotoUpload)(world.staff, world.provider_id, place)).unwrap()

    fields = pending.ticket.fields
    folder = f"reserva/{world.provider_id}/places/{place.id}"
    assert fields["folder"] == folder
    assert fields["public_id"] == str(pending.photo.id)
    assert pending.photo.public_id == f"{folder}/{pending.photo.id}"
    assert fields["allowed_formats"] == "jpg,png,webp,heic"
    assert pending.ticket.max_bytes == 10 * 1024 * 1024
    assert fields["eager"] == "c_limit,w_640|c_limit,w_1280"
    assert "moderation" not in fields
    assert {"api_key", "timestamp", "signature", "eager"} <= fields.keys()
    assert pending.ticket.expires_at == NOW + TICKET_LIFETIME
    assert world.database.photos[pending.photo.id].status is PhotoStatus.PENDING


@pytest.mark.parametrize(
    ("roles", "mfa", "error"),
    [
        ({Role.CUSTOMER}, True, Forbidden),
        ({Role.STAFF}, False, MfaRequired),
    ],
)
async def test_only_the_providers_staff_with_a_second_factor_may_upload(
    world: World, roles: set[Role], mfa: bool, error: type[Forbidden]
) -> None:
    caller = Principal(
        user_id=UserId(uuid.uuid4()),
        roles=frozenset(roles),
        provider_ids=frozenset({world.provider_id}) if Role.STAFF in roles else frozenset(),
        mfa=mfa,
    )

    result = await world.use(RequestPhotoUpload)(caller, world.provider_id, _provider(world))

    assert isinstance(result, Failure)
    assert type(result.failure()) is error
    assert world.database.photos == {}


async def test_an_owner_of_another_provider_is_not_found(world: World) -> None:
    other = world.database.add_owner(OwnerKind.OFFERING, ProviderId(uuid.uuid4()))
    unknown = Owner(kind=OwnerKind.PLACE, id=uuid.uuid4())

    for owner in (other, unknown):
        result = await world.use(RequestPhotoUpload)(world.staff, world.provider_id, owner)
        assert result == Failure(NotFound(kind=owner.kind.value, id=str(owner.id)))


async def test_an_owner_holds_at_most_the_configured_number_of_photos(world: World) -> None:
    world.settings = MediaSettings(max_photos_per_owner=2)
    owner = _provider(world)
    first = await world.upload(owner)
    await world.use(RequestPhotoUpload)(world.staff, world.provider_id, owner)

    refused = await world.use(RequestPhotoUpload)(world.staff, world.provider_id, owner)
    assert refused == Failure(PhotoLimitReached(limit=2))

    await world.use(DeletePhoto)(world.staff, first.id)  # a photo being deleted frees its place
    assert isinstance(
        await world.use(RequestPhotoUpload)(world.staff, world.provider_id, owner), Success
    )


# ---------------------------------------------------------------- notifications


async def test_a_verified_notification_attaches_the_photo_once(world: World) -> None:
    owner = _provider(world)
    pending = (await world.use(RequestPhotoUpload)(world.staff, world.provider_id, owner)).unwrap()
    body = {
        "notification_type": "upload",
        "public_id": world.store.upload(pending.ticket),
        "version": 17,
        "format": "png",
        "width": 800,
        "height": 600,
        "bytes": 1234,
    }
    raw, headers = world.store.notification(body, NOW)

    first = (await world.use(AttachUploadedPhoto)(raw, headers)).unwrap()
    world.clock.advance(timedelta(minutes=1))
    again = (await world.use(AttachUploadedPhoto)(raw, headers)).unwrap()

    assert first is not None
    assert (first.status, first.width, first.height, first.format) == (
        PhotoStatus.ATTACHED,
        800,
        600,
        "png",
    )
    assert (first.bytes, first.version, first.attached_at) == (1234, 17, NOW)
    assert again == first  # a redelivery changes nothing, not even the time attached
    assert world.database.photos[first.id] == first


async def test_a_notification_for_an_unknown_public_id_is_ignored(world: World) -> None:
    raw, headers = world.store.notification(
        {"notification_type": "upload", "public_id": "reserva/somebody/else"}, NOW
    )

    assert await world.use(AttachUploadedPhoto)(raw, headers) == Success(None)
    assert world.database.photos == {}


async def test_genuine_notifications_about_other_things_are_acknowledged(world: World) -> None:
    photo = await world.upload(_provider(world))
    eager = {"notification_type": "eager", "public_id": photo.public_id, "eager": []}
    for body in (eager, {"notification_type": "delete", "resources": []}):
        raw, headers = world.store.notification(body, NOW)
        result = await world.use(AttachUploadedPhoto)(raw, headers)
        assert isinstance(result, Success)
    assert world.database.photos[photo.id] == photo


async def test_forged_or_stale_notifications_are_refused_and_change_nothing(world: World) -> None:
    owner = _provider(world)
    pending = (await world.use(RequestPhotoUpload)(world.staff, world.provider_id, owner)).unwrap()
    body = {"notification_type": "upload", "public_id": pending.photo.public_id}
    forged = world.store.notification(body, NOW, secret="guessed")
    stale = world.store.notification(body, NOW - timedelta(hours=3))
    raw, headers = world.store.notification(body, NOW)
    tampered = (raw.replace(b"upload", b"uploaD", 1), headers)
    unsigned: tuple[bytes, dict[str, str]] = (raw, {})

    for raw_body, raw_headers in (forged, stale, tampered, unsigned):
        result = await world.use(AttachUploadedPhoto)(raw_body, raw_headers)
        assert result == Failure(BadNotificationSignature())
    assert world.database.photos[pending.photo.id].status is PhotoStatus.PENDING


async def test_moderation_holds_then_shows_or_rejects_a_photo(world: World) -> None:
    owner = _provider(world)
    held = await world.upload(owner, moderation="pending")
    refused = await world.upload(owner, moderation="pending")
    listing = world.use(ListPhotos)

    assert held.moderation is Moderation.PENDING
    assert (await listing(owner)).unwrap() == []

    for photo, verdict in ((held, "approved"), (refused, "rejected")):
        raw, headers = world.store.notification(
            {
                "notification_type": "moderation",
                "public_id": photo.public_id,
                "moderation_status": verdict,
            },
            NOW,
        )
        await world.use(AttachUploadedPhoto)(raw, headers)

    shown = (await listing(owner)).unwrap()
    assert [view.photo.id for view in shown] == [held.id]
    assert world.database.photos[refused.id].status is PhotoStatus.REJECTED


# ---------------------------------------------------------------- reading


async def test_the_public_list_has_delivery_urls_for_every_width(world: World) -> None:
    owner = _provider(world)
    photo = await world.upload(owner)
    await world.use(RequestPhotoUpload)(world.staff, world.provider_id, owner)  # pending: hidden

    views = (await world.use(ListPhotos)(owner)).unwrap()

    assert [view.photo for view in views] == [photo]
    delivery = views[0].delivery
    assert [v.width for v in delivery.variants] == [320, 640, 960, 1280, 1920]
    assert delivery.srcset == ", ".join(f"{v.url} {v.width}w" for v in delivery.variants)
    assert all("f_auto,q_auto" in v.url for v in delivery.variants)


async def test_the_photos_of_an_unknown_owner_are_not_found(world: World) -> None:
    owner = Owner(kind=OwnerKind.OFFERING, id=uuid.uuid4())

    assert await world.use(ListPhotos)(owner) == Failure(
        NotFound(kind="offering", id=str(owner.id))
    )


# ---------------------------------------------------------------- deleting


async def test_deleting_hides_the_photo_and_defers_one_destruction(world: World) -> None:
    owner = _provider(world)
    photo = await world.upload(owner)
    delete = world.use(DeletePhoto)

    first = (await delete(world.staff, photo.id)).unwrap()
    again = (await delete(world.staff, photo.id)).unwrap()

    assert first.status is PhotoStatus.DELETING
    assert again == first
    assert [(job.photo_id, job.not_before) for job in world.database.jobs] == [(photo.id, None)]
    assert (await world.use(ListPhotos)(owner)).unwrap() == []


async def test_a_pending_photo_is_destroyed_only_after_its_ticket_expired(world: World) -> None:
    owner = _provider(world)
    pending = (await world.use(RequestPhotoUpload)(world.staff, world.provider_id, owner)).unwrap()

    await world.use(DeletePhoto)(world.staff, pending.photo.id)

    (job,) = world.database.jobs
    assert job.not_before is not None
    assert job.not_before > pending.ticket.expires_at


async def test_only_the_providers_staff_may_delete(world: World) -> None:
    photo = await world.upload(_provider(world))
    stranger = Principal(
        user_id=UserId(uuid.uuid4()),
        roles=frozenset({Role.STAFF}),
        provider_ids=frozenset({ProviderId(uuid.uuid4())}),
        mfa=True,
    )

    result = await world.use(DeletePhoto)(stranger, photo.id)

    assert isinstance(result, Failure)
    assert isinstance(result.failure(), Forbidden)
    assert world.database.photos[photo.id].status is PhotoStatus.ATTACHED
    assert world.database.jobs == []
    missing = await world.use(DeletePhoto)(world.staff, PhotoId(uuid.uuid4()))
    assert isinstance(missing.failure(), NotFound)


async def test_the_destroy_job_is_retried_until_the_store_confirms(world: World) -> None:
    photo = await world.upload(_provider(world))
    await world.use(DeletePhoto)(world.staff, photo.id)
    world.store.fail_destroys = 2
    destroy = world.use(DestroyAsset)

    for _ in range(2):
        with pytest.raises(AssetStoreDown):
            await destroy(photo.id)
        assert photo.id in world.database.photos  # kept until the asset is gone
    assert await destroy(photo.id) is DestroyOutcome.DESTROYED
    assert await destroy(photo.id) is None  # a retry after success: nothing left to do

    assert photo.id not in world.database.photos
    assert world.store.assets == set()
    assert world.store.destroyed == [photo.public_id] * 3


async def test_the_job_leaves_a_photo_not_being_deleted_alone(world: World) -> None:
    photo = await world.upload(_provider(world))

    assert await world.use(DestroyAsset)(photo.id) is None
    assert world.store.destroyed == []


async def test_an_asset_never_uploaded_is_done_when_not_found(world: World) -> None:
    owner = _provider(world)
    pending = (await world.use(RequestPhotoUpload)(world.staff, world.provider_id, owner)).unwrap()
    await world.use(DeletePhoto)(world.staff, pending.photo.id)

    assert await world.use(DestroyAsset)(pending.photo.id) is DestroyOutcome.NOT_FOUND
    assert world.database.photos == {}


async def test_deleting_a_provider_deletes_its_places_and_offerings_photos(world: World) -> None:
    place = world.database.add_owner(OwnerKind.PLACE, world.provider_id)
    offering = world.database.add_owner(OwnerKind.OFFERING, world.provider_id)
    photos = [await world.upload(owner) for owner in (_provider(world), place, offering)]
    other = ProviderId(uuid.uuid4())
    world.database.add_provider(other)
    world.staff = attrs.evolve(world.staff, provider_ids=frozenset({world.provider_id, other}))
    world.provider_id = other
    kept = await world.upload(Owner(kind=OwnerKind.PROVIDER, id=other))
    delete_owner = world.use(DeleteOwnerPhotos)

    assert await delete_owner(place) == 1
    assert await delete_owner(_owner_of(photos[0])) == 2  # the place's was marked already
    assert await delete_owner(_owner_of(photos[0])) == 0

    assert {job.photo_id for job in world.database.jobs} == {p.id for p in photos}
    assert world.database.photos[kept.id].status is PhotoStatus.ATTACHED
    for photo in photos:
        await world.use(DestroyAsset)(photo.id)
    assert world.store.assets == {kept.public_id}


def _owner_of(photo: Photo) -> Owner:
    return Owner(kind=OwnerKind.PROVIDER, id=photo.provider_id)


# ---------------------------------------------------------------- the photo's rules

_notices = st.builds(
    UploadNotice,
    kind=st.sampled_from(NoticeKind),
    public_id=st.just("reserva/p/providers/x/1"),
    version=st.none() | st.integers(1, 10**10),
    format=st.sampled_from([None, "jpg", "png"]),
    width=st.none() | st.integers(1, 5000),
    height=st.none() | st.integers(1, 5000),
    bytes=st.none() | st.integers(1, 10**7),
    moderation=st.none() | st.sampled_from(Moderation),
)


def _photo(status: PhotoStatus) -> Photo:
    return Photo(
        id=PhotoId(uuid.uuid4()),
        owner=Owner(kind=OwnerKind.PROVIDER, id=uuid.uuid4()),
        provider_id=ProviderId(uuid.uuid4()),
        public_id="reserva/p/providers/x/1",
        status=status,
        created_at=NOW,
    )


@given(st.sampled_from(PhotoStatus), st.lists(_notices, max_size=6))
def test_notices_are_idempotent_and_visibility_follows_status(
    status: PhotoStatus, notices: list[UploadNotice]
) -> None:
    photo = _photo(status)
    for notice in notices:
        applied = photo.apply(notice, NOW)
        assert applied.apply(notice, NOW) == applied  # a redelivery changes nothing
        photo = applied
        assert photo.visible == (
            photo.status is PhotoStatus.ATTACHED and photo.moderation in (None, Moderation.APPROVED)
        )
        assert (photo.status is PhotoStatus.REJECTED) == (
            photo.moderation is Moderation.REJECTED and status is not PhotoStatus.DELETING
        ) or status in (PhotoStatus.REJECTED, PhotoStatus.DELETING)
    if status is PhotoStatus.DELETING:
        assert photo.status is PhotoStatus.DELETING  # nothing brings a photo back
