"""Export and erasure on PostgreSQL, over HTTP and the CLI (issue 10 §3).

The HTTP app here is small: the privacy routes, test tokens, dependencies and problem rendering
(the composition root registers the same routes). The stores are the real ones where they
exist on this branch (bookings, media, the export store sealing under AesGcmPersonalData with
the PostgreSQL key vault) plus a sealed "messages" store standing for the other contexts'.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import jsonschema
import pytest
import sqlalchemy as sa
from litestar import Litestar
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.testing import AsyncTestClient
from privacy_support import insert_booking
from returns.result import Failure, Result, Success
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from adapters.memory.keyring import MemoryKeyring
from adapters.postgis.personal import PostgisPersonKeyVault
from adapters.postgis.privacy import MediaRecords, PostgisBookingRecords, PostgisRightsUnitOfWork
from adapters.security.personal import AesGcmPersonalData
from adapters.system.clock import SystemClock
from core.consent import (
    BuildExport,
    DownloadExport,
    ExportNow,
    GetErasure,
    GetExport,
    Json,
    PersonalRecords,
    ReAuthentication,
    ReAuthenticationFailed,
    ReAuthenticationThrottled,
    RequestErasure,
    RequestExport,
    RightsSettings,
    RunErasure,
    SessionEnder,
    erasure_steps,
)
from core.shared.ids import UserId
from core.shared.personal import PersonalData
from core.shared.principal import Principal, Role
from devservers.postgres import LocalDatabase
from entrypoints.cli.main import app as cli_app
from entrypoints.http.auth import BearerAuthentication, current_principal
from entrypoints.http.controllers import privacy
from entrypoints.http.dependencies import provide
from entrypoints.http.problems import EXCEPTION_HANDLERS
from raw_dump import raw_database

pytestmark = pytest.mark.asyncio(loop_scope="session")

SCHEMA = json.loads((Path(__file__).parents[3] / "docs" / "privacy-export.schema.json").read_text())
PASSWORD = "plum orbit lantern 77"
NOW = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)


class SealedMessages(PersonalRecords):
    """Stands for messaging's records: an address per person, sealed, in a table of its own."""

    def __init__(self, engine: AsyncEngine, personal: PersonalData) -> None:
        self._engine = engine
        self._personal = personal

    @property
    def section(self) -> str:
        return "messages"

    async def add(self, person: UserId, address: str) -> None:
        blob = await self._personal.seal(person, address, field="messaging.address")
        async with self._engine.begin() as connection:
            await connection.execute(
                sa.text("INSERT INTO test_messages VALUES (:p, :b)"), {"p": person, "b": blob}
            )

    async def export(self, person: UserId) -> Json:
        async with self._engine.connect() as connection:
            blobs = (
                await connection.execute(
                    sa.text("SELECT address_sealed FROM test_messages WHERE person_id = :p"),
                    {"p": person},
                )
            ).scalars()
            return [
                await self._personal.open(person, bytes(b), field="messaging.address")
                for b in list(blobs)
            ]

    async def erase(self, person: UserId) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                sa.text("DELETE FROM test_messages WHERE person_id = :p"), {"p": person}
            )


class Passwords(ReAuthentication):
    def __init__(self) -> None:
        self.passwords: dict[UserId, str] = {}

    async def confirm(
        self, person: UserId, password: str
    ) -> Result[None, ReAuthenticationFailed | ReAuthenticationThrottled]:
        ok = self.passwords.get(person) == password
        return Success(None) if ok else Failure(ReAuthenticationFailed())


class Sessions(SessionEnder):
    def __init__(self) -> None:
        self.ended: list[UserId] = []

    async def end_all(self, person: UserId) -> None:
        self.ended.append(person)


