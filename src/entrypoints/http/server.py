"""How the API is served: the one uvicorn configuration `reserva serve` and the tests use.

TLS (docs/adr/0037): when the server terminates TLS itself (TLS_CERT_FILE and TLS_KEY_FILE set),
it speaks TLS 1.3 and nothing older. The usual production shape terminates TLS at a proxy or
load balancer instead, and then these settings stay unset.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import uvicorn
from litestar import Litestar

from entrypoints.http.logging import redact_access_log

# TLS 1.2 and older offer the CBC and RSA key-exchange suites behind BEAST, Lucky13 and ROBOT;
# 1.3 has only AEAD suites with forward secrecy, and every maintained client speaks it.
MINIMUM_TLS = ssl.TLSVersion.TLSv1_3


class TlsError(ValueError):
    """The certificate or its key cannot be loaded; the message names the file and why."""


@attrs.frozen(kw_only=True)
class TlsFiles:
    """A PEM certificate chain and its private key (unencrypted: no one types a passphrase
    at a server's start)."""

    cert_file: Path
    key_file: Path

    def check(self) -> None:
        """Load both once, so a wrong path or a key that does not match its certificate stops
        `serve` with a clear message before any worker starts (a worker process that failed
        to load them would only be restarted, failing again)."""
        for name, path in (("TLS_CERT_FILE", self.cert_file), ("TLS_KEY_FILE", self.key_file)):
            if not path.is_file():
                raise TlsError(f"{name} {path} does not exist or is not a file")
        try:
            tls13_context(self)
        except ssl.SSLError as error:
            raise TlsError(
                f"cannot load the certificate {self.cert_file} with the key {self.key_file}: "
                f"{(error.reason or str(error)).lower().replace('_', ' ')}"
            ) from None
        except OSError as error:  # not readable by this user, for one
            raise TlsError(
                f"cannot load the certificate {self.cert_file} with the key {self.key_file}: "
                f"{error.strerror or error}"
            ) from None


def tls13_context(files: TlsFiles) -> ssl.SSLContext:
    """A server context that refuses every protocol older than TLS 1.3."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = MINIMUM_TLS
    context.load_cert_chain(files.cert_file, files.key_file)
    return context


def _tls13_only(config: uvicorn.Config, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """uvicorn's `ssl_context_factory`: its own context (cert, key, ALPN) with TLS 1.3 as the
    floor. A module-level function, so it pickles into the workers of `serve --workers N`."""
    context = default()
    context.minimum_version = MINIMUM_TLS
    return context


def server_config(
    app: Litestar | str, host: str, port: int, *, tls: TlsFiles | None = None, **options: Any
) -> uvicorn.Config:
    """No `Server: uvicorn` header: it tells an attacker which CVEs to try, and no client
    needs it. (`uvicorn --no-server-header` is the same for command-line starts.) `app` is an
    application, or an import string (entrypoints.asgi.FACTORY) for several workers. With
    `tls`, the server speaks HTTPS only, TLS 1.3 only."""
    if tls is not None:
        options |= {
            "ssl_certfile": str(tls.cert_file),
            "ssl_keyfile": str(tls.key_file),
            "ssl_context_factory": _tls13_only,
        }
    config = uvicorn.Config(app, host=host, port=port, server_header=False, **options)
    redact_access_log()  # after the Config: creating it (re)configures uvicorn's loggers
    return config
