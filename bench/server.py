"""The ASGI applications the benchmark serves.

    uvicorn --factory --app-dir bench server:app        the real API (DATABASE_URL, REDIS_URL)
    uvicorn --factory --app-dir bench server:stateless  the same, but access tokens are not
                                                        checked against LiveSessions
    uvicorn --factory --app-dir bench server:baseline   one trivial JSON route, nothing else

`app` is wired exactly as in production. `stateless` is what authentication cost before
revoked sessions were refused at once (bench/live_sessions.py compares the two). `baseline`
measures what the server and Litestar alone cost on this machine, the ceiling any real
endpoint stays under.
"""

from __future__ import annotations

import os
from collections.abc import Collection

from dependency_injector import providers
from litestar import Litestar, get

from core.identity import LiveSessions, SessionId
from core.shared.ids import UserId
from entrypoints.container import build_container, http_services
from entrypoints.http.app import create_app
from entrypoints.settings import Settings


def app() -> Litestar:
    return create_app(http_services(build_container(Settings.from_env(os.environ))))


class AlwaysLive(LiveSessions):
    """Every session live, no store asked: access tokens checked by signature and expiry only."""

    async def epoch(self, user_id: UserId) -> str | None:
        return None

    async def is_live(self, user_id: UserId, session_id: SessionId, epoch: str | None) -> bool:
        return True

    async def end(self, user_id: UserId, session_ids: Collection[SessionId]) -> None:
        return None

    async def new_epoch(self, user_id: UserId) -> None:
        return None


def stateless() -> Litestar:
    container = build_container(Settings.from_env(os.environ))
    container.live_sessions.override(providers.Object(AlwaysLive()))
    return create_app(http_services(container))


@get("/ping", sync_to_thread=False)
def ping() -> dict[str, bool]:
    return {"ok": True}


def baseline() -> Litestar:
    return Litestar(route_handlers=[ping])
