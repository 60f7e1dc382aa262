"""`reserva` commands against a real PostGIS database, through typer's CliRunner.

Every command builds the production container from DATABASE_URL; every failure must end with
exit status 1 and exactly one line on stderr.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest
import pytest_asyncio
from click.testing import Result
from dependency_injector import providers
from typer.testing import CliRunner

from adapters.memory.clock import FixedClock
from adapters.postgis import migrate
from core.bookings import NewOffering, NewPlace, SlotRequest
from core.bookings.model import (
    Address,
    Booking,
    BookingRules,
    LocalInterval,
    OfferingKind,
    WeeklyRule,
)
from core.shared.ids import ProviderId, UserId
from core.shared.money import Money
from core.shared.principal import Principal, Role
from devservers.net import free_port
from devservers.postgres import LocalDatabase, LocalPostgres
from entrypoints.cli import identity
from entrypoints.cli.main import app
from entrypoints.container import build_container
from entrypoints.settings import Settings

runner = CliRunner()
HOUR = timedelta(hours=1)


def reserva(database_url: str, *args: str, **env: str) -> Result:
    environment = {"DATABASE_URL": database_url, "REDIS_URL": "redis://127.0.0.1:1/0"}
    return runner.invoke(app, list(args), env=environment | {"COLUMNS": "250"} | env)


def assert_failed_with(result: Result, words: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stderr.count("\n") == 1, result.stderr
    assert words in result.stderr
    assert "Traceback" not in result.output


@pytest.fixture(scope="module")
def database(postgres_server: LocalPostgres) -> str:
    database = postgres_server.create_database(f"reserva_cli_{uuid.uuid4().hex[:12]}")
    migrate.upgrade(database.migrator_url)
    return database.app_url


@attrs.frozen(kw_only=True)
class Seeded:
    provider_id: str
    place_id: str
    resource_id: str
    booking_id: str


@pytest_asyncio.fixture(scope="module")
async def seeded(database: str, kek_file: Path) -> AsyncIterator[Seeded]:
    """One provider with a place, a court, an offering and a held booking, via the use cases."""
    container = build_container(
        Settings(database_url=database, redis_url="redis://127.0.0.1:1", kek_file=kek_file)
    )
    try:
        caller = await identity.operator(container)
        provider = (await container.create_provider()(caller, "Seeded Club")).unwrap()
        place = (
            await container.add_place()(
                caller,
                NewPlace(
                    provider_id=provider.id,
                    name="Seeded Centre",
                    address=Address(line1="1 Rua", city="Lisbon", postal_code="1100",
                                    country="PT"),
                    lat=38.72,
                    lng=-9.14,
                    timezone="Europe/Lisbon",
                ),
            )
        ).unwrap()  # fmt: skip
        all_day = [WeeklyRule(weekday=d, interval=LocalInterval(0, 1440)) for d in range(7)]
        (await container.set_opening_hours()(caller, place.id, all_day, [])).unwrap()
        court = (await container.add_resource()(caller, place.id, "Court 1")).unwrap()
        offering = (
            await container.create_offering()(
                caller,
                NewOffering(
                    place_id=place.id,
                    kind=OfferingKind.APPOINTMENT,
                    name="Court hour",
                    category="tennis",
                    price=Money.of(2500, "EUR").unwrap(),
                    rules=BookingRules(duration=HOUR, slot_step=HOUR),
                    resource_ids=(court.id,),
                ),
            )
        ).unwrap()
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
        customer = Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.CUSTOMER}))
        booking = (
            await container.hold_slot()(customer, SlotRequest(offering_id=offering.id, start=start))
        ).unwrap()
        yield Seeded(
            provider_id=str(provider.id),
            place_id=str(place.id),
            resource_id=str(court.id),
            booking_id=str(booking.id),
        )
    finally:
        await container.close()


# ---------------------------------------------------------------- happy paths


def test_db_upgrade_and_downgrade_walk_the_schema(new_database: LocalDatabase) -> None:
    def db(*args: str) -> Result:
        owner = new_database.migrator_url
        return reserva(new_database.app_url, "db", *args, MIGRATION_DATABASE_URL=owner)

    up = db("upgrade")
    down = db("downgrade", "base")
    up_again = db("upgrade", "head")

    assert up.exit_code == down.exit_code == up_again.exit_code == 0, up.output + down.output
    assert "database at base" in down.stdout
    assert up.stdout == up_again.stdout
    assert migrate.current(new_database.migrator_url) is not None


def test_providers_create_and_list(database: str) -> None:
    created = reserva(database, "providers", "create", "Cli Padel")
    listed = reserva(database, "providers", "list", "--limit", "1000")

    assert created.exit_code == 0, created.output
    assert "Cli Padel" in created.stdout
    assert "Cli Padel" in listed.stdout


def test_offerings_create_and_list(database: str, seeded: Seeded) -> None:
    created = reserva(
        database,
        "offerings", "create",
        "--place", seeded.place_id,
        "--name", "Evening court",
        "--category", "Tennis",
        "--price", "19.90",
        "--duration", "90",
        "--step", "30",
        "--resource", seeded.resource_id,
    )  # fmt: skip
    listed = reserva(database, "offerings", "list", "--provider", seeded.provider_id)

    assert created.exit_code == 0, created.output
    assert "19.90 EUR" in created.stdout
    assert "Evening court" in listed.stdout
    assert "Court hour" in listed.stdout


def test_bookings_list_for_one_provider_and_for_all(database: str, seeded: Seeded) -> None:
    one = reserva(database, "bookings", "list", "--provider", seeded.provider_id)
    everywhere = reserva(database, "bookings", "list")

    assert one.exit_code == everywhere.exit_code == 0, one.output + everywhere.output
    assert seeded.booking_id in one.stdout
    assert seeded.booking_id in everywhere.stdout


async def _hold_an_hour_ago(
    database: str, provider_id: str, kek_file: Path, days_ahead: int = 3
) -> Booking:
    """A ten-minute hold made an hour ago, through the use cases: nobody has swept it."""
    container = build_container(
        Settings(database_url=database, redis_url="redis://127.0.0.1:1", kek_file=kek_file)
    )
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    container.clock.override(providers.Object(FixedClock(an_hour_ago)))
    try:
        catalog = await container.get_catalog()(ProviderId(uuid.UUID(provider_id)))
        start = an_hour_ago.replace(minute=0, second=0, microsecond=0)
        start += timedelta(days=days_ahead)
        customer = Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.CUSTOMER}))
        # The seeded hourly offering: another test adds a 90-minute one, which has no slot
        # starting at 23:00 (it would end after the day's hours).
        court_hour = next(o for o in catalog.unwrap().offerings if o.name == "Court hour")
        request = SlotRequest(offering_id=court_hour.id, start=start)
        held: Booking = (await container.hold_slot()(customer, request)).unwrap()
        return held
    finally:
        await container.close()


def test_bookings_list_shows_a_hold_past_its_expiry_as_expired(
    database: str, seeded: Seeded, kek_file: Path
) -> None:
    held = asyncio.run(_hold_an_hour_ago(database, seeded.provider_id, kek_file))

    listed = reserva(database, "bookings", "list", "--provider", seeded.provider_id)

    row = next(line for line in listed.stdout.splitlines() if str(held.id) in line)
    assert "expired" in row
    assert "held" not in row


async def _shred(database: str, kek_file: Path, person: UserId) -> None:
    """What erasure does first: destroy the person's data key (a tombstone stays)."""
    container = build_container(
        Settings(database_url=database, redis_url="redis://127.0.0.1:1", kek_file=kek_file)
    )
    try:
        await container.personal_data().shred(person)
    finally:
        await container.close()


