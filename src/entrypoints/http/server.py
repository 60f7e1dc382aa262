"""How the API is served: the one uvicorn configuration `reserva serve` and the tests use."""

from __future__ import annotations

from typing import Any

import uvicorn
from litestar import Litestar

from entrypoints.http.logging import redact_access_log


def server_config(app: Litestar | str, host: str, port: int, **options: Any) -> uvicorn.Config:
    """No `Server: uvicorn` header: it tells an attacker which CVEs to try, and no client
    needs it. (`uvicorn --no-server-header` is the same for command-line starts.) `app` is an
    application, or an import string (entrypoints.asgi.FACTORY) for several workers."""
    config = uvicorn.Config(app, host=host, port=port, server_header=False, **options)
    redact_access_log()  # after the Config: creating it (re)configures uvicorn's loggers
    return config
