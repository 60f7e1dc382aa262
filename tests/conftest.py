"""Private PostgreSQL/PostGIS and Redis servers for the whole test session.

They start only when a test asks for them, on free ports in fresh temporary folders, so the
suite never touches a server somebody else runs (5432, 6379) and unit tests stay instant.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.security.keyring import FileKeyStore
from devservers.net import free_port
from devservers.postgres import LocalDatabase, LocalPostgres
from devservers.redis import LocalRedis

# The CLI's rich consoles read the width once, when first imported: whichever test imports them
# first (it varies with how pytest-xdist shares the tests out) must not leave them 80 wide.
os.environ.setdefault("COLUMNS", "250")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[LocalPostgres]:
    """A throwaway cluster (durability off: it is deleted at the end anyway)."""
    workdir = Path(tempfile.mkdtemp(prefix="reserva-pg-"))
    server = LocalPostgres(workdir / "data", free_port(), durable=False)
    try:
        server.ensure_running()
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir)


@pytest.fixture(scope="session")
def postgres_url(postgres_server: LocalPostgres) -> str:
    """SQLAlchemy URL, as the app role, of an empty database with postgis and btree_gist,
    shared by the session."""
    return postgres_server.create_database("reserva_test").app_url


@pytest.fixture
def new_database(postgres_server: LocalPostgres) -> LocalDatabase:
    """A database of its own for this test, empty but for the extensions: `migrator_url` (the
    owner) migrates it, `app_url` (the app role) is what the application connects with."""
    return postgres_server.create_database(f"reserva_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    workdir = Path(tempfile.mkdtemp(prefix="reserva-redis-"))
    server = LocalRedis(free_port(), workdir)
    try:
        yield server.ensure_running()
    finally:
        server.stop()
        shutil.rmtree(workdir)


@pytest.fixture(scope="session")
def kek_file() -> Iterator[Path]:
    """A key-encryption key made for this test session (secrets at rest are sealed under it)."""
    workdir = Path(tempfile.mkdtemp(prefix="reserva-kek-"))
    path = workdir / "kek.json"
    FileKeyStore.create(path)
    try:
        yield path
    finally:
        shutil.rmtree(workdir)