def test_bookings_list_marks_an_erased_customer(
    database: str, seeded: Seeded, kek_file: Path
) -> None:
    held = asyncio.run(_hold_an_hour_ago(database, seeded.provider_id, kek_file, days_ahead=4))
    asyncio.run(_shred(database, kek_file, held.customer_id))

    listed = reserva(database, "bookings", "list", "--provider", seeded.provider_id)

    assert listed.exit_code == 0, listed.output
    erased = next(line for line in listed.stdout.splitlines() if str(held.id) in line)
    other = next(line for line in listed.stdout.splitlines() if seeded.booking_id in line)
    assert f"{held.customer_id} (erased customer)" in erased
    assert "erased" not in other


def test_bookings_cancel_then_cancel_again_fails(database: str, seeded: Seeded) -> None:
    cancelled = reserva(database, "bookings", "cancel", seeded.booking_id)
    again = reserva(database, "bookings", "cancel", seeded.booking_id)

    assert cancelled.exit_code == 0, cancelled.output
    assert "cancelled" in cancelled.stdout
    assert_failed_with(again, "cannot cancel a booking that is cancelled")


# ---------------------------------------------------------------- failures: one line, exit 1


def test_a_malformed_uuid_is_refused(database: str) -> None:
    assert_failed_with(
        reserva(database, "bookings", "cancel", "not-a-uuid"), "not a valid booking id"
    )
    assert_failed_with(
        reserva(database, "offerings", "list", "--provider", "123"), "not a valid provider id"
    )


