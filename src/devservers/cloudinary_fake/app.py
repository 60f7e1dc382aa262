"""The fake's HTTP app (Litestar): Cloudinary's Upload API for images, delivery of the stored
originals, and the /_test controls.

Answers follow Cloudinary's shapes: JSON objects, errors as `{"error": {"message": ...}}`
with 400 (bad parameters, stale timestamp, format or size refused), 401 (api key, cloud or
signature), 404, 500 (injected). After a successful upload with a `notification_url`, the
upload notification is POSTed there once the response is sent, signed with X-Cld-Timestamp
and X-Cld-Signature.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from litestar import Litestar, Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import UploadFile

from devservers.cloudinary_fake import images, signing

STALE_AFTER_SECONDS = 3600  # Cloudinary refuses a signed request older than an hour


@dataclass(frozen=True)
class Settings:
    cloud_name: str
    api_key: str
    api_secret: str
    max_file_size: int = 10 * 1024 * 1024
    signature_algorithm: str = "sha1"  # of the notifications (the account's setting)


@dataclass
class Asset:
    public_id: str
    version: int
    format: str
    width: int
    height: int
    size: int
    data: bytes
    created_at: str
    moderation_kind: str | None = None
    moderation_status: str | None = None
    notification_url: str | None = None


@dataclass
class State:
    assets: dict[str, Asset] = field(default_factory=dict)
    destroy_failures: int = 0
    notifications: list[dict[str, Any]] = field(default_factory=list)
    destroyed: list[dict[str, Any]] = field(default_factory=list)
    deliveries: set[asyncio.Task[None]] = field(default_factory=set)


class CloudinaryError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error(_: Request[Any, Any, Any], exc: CloudinaryError) -> Response[dict[str, Any]]:
    return Response({"error": {"message": exc.message}}, status_code=exc.status)


def _flag(value: object, *, default: bool) -> bool:
    """A boolean parameter as the SDKs send it: "1"/"0" (Python) or "true"/"false"."""
    if value is None or value == "":
        return default
    return str(value).lower() in ("1", "true")


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def create_app(settings: Settings) -> Litestar:
    state = State()

    async def signed_form(request: Request[Any, Any, Any], cloud: str) -> dict[str, Any]:
        if cloud != settings.cloud_name:
            raise CloudinaryError(401, f"Invalid cloud_name {cloud}")
        form = await request.form()
        params: dict[str, Any] = {key: value for key, value in form.multi_items()}
        if params.get("api_key") != settings.api_key:
            raise CloudinaryError(401, f"Invalid api_key {params.get('api_key')}")
        timestamp = str(params.get("timestamp", ""))
        if not timestamp.isdigit():
            raise CloudinaryError(400, "Missing required parameter - timestamp")
        if int(timestamp) < time.time() - STALE_AFTER_SECONDS:
            raise CloudinaryError(
                400,
                f"Stale request - reported time is {timestamp} which is more than 1 hour ago",
            )
        textual = {k: v for k, v in params.items() if isinstance(v, str)}
        signature = textual.get("signature", "")
        if not signing.request_signed(textual, signature, settings.api_secret):
            to_sign = signing.string_to_sign(textual, 2)
            raise CloudinaryError(
                401, f"Invalid Signature {signature}. String to sign - '{to_sign}'."
            )
        return params

    def delivery_url(
        request: Request[Any, Any, Any], asset: Asset, transformation: str | None = None
    ) -> str:
        base = f"http://{request.headers.get('host', '127.0.0.1')}/{settings.cloud_name}"
        path = "/".join(filter(None, [transformation, f"v{asset.version}", asset.public_id]))
        return f"{base}/image/upload/{path}.{asset.format}"

    def describe(request: Request[Any, Any, Any], asset: Asset) -> dict[str, Any]:
        url = delivery_url(request, asset)
        folder, _, _ = asset.public_id.rpartition("/")
        answer: dict[str, Any] = {
            "asset_id": secrets.token_hex(16),
            "public_id": asset.public_id,
            "version": asset.version,
            "version_id": secrets.token_hex(16),
            "signature": signing.response_signature(
                asset.public_id, asset.version, settings.api_secret, "sha1"
            ),
            "width": asset.width,
            "height": asset.height,
            "format": asset.format,
            "resource_type": "image",
            "created_at": asset.created_at,
            "tags": [],
            "bytes": asset.size,
            "type": "upload",
            "etag": secrets.token_hex(16),
            "placeholder": False,
            "url": url,
            "secure_url": url,
            "folder": folder,
            "asset_folder": folder,
        }
        if asset.moderation_kind:
            answer["moderation"] = [
                {"kind": asset.moderation_kind, "status": asset.moderation_status}
            ]
        return answer

    async def deliver(url: str, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Cld-Timestamp": timestamp,
            "X-Cld-Signature": signing.notification_signature(
                raw, timestamp, settings.api_secret, settings.signature_algorithm
            ),
        }
        record: dict[str, Any] = {"url": url, "body": raw.decode(), "headers": headers}
        state.notifications.append(record)
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                record["status"] = (
                    await client.post(url, content=raw, headers=headers)
                ).status_code
        except httpx.HTTPError as error:
            record["error"] = repr(error)

    def notify(url: str | None, body: dict[str, Any]) -> None:
        if not url:
            return
        task = asyncio.get_running_loop().create_task(deliver(url, body))
        state.deliveries.add(task)
        task.add_done_callback(state.deliveries.discard)

    @post("/v1_1/{cloud:str}/image/upload", status_code=200)
    async def upload(request: Request[Any, Any, Any], cloud: str) -> Response[dict[str, Any]]:
        params = await signed_form(request, cloud)
        file = params.get("file")
        if not isinstance(file, UploadFile):
            raise CloudinaryError(400, "Missing required parameter - file")
        data = await file.read()
        if len(data) > settings.max_file_size:
            raise CloudinaryError(
                400,
                f"File size too large. Got {len(data)}. Maximum is {settings.max_file_size}.",
            )
        sniffed = images.sniff(data)
        if sniffed is None:
            raise CloudinaryError(400, "Invalid image file")
        image_format, width, height = sniffed
        allowed = [f.strip() for f in str(params.get("allowed_formats", "")).split(",") if f]
        if (
            allowed
            and image_format not in allowed
            and not (image_format == "jpg" and "jpeg" in allowed)
        ):
            raise CloudinaryError(400, f"Image file format {image_format} not allowed")
        name = str(params.get("public_id") or secrets.token_hex(10))
        folder = str(params.get("folder") or "").strip("/")
        public_id = f"{folder}/{name}" if folder else name
        existing = state.assets.get(public_id)
        if existing is not None and not _flag(params.get("overwrite"), default=True):
            return Response({**describe(request, existing), "existing": True})
        moderation = str(params.get("moderation") or "") or None
        asset = Asset(
            public_id=public_id,
            version=max(int(time.time()), existing.version + 1 if existing else 0),
            format=image_format,
            width=width,
            height=height,
            size=len(data),
            data=data,
            created_at=_now_iso(),
            moderation_kind=moderation,
            moderation_status="pending" if moderation else None,
            notification_url=str(params.get("notification_url") or "") or None,
        )
        state.assets[public_id] = asset
        answer = describe(request, asset)
        eager = [t for t in str(params.get("eager") or "").split("|") if t]
        if eager:
            answer["eager"] = [
                {
                    "transformation": t,
                    "url": delivery_url(request, asset, t),
                    "secure_url": delivery_url(request, asset, t),
                }
                for t in eager
            ]
        notice = {
            "notification_type": "upload",
            "timestamp": _now_iso(),
            "request_id": secrets.token_hex(16),
            **answer,
        }
        return Response(
            answer, background=BackgroundTask(notify_now, asset.notification_url, notice)
        )

    async def notify_now(url: str | None, body: dict[str, Any]) -> None:
        notify(url, body)

    @post("/v1_1/{cloud:str}/image/destroy", status_code=200)
    async def destroy(request: Request[Any, Any, Any], cloud: str) -> dict[str, Any]:
        params = await signed_form(request, cloud)
        public_id = str(params.get("public_id") or "")
        if not public_id:
            raise CloudinaryError(400, "Missing required parameter - public_id")
        if state.destroy_failures > 0:
            state.destroy_failures -= 1
            raise CloudinaryError(500, "General Error")
        result = "ok" if state.assets.pop(public_id, None) is not None else "not found"
        invalidate = _flag(params.get("invalidate"), default=False)
        state.destroyed.append({"public_id": public_id, "invalidate": invalidate, "result": result})
        return {"result": result}

    @get("/{cloud:str}/image/upload/{path:path}")
    async def deliver_original(cloud: str, path: str) -> Response[bytes]:
        """The stored original, whatever the transformation asked (the fake transforms
        nothing): enough for a browser in development to show the photo."""
        parts = [p for p in path.strip("/").split("/") if p]
        for at, part in enumerate(parts):
            if part.startswith("v") and part[1:].isdigit():
                name = "/".join(parts[at + 1 :])
                public_id = name.rsplit(".", 1)[0] if "." in name.rsplit("/", 1)[-1] else name
                asset = state.assets.get(public_id)
                if cloud == settings.cloud_name and asset is not None:
                    return Response(
                        asset.data,
                        media_type=images.CONTENT_TYPES.get(asset.format, "image/*"),
                        headers={"Cache-Control": "public, max-age=31536000, immutable"},
                    )
        return Response(b"", status_code=404)

    # ------------------------------------------------------------ test controls

    @get("/_test/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @get("/_test/assets")
    async def assets() -> dict[str, Any]:
        return {
            "assets": [
                {
                    "public_id": a.public_id,
                    "version": a.version,
                    "format": a.format,
                    "width": a.width,
                    "height": a.height,
                    "bytes": a.size,
                    "moderation_status": a.moderation_status,
                }
                for a in state.assets.values()
            ]
        }

    @get("/_test/notifications")
    async def notifications() -> dict[str, Any]:
        return {"notifications": state.notifications}

    @post("/_test/notifications/flush", status_code=200)
    async def flush() -> dict[str, Any]:
        """Wait until every notification was attempted."""
        if state.deliveries:
            await asyncio.wait(set(state.deliveries), timeout=10)
        return {"pending": len(state.deliveries)}

    @get("/_test/destroyed")
    async def destroyed() -> dict[str, Any]:
        return {"destroyed": state.destroyed}

    @post("/_test/destroy_failures", status_code=200)
    async def fail_destroys(data: dict[str, int]) -> dict[str, int]:
        """The next `times` destroy requests answer 500."""
        state.destroy_failures = int(data.get("times", 1))
        return {"destroy_failures": state.destroy_failures}

    @post("/_test/moderate", status_code=200)
    async def moderate(data: dict[str, str]) -> dict[str, Any]:
        """A moderator's verdict (approved|rejected) on an asset: its notification is sent."""
        asset = state.assets.get(data["public_id"])
        if asset is None:
            raise CloudinaryError(404, f"Resource not found - {data['public_id']}")
        asset.moderation_status = data["status"]
        body = {
            "notification_type": "moderation",
            "moderation_status": data["status"],
            "moderation_kind": asset.moderation_kind or "manual",
            "moderation_updated_at": _now_iso(),
            "public_id": asset.public_id,
            "version": asset.version,
            "resource_type": "image",
            "type": "upload",
        }
        notify(data.get("notification_url") or asset.notification_url, body)
        return {"moderation_status": data["status"]}

    @post("/_test/reset", status_code=200)
    async def reset() -> dict[str, bool]:
        state.assets.clear()
        state.notifications.clear()
        state.destroyed.clear()
        state.destroy_failures = 0
        return {"reset": True}

    return Litestar(
        route_handlers=[
            upload,
            destroy,
            deliver_original,
            health,
            assets,
            notifications,
            flush,
            destroyed,
            fail_destroys,
            moderate,
            reset,
        ],
        exception_handlers={CloudinaryError: _error},
        request_max_body_size=settings.max_file_size * 2 + 1024 * 1024,
        logging_config=None,
    )
