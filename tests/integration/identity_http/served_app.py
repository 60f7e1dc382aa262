"""The production app from the environment, for tests that run it in processes of its own:

python -m uvicorn --factory --app-dir tests/integration/identity_http served_app:app
"""

from __future__ import annotations

import os

from litestar import Litestar

from entrypoints.container import build_container, http_services
from entrypoints.http.app import create_app
from entrypoints.settings import Settings


def app() -> Litestar:
    return create_app(http_services(build_container(Settings.from_env(os.environ))))
