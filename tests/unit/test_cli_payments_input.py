"""`reserva payments` and `reserva ledger` refuse bad input with one clear line and exit 1,
before anything is read or any money moves (no database is reachable here)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.security.keyring import FileKeyStore
from entrypoints.cli.main import app

SOME_ID = "00000000-0000-4000-8000-000000000000"
runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    FileKeyStore.create(tmp_path / "kek.json")
    return {
        "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/nothing",  # never reached
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "KEK_FILE": str(tmp_path / "kek.json"),
        "COLUMNS": "300",
    }


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["payments", "show", "not-a-uuid"], "not a valid booking id"),
        (["payments", "retry-refund", "r-1"], "not a valid refund id"),
        (["payments", "review", "p-1", "--approve", "--note", "ok"], "not a valid payment id"),
        (["payments", "refund", SOME_ID, "--amount", "1.001", "--currency", "EUR", "--note", "x"],
         "too many decimal places"),
        (["payments", "refund", SOME_ID, "--amount", "ten", "--currency", "EUR", "--note", "x"],
         "not a decimal number"),
        (["payments", "refund", SOME_ID, "--amount", "1", "--currency", "XXX", "--note", "x"],
         "unknown currency"),
        (["payments", "reconcile", "--day", "2026-13-01"], "--day must be a date"),
        (["ledger", "export", "--since", "yesterday"], "--since must be an ISO 8601"),
        (["ledger", "export", "--since", "2026-01-02", "--until", "2026-01-01"],
         "--until must be after --since"),
    ],
)  # fmt: skip
def test_bad_input_is_one_clear_line_and_exit_1(
    env: dict[str, str], args: list[str], says: str
) -> None:
    result = runner.invoke(app, args, env=env)

    assert result.exit_code == 1, result.output
    assert says in result.output
    assert "Traceback" not in result.output
