"""Issue 7 §4: the application's own connection cannot erase the audit log, and whoever can
(the owner, a superuser) cannot edit or remove an entry without `reserva audit verify` saying
which.

Every database here is migrated by the owner role and used by the app role, as in production.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import Result
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from adapters.memory.keyring import MemoryKeyring
from adapters.memory.personal import MemoryPersonalData
from adapters.postgis import migrate
from adapters.postgis.database import create_engine
from adapters.postgis.identity import PostgisIdentityUnitOfWork
from core.identity.model import AuditAction, AuditEntry, AuditQuery
from core.shared.unit_of_work import MAINTENANCE, PUBLIC
from devservers.postgres import LocalDatabase, LocalPostgres
from entrypoints.cli.main import app

runner = CliRunner()
AT = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def database(postgres_server: LocalPostgres) -> LocalDatabase:
    database = postgres_server.create_database(f"audit_{uuid.uuid4().hex[:12]}")
    migrate.upgrade(database.migrator_url)
    return database


@pytest.fixture
async def app_engine(database: LocalDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database.app_url, pool_size=20, max_overflow=40)
    yield engine
    await engine.dispose()


@pytest.fixture
def superuser(database: LocalDatabase) -> Iterator[sa.Connection]:
    engine = sa.create_engine(database.superuser_url)
    with engine.connect() as connection:
        yield connection
    engine.dispose()


async def _append(engine: AsyncEngine, count: int) -> None:
    """`count` entries, each in its own transaction, all at once."""

    async def one(n: int) -> None:
        async with PostgisIdentityUnitOfWork(
            engine, MemoryKeyring(), MemoryPersonalData(), PUBLIC
        ) as uow:
            entry = AuditEntry(
                at=AT, action=AuditAction.LOGIN_FAILED, actor_user_id=None,
                subject_user_id=None, details={"n": n, "note": "concurrent"},
            )  # fmt: skip
            await uow.audit.append(entry)
            await uow.commit()

    await asyncio.gather(*(one(n) for n in range(count)))


@pytest.fixture(autouse=True)
def _kek_in_environment(kek_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEK_FILE", str(kek_file))  # the CLI seals secrets under it


def verify(database: LocalDatabase) -> Result:
    env = {"DATABASE_URL": database.app_url, "REDIS_URL": "redis://127.0.0.1:1/0"}
    return runner.invoke(app, ["audit", "verify"], env=env | {"COLUMNS": "300"})


def _seq_at(superuser: sa.Connection, position: int) -> int:
    query = sa.text("SELECT seq FROM audit_log WHERE chain_seq = :p")
    return int(superuser.execute(query, {"p": position}).scalar_one())


# ---------------------------------------------------------------- the app role


@pytest.mark.parametrize(
    "statement",
    [
        "TRUNCATE audit_log",
        "DELETE FROM audit_log",
        "UPDATE audit_log SET details = '{}'",
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_chain",
        "DROP TRIGGER audit_log_chain ON audit_log",
        "DROP TABLE audit_log",
        "TRUNCATE users, bookings",
        "CREATE TABLE shadow (id int)",
        "ALTER TABLE audit_log DISABLE ROW LEVEL SECURITY",
        "CREATE OR REPLACE FUNCTION audit_log_chain() RETURNS trigger"
        " LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$",
    ],
)
async def test_the_app_role_cannot_erase_edit_or_unchain_the_audit_log(
    app_engine: AsyncEngine, statement: str
) -> None:
    await _append(app_engine, 1)
    async with app_engine.connect() as connection:
        with pytest.raises(sa.exc.ProgrammingError, match=r"permission denied|must be owner"):
            await connection.execute(sa.text(statement))


async def test_the_app_role_holds_row_privileges_only(
    app_engine: AsyncEngine, superuser: sa.Connection
) -> None:
    privileges = superuser.execute(
        sa.text(
            "SELECT table_name, string_agg(privilege_type, ',' ORDER BY privilege_type)"
            " FROM information_schema.role_table_grants WHERE grantee = :role"
            " GROUP BY table_name"
        ),
        {"role": migrate.APP_ROLE},
    ).all()
    granted = dict(privileges)
    tables = set(
        superuser.execute(
            sa.text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                " AND tablename NOT IN ('spatial_ref_sys', 'alembic_version')"
            )
        ).scalars()
    )
    role = superuser.execute(
        sa.text(
            "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles"
            " WHERE rolname = :role"
        ),
        {"role": migrate.APP_ROLE},
    ).one()
    owned = superuser.execute(
        sa.text("SELECT count(*) FROM pg_class WHERE relowner = :role ::regrole"),
        {"role": migrate.APP_ROLE},
    ).scalar_one()

    # Every table the service uses, and nothing else but the one view availability reads;
    # not the live relay's queue (customers' ids), taken through a SECURITY DEFINER function.
    assert set(granted) == tables - {"live_changes"} | {"booking_occupancy"}
    assert granted["booking_occupancy"] == "SELECT"
    assert granted["audit_log"] == "INSERT,SELECT"
    assert all("TRUNCATE" not in p and "TRIGGER" not in p and "REFERENCES" not in p
               for p in granted.values())  # fmt: skip
    assert tuple(role) == (False, False, False, False)
    assert owned == 0


# ---------------------------------------------------------------- the chain


async def test_an_untouched_chain_verifies(
    database: LocalDatabase, app_engine: AsyncEngine
) -> None:
    await _append(app_engine, 3)

    result = await asyncio.to_thread(verify, database)

    assert result.exit_code == 0, result.output
    # Three entries, and the operator session the command itself audited on the way in.
    assert "audit log verified: 4 entries, head " in result.stdout


async def test_fifty_concurrent_appends_form_one_chain(
    database: LocalDatabase, app_engine: AsyncEngine, superuser: sa.Connection
) -> None:
    await _append(app_engine, 50)

    positions = superuser.execute(
        sa.text("SELECT chain_seq FROM audit_log ORDER BY chain_seq")
    ).scalars()
    result = await asyncio.to_thread(verify, database)

    assert list(positions)[:50] == list(range(1, 51))
    assert result.exit_code == 0, result.output


async def test_an_edited_entry_is_named(
    database: LocalDatabase, app_engine: AsyncEngine, superuser: sa.Connection
) -> None:
    await _append(app_engine, 5)
    seq = _seq_at(superuser, 3)
    superuser.execute(sa.text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
    superuser.execute(
        sa.text("UPDATE audit_log SET details = '{\"n\": 99}' WHERE seq = :seq"), {"seq": seq}
    )
    superuser.commit()

    result = await asyncio.to_thread(verify, database)

    assert result.exit_code == 1, result.output
    assert f"chain position 3: entry {seq} " in result.stderr
    assert "was changed after it was written" in result.stderr
    assert "the 2 entries before it verify" in result.stderr


async def test_a_removed_entry_is_named(
    database: LocalDatabase, app_engine: AsyncEngine, superuser: sa.Connection
) -> None:
    await _append(app_engine, 5)
    next_seq = _seq_at(superuser, 4)
    superuser.execute(sa.text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
    superuser.execute(sa.text("DELETE FROM audit_log WHERE chain_seq = 3"))
    superuser.commit()

    result = await asyncio.to_thread(verify, database)

    assert result.exit_code == 1, result.output
    assert f"chain position 3: entry {next_seq} " in result.stderr
    assert "chain entries 3 were removed" in result.stderr


async def test_an_entry_written_around_the_chain_is_named(
    database: LocalDatabase, app_engine: AsyncEngine, superuser: sa.Connection
) -> None:
    await _append(app_engine, 2)
    superuser.execute(sa.text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_chain"))
    superuser.execute(
        sa.text(
            "INSERT INTO audit_log (id, at, action, details)"
            " VALUES (gen_random_uuid(), now(), 'login.failed', '{}')"
        )
    )
    superuser.commit()

    result = await asyncio.to_thread(verify, database)

    assert result.exit_code == 1, result.output
    assert "is outside the chain" in result.stderr


async def test_another_contexts_actions_read_back_as_their_strings(
    app_engine: AsyncEngine,
) -> None:
    async with PostgisIdentityUnitOfWork(
        app_engine, MemoryKeyring(), MemoryPersonalData(), PUBLIC
    ) as uow:
        await uow.audit.append(
            AuditEntry(at=AT, action="refund.requested", actor_user_id=None, subject_user_id=None)
        )
        await uow.audit.append(
            AuditEntry(at=AT, action=AuditAction.LOGIN_FAILED, actor_user_id=None,
                       subject_user_id=None)
        )  # fmt: skip
        await uow.commit()
    async with PostgisIdentityUnitOfWork(
        app_engine, MemoryKeyring(), MemoryPersonalData(), MAINTENANCE
    ) as uow:
        entries = await uow.audit.query(AuditQuery())

    assert sorted(str(e.action) for e in entries) == ["login.failed", "refund.requested"]
    assert any(e.action is AuditAction.LOGIN_FAILED for e in entries)
