"""`reserva policies publish|show` and `reserva consent grant|withdraw|show` against a real
PostgreSQL database, through typer's CliRunner. Failures: exit 1 and one line on stderr."""

from __future__ import annotations

import asyncio
import uuid
from functools import partial
from pathlib import Path

import attrs
import pytest
from click.testing import Result
from typer.testing import CliRunner

from adapters.postgis import migrate
from devservers.postgres import LocalPostgres
from entrypoints.cli.main import app

runner = CliRunner()


@attrs.frozen
class Stores:
    database_url: str
    redis_url: str


@pytest.fixture(scope="module")
def database(postgres_server: LocalPostgres, redis_url: str) -> Stores:
    database = postgres_server.create_database(f"reserva_consent_cli_{uuid.uuid4().hex[:12]}")
    migrate.upgrade(database.migrator_url)
    return Stores(database.app_url, redis_url)


async def reserva(stores: Stores, *args: str) -> Result:
    env = {"DATABASE_URL": stores.database_url, "REDIS_URL": stores.redis_url, "COLUMNS": "300"}
    return await asyncio.to_thread(partial(runner.invoke, app, list(args), env=env))


def _failed_with(result: Result, words: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stderr.count("\n") == 1, result.stderr
    assert words in result.stderr


async def test_publish_show_grant_withdraw(database: Stores, tmp_path: Path) -> None:
    text = tmp_path / "privacy.md"
    text.write_text("# Privacy\n\nWhat we keep and why.\n", encoding="utf-8")
    published = await reserva(database, "policies", "publish", "privacy", str(text))
    assert published.exit_code == 0, published.output
    assert "published privacy policy v1" in published.stderr
    fresh = await reserva(database, "policies", "publish", "privacy", str(text), "--fresh-consent")
    assert "v2" in fresh.stderr
    shown = await reserva(database, "policies", "show", "privacy", "--version", "1")
    assert shown.exit_code == 0, shown.output
    assert "What we keep and why." in shown.stdout

    user = str(uuid.uuid4())
    granted = await reserva(database, "consent", "grant", user, "marketing", "email")
    assert granted.exit_code == 0, granted.output
    assert "cli" in granted.stdout
    withdrawn = await reserva(database, "consent", "withdraw", user, "marketing", "email")
    assert withdrawn.exit_code == 0, withdrawn.output
    history = await reserva(database, "consent", "show", user)
    assert history.exit_code == 0, history.output
    assert "withdrawn" in history.stdout
    assert history.stdout.count("marketing") == 3  # the current state and two decisions


async def test_mistakes_fail_with_one_line(database: Stores, tmp_path: Path) -> None:
    user = str(uuid.uuid4())
    _failed_with(
        await reserva(database, "consent", "grant", user, "spam", "email"), "PURPOSE must be"
    )
    _failed_with(
        await reserva(database, "consent", "withdraw", user, "transactional", "email"),
        "close the account",
    )
    _failed_with(await reserva(database, "policies", "show", "terms"), "KIND must be")
    _failed_with(
        await reserva(database, "policies", "publish", "cookies", str(tmp_path / "missing.md")),
        "cannot read",
    )
