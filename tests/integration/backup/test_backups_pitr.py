"""`reserva backup now|list|restore` against a real private cluster and a real, encrypted
pgBackRest repository (ADR 36).

The module's cluster is the CLI's own: RESERVA_DATA_DIR and RESERVA_PG_PORT point at a temporary
folder and a free port, DATABASE_URL is unset, so each command finds (or starts) it there, as on
a developer's machine. Bookings are held through the use cases; restores go into new clusters,
which each test stops.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import psycopg
import pytest
from click.testing import Result
from typer.testing import CliRunner

from adapters.postgis import migrate
from adapters.security.keyring import FileKeyStore
from core.bookings import NewOffering, NewPlace, SlotRequest
from core.bookings.model import Address, BookingRules, LocalInterval, OfferingKind, WeeklyRule
from core.shared.ids import OfferingId, UserId
from core.shared.money import Money
from core.shared.principal import Principal, Role
from devservers.net import free_port
from devservers.pgbackrest import BackupError, LocalBackups
from devservers.postgres import LocalPostgres
from entrypoints.cli import identity
from entrypoints.cli.backup import local_backups
from entrypoints.cli.main import app
from entrypoints.container import Container, build_container
from entrypoints.settings import Settings

runner = CliRunner()
HOUR = timedelta(hours=1)
MARKER = f"Plaintext Marker Club {uuid.uuid4().hex}"


@attrs.frozen(kw_only=True)
class Machine:
    """The environment of a developer machine whose ./.data is `data_dir`."""

    data_dir: Path
    env: dict[str, str]

    def reserva(self, *args: str, **extra: str) -> Result:
        return runner.invoke(app, list(args), env=self.env | {"COLUMNS": "250"} | extra)

    @property
    def cluster(self) -> LocalPostgres:
        return local_backups(self.env).cluster

    def sql(self, query: str, port: int | None = None) -> list[tuple[object, ...]]:
        with psycopg.connect(
            host="127.0.0.1",
            port=port or self.cluster.port,
            user="postgres",
            dbname="reserva",
            autocommit=True,
        ) as conn:
            return conn.execute(query).fetchall()


def assert_failed_with(result: Result, words: str) -> None:
    assert result.exit_code == 1, result.output
    assert words in result.stderr, result.stderr
    assert "Traceback" not in result.output


@pytest.fixture(scope="module")
def machine() -> Iterator[Machine]:
    # In memory where there is /dev/shm: three clusters and a repository are written, synced
    # and deleted here, which on a disk mounted with `discard` costs more than all the rest.
    shm = Path("/dev/shm")
    workdir = Path(tempfile.mkdtemp(prefix="reserva-backup-", dir=shm if shm.is_dir() else None))
    data_dir = workdir / ".data"
    kek_file = workdir / "keys" / "kek.json"  # the backup key goes beside it
    FileKeyStore.create(kek_file)
    env = {
        "DATABASE_URL": "",
        "RESERVA_DATA_DIR": str(data_dir),
        "RESERVA_PG_PORT": str(free_port()),
        "KEK_FILE": str(kek_file),
        "REDIS_URL": "redis://127.0.0.1:1/0",  # nothing here uses Redis
    }
    found = Machine(data_dir=data_dir, env=env)
    # The CLI finds this cluster running on its port and uses it; durability off, as every test
    # cluster (a backup forces full-page writes while it runs, so restores are still exact).
    throwaway = LocalPostgres(found.cluster.data_dir, found.cluster.port, durable=False)
    try:
        database = throwaway.ensure_running()
        migrate.upgrade(database.migrator_url)
        yield found
    finally:
        found.cluster.stop()
        shutil.rmtree(workdir)


@pytest.fixture(scope="module")
def offering(machine: Machine) -> OfferingId:
    """A court bookable at every hour, whose provider's name is the plaintext marker."""
    return asyncio.run(_seed(machine))


async def _seed(machine: Machine) -> OfferingId:
    container = _container(machine)
    try:
        caller = await identity.operator(container)
        provider = (await container.create_provider()(caller, MARKER)).unwrap()
        address = Address(line1="1 Rua", city="Lisbon", postal_code="1100", country="PT")
        new_place = NewPlace(
            provider_id=provider.id,
            name="Backup Centre",
            address=address,
            lat=38.72,
            lng=-9.14,
            timezone="Europe/Lisbon",
        )
        place = (await container.add_place()(caller, new_place)).unwrap()
        all_day = [WeeklyRule(weekday=d, interval=LocalInterval(0, 1440)) for d in range(7)]
        (await container.set_opening_hours()(caller, place.id, all_day, [])).unwrap()
        court = (await container.add_resource()(caller, place.id, "Court 1")).unwrap()
        new_offering = NewOffering(
            place_id=place.id,
            kind=OfferingKind.APPOINTMENT,
            name="Court hour",
            category="tennis",
            price=Money.of(2500, "EUR").unwrap(),
            rules=BookingRules(duration=HOUR, slot_step=HOUR),
            resource_ids=(court.id,),
        )
        made = (await container.create_offering()(caller, new_offering)).unwrap()
        return made.id
    finally:
        await container.close()


