"""Response compression (docs/adr/0037): brotli when the client accepts it, else gzip, for
answers of 1 KiB or more; never for sign-in (/auth/) or personal (/me/) answers, where a secret
beside text an attacker chose is what BREACH reads from the compressed size.

Litestar picks the coding by looking for "br" or "gzip" anywhere in Accept-Encoding, so
`br;q=0` ("anything but brotli", RFC 9110 §12.5.3) got brotli. The middleware here reads the
header as the RFC says and then lets Litestar compress.
"""

from __future__ import annotations

import attrs
from litestar.config.compression import CompressionConfig
from litestar.datastructures import Headers
from litestar.enums import CompressionEncoding
from litestar.middleware.compression import CompressionMiddleware
from litestar.types import Receive, Scope, Send

MINIMUM_SIZE = 1024  # below this, headers and CPU cost more than the bytes saved
# Measured on the 207 KB OpenAPI document (docs/benchmarks.md, "The edge"): brotli 4 takes half
# the CPU of Litestar's default 5 for 7 % more bytes; gzip 6 two thirds of its default 9 for
# 2 % more. The API is CPU-bound on 2 cores, so the cheaper levels.
BROTLI_QUALITY = 4
GZIP_LEVEL = 6
# Live streams (issue 12) neither: a compressor per open connection, flushed per event.
UNCOMPRESSED = ["^/auth/", "^/me/", "^/live/"]


@attrs.frozen
class AcceptEncoding:
    """An Accept-Encoding header read as RFC 9110 §12.5.3 says: a coding with q=0 is refused,
    `*` accepts every coding the header does not name."""

    accepted: frozenset[str]
    refused: frozenset[str]

    @classmethod
    def parse(cls, header: str) -> AcceptEncoding:
        accepted: set[str] = set()
        refused: set[str] = set()
        for part in header.lower().split(","):
            coding, *parameters = (piece.strip() for piece in part.split(";"))
            if coding:
                refuses = any(_zero_weight(parameter) for parameter in parameters)
                (refused if refuses else accepted).add(coding)
        return cls(accepted=frozenset(accepted), refused=frozenset(refused))

    def accepts(self, coding: str) -> bool:
        if coding in self.refused:
            return False
        return coding in self.accepted or "*" in self.accepted


def _zero_weight(parameter: str) -> bool:
    name, _, value = parameter.partition("=")
    if name.strip() != "q":
        return False
    try:
        return float(value) == 0
    except ValueError:
        return True  # a malformed weight: do not guess that it accepts


class QualityAwareCompression(CompressionMiddleware):
    """Litestar's compression, choosing among the codings the client really accepts: brotli
    first (smaller JSON), then gzip, else the answer goes as it is."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        accept = AcceptEncoding.parse(Headers.from_scope(scope).get("accept-encoding", ""))
        preferred = _name(self.config.compression_facade.encoding)
        candidates = [preferred]
        if self.config.gzip_fallback and preferred != CompressionEncoding.GZIP.value:
            candidates.append(CompressionEncoding.GZIP.value)
        for coding in candidates:
            if accept.accepts(coding):
                wrapped = self.create_compression_send_wrapper(
                    send=send, compression_encoding=coding, scope=scope
                )
                await self.app(scope, receive, wrapped)
                return
        await self.app(scope, receive, send)


def _name(encoding: str) -> str:
    """ "br", not "CompressionEncoding.BROTLI" (what str() of that str enum gives)."""
    return encoding.value if isinstance(encoding, CompressionEncoding) else encoding


def compression_config(*, brotli: bool) -> CompressionConfig:
    """Brotli (with gzip for clients without it) when the `brotli` package is installed, as it
    is by the project's dependencies; gzip alone otherwise."""
    return CompressionConfig(
        backend="brotli" if brotli else "gzip",
        minimum_size=MINIMUM_SIZE,
        brotli_quality=BROTLI_QUALITY,
        gzip_compress_level=GZIP_LEVEL,
        exclude=UNCOMPRESSED,
        middleware_class=QualityAwareCompression,
    )
