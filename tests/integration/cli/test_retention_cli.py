"""`reserva privacy retention [--dry-run]` on a migrated database:
a table of every class with its period, count and action; a dry run removes nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from click.testing import Result
from typer.testing import CliRunner

from adapters.postgis import migrate
from adapters.postgis.database import create_engine
from core.consent import RETENTION
from devservers.postgres import LocalDatabase, LocalPostgres
from entrypoints.cli import main
from personal_support import insert_user, postgis_personal

runner = CliRunner()


def reserva(database: LocalDatabase, *args: str) -> Result:
    environment = {"DATABASE_URL": database.app_url, "REDIS_URL": "redis://127.0.0.1:1/0"}
    return runner.invoke(main.app, list(args), env=environment | {"COLUMNS": "250"})


@pytest.fixture
async def database(postgres_server: LocalPostgres) -> LocalDatabase:
    database = postgres_server.create_database(f"reserva_retention_{uuid.uuid4().hex[:12]}")
    migrate.upgrade(database.migrator_url)
    engine = create_engine(database.migrator_url, pool_size=2)
    ended = datetime.now(UTC) - timedelta(days=45)
    try:
        user = uuid.uuid4()
        await insert_user(
            engine, postgis_personal(engine), user, "a@x.org", verified_at=ended, created_at=ended
        )
        async with engine.begin() as connection:
            await connection.execute(
                sa.text(
                    "INSERT INTO auth_sessions (id, user_id, created_at, last_used_at, expires_at,"
                    " aal, amr) VALUES (:id, :u, :c, :c, :c, 'aal1', ARRAY['pwd'])"
                ),
                {"id": uuid.uuid4(), "u": user, "c": ended},
            )
    finally:
        await engine.dispose()
    return database


def _row(output: str, name: str) -> list[str]:
    [line] = [line for line in output.splitlines() if f" {name} " in line]
    return [cell.strip() for cell in line.strip().strip("│┃").split("│")]


def test_a_dry_run_shows_every_class_and_removes_nothing(database: LocalDatabase) -> None:
    first = reserva(database, "privacy", "retention", "--dry-run")
    again = reserva(database, "privacy", "retention", "--dry-run")

    assert first.exit_code == 0, first.output
    assert "would go" in first.stdout
    for rule in RETENTION:
        assert rule.data.value in first.stdout
    assert _row(first.stdout, "auth_sessions") == ["auth_sessions", "30 days", "1", "delete"]
    assert _row(again.stdout, "auth_sessions")[2] == "1"
    assert _row(first.stdout, "audit_clients")[2] == "0"


def test_enforcing_removes_and_says_how_many_went(database: LocalDatabase) -> None:
    done = reserva(database, "privacy", "retention")
    after = reserva(database, "privacy", "retention", "--dry-run")

    assert done.exit_code == 0, done.output
    assert "went" in done.stdout
    assert _row(done.stdout, "auth_sessions")[2] == "1"
    assert _row(after.stdout, "auth_sessions")[2] == "0"
