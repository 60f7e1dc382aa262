"""A catalog cached in one process never makes another process's change unseen (issue 11).

Process A is the production API in a subprocess (tests/api_process.py): its bookable catalog
caches the place's opening hours on the first hold. This test process is process B: it changes
the hours through its own container, on the same database. A's next holds obey the new hours,
both ways: a time B closed is refused, a time B opened is held.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from returns.result import Success

from adapters.postgis import migrate
from core.bookings import NewOffering, NewPlace
from core.bookings.model import Address, BookingRules, LocalInterval, OfferingKind, WeeklyRule
from core.shared.ids import UserId
from core.shared.money import Money
from core.shared.principal import Principal, Role
from devservers.postgres import LocalPostgres
from entrypoints.container import Container, build_container
from entrypoints.settings import Settings
from process_support import wait_until_answering

TESTS = Path(__file__).resolve().parents[2]
ADMIN = Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.ADMIN}), mfa=True)


@pytest.fixture(scope="module")
def database_url(postgres_server: LocalPostgres) -> str:
    database = postgres_server.create_database(f"processes_{uuid.uuid4().hex[:12]}")
    migrate.upgrade(database.migrator_url)
    return database.app_url


@pytest.fixture
def process_a(database_url: str, redis_url: str, kek_file: Path) -> Iterator[dict[str, Any]]:
    """The API in its own process: its base URL and a customer's Authorization header."""
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(TESTS.parent / "src"), str(TESTS)])}
    command = [sys.executable, str(TESTS / "api_process.py"), database_url, redis_url]
    server = subprocess.Popen([*command, str(kek_file)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        announced: dict[str, Any] = json.loads(server.stdout.readline())
        wait_until_answering(f"{announced['url']}/providers")
        yield announced
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        finally:
            server.kill()


@pytest.fixture
async def process_b(database_url: str, redis_url: str, kek_file: Path) -> AsyncIterator[Container]:
    container = build_container(
        Settings(database_url=database_url, redis_url=redis_url, kek_file=kek_file)
    )
    yield container
    await container.close()


def ok(result: Any) -> Any:
    assert isinstance(result, Success), result
    return result.unwrap()


def _every_day(*intervals: tuple[int, int]) -> list[WeeklyRule]:
    return [
        WeeklyRule(weekday=day, interval=LocalInterval(opens * 60, closes * 60))
        for day in range(7)
        for opens, closes in intervals
    ]


async def _court(b: Container) -> tuple[uuid.UUID, uuid.UUID]:
    """A place in UTC open 08:00-20:00 with one court bookable by the hour: (place, offering)."""
    provider = ok(await b.create_provider()(ADMIN, "Across processes"))
    address = Address(line1="1 Main St", city="London", postal_code="N1", country="GB")
    place = ok(
        await b.add_place()(
            ADMIN,
            NewPlace(
                provider_id=provider.id,
                name="Court",
                address=address,
                lat=51.5,
                lng=-0.1,
                timezone="UTC",
            ),
        )
    )
    ok(await b.set_opening_hours()(ADMIN, place.id, _every_day((8, 20)), []))
    court = ok(await b.add_resource()(ADMIN, place.id, "Court 1"))
    rules = BookingRules(duration=timedelta(hours=1), slot_step=timedelta(hours=1))
    offering = ok(
        await b.create_offering()(
            ADMIN,
            NewOffering(
                place_id=place.id,
                kind=OfferingKind.APPOINTMENT,
                name="Court hour",
                category="tennis",
                price=Money.of(0, "EUR").unwrap(),
                rules=rules,
                resource_ids=(court.id,),
            ),
        )
    )
    return place.id, offering.id


def _hold(a: dict[str, Any], offering: uuid.UUID, start: datetime) -> int:
    body = {"offering_id": str(offering), "start": start.isoformat()}
    answer = httpx.post(f"{a['url']}/bookings", json=body, headers=a["customer"], timeout=30)
    assert answer.status_code in (201, 409), answer.text
    return answer.status_code


async def test_hours_changed_in_one_process_are_obeyed_by_the_next_hold_in_another(
    process_a: dict[str, Any], process_b: Container
) -> None:
    place, offering = await _court(process_b)
    tomorrow = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    tomorrow += timedelta(days=1)
    assert _hold(process_a, offering, tomorrow + timedelta(hours=9)) == 201  # A caches 08-20

    set_hours = process_b.set_opening_hours()
    ok(await set_hours(ADMIN, place, _every_day((8, 10), (20, 22)), []))  # B: 10-20 closed

    assert _hold(process_a, offering, tomorrow + timedelta(hours=11)) == 409  # closed by B
    assert _hold(process_a, offering, tomorrow + timedelta(hours=20)) == 201  # opened by B
    assert _hold(process_a, offering, tomorrow + timedelta(hours=8)) == 201  # still open

    ok(await set_hours(ADMIN, place, _every_day((8, 10)), []))  # B: the evening closes again
    assert _hold(process_a, offering, tomorrow + timedelta(hours=21)) == 409

    ok(await set_hours(ADMIN, place, _every_day((8, 10), (12, 13)), []))  # B: noon opens
    assert _hold(process_a, offering, tomorrow + timedelta(hours=12)) == 201  # A cached it closed