def _container(machine: Machine) -> Container:
    database = machine.cluster.database("reserva")
    return build_container(
        Settings(
            database_url=database.app_url,
            redis_url=machine.env["REDIS_URL"],
            kek_file=Path(machine.env["KEK_FILE"]),
        )
    )


_next_hour = iter(range(48, 10_000))  # every hold in the module takes an hour of its own


def hold(machine: Machine, offering: OfferingId, count: int) -> set[str]:
    """`count` bookings held through the use case, committed; their ids."""

    async def work() -> set[str]:
        container = _container(machine)
        base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        try:
            ids = set()
            for _ in range(count):
                customer = Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.CUSTOMER}))
                start = base + timedelta(hours=next(_next_hour))
                request = SlotRequest(offering_id=offering, start=start)
                booking = (await container.hold_slot()(customer, request)).unwrap()
                ids.add(str(booking.id))
            return ids
        finally:
            await container.close()

    return asyncio.run(work())


def database_time(machine: Machine) -> datetime:
    [(now,)] = machine.sql("SELECT clock_timestamp()")
    assert isinstance(now, datetime)
    return now


def booking_ids(machine: Machine, port: int) -> set[str]:
    return {str(row[0]) for row in machine.sql("SELECT id FROM bookings", port)}


def restorable_now(machine: Machine) -> None:
    """pgBackRest records whole seconds: wait until the last backup is restorable."""
    latest = local_backups(machine.env).list()[-1]
    while datetime.now(UTC) < latest.restorable_from:
        time.sleep(0.1)


@pytest.fixture(scope="module")
def first_backup(machine: Machine, offering: OfferingId) -> Result:
    return machine.reserva("backup", "now")


# ---------------------------------------------------------------- backups and restores


def test_first_backup_is_full_and_archives_wal_encrypted(
    machine: Machine, first_backup: Result
) -> None:
    assert first_backup.exit_code == 0, first_backup.output
    assert "F " in first_backup.stdout
    assert " full " in first_backup.stdout
    [(archive_command,)] = machine.sql("SELECT current_setting('archive_command')")
    assert "archive-push" in str(archive_command)
    assert 'PGBACKREST_REPO1_CIPHER_PASS="$(cat ' in str(archive_command)  # the file, not the key
    key_file = Path(machine.env["KEK_FILE"]).parent / "backup.key"
    key = key_file.read_text().strip()
    assert len(key) >= 64
    assert key not in str(archive_command)
    assert key not in (machine.data_dir / "backup" / "pgbackrest.conf").read_text()
    assert key_file.stat().st_mode & 0o077 == 0


def test_restore_into_a_new_cluster_has_exactly_the_bookings_before_the_time(
    machine: Machine, offering: OfferingId, first_backup: Result
) -> None:
    assert first_backup.exit_code == 0, first_backup.output
    restorable_now(machine)
    before = hold(machine, offering, 3)
    moment = database_time(machine)
    after = hold(machine, offering, 2)
    into = machine.data_dir.parent / f"restored-{uuid.uuid4().hex[:8]}"
    port = free_port()

    result = machine.reserva(
        "backup", "restore", "--to", moment.isoformat(), "--into", str(into), "--port", str(port)
    )

    try:
        assert result.exit_code == 0, result.output
        assert f"running on 127.0.0.1:{port}" in result.stdout
        assert f"bin/pg_ctl stop -D {into}" in result.stdout
        restored = booking_ids(machine, port)
        assert before <= restored
        assert not restored & after
        assert restored == booking_ids(machine, machine.cluster.port) - after
        [(recovering,)] = machine.sql("SELECT pg_is_in_recovery()", port)
        assert recovering is False  # promoted: a writable cluster
        [(archive_command,)] = machine.sql("SELECT current_setting('archive_command')", port)
        assert archive_command == "true"  # the copy never archives into the cluster's repository
    finally:
        LocalPostgres(into, port).stop()


def test_incremental_builds_on_the_full_backup_and_both_are_listed(
    machine: Machine, offering: OfferingId, first_backup: Result
) -> None:
    hold(machine, offering, 1)
    incremental = machine.reserva("backup", "now", "--type", "incr")
    listed = machine.reserva("backup", "list")

    assert incremental.exit_code == 0, incremental.output
    assert listed.exit_code == 0, listed.output
    full_label = local_backups(machine.env).list()[0].label
    assert f"{full_label}_" in incremental.stdout  # pgBackRest's label of an incremental
    assert " incr " in incremental.stdout
    assert full_label in listed.stdout
    assert " incr " in listed.stdout
    assert "point-in-time restores reach from" in listed.stderr


# ---------------------------------------------------------------- the key


def _repository_files(machine: Machine) -> list[Path]:
    return [path for path in (machine.data_dir / "backup" / "repo").rglob("*") if path.is_file()]


