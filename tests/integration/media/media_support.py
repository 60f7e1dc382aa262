"""Helpers of the media integration tests: images made byte by byte, and a receiver that
records the notifications the Cloudinary fake POSTs (as our webhook endpoint would get them)."""

from __future__ import annotations

import struct
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs

MAX_BYTES = 200_000  # the fake's and the tests' upload limit: small files suffice


def png(width: int, height: int, *, noise: int = 0) -> bytes:
    """A valid RGB PNG; `noise` extra bytes of random-looking rows make it larger."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes((x * 7) % 256 for x in range(width * 3))
    raw = row * height
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    image = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
    if noise:
        image += chunk(b"tEXt", b"noise\x00" + bytes((i * 31 + 17) % 251 for i in range(noise)))
    return image + chunk(b"IEND", b"")


def gif(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00;"


@attrs.frozen
class Received:
    path: str
    body: bytes
    headers: dict[str, str]  # lower-case names


class NotificationReceiver:
    """An HTTP server on 127.0.0.1 answering 200 to every POST and keeping it."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/webhooks/cloudinary"
        self.received: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.received.append(Received(self.path, body, headers))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, count: int, timeout: float = 10) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.received) >= count, f"{len(self.received)} notifications, not {count}"
        return list(self.received)
