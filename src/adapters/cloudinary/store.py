"""`CloudinaryMediaStore`: the media context's `MediaStore` on the official `cloudinary` SDK.

- Upload tickets: the parameters of a signed upload, signed with
  `cloudinary.utils.api_sign_request` (the browser posts them with the file to
  `cloudinary.utils.cloudinary_api_url("upload")`; the bytes never reach our API).
- Notifications: `cloudinary.utils.verify_notification_signature(body, X-Cld-Timestamp,
  X-Cld-Signature, valid_for)`, then our clock's own check of the timestamp's window.
- Delivery: `cloudinary.utils.cloudinary_url` with `c_limit,w_<width>/f_auto,q_auto` per width.
- Destroy: `cloudinary.uploader.destroy(invalidate=True)`, a blocking call run in a thread;
  Cloudinary's errors become `CloudinaryUnavailable` (retry: 5xx, 420/429, network) or
  `CloudinaryRefused` (4xx: our configuration is wrong), both raised for the job to record.

The SDK reads its account from a process-wide `cloudinary.config()`, and
`verify_notification_signature` takes the secret only from there: the store sets it once
(one Cloudinary account per process) and also passes its options to every call.
`upload_prefix` points the API at a local fake (devservers.cloudinary_fake); `delivery_host`
serves delivery URLs from it over plain HTTP.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import cloudinary
import cloudinary.exceptions
import cloudinary.uploader
import cloudinary.utils

from core.media import (
    Delivery,
    DestroyOutcome,
    MediaStore,
    Moderation,
    NoticeKind,
    UploadNotice,
    UploadRules,
    UploadTicket,
    Variant,
)

TICKET_LIFETIME = timedelta(hours=1)  # Cloudinary refuses older signed requests
NOTIFICATION_TOLERANCE = timedelta(hours=2)  # the SDK's own default `valid_for`
CLOCK_SKEW = timedelta(minutes=5)  # a notification stamped this far in our future is fine
DESTROY_TIMEOUT_SECONDS = 20


class CloudinaryUnavailable(Exception):
    """Cloudinary failed or throttled us, or was unreachable: retry later."""


class CloudinaryRefused(Exception):
    """Cloudinary refused the request (4xx): credentials or parameters are wrong."""


@attrs.frozen(kw_only=True)
class CloudinaryConfig:
    cloud_name: str
    api_key: str
    api_secret: str = attrs.field(repr=False)
    notification_url: str  # our POST /webhooks/cloudinary, as Cloudinary reaches it
    upload_prefix: str | None = None  # None: https://api.cloudinary.com
    delivery_host: str | None = None  # None: https://res.cloudinary.com
    signature_algorithm: str = "sha1"  # the account's: sha1, or sha256 if it asks for it


class CloudinaryMediaStore(MediaStore):
    def __init__(self, config: CloudinaryConfig) -> None:
        self._config = config
        self._options: dict[str, Any] = {
            "cloud_name": config.cloud_name,
            "api_key": config.api_key,
            "api_secret": config.api_secret,
            "signature_algorithm": config.signature_algorithm,
        }
        if config.upload_prefix:
            self._options["upload_prefix"] = config.upload_prefix
        cloudinary.config(**self._options, secure=True)

    def upload_ticket(
        self, public_id: str, folder: str, rules: UploadRules, now: datetime
    ) -> UploadTicket:
        params: dict[str, str] = {
            "timestamp": str(int(now.timestamp())),
            "folder": folder,
            "public_id": public_id,
            "overwrite": "false",  # a ticket used twice cannot replace the asset
            "allowed_formats": ",".join(rules.allowed_formats),
            "eager": "|".join(f"c_limit,w_{width}" for width in rules.eager_widths),
            "eager_async": "true",
            "notification_url": self._config.notification_url,
        }
        if rules.moderation:
            params["moderation"] = rules.moderation
        signature = cloudinary.utils.api_sign_request(
            params, self._config.api_secret, self._config.signature_algorithm
        )
        return UploadTicket(
            url=cloudinary.utils.cloudinary_api_url("upload", **self._options),
            fields={**params, "api_key": self._config.api_key, "signature": signature},
            max_bytes=rules.max_bytes,
            expires_at=now + TICKET_LIFETIME,
        )

    def verify_notification(
        self, body: bytes, headers: Mapping[str, str], now: datetime
    ) -> UploadNotice | None:
        timestamp = headers.get("x-cld-timestamp", "")
        signature = headers.get("x-cld-signature", "")
        if not timestamp.isdigit() or not signature:
            return None
        sent = datetime.fromtimestamp(int(timestamp), tz=UTC)
        if not now - NOTIFICATION_TOLERANCE <= sent <= now + CLOCK_SKEW:
            return None
        try:
            text = body.decode()
        except UnicodeDecodeError:
            return None
        # The SDK checks the age against the system clock; ours was checked above.
        valid_for = int(NOTIFICATION_TOLERANCE.total_seconds() + abs(time.time() - now.timestamp()))
        verified = cloudinary.utils.verify_notification_signature(
            text,
            timestamp,
            signature,
            valid_for=valid_for,
            algorithm=self._config.signature_algorithm,
        )
        return notice_of(text) if verified else None

    def delivery(self, public_id: str, version: int | None, widths: Sequence[int]) -> Delivery:
        variants = tuple(Variant(width=w, url=self._url(public_id, version, w)) for w in widths)
        unsized = None if variants else self._url(public_id, version, None)
        return Delivery.of(variants, unsized=unsized)

    def _url(self, public_id: str, version: int | None, width: int | None) -> str:
        steps: list[dict[str, Any]] = []
        if width is not None:
            steps.append({"crop": "limit", "width": width})
        steps.append({"fetch_format": "auto", "quality": "auto"})
        options: dict[str, Any] = {"cloud_name": self._config.cloud_name, "secure": True}
        if self._config.delivery_host:
            options |= {"secure": False, "cname": self._config.delivery_host}
        if version is not None:
            options["version"] = version
        url, _ = cloudinary.utils.cloudinary_url(public_id, transformation=steps, **options)
        return str(url)

    async def destroy(self, public_id: str) -> DestroyOutcome:
        try:
            answer = await asyncio.to_thread(
                cloudinary.uploader.destroy,
                public_id,
                invalidate=True,
                resource_type="image",
                type="upload",
                timeout=DESTROY_TIMEOUT_SECONDS,
                **self._options,
            )
        except (
            cloudinary.exceptions.GeneralError,
            cloudinary.exceptions.RateLimited,
        ) as error:
            raise CloudinaryUnavailable(f"cloudinary destroy {public_id}: {error}") from error
        except cloudinary.exceptions.NotFound:
            return DestroyOutcome.NOT_FOUND
        except (
            cloudinary.exceptions.BadRequest,
            cloudinary.exceptions.AuthorizationRequired,
            cloudinary.exceptions.NotAllowed,
        ) as error:
            raise CloudinaryRefused(f"cloudinary destroy {public_id}: {error}") from error
        except cloudinary.exceptions.Error as error:  # network, unreadable answers
            raise CloudinaryUnavailable(f"cloudinary destroy {public_id}: {error}") from error
        result = answer.get("result") if isinstance(answer, dict) else None
        if result == "ok":
            return DestroyOutcome.DESTROYED
        if result == "not found":
            return DestroyOutcome.NOT_FOUND
        raise CloudinaryUnavailable(f"cloudinary destroy {public_id}: unexpected {answer!r}")


def notice_of(text: str) -> UploadNotice:
    """A verified notification's JSON as a notice (OTHER: about something else)."""
    try:
        data = json.loads(text)
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
            format=_text(data.get("format")),
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


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _moderation(value: object) -> Moderation | None:
    return next((m for m in Moderation if m.value == value), None)