def test_repository_holds_no_plaintext_every_file_is_encrypted(
    machine: Machine, first_backup: Result
) -> None:
    assert first_backup.exit_code == 0, first_backup.output
    marker = MARKER.encode()
    cluster_files = [path for path in machine.cluster.data_dir.rglob("*") if path.is_file()]
    assert any(marker in path.read_bytes() for path in cluster_files)  # the scan can find it
    files = _repository_files(machine)
    data_files = [path for path in files if "pg_data" in path.parts or "archive" in path.parts]
    assert len(data_files) > 100

    assert not [path for path in files if marker in path.read_bytes()]
    # OpenSSL's envelope, which pgBackRest's aes-256-cbc writes: nothing is stored in the clear.
    assert not [path for path in files if not path.read_bytes().startswith(b"Salted__")]


def test_repository_is_unreadable_with_a_wrong_key_or_none(
    machine: Machine, first_backup: Result
) -> None:
    assert first_backup.exit_code == 0, first_backup.output
    wrong_key = machine.data_dir.parent / "wrong.key"
    wrong_key.write_text("not-the-passphrase-of-this-repository\n")
    wrong = LocalBackups(machine.cluster, machine.data_dir / "backup", wrong_key)

    with pytest.raises(BackupError, match="cannot be decrypted with the key"):
        wrong.list()
    by_cli = machine.reserva("backup", "list", BACKUP_KEY_FILE=str(wrong_key))
    assert_failed_with(by_cli, "cannot be decrypted with the key")
    missing = machine.reserva("backup", "list", BACKUP_KEY_FILE=str(wrong_key) + ".gone")
    assert_failed_with(missing, "is missing")
    # pgBackRest itself, told the repository is not encrypted, finds no format it can read.
    no_cipher = subprocess.run(
        (
            *("runuser", "-u", "postgres", "--", "pgbackrest"),
            f"--config={machine.data_dir / 'backup' / 'pgbackrest.conf'}",
            *("--stanza=reserva", "--repo1-cipher-type=none", "--output=json", "info"),
        ),
        cwd="/",
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        check=False,
    )
    [stanza] = json.loads(no_cipher.stdout, strict=False)
    assert stanza["status"]["code"] != 0
    assert stanza["backup"] == []
    assert "Salted__" in stanza["repo"][0]["status"]["message"]  # encrypted bytes, unread


# ---------------------------------------------------------------- clear errors


def test_bad_input_is_one_clear_line(machine: Machine, first_backup: Result) -> None:
    assert first_backup.exit_code == 0, first_backup.output
    first = local_backups(machine.env).list()[0]
    not_empty = machine.data_dir.parent / "not-empty"
    not_empty.mkdir(exist_ok=True)
    (not_empty / "file").write_text("x")
    never_made = machine.data_dir.parent / "never-made"
    before_first = (first.started - timedelta(hours=1)).isoformat()
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()

    assert_failed_with(machine.reserva("backup", "restore", "--to", "yesterday"), "not a time")
    assert_failed_with(
        machine.reserva("backup", "restore", "--to", before_first, "--into", str(never_made)),
        "before the first backup finished",
    )
    assert_failed_with(
        machine.reserva("backup", "restore", "--to", tomorrow, "--yes"), "in the future"
    )
    assert_failed_with(
        machine.reserva("backup", "restore", "--to", tomorrow, "--into", str(not_empty)),
        "is not empty",
    )
    assert_failed_with(machine.reserva("backup", "now", "--type", "diff"), "not a backup type")
    assert_failed_with(
        machine.reserva("backup", "list", DATABASE_URL="postgresql+psycopg://x@db/reserva"),
        "private local cluster only",
    )


def test_no_backups_yet_is_said_before_anything_starts(tmp_path: Path) -> None:
    env = {"DATABASE_URL": "", "RESERVA_DATA_DIR": str(tmp_path / ".data"), "KEK_FILE": ""}
    fresh = Machine(data_dir=tmp_path / ".data", env=env | {"RESERVA_PG_PORT": str(free_port())})

    assert_failed_with(fresh.reserva("backup", "list"), "no backups yet")
    assert_failed_with(
        fresh.reserva("backup", "restore", "--to", "2026-01-01T00:00:00Z", "--yes"),
        "no backups yet",
    )
    assert not (tmp_path / ".data").exists()  # nothing was made or started to find that out


# ---------------------------------------------------------------- in place (last: it restarts)


def test_restore_in_place_keeps_the_old_data_directory_aside(
    machine: Machine, offering: OfferingId, first_backup: Result
) -> None:
    restorable_now(machine)
    kept = booking_ids(machine, machine.cluster.port)
    moment = database_time(machine)
    lost = hold(machine, offering, 2)

    naive_utc = moment.astimezone(UTC).replace(tzinfo=None).isoformat()  # no zone: UTC

    result = machine.reserva("backup", "restore", "--to", naive_utc, "--yes")

    assert result.exit_code == 0, result.output
    assert booking_ids(machine, machine.cluster.port) == kept
    aside = [path for path in machine.data_dir.iterdir() if ".before-restore-" in path.name]
    assert len(aside) == 1
    assert (aside[0] / "PG_VERSION").exists()
    assert str(aside[0]) in result.stdout
    assert lost  # held, then undone by the restore
    # The restored cluster archives on: a backup after the restore works.
    again = machine.reserva("backup", "now", "--type", "incr")
    assert again.exit_code == 0, again.output
