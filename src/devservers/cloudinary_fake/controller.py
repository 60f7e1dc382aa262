"""Run the Cloudinary fake as a child process and drive its /_test controls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from devservers.child_process import ChildFake, ChildServer, Control


class LocalCloudinary(ChildFake["CloudinaryControl"]):
    """The fake on 127.0.0.1:`port`. Point the SDK at it with
    `cloudinary.config(cloud_name=..., api_key=..., api_secret=..., upload_prefix=api_base)`;
    delivery URLs are served at `delivery_host` (`cname` with `secure=False`)."""

    def __init__(
        self,
        port: int,
        *,
        cloud_name: str = "reserva-local",
        api_key: str = "111111111111111",
        api_secret: str = "local-cloudinary-secret",  # noqa: S107 - a fake's, for tests
        max_file_size: int = 10 * 1024 * 1024,
        signature_algorithm: str = "sha1",
        log_file: Path | None = None,
    ) -> None:
        self.cloud_name, self.api_key, self.api_secret = cloud_name, api_key, api_secret
        self.max_file_size = max_file_size
        arguments = [
            "--cloud-name", cloud_name,
            "--api-key", api_key,
            "--api-secret", api_secret,
            "--max-file-size", str(max_file_size),
            "--signature-algorithm", signature_algorithm,
        ]  # fmt: skip
        super().__init__(
            ChildServer("devservers.cloudinary_fake", port, arguments, log_file=log_file),
            CloudinaryControl,
        )
        self.api_base = self.base_url
        self.delivery_host = f"127.0.0.1:{port}"


class CloudinaryControl(Control):
    """Thin calls to the fake's test-only endpoints (no authentication)."""

    def assets(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._call("GET", "/_test/assets")["assets"]
        return found

    def notifications(self, *, flush: bool = True) -> list[dict[str, Any]]:
        """Every notification sent so far (url, body, headers, status or error), oldest
        first; by default after waiting for those still being delivered."""
        if flush:
            self._call("POST", "/_test/notifications/flush")
        sent: list[dict[str, Any]] = self._call("GET", "/_test/notifications")["notifications"]
        return sent

    def destroyed(self) -> list[dict[str, Any]]:
        calls: list[dict[str, Any]] = self._call("GET", "/_test/destroyed")["destroyed"]
        return calls

    def fail_destroys(self, times: int) -> None:
        """The next `times` destroy requests answer 500 General Error."""
        self._call("POST", "/_test/destroy_failures", json={"times": times})

    def moderate(self, public_id: str, status: str) -> None:
        self._call("POST", "/_test/moderate", json={"public_id": public_id, "status": status})

    def reset(self) -> None:
        self._call("POST", "/_test/reset")
