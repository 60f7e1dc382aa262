"""A local stand-in for Sentry's ingestion endpoint: the real sentry-sdk POSTs envelopes to it
(DSN http://<key>@127.0.0.1:<port>/<project>) and tests read what arrived, decompressed.
Imported by bare name, like `post_recorder`."""

from __future__ import annotations

import gzip
import json
import zlib
from email.message import Message
from typing import Any

import attrs
import brotli

from post_recorder import PostRecorder

PUBLIC_KEY = "0123456789abcdef0123456789abcdef"
PROJECT = 42


@attrs.frozen
class Envelope:
    path: str
    raw: bytes  # everything Sentry would have received, decompressed
    items: list[tuple[dict[str, Any], Any]]  # (item header, payload: JSON or bytes)

    def events(self) -> list[dict[str, Any]]:
        return [payload for header, payload in self.items if header.get("type") == "event"]


def _decompressed(body: bytes, encoding: str | None) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "br":
        return bytes(brotli.decompress(body))
    if encoding == "deflate":
        return zlib.decompress(body)
    return body


def _parsed(path: str, body: bytes, headers: Message) -> Envelope:
    raw = _decompressed(body, headers.get("Content-Encoding"))
    _envelope_header, _, rest = raw.partition(b"\n")
    items: list[tuple[dict[str, Any], Any]] = []
    while rest.strip():
        line, _, rest = rest.partition(b"\n")
        header = json.loads(line)
        if "length" in header:
            payload, rest = rest[: header["length"]], rest[header["length"] + 1 :]
        else:
            payload, _, rest = rest.partition(b"\n")
        try:
            items.append((header, json.loads(payload)))
        except ValueError:
            items.append((header, payload))
    return Envelope(path=path, raw=raw, items=items)


class SentryReceiver(PostRecorder[Envelope]):
    def __init__(self) -> None:
        super().__init__(_parsed)
        host = self.base_url.removeprefix("http://")
        self.dsn = f"http://{PUBLIC_KEY}@{host}/{PROJECT}"

    def events(self) -> list[dict[str, Any]]:
        return [event for envelope in self.take() for event in envelope.events()]
