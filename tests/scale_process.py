"""The production API in a process of its own, configured by a JSON object of settings, for the
horizontal-scale tests (`python tests/scale_process.py '{"database_url": ..., ...}'`).

Like tests/api_process.py, but any settings may be given (a transaction pooler's, say), and the
test tokens describe their principal themselves (scale_support.SelfDescribingTokens), so one
token is honoured by every process, as a real signed token would be. It prints one JSON line,
{"url": ...}, then serves until it is terminated.
"""

from __future__ import annotations

import json
import sys

import uvicorn
from dependency_injector import providers

from devservers.net import free_port
from entrypoints.container import build_container, http_services
from entrypoints.http.app import create_app
from entrypoints.http.server import server_config
from entrypoints.settings import Settings
from scale_support import SelfDescribingTokens


def main(settings_json: str) -> None:
    container = build_container(Settings(**json.loads(settings_json)))
    container.authenticator.override(providers.Object(SelfDescribingTokens()))
    port = free_port()
    app = create_app(http_services(container))
    config = server_config(app, host="127.0.0.1", port=port, log_level="warning")
    print(json.dumps({"url": f"http://127.0.0.1:{port}"}), flush=True)
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main(sys.argv[1])
