"""The API as an import string, for servers that start their own processes (beside the
composition root: the HTTP package itself never sees the container):

    uvicorn --factory entrypoints.asgi:app --workers 4

`reserva serve` runs it that way with one process per core. Every process builds its own
container (pools, Redis client, caches) from the environment (entrypoints.settings).
"""

from __future__ import annotations

import os

from litestar import Litestar

from entrypoints.container import build_container, http_services
from entrypoints.http.app import create_app
from entrypoints.http.logging import redact_access_log
from entrypoints.settings import Settings

FACTORY = "entrypoints.asgi:app"


def app() -> Litestar:
    redact_access_log()  # in this process: uvicorn configured its loggers just before
    return create_app(http_services(build_container(Settings.from_env(os.environ))))
