"""Encrypted backups and point-in-time restores of a private cluster with pgBackRest (ADR 36).

`LocalBackups` keeps one pgBackRest repository for one `LocalPostgres` cluster, in a folder of
its own (`repo/`, `pgbackrest.conf`, `lock/`, `log/`), all owned by the `postgres` OS user, which
runs pgBackRest as it runs the server. The repository is encrypted (aes-256-cbc); its passphrase
lives only in the key file (0600, beside the project's key-encryption key): pgBackRest gets it
through its environment, and the archive and restore commands PostgreSQL runs read it from the
file when they run, so neither the configuration, the database nor the process list holds it.

The first backup creates the stanza and switches the cluster's archive_command from `true` to
pgBackRest's archive-push (ALTER SYSTEM + reload; archive_mode is already on, see
devservers.postgres). Restores go to a point in time, into a new data directory (the cluster
stays untouched) or in place (the old data directory is kept aside).
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from devservers.postgres import SUPERUSER, LocalPostgres, LocalPostgresError

STANZA = "reserva"
CIPHER_TYPE = "aes-256-cbc"
KIND_FULL = "full"
KIND_INCREMENTAL = "incr"
KINDS = (KIND_FULL, KIND_INCREMENTAL)
# The local repository keeps two full backups (and the incrementals and WAL they need); the
# production runbook (docs/backups.md) keeps seven.
LOCAL_RETENTION_FULL = 2
# pgBackRest records whole seconds; a backup is consistent a moment before its recorded stop.
_CONSISTENT_AFTER = timedelta(seconds=1)
_PASS_VARIABLE = "PGBACKREST_REPO1_CIPHER_PASS"  # noqa: S105 - a variable name, not a secret
_OS_USER = "postgres"
_INSTALL_HINT = "install pgBackRest (apt-get install pgbackrest)"
# `pgbackrest info` status codes (pgBackRest's info command reference).
_STATUS_OK = 0
_STATUS_MISSING_STANZA = 1
_STATUS_NO_BACKUP = 2


class BackupError(RuntimeError):
    """A backup or restore could not be done; the message says why and what to do."""


class NoBackupsError(BackupError):
    """The repository has no stanza or no backup yet."""


@dataclass(frozen=True)
class BackupSet:
    """One backup in the repository, as `pgbackrest info` describes it."""

    label: str
    kind: str  # full, incr (or diff, made by hand)
    started: datetime
    stopped: datetime
    database_bytes: int  # the cluster's size
    repository_bytes: int  # stored for a restore from it, with what it builds on
    added_bytes: int  # stored by this backup itself (an incremental: what changed)
    prior: str | None  # the backup an incremental builds on

    @property
    def restorable_from(self) -> datetime:
        """The earliest time a restore from this backup can reach."""
        return self.stopped + _CONSISTENT_AFTER


@dataclass(frozen=True)
class RestoredCluster:
    data_dir: Path
    port: int
    backup: BackupSet
    target: datetime
    kept_aside: Path | None  # an in-place restore's previous data directory

    @property
    def stop_command(self) -> str:
        """What an operator types to stop it (Debian keeps pg_ctl off the PATH)."""
        version = (self.data_dir / "PG_VERSION").read_text().strip()
        pg_ctl = f"/usr/lib/postgresql/{version}/bin/pg_ctl"
        as_postgres = ("runuser", "-u", _OS_USER, "--") if _is_root() else ()
        return shlex.join((*as_postgres, pg_ctl, "stop", "-D", str(self.data_dir)))


class LocalBackups:
    """pgBackRest for `cluster`, its repository and configuration in `folder`."""

    def __init__(
        self,
        cluster: LocalPostgres,
        folder: Path,
        key_file: Path,
        *,
        retention_full: int = LOCAL_RETENTION_FULL,
        compress_type: str = "zst",
    ) -> None:
        self.cluster = cluster
        self.folder = folder.absolute()
        self.key_file = key_file.absolute()
        self.retention_full = retention_full
        self.compress_type = compress_type

    @property
    def config_file(self) -> Path:
        return self.folder / "pgbackrest.conf"

    @property
    def repository(self) -> Path:
        return self.folder / "repo"

    # ------------------------------------------------------------ the three operations

    def backup(self, kind: str = KIND_FULL) -> BackupSet:
        """Take a backup now (the first one sets up the stanza and WAL archiving)."""
        if kind not in KINDS:
            raise BackupError(f"unknown backup type {kind!r}: one of {', '.join(KINDS)}")
        self._prepare(create_key=True)
        self._ensure_archiving()
        before = {backup.label for backup in self._sets(allow_empty=True)}
        self._pgbackrest("backup", f"--type={kind}")
        made = [backup for backup in self._sets() if backup.label not in before]
        if not made:
            raise BackupError("pgbackrest reported success but the repository shows no new backup")
        return made[-1]

    def list(self) -> tuple[BackupSet, ...]:
        """Every backup in the repository, oldest first."""
        self._prepare(create_key=False)
        return self._sets()

    def restore(
        self, target: datetime, *, into: Path | None = None, port: int | None = None
    ) -> RestoredCluster:
        """The cluster as it was at `target`, started: into a new data directory `into` on
        `port`, or, without `into`, in place of the cluster (its data directory kept aside)."""
        if target.tzinfo is None:
            raise BackupError("the restore target needs a time zone")
        if into is not None:
            into = into.absolute()
            if into.exists() and any(into.iterdir()):
                raise BackupError(f"{into} is not empty: restore into a new or empty directory")
            if port is None:
                raise BackupError("a restore into a new directory needs a port to start it on")
        self._prepare(create_key=False)
        now = self._database_now()
        if target > now:
            raise BackupError(
                f"{_text(target)} is in the future (the cluster's clock says {_text(now)})"
            )
        chosen = self._backup_for(target, self._sets())
        self._archive_up_to_now()
        if into is None or port is None:
            return self._restore_in_place(chosen, target)
        return self._restore_into(chosen, target, into, port)

    # ------------------------------------------------------------ setting up

    def _prepare(self, *, create_key: bool) -> None:
        if shutil.which("pgbackrest") is None:
            raise BackupError(f"pgbackrest not found on PATH; {_INSTALL_HINT}")
        if not self.key_file.exists() and not self._has_stanza_folder():
            if not create_key:
                raise NoBackupsError("no backups yet: take one with `reserva backup now`")
            self._create_key()
        self._read_key()  # fails clearly before pgBackRest does
        folders = (self.folder, self.repository, self.folder / "lock", self.folder / "log")
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(self._config())
        if _is_root():
            for owned in folders:
                _give_to_postgres(owned)
            _give_to_postgres(self.config_file)
            _give_to_postgres(self.key_file)

    def _has_stanza_folder(self) -> bool:
        return (self.repository / "backup" / STANZA).exists()

    def _create_key(self) -> None:
        self.key_file.parent.mkdir(parents=True, exist_ok=True)
        # Created 0600 from the start: the passphrase is never readable by others, even briefly.
        descriptor = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as key:
            key.write(secrets.token_urlsafe(48) + "\n")

    def _read_key(self) -> str:
        try:
            passphrase = self.key_file.read_text().strip()
        except FileNotFoundError:
            raise BackupError(
                f"backup key file {self.key_file} is missing: the repository in "
                f"{self.repository} cannot be read without it"
            ) from None
        if not passphrase:
            raise BackupError(f"backup key file {self.key_file} is empty")
        return passphrase

    def _config(self) -> str:
        """pgBackRest's configuration: paths and policy only, never the passphrase."""
        data_dir = self.cluster.data_dir
        return "\n".join(
            (
                "# Written by Reserva (devservers.pgbackrest); rewritten on every use.",
                "[global]",
                f"repo1-path={self.repository}",
                f"repo1-cipher-type={CIPHER_TYPE}",
                f"repo1-retention-full={self.retention_full}",
                f"compress-type={self.compress_type}",
                f"lock-path={self.folder / 'lock'}",
                f"log-path={self.folder / 'log'}",
                "log-level-console=warn",
                "log-level-file=info",
                "start-fast=y",  # checkpoint at once: a backup starts now, not in 5 minutes
                # Not data: the server's log, and the lock of its socket (also in the data dir),
                # which would make a restored cluster on the same port look taken.
                "exclude=server.log",
                f"exclude=.s.PGSQL.{self.cluster.port}.lock",
                "",
                f"[{STANZA}]",
                f"pg1-path={data_dir}",
                f"pg1-port={self.cluster.port}",
                f"pg1-socket-path={data_dir}",
                f"pg1-user={SUPERUSER}",
                "",
            )
        )

    def _wal_command(self, action: str, *extra: str) -> str:
        """A shell command PostgreSQL runs (archive_command, restore_command; the caller adds
        %p/%f): it reads the passphrase from the key file when it runs, so the setting only
        names the file."""
        pgbackrest = shlex.join(
            ("pgbackrest", f"--config={self.config_file}", f"--stanza={STANZA}", *extra, action)
        )
        return f'{_PASS_VARIABLE}="$(cat {shlex.quote(str(self.key_file))})" {pgbackrest}'

    def _ensure_archiving(self) -> None:
        with self._connect() as conn:
            mode = _setting(conn, "archive_mode")
            if mode not in ("on", "always"):
                raise BackupError(
                    f"archive_mode is {mode} on the cluster in {self.cluster.data_dir}: it "
                    "was started by an older Reserva; restart it (stop `reserva serve` and "
                    "its PostgreSQL, then run any command) and back up again"
                )
        if not self._stanza_exists():
            self._pgbackrest("stanza-create")
        wanted = self._wal_command("archive-push") + ' "%p"'
        with self._connect() as conn:
            if _setting(conn, "archive_command") != wanted:
                conn.execute(
                    sql.SQL("ALTER SYSTEM SET archive_command = {}").format(sql.Literal(wanted))
                )
                conn.execute("SELECT pg_reload_conf()")
                # pgbackrest check below switches WAL: the reload must have been seen by then.
                _wait_for_setting(conn, "archive_command", wanted)
                self._pgbackrest("check")

    # ------------------------------------------------------------ reading the repository

    def _info(self) -> Mapping[str, Any]:
        done = self._pgbackrest("info", "--output=json")
        try:
            stanzas = json.loads(done.stdout, strict=False)  # a wrong key: control bytes
        except json.JSONDecodeError:
            raise BackupError(f"pgbackrest info answered no JSON: {done.stdout[:200]}") from None
        found: Mapping[str, Any] = next(
            (stanza for stanza in stanzas if stanza.get("name") == STANZA), {}
        )
        return found

    def _stanza_exists(self) -> bool:
        code = self._info().get("status", {}).get("code")
        return bool(code != _STATUS_MISSING_STANZA)

    def _sets(self, *, allow_empty: bool = False) -> tuple[BackupSet, ...]:
        info = self._info()
        status = info.get("status", {})
        code = status.get("code")
        if code == _STATUS_MISSING_STANZA or (code == _STATUS_NO_BACKUP and not allow_empty):
            raise NoBackupsError("no backups yet: take one with `reserva backup now`")
        if code not in (_STATUS_OK, _STATUS_NO_BACKUP):
            raise self._unusable(info)
        return tuple(_backup_set(raw) for raw in info.get("backup", ()))

    def _unusable(self, info: Mapping[str, Any]) -> BackupError:
        repositories = info.get("repo") or [{}]
        message = str(repositories[0].get("status", {}).get("message", "unknown status"))
        first_line = message.splitlines()[0] if message else "unknown status"
        if "FormatError" in message or "CryptoError" in message:
            # What a wrong passphrase decrypts to is not pgBackRest's format.
            return BackupError(
                f"the repository in {self.repository} cannot be decrypted with the key in "
                f"{self.key_file}: is it this repository's backup key? ({first_line})"
            )
        return BackupError(f"the repository is not usable: {first_line}")

    # ------------------------------------------------------------ restoring

    def _backup_for(self, target: datetime, backups: Sequence[BackupSet]) -> BackupSet:
        usable = [backup for backup in backups if backup.restorable_from <= target]
        if not usable:
            earliest = min(backup.restorable_from for backup in backups)
            raise BackupError(
                f"{_text(target)} is before the first backup finished: the earliest time a "
                f"restore can reach is {_text(earliest)}"
            )
        return max(usable, key=lambda backup: backup.stopped)

    def _archive_up_to_now(self) -> None:
        """Make the WAL up to now restorable: a committed transaction after the target (recovery
        stops at the first commit past it; without one it would end before reaching the target),
        then `pgbackrest check`, which switches WAL and waits until it is archived."""
        with self._connect() as conn:
            conn.execute("SELECT txid_current()")
        self._pgbackrest("check")

    def _restore_into(
        self, backup: BackupSet, target: datetime, into: Path, port: int
    ) -> RestoredCluster:
        self._make_data_dir(into)
        # The copy must not archive into this repository: it shares the cluster's system id,
        # and its new timeline would confuse later restores of the cluster.
        self._restore_files(backup, target, into, "archive_command=true")
        return self._start_restored(into, port, backup, target, kept_aside=None)

    def _restore_in_place(self, backup: BackupSet, target: datetime) -> RestoredCluster:
        data_dir = self.cluster.data_dir
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        aside = data_dir.with_name(f"{data_dir.name}.before-restore-{stamp}")
        self.cluster.stop()
        data_dir.rename(aside)
        self._make_data_dir(data_dir)
        try:
            self._restore_files(backup, target, data_dir)
        except BackupError:
            shutil.rmtree(data_dir, ignore_errors=True)
            aside.rename(data_dir)  # as it was; the caller's next command starts it again
            raise
        try:
            return self._start_restored(data_dir, self.cluster.port, backup, target, aside)
        except (BackupError, LocalPostgresError) as error:
            raise BackupError(
                f"the restored cluster did not start (the data directory from before the "
                f"restore is kept in {aside}): {error}"
            ) from error

    def _make_data_dir(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        data_dir.chmod(0o700)
        if _is_root():
            _give_to_postgres(data_dir)

    def _restore_files(
        self, backup: BackupSet, target: datetime, data_dir: Path, *options: str
    ) -> None:
        restore_command = self._wal_command("archive-get", f"--pg1-path={data_dir}")
        recovery = (
            f'restore_command={restore_command} %f "%p"',
            # After a restore PostgreSQL fsyncs every file before recovery (pgBackRest has
            # synced them already); one syncfs per file system does it in a fraction of the time.
            "recovery_init_sync_method=syncfs",
            *options,
        )
        self._pgbackrest(
            "restore",
            f"--pg1-path={data_dir}",
            f"--set={backup.label}",
            "--type=time",
            f"--target={target.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}+00",
            "--target-action=promote",
            *(f"--recovery-option={option}" for option in recovery),
        )

    def _start_restored(
        self,
        data_dir: Path,
        port: int,
        backup: BackupSet,
        target: datetime,
        kept_aside: Path | None,
    ) -> RestoredCluster:
        same = data_dir == self.cluster.data_dir
        restored = LocalPostgres(data_dir, port, durable=self.cluster.durable if same else True)
        restored.start()
        _wait_for_promotion(port, data_dir)
        restored.ensure_running()  # the roles and database were restored: this checks them
        return RestoredCluster(
            data_dir=data_dir, port=port, backup=backup, target=target, kept_aside=kept_aside
        )

    # ------------------------------------------------------------ running things

    def _database_now(self) -> datetime:
        with self._connect() as conn:
            row = conn.execute("SELECT now()").fetchone()
        assert row is not None  # SELECT now() always answers one row
        now: datetime = row[0]
        return now

    def _connect(self) -> psycopg.Connection[Any]:
        return _superuser(self.cluster.port)

    def _pgbackrest(self, command: str, *options: str) -> subprocess.CompletedProcess[str]:
        argv: tuple[str, ...] = (
            "pgbackrest",
            f"--config={self.config_file}",
            f"--stanza={STANZA}",
            *options,
            command,
        )
        if _is_root():
            argv = ("runuser", "-u", _OS_USER, "--", *argv)
        environment = {**os.environ, _PASS_VARIABLE: self._read_key()}
        done = subprocess.run(  # noqa: S603 - fixed program, our own options and paths
            argv,
            cwd="/",
            env=environment,
            check=False,
            capture_output=True,
            # A wrong key decrypts to bytes that are not text; they show up in its messages.
            encoding="utf-8",
            errors="replace",
        )
        if done.returncode != 0:
            raise BackupError(f"pgbackrest {command} failed: {_error_of(done)}")
        return done


def _superuser(port: int) -> psycopg.Connection[Any]:
    return psycopg.connect(
        host="127.0.0.1", port=port, user=SUPERUSER, dbname="postgres", autocommit=True
    )


def _wait_for_promotion(port: int, data_dir: Path, seconds: int = 120) -> None:
    """pg_ctl returns once a recovering cluster accepts reads; the restore is done when it has
    replayed up to the target and promoted itself (recovery_target_action=promote)."""
    with _superuser(port) as conn:
        for _ in range(seconds * 10):
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            if row is not None and not row[0]:
                return
            time.sleep(0.1)
    raise BackupError(
        f"the restored cluster in {data_dir} is still recovering after {seconds} s; "
        f"see {data_dir / 'server.log'}"
    )


def _setting(conn: psycopg.Connection[Any], name: str) -> str:
    row = conn.execute("SELECT current_setting(%s)", (name,)).fetchone()
    return "" if row is None else str(row[0])


def _wait_for_setting(conn: psycopg.Connection[Any], name: str, wanted: str) -> None:
    """A reload is asynchronous: wait (at most a few seconds) until this session sees it."""
    for _ in range(100):
        if _setting(conn, name) == wanted:
            return
        conn.execute("SELECT pg_sleep(0.05)")
    raise BackupError(f"the cluster did not take the new {name} after a reload")


def _backup_set(raw: Mapping[str, Any]) -> BackupSet:
    timestamps = raw["timestamp"]
    return BackupSet(
        label=raw["label"],
        kind=raw["type"],
        started=datetime.fromtimestamp(timestamps["start"], UTC),
        stopped=datetime.fromtimestamp(timestamps["stop"], UTC),
        database_bytes=int(raw["info"]["size"]),
        repository_bytes=int(raw["info"]["repository"]["size"]),
        added_bytes=int(raw["info"]["repository"]["delta"]),
        prior=raw.get("prior"),
    )


def _error_of(done: subprocess.CompletedProcess[str]) -> str:
    """pgBackRest's own error line (ERROR: [code]: message), else the last thing it said."""
    lines = [line.strip() for line in (done.stderr + "\n" + done.stdout).splitlines()]
    errors = [line for line in lines if "ERROR:" in line]
    chosen = errors[0] if errors else next((line for line in reversed(lines) if line), "")
    return chosen.split("ERROR:", 1)[-1].strip() or f"exit status {done.returncode}"


def _text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _give_to_postgres(path: Path) -> None:
    """The postgres user runs pgBackRest: it must own the repository and read the key, and
    reach them through every parent directory (search permission only)."""
    shutil.chown(path, user=_OS_USER, group=_OS_USER)
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def _is_root() -> bool:
    return os.geteuid() == 0
