"""`reserva backup now|list|restore`: pgBackRest backups and point-in-time restores of the private
cluster in ./.data (devservers.pgbackrest, ADR 36).

The repository is ./.data/backup/repo, encrypted with the passphrase in the backup key file:
BACKUP_KEY_FILE, else `backup.key` beside KEK_FILE, else ./.data/backup.key (made, 0600, by the
first backup). Lose the key and the backups are unreadable: keep a copy of it apart from them.
With DATABASE_URL set these commands refuse: a production database is backed up by pgBackRest on
its own host, on a schedule (docs/backups.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Protocol, TypeVar

import typer
from rich.table import Table

from devservers.net import free_port
from devservers.pgbackrest import KINDS, BackupError, BackupSet, LocalBackups, RestoredCluster
from entrypoints.cli.console import CliError, out, say
from entrypoints.cli.environment import LocalServers

T = TypeVar("T")


class Guard(Protocol):
    """Runs a command's work; every failure becomes one line on stderr and exit status 1."""

    def __call__(self, work: Callable[[], T]) -> T: ...


BACKUP_KEY_NAME = "backup.key"
TIME_EXAMPLE = "2026-11-27T09:30:00Z"


def local_backups(environ: Mapping[str, str] | None = None) -> LocalBackups:
    """The private cluster's backups, or a CliError when the database is not the private one."""
    env = os.environ if environ is None else environ
    if env.get("DATABASE_URL", "").strip():
        raise CliError(
            "DATABASE_URL is set: `reserva backup` manages the private local cluster only; back "
            "up a production database with pgBackRest on its host (docs/backups.md)"
        )
    local = LocalServers.from_env(env)
    return LocalBackups(local.postgres, local.data_dir / "backup", _key_file(env, local))


def _key_file(env: Mapping[str, str], local: LocalServers) -> Path:
    configured = env.get("BACKUP_KEY_FILE", "").strip()
    if configured:
        return Path(configured)
    kek_file = env.get("KEK_FILE", "").strip()
    beside = Path(kek_file).parent if kek_file else local.data_dir
    return beside / BACKUP_KEY_NAME


def parse_target(text: str) -> datetime:
    """An ISO 8601 time; without a zone it is UTC (as every time Reserva shows)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CliError(f"--to {text!r} is not a time: use ISO 8601, e.g. {TIME_EXAMPLE}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _size(count: int) -> str:
    amount = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} TB"  # pragma: no cover - the loop returns at GB


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def backups_table(backups: Sequence[BackupSet]) -> Table:
    table = Table(
        "label", "type", "started (UTC)", "finished (UTC)", "database", "stored", "based on"
    )
    for backup in backups:
        table.add_row(
            backup.label,
            backup.kind,
            _when(backup.started),
            _when(backup.stopped),
            _size(backup.database_bytes),
            _size(backup.added_bytes),
            backup.prior or "",
        )
    return table


def _restored_text(restored: RestoredCluster) -> str:
    url = f"postgresql+psycopg://reserva_app@127.0.0.1:{restored.port}/reserva"
    lines = [
        f"restored to {_when(restored.target)} UTC from backup {restored.backup.label}",
        f"running on 127.0.0.1:{restored.port}, data in {restored.data_dir}",
        f"DATABASE_URL={url}",
    ]
    if restored.kept_aside is not None:
        lines.append(f"the data directory before the restore is kept in {restored.kept_aside}")
    else:
        lines.append(f"stop it with: {restored.stop_command}")
    return "\n".join(lines)


def _checked(work: Callable[[], T]) -> T:
    try:
        return work()
    except BackupError as error:
        raise CliError(str(error)) from None


def mount(app: typer.Typer, guarded: Guard) -> None:
    """Add `backup now|list|restore` to `app`; `guarded` turns failures into one line + exit 1."""
    backup = typer.Typer(
        help="Encrypted backups and point-in-time restores (private cluster).",
        no_args_is_help=True,
    )
    app.add_typer(backup, name="backup")

    @backup.command("now")
    def now(
        kind: Annotated[
            str, typer.Option("--type", help=f"Backup type: {' or '.join(KINDS)}.")
        ] = "full",
    ) -> None:
        """Take a backup now (the first one sets up the repository and WAL archiving)."""

        def work() -> BackupSet:
            if kind not in KINDS:
                raise CliError(f"--type {kind!r} is not a backup type: {' or '.join(KINDS)}")
            backups = local_backups()
            backups.cluster.ensure_running()
            return _checked(lambda: backups.backup(kind))

        made = guarded(work)
        if made.kind != kind:
            say(f"no full backup to build on yet: this one is {made.kind}")
        out.print(backups_table([made]))

    @backup.command("list")
    def list_backups() -> None:
        """List the backups, oldest first, and the earliest time a restore can reach."""
        found = guarded(lambda: _checked(local_backups().list))
        out.print(backups_table(found))
        say(f"point-in-time restores reach from {_when(found[0].restorable_from)} UTC to now")

    @backup.command("restore")
    def restore(
        to: Annotated[str, typer.Option("--to", help=f"Time to restore to, e.g. {TIME_EXAMPLE}.")],
        into: Annotated[
            Path | None,
            typer.Option(help="Restore into this new directory, leaving the cluster as it is."),
        ] = None,
        port: Annotated[
            int | None,
            typer.Option(min=1, max=65535, help="Port of the restored copy (default: a free one)."),
        ] = None,
        yes: Annotated[
            bool, typer.Option("--yes", help="Restore in place without asking.")
        ] = False,
    ) -> None:
        """Restore the cluster as it was at a time: into a new directory, or in place."""

        def work() -> RestoredCluster:
            target = parse_target(to)
            backups = local_backups()
            _checked(backups.list)  # no backups: say so before stopping or starting anything
            if into is None and not yes:
                typer.confirm(
                    "Restore the private cluster in place? It stops now; its data directory "
                    "is kept aside",
                    abort=True,
                )
            backups.cluster.ensure_running()
            copy_port = None if into is None else (port or free_port())
            return _checked(lambda: backups.restore(target, into=into, port=copy_port))

        restored = guarded(work)
        out.print(_restored_text(restored), highlight=False, soft_wrap=True)
