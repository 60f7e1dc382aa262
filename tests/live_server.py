"""The app on a real uvicorn server, for tests whose requests must really be in flight together."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import uvicorn
from litestar import Litestar

from devservers.net import free_port
from entrypoints.http.server import TlsFiles, server_config


@contextlib.asynccontextmanager
async def serving(app: Litestar, tls: TlsFiles | None = None) -> AsyncIterator[str]:
    """`app` on a uvicorn server on this event loop, configured as `reserva serve` does (with
    `tls`, HTTPS only, TLS 1.3 only); its base URL. A startup failure raises why."""
    config = server_config(app, host="127.0.0.1", port=free_port(), log_level="warning", tls=tls)
    server = uvicorn.Server(config)
    running = asyncio.create_task(server.serve())
    while not server.started:
        if running.done():
            running.result()  # startup failed: raise why
        await asyncio.sleep(0.01)
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        await running
