"""The ASGI applications the benchmark serves.

    uvicorn --factory --app-dir bench server:app        the real API (DATABASE_URL, REDIS_URL)
    uvicorn --factory --app-dir bench server:baseline   one trivial JSON route, nothing else

`app` is wired exactly as in production. `baseline` measures what the server and Litestar
alone cost on this machine, the ceiling any real endpoint stays under.
"""

from __future__ import annotations

import os

from litestar import Litestar, get

from entrypoints.container import build_container
from entrypoints.http.app import create_app
from entrypoints.settings import Settings


def app() -> Litestar:
    return create_app(build_container(Settings.from_env(os.environ)))


@get("/ping", sync_to_thread=False)
def ping() -> dict[str, bool]:
    return {"ok": True}


def baseline() -> Litestar:
    return Litestar(route_handlers=[ping])