@attrs.frozen
class Rig:
    client: AsyncTestClient[Litestar]
    tokens: dict[str, Principal]
    use_cases: dict[str, Any]
    messages: SealedMessages
    passwords: Passwords
    sessions: Sessions
    owner: AsyncEngine

    def customer(self, person: UserId) -> dict[str, str]:
        token = f"t-{uuid.uuid4().hex}"
        self.tokens[token] = Principal(user_id=person, roles=frozenset({Role.CUSTOMER}))
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def rig(engine: AsyncEngine, owner_engine: AsyncEngine) -> AsyncIterator[Rig]:
    async with owner_engine.begin() as connection:
        await connection.execute(
            sa.text(
                "CREATE TABLE IF NOT EXISTS test_messages (person_id uuid, address_sealed bytea)"
            )
        )
        await connection.execute(sa.text("GRANT ALL ON test_messages TO reserva_app"))
        await connection.execute(
            sa.text(
                "TRUNCATE test_messages, privacy_exports, erasure_requests, procrastinate_jobs,"
                " bookings, offerings, resources, places, providers CASCADE"
            )
        )
    personal = AesGcmPersonalData(PostgisPersonKeyVault(engine), MemoryKeyring())
    messages = SealedMessages(engine, personal)
    bookings = PostgisBookingRecords(engine)
    media = MediaRecords()

    def uow(access: Any) -> PostgisRightsUnitOfWork:
        return PostgisRightsUnitOfWork(engine, personal, access)

    passwords, sessions, clock = Passwords(), Sessions(), SystemClock()
    parts: dict[str, Any] = {"uow": uow, "clock": clock}
    records = [bookings, messages, media]
    steps = erasure_steps(
        before_shredding=[messages, media], personal_data=personal, after_shredding=[bookings]
    )
    use_cases: dict[str, Any] = {
        "request_export": RequestExport(**parts),
        "get_export": GetExport(**parts, settings=RightsSettings()),
        "download_export": DownloadExport(**parts),
        "request_erasure": RequestErasure(**parts, reauthentication=passwords, sessions=sessions),
        "get_erasure": GetErasure(uow=uow),
        "build_export": BuildExport(**parts, settings=RightsSettings(), records=records),
        "export_now": ExportNow(**parts, records=records),
        "run_erasure": RunErasure(**parts, steps=steps),
    }
    tokens: dict[str, Principal] = {}

    async def authenticate(token: str) -> Principal | None:
        return tokens.get(token)

    app = Litestar(
        route_handlers=privacy.ROUTES,
        dependencies={
            **{name: provide(_constant(u)) for name, u in use_cases.items()},
            "principal": Provide(current_principal),
        },
        middleware=[DefineMiddleware(BearerAuthentication, authenticator=lambda: authenticate)],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    async with AsyncTestClient(app=app) as client:
        yield Rig(client, tokens, use_cases, messages, passwords, sessions, owner_engine)


def _constant(use_case: object) -> Callable[[], object]:
    return lambda: use_case


async def _build_pending(rig: Rig) -> None:
    """What the worker does: run every waiting build_export job."""
    async with rig.owner.begin() as connection:
        rows = (
            await connection.execute(
                sa.text(
                    "UPDATE procrastinate_jobs SET status = 'succeeded' WHERE status = 'todo'"
                    " AND task_name = 'build_export' RETURNING args"
                )
            )
        ).scalars()
        jobs = list(rows)
    for args in jobs:
        assert set(args) == {"export_id"}
        await rig.use_cases["build_export"](uuid.UUID(args["export_id"]))


async def test_an_export_over_http_is_built_sealed_and_downloaded_with_its_link(
    rig: Rig, owner_engine: AsyncEngine
) -> None:
    ana = UserId(uuid.uuid4())
    booking, _ = await insert_booking(rig.owner, ana, NOW, 1)
    await rig.messages.add(ana, "ana.lima@example.org")
    me = rig.customer(ana)

    pending = await rig.client.get("/me/export", headers=me)
    assert pending.status_code == 202, pending.text
    assert pending.json()["status"] == "pending"
    await _build_pending(rig)
    ready = await rig.client.get("/me/export", headers=me)
    assert ready.status_code == 200, ready.text
    url = ready.json()["download_url"]
    token = url.rsplit("/", 1)[1]

    downloaded = await rig.client.get(f"/exports/{token}")
    assert downloaded.status_code == 200, downloaded.text
    assert downloaded.headers["cache-control"] == "no-store"
    document = downloaded.json()
    jsonschema.validate(document, SCHEMA)
    assert document["person"] == str(ana)
    assert document["messages"] == ["ana.lima@example.org"]
    assert [b["id"] for b in document["bookings"]] == [str(booking)]
    assert document["bookings"][0]["price"] == {"amount_minor": 3000, "currency": "EUR"}
    assert document["photos"] == []

    raw = await raw_database(owner_engine)
    assert "ana.lima@example.org" not in raw
    assert token not in raw  # only its digest
    again = await rig.client.get("/me/export", headers=me)
    assert (await rig.client.get(f"/exports/{token}")).status_code == 404  # replaced: unknown
    fresh = again.json()["download_url"].rsplit("/", 1)[1]
    assert (await rig.client.get(f"/exports/{fresh}")).status_code == 200
    assert (await rig.client.get("/exports/not-a-token")).status_code == 404


async def test_erasure_over_http_needs_the_password_and_leaves_nothing_in_clear(
    rig: Rig, owner_engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ana, bea = UserId(uuid.uuid4()), UserId(uuid.uuid4())
    rig.passwords.passwords[ana] = PASSWORD
    ana_booking, _ = await insert_booking(rig.owner, ana, NOW, 1)
    await insert_booking(rig.owner, bea, NOW, 3)
    await rig.messages.add(ana, "ana.lima@example.org")
    await rig.messages.add(bea, "bea.sousa@example.org")
    me = rig.customer(ana)
    await rig.client.post("/me/export", headers=me)
    await _build_pending(rig)
    bea_before = await rig.use_cases["export_now"](bea)

    wrong = await rig.client.post("/me/erasure", json={"password": "nope"}, headers=me)
    assert wrong.status_code == 403, wrong.text
    assert wrong.json()["type"].endswith("reauthentication-failed")
    asked = await rig.client.post("/me/erasure", json={"password": PASSWORD}, headers=me)
    assert asked.status_code == 202, asked.text
    assert asked.json()["status"] == "requested"
    assert rig.sessions.ended == [ana]
    async with owner_engine.connect() as connection:
        jobs = (
            await connection.execute(
                sa.text("SELECT args FROM procrastinate_jobs WHERE task_name = 'erase_person'")
            )
        ).scalars()
        assert list(jobs) == [{"person_id": str(ana)}]
    refused = await rig.client.get("/me/export", headers=me)
    assert refused.status_code == 404
    assert refused.json()["type"].endswith("person-erased")

    done = await rig.use_cases["run_erasure"](ana, requested_by="self")
    again = await rig.use_cases["run_erasure"](ana, requested_by="self")
    assert done.unwrap().completed
    assert again.unwrap() == done.unwrap()
    status = await rig.client.get("/me/erasure", headers=me)
    assert status.json()["status"] == "completed"

    raw = await raw_database(owner_engine)
    assert "ana.lima@example.org" not in raw
    assert "ana.lima@example.org" not in caplog.text
    async with owner_engine.connect() as connection:
        left = (
            await connection.execute(
                sa.text("SELECT count(*) FROM privacy_exports WHERE person_id = :p"), {"p": ana}
            )
        ).scalar_one()
        kept = (
            await connection.execute(
                sa.text("SELECT customer_id FROM bookings WHERE id = :b"), {"b": ana_booking}
            )
        ).scalar_one()
    assert left == 0
    assert kept == ana  # the provider's schedule keeps the booking, pseudonymous
    bea_after = await rig.use_cases["export_now"](bea)
    assert _without_time(bea_after.unwrap()) == _without_time(bea_before.unwrap())


def _without_time(document: dict[str, Json]) -> dict[str, Json]:
    return {k: v for k, v in document.items() if k != "generated_at"}


# --- CLI -------------------------------------------------------------------------------------

runner = CliRunner()


def _reserva(database: LocalDatabase, redis_url: str, *args: str) -> Any:
    env = {"DATABASE_URL": database.app_url, "REDIS_URL": redis_url}
    return runner.invoke(cli_app, list(args), env=env)


async def test_the_cli_exports_and_erases_a_person(
    context_database: LocalDatabase, engine: AsyncEngine, owner_engine: AsyncEngine, tmp_path: Path,
    kek_file: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("KEK_FILE", str(kek_file))
    ana = UserId(uuid.uuid4())
    async with owner_engine.begin() as connection:
        await connection.execute(
            sa.text("TRUNCATE privacy_exports, erasure_requests, bookings CASCADE")
        )
    await insert_booking(owner_engine, ana, NOW, 5)
    out = tmp_path / "ana.json"

    exported = await asyncio.to_thread(
        partial(
            _reserva, context_database, redis_url, "privacy", "export", str(ana), "--out", str(out)
        )
    )
    assert exported.exit_code == 0, exported.output
    document = json.loads(out.read_text())
    jsonschema.validate(document, SCHEMA)
    assert len(document["bookings"]) == 1
    assert out.stat().st_mode & 0o077 == 0
    erased = await asyncio.to_thread(
        partial(_reserva, context_database, redis_url, "privacy", "erase", str(ana), "--yes")
    )
    twice = await asyncio.to_thread(
        partial(_reserva, context_database, redis_url, "privacy", "erase", str(ana), "--yes")
    )
    refused = await asyncio.to_thread(
        partial(_reserva, context_database, redis_url, "privacy", "export", str(ana))
    )

    assert erased.exit_code == 0, erased.output
    assert json.loads(erased.stdout)["completed_at"] is not None
    assert twice.exit_code == 0, twice.output
    assert json.loads(twice.stdout) == json.loads(erased.stdout)
    assert refused.exit_code == 1
    assert "erased" in refused.stderr
    # The erasure is in the register beside the key file; nothing to shred again here.
    assert str(ana) in (kek_file.parent / f"{kek_file.name}.erasures").read_text()
    reapplied = await asyncio.to_thread(
        partial(_reserva, context_database, redis_url, "privacy", "reapply-erasures")
    )
    assert reapplied.exit_code == 0, reapplied.output
    assert "0 erased people had a key again" in reapplied.stderr + reapplied.stdout