def test_an_unknown_id_is_not_found(database: str) -> None:
    missing = str(uuid.uuid4())

    assert_failed_with(reserva(database, "bookings", "cancel", missing), f"{missing} not found")
    assert_failed_with(reserva(database, "offerings", "list", "--provider", missing), "not found")


def test_an_unreachable_database_is_named(database: str) -> None:
    closed = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/reserva"

    assert_failed_with(reserva(closed, "providers", "list"), "cannot reach the database")


def test_an_unmigrated_database_says_what_to_run(new_database: LocalDatabase) -> None:
    assert_failed_with(reserva(new_database.app_url, "providers", "list"), "reserva db upgrade")


def test_an_unknown_revision_is_refused(new_database: LocalDatabase) -> None:
    owner = new_database.migrator_url
    result = reserva(new_database.app_url, "db", "downgrade", "nonsense",
                     MIGRATION_DATABASE_URL=owner)  # fmt: skip
    assert_failed_with(result, "nonsense")


def test_the_app_role_cannot_migrate(new_database: LocalDatabase) -> None:
    """Without MIGRATION_DATABASE_URL, migrations run as the app role, which may not."""
    assert_failed_with(reserva(new_database.app_url, "db", "upgrade"), "permission denied")


def test_a_price_with_too_many_decimals_is_refused(database: str, seeded: Seeded) -> None:
    result = reserva(
        database,
        "offerings", "create",
        "--place", seeded.place_id,
        "--name", "Odd",
        "--category", "tennis",
        "--price", "12.345",
        "--resource", seeded.resource_id,
    )  # fmt: skip

    assert_failed_with(result, "too many decimal places")


def test_a_malformed_setting_is_named(database: str) -> None:
    result = reserva(database, "providers", "list", HOLD_TTL_SECONDS="soon")

    assert_failed_with(result, "HOLD_TTL_SECONDS")


def test_demo_data_only_loads_into_an_empty_catalog(database: str, seeded: Seeded) -> None:
    assert_failed_with(reserva(database, "demo", "load", "--count", "2"), "already has providers")


def test_demo_load_fills_an_empty_catalog(new_database: LocalDatabase) -> None:
    migrate.upgrade(new_database.migrator_url)

    result = reserva(new_database.app_url, "demo", "load", "--count", "3")
    listed = reserva(new_database.app_url, "providers", "list")

    assert result.exit_code == 0, result.output
    assert "loaded 3 providers" in result.stdout
    assert listed.stdout.count("\n│ ") == 3
