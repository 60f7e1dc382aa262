"""Settings of a deployment behind a transaction pooler (docs/adr/0035): the worker's direct URL
is required with the pooler and is where the worker connects; without it, nothing changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from entrypoints.container import build_container
from entrypoints.settings import Settings, SettingsError
from entrypoints.worker import _database_url

URLS = {
    "DATABASE_URL": "postgresql+psycopg://reserva_app@pgbouncer:6432/reserva",
    "REDIS_URL": "redis://cache/0",
    "KEK_FILE": "/run/secrets/reserva-kek.json",
}
DIRECT = "postgresql+psycopg://reserva_app@db:5432/reserva"


def test_the_pooler_needs_a_direct_url_for_the_worker() -> None:
    with pytest.raises(SettingsError, match="DATABASE_DIRECT_URL is not set"):
        Settings.from_env({**URLS, "DATABASE_TRANSACTION_POOLER": "true"})


def test_the_worker_connects_past_the_pooler_and_the_api_through_it() -> None:
    settings = Settings.from_env(
        {**URLS, "DATABASE_TRANSACTION_POOLER": "true", "DATABASE_DIRECT_URL": DIRECT}
    )
    container = build_container(settings)

    assert _database_url(container) == DIRECT
    assert container.config.database_url() == URLS["DATABASE_URL"]
    assert Settings.from_env(settings.to_env()) == settings  # a child process gets the same


def test_without_a_pooler_everything_uses_database_url() -> None:
    settings = Settings(
        database_url=URLS["DATABASE_URL"], redis_url="redis://cache/0", kek_file=Path("/k")
    )

    assert not settings.database_transaction_pooler
    assert _database_url(build_container(settings)) == URLS["DATABASE_URL"]
