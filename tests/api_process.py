"""The production API in a process of its own, for tests about what one process caches while
another changes the data (`python tests/api_process.py DATABASE_URL REDIS_URL KEK_FILE`).

The container is the production one; only the authenticator is replaced by test tokens, as in
the HTTP suite. It prints one JSON line, {"url": ..., "customer": {Authorization header}}, then
serves until it is terminated.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import uvicorn
from dependency_injector import providers

from api_test_support import TokenTable
from devservers.net import free_port
from entrypoints.container import build_container, http_services
from entrypoints.http.app import create_app
from entrypoints.http.server import server_config
from entrypoints.settings import Settings


def main(database_url: str, redis_url: str, kek_file: str) -> None:
    settings = Settings(database_url=database_url, redis_url=redis_url, kek_file=Path(kek_file))
    container = build_container(settings)
    tokens = TokenTable()
    container.authenticator.override(providers.Object(tokens))
    port = free_port()
    app = create_app(http_services(container))
    config = server_config(app, host="127.0.0.1", port=port, log_level="warning")
    announced = {"url": f"http://127.0.0.1:{port}", "customer": tokens.customer()}
    print(json.dumps(announced), flush=True)
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main(*sys.argv[1:4])
