"""A hot standby of a private cluster: a real streaming replica, for tests and benchmarks.

`pg_basebackup -R` copies the primary's data dir and writes `primary_conninfo` and
`standby.signal`, so the copy starts as a read-only server that streams the primary's WAL and
replays it (PostgreSQL's physical replication: the same roles, databases and rows, a little
later). The primary needs nothing of its own: PostgreSQL's defaults (`wal_level=replica`,
`max_wal_senders=10`) and the `pg_hba.conf` initdb writes (`host replication all 127.0.0.1/32
trust`) already allow it. Production points DATABASE_REPLICA_URL at its own replicas instead.
"""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
from psycopg.rows import TupleRow

from devservers.postgres import (
    APP_DATABASE,
    SUPERUSER,
    LocalDatabase,
    LocalPostgres,
    LocalPostgresError,
    _is_root,
    _let_postgres_reach,
)

# The LSN both sides compare: the primary's insert position is past every record it has
# written, the standby's replay position is the end of the last record it has applied.
_WRITTEN = "SELECT pg_current_wal_insert_lsn()"
_REPLAYED = "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn"
_POLL_SECONDS = 0.01


class LocalReplica(LocalPostgres):
    """A standby of `primary` in `data_dir`, listening on 127.0.0.1:`port` only.

    It is made on first `ensure_running` from a base backup of the running primary; from then
    on it starts and stops like any private cluster. It is read-only: databases are created on
    the primary, and appear here once replayed.
    """

    def __init__(self, primary: LocalPostgres, data_dir: Path, port: int) -> None:
        super().__init__(data_dir, port, durable=primary.durable)
        self.primary = primary

    def ensure_running(self) -> LocalDatabase:
        """Make the standby from a base backup if it has no data dir yet, start it if stopped,
        and return its URLs of the app database (the primary must be running)."""
        if not (self.data_dir / "PG_VERSION").exists():
            self._base_backup()
        if self._running_port() not in (None, self.port):
            self.stop()
        if self._running_port() is None:
            self._start()
        return self.database(APP_DATABASE)

    def create_database(self, name: str) -> LocalDatabase:
        raise LocalPostgresError(
            f"cannot create {name} on a replica: it is read-only; create it on the primary"
        )

    def pause_replay(self, timeout: float = 10.0) -> None:
        """Keep receiving WAL but apply none: the standby's rows stay as they are now.

        Returns once replay has stopped: a pause is only requested at first, and the record
        being applied meanwhile still is."""
        with _superuser_of(self) as conn:
            conn.execute("SELECT pg_wal_replay_pause()")
            deadline = time.monotonic() + timeout
            while _scalar(conn, "SELECT pg_get_wal_replay_pause_state()") != "paused":
                if time.monotonic() > deadline:
                    raise LocalPostgresError("the replica did not pause its replay in time")
                time.sleep(_POLL_SECONDS)

    def resume_replay(self) -> None:
        with _superuser_of(self) as conn:
            conn.execute("SELECT pg_wal_replay_resume()")

    def wait_for_primary(self, timeout: float = 30.0) -> None:
        """Return once the standby has replayed everything the primary has written so far."""
        with _superuser_of(self.primary) as primary:
            written = _scalar(primary, _WRITTEN)
            deadline = time.monotonic() + timeout
            with _superuser_of(self) as standby:
                while not _scalar(standby, _REPLAYED, (written,)):
                    if time.monotonic() > deadline:
                        raise LocalPostgresError(f"the replica did not reach {written} in time")
                    # An idle primary whose last record ended on a page boundary reports an
                    # insert position past the next page header, which replay reaches only
                    # with a further record: emit a harmless one.
                    primary.execute("SELECT pg_logical_emit_message(false, 'replica', 'nudge')")
                    time.sleep(_POLL_SECONDS)

    def _base_backup(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)  # what the server demands of its data dir
        if _is_root():
            _let_postgres_reach(self.data_dir)
        self._run(
            self.primary.program("pg_basebackup"),
            *("-h", "127.0.0.1", "-p", str(self.primary.port), "-U", SUPERUSER),
            *("-D", str(self.data_dir), "--write-recovery-conf", "--wal-method=stream"),
            "--checkpoint=fast",
            *(() if self.durable else ("--no-sync",)),
        )


def _superuser_of(server: LocalPostgres) -> psycopg.Connection[TupleRow]:
    return psycopg.connect(
        host="127.0.0.1", port=server.port, user=SUPERUSER, dbname="postgres", autocommit=True
    )


def _scalar(
    conn: psycopg.Connection[TupleRow], query: str, args: tuple[object, ...] = ()
) -> object:
    row = conn.execute(query, args).fetchone()
    if row is None:
        raise LocalPostgresError(f"{query} returned no row")
    return row[0]
