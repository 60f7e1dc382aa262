"""`reserva webhooks dead|redeliver` against a real PostGIS database, through typer's CliRunner.

Every failure ends with exit status 1 and exactly one line on stderr. The commands are mounted on
a Typer app of their own with the CLI's runner: `main` mounts them once the wiring lands.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import attrs
import pytest
from click.testing import Result
from typer.testing import CliRunner

from adapters.memory.keyring import MemoryKeyring
from adapters.postgis import migrate
from adapters.postgis.database import create_engine
from adapters.postgis.integrations import PostgisIntegrationsUnitOfWork
from core.integrations import (
    Delivery,
    DeliveryId,
    Endpoint,
    EndpointId,
    EventType,
    PostOutcome,
    SealedSecret,
    secret_purpose,
)
from core.shared.ids import EventId, ProviderId
from core.shared.unit_of_work import MAINTENANCE
from devservers.postgres import LocalPostgres
from entrypoints.cli import main

runner = CliRunner()
CREATED = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
PROVIDER = ProviderId(uuid.uuid4())
URL = "https://hooks.example.com/crm"


def reserva(database_url: str, *args: str) -> Result:
    environment = {"DATABASE_URL": database_url, "REDIS_URL": "redis://127.0.0.1:1/0"}
    return runner.invoke(main.app, list(args), env=environment | {"COLUMNS": "250"})


def assert_failed_with(result: Result, words: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stderr.count("\n") == 1, result.stderr
    assert words in result.stderr
    assert "Traceback" not in result.output


@attrs.frozen
class Seeded:
    database_url: str
    older: DeliveryId
    newer: DeliveryId
    failed: DeliveryId


async def _seed(database_url: str) -> Seeded:
    keyring = MemoryKeyring()
    endpoint_id = EndpointId(uuid.uuid4())
    sealed = await keyring.seal(b"whsec_x", purpose=secret_purpose(endpoint_id))
    endpoint = Endpoint(
        id=endpoint_id,
        provider_id=PROVIDER,
        url=URL,
        event_types=frozenset({EventType.CONFIRMED}),
        active=True,
        created_at=CREATED,
        secret=SealedSecret(sealed=sealed, created_at=CREATED),
    )

    def delivery(created: datetime) -> Delivery:
        return Delivery(
            id=DeliveryId(uuid.uuid4()),
            endpoint_id=endpoint_id,
            event_id=EventId(uuid.uuid4()),
            event_type=EventType.CONFIRMED,
            payload={"id": "e", "type": "confirmed"},
            created_at=created,
            next_attempt_at=created,
        )

    refused = PostOutcome(status=503, body="down for maintenance", latency_ms=12)
    older, newer, failed = (delivery(CREATED + timedelta(minutes=n)) for n in (1, 2, 3))
    engine = create_engine(database_url)
    try:
        async with PostgisIntegrationsUnitOfWork(engine, MAINTENANCE) as uow:
            await uow.endpoints.add(endpoint)
            for d in (older, newer, failed):
                assert await uow.deliveries.add(d)
            for d in (older, newer):
                tried = d.tried(refused, d.created_at + timedelta(hours=25))  # past the span
                assert await uow.deliveries.record(tried, attempts_before=0)
            await uow.deliveries.record(failed.tried(refused, failed.created_at), attempts_before=0)
            await uow.commit()
    finally:
        await engine.dispose()
    return Seeded(database_url, older.id, newer.id, failed.id)


@pytest.fixture(scope="module")
def seeded(postgres_server: LocalPostgres) -> Seeded:
    database = postgres_server.create_database(f"reserva_webhooks_cli_{uuid.uuid4().hex[:12]}")
    migrate.upgrade(database.migrator_url)
    return asyncio.run(_seed(database.app_url))


def test_dead_lists_dead_deliveries_newest_first_with_their_last_answer(seeded: Seeded) -> None:
    listed = reserva(seeded.database_url, "webhooks", "dead")
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.index(str(seeded.newer)) < listed.stdout.index(str(seeded.older))
    assert str(seeded.failed) not in listed.stdout
    assert URL in listed.stdout
    assert str(PROVIDER) in listed.stdout
    assert "503 down for maintenance" in listed.stdout

    first = reserva(seeded.database_url, "webhooks", "dead", "--limit", "1")
    assert first.exit_code == 0, first.output
    assert str(seeded.newer) in first.stdout
    assert str(seeded.older) not in first.stdout
    assert f"--before {seeded.newer}" in first.stderr
    rest = reserva(seeded.database_url, "webhooks", "dead", "--before", str(seeded.newer))
    assert str(seeded.older) in rest.stdout
    assert str(seeded.newer) not in rest.stdout


def test_dead_refuses_a_bad_limit_or_cursor(seeded: Seeded) -> None:
    zero = reserva(seeded.database_url, "webhooks", "dead", "--limit", "0")
    assert zero.exit_code != 0
    assert "--limit" in zero.stderr
    assert_failed_with(
        reserva(seeded.database_url, "webhooks", "dead", "--before", "nope"),
        "not a valid webhook delivery id",
    )


def test_redeliver_queues_a_dead_delivery_once(seeded: Seeded) -> None:
    done = reserva(seeded.database_url, "webhooks", "redeliver", str(seeded.older))
    assert done.exit_code == 0, done.output
    assert str(seeded.older) in done.stdout
    assert "pending" in done.stdout
    # Queued already: a second redelivery is refused until the worker has tried it.
    assert_failed_with(
        reserva(seeded.database_url, "webhooks", "redeliver", str(seeded.older)),
        "queued or under way",
    )
    after = reserva(seeded.database_url, "webhooks", "dead")
    assert str(seeded.older) not in after.stdout
    assert str(seeded.newer) in after.stdout


def test_redeliver_refuses_bad_input_in_one_line(seeded: Seeded) -> None:
    assert_failed_with(
        reserva(seeded.database_url, "webhooks", "redeliver", "12"),
        "not a valid webhook delivery id",
    )
    missing = str(uuid.uuid4())
    assert_failed_with(
        reserva(seeded.database_url, "webhooks", "redeliver", missing), f"{missing} not found"
    )
