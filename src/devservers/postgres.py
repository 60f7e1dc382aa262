"""A private PostgreSQL/PostGIS cluster in a folder, built from the distribution's packages.

Used by `reserva serve` (durable, in ./.data) and by the test suite (throwaway, fsync off) so
neither needs Docker nor a server configured by hand. Production sets DATABASE_URL instead.

The cluster has the two roles production has (docs/operations.md): `reserva_owner` owns every
database it creates and runs the migrations; `reserva_app`, the application's role, gets only the
row privileges the migrations grant it. `postgres`, the superuser, only makes roles and databases.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

APP_DATABASE = "reserva"
OWNER_ROLE = "reserva_owner"  # owns the schema, runs Alembic
APP_ROLE = "reserva_app"  # what the service connects as: row privileges only
SUPERUSER = "postgres"
EXTENSIONS = ("postgis", "btree_gist")
# Benchmarks run pgbench with up to 64 clients and may open ~1,000 connections in total.
MAX_CONNECTIONS = 1100
# The durability settings a throwaway cluster can skip: losing it on a crash costs nothing.
THROWAWAY_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")
# WAL archiving (ADR 36): archive_mode needs a restart, so every cluster starts with it on; the
# command is a setting of the cluster's own (postgresql.auto.conf), `true` (WAL is dropped, as
# without archiving) until devservers.pgbackrest sets pgBackRest's with ALTER SYSTEM + reload.
# It is not a -c option: those would override ALTER SYSTEM.
ARCHIVING_SETTINGS = ("archive_mode=on",)
NO_ARCHIVE_COMMAND = "true"

_PG_LIB = Path("/usr/lib/postgresql")
_PG_SHARE = Path("/usr/share/postgresql")
_INSTALL_HINT = "install postgresql-N-postgis-3 (e.g. apt-get install postgresql-15-postgis-3)"
_OS_USER = "postgres"
_log = logging.getLogger(__name__)


_CREATE_ROLE = "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS"
# Tables (their sequences and indexes follow) and functions in `public` that no extension owns.
_SUPERUSER_OBJECTS = """
    SELECT 'TABLE', c.oid::regclass::text FROM pg_class c
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v')
      AND c.relowner = %(owner)s::regrole AND NOT EXISTS (
        SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
          AND d.objid = c.oid AND d.deptype = 'e')
    UNION ALL
    SELECT 'FUNCTION', p.oid::regprocedure::text FROM pg_proc p
    WHERE p.pronamespace = 'public'::regnamespace AND p.proowner = %(owner)s::regrole
      AND NOT EXISTS (
        SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
          AND d.objid = p.oid AND d.deptype = 'e')
"""


class LocalPostgresError(RuntimeError):
    """A PostgreSQL command failed; the message carries its output."""


class PostgresNotInstalledError(LocalPostgresError):
    """No PostgreSQL server with PostGIS under /usr/lib/postgresql (Debian/Ubuntu layout)."""


@dataclass(frozen=True)
class LocalDatabase:
    """SQLAlchemy URLs of one database, one per role."""

    app_url: str  # the application's connections (DATABASE_URL)
    migrator_url: str  # migrations (MIGRATION_DATABASE_URL)
    superuser_url: str  # what neither may do: tests that tamper, cluster maintenance


class LocalPostgres:
    """A cluster whose PGDATA is `data_dir`, listening on 127.0.0.1:`port` only.

    The cluster trusts local connections as any role, so it must never listen beyond loopback.
    When the caller is root, the server runs as the `postgres` OS user (PostgreSQL refuses
    root); `data_dir` is given to that user, and every ancestor directory that the user could
    not traverse gains o+x (search, not listing), so a checkout under /root still works.
    """

    def __init__(self, data_dir: Path, port: int, *, durable: bool = True) -> None:
        self.data_dir = data_dir.absolute()
        self.port = port
        self.durable = durable

    def url(self, database: str, role: str = APP_ROLE) -> str:
        return f"postgresql+psycopg://{role}@127.0.0.1:{self.port}/{database}"

    def database(self, name: str) -> LocalDatabase:
        return LocalDatabase(
            app_url=self.url(name),
            migrator_url=self.url(name, OWNER_ROLE),
            superuser_url=self.url(name, SUPERUSER),
        )

    def ensure_running(self) -> LocalDatabase:
        """Initialise on first use, start if stopped, create the roles and the app database if
        missing."""
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        if self._running_port() not in (None, self.port):
            self.stop()
        if self._running_port() is None:
            self._start()
        self._default_archive_command()
        # Idempotent, and every database created afterwards is copied from template1.
        self._create_extensions("template1")
        self._create_roles()
        if not self._has_database(APP_DATABASE):
            self.create_database(APP_DATABASE)
        else:
            self._hand_to_owner(APP_DATABASE)
        return self.database(APP_DATABASE)

    def start(self) -> None:
        """Start the cluster as it is, making nothing in it (devservers.pgbackrest: a restored
        cluster may still be recovering, read-only, when this returns)."""
        if self._running_port() is None:
            self._start()

    def stop(self) -> None:
        if self._running_port() is not None:
            self._pg_ctl("stop", "-w", "-m", "fast")

    def is_running(self) -> bool:
        """A server runs on this data dir (on whatever port); `reserva dev stop` asks."""
        return self._running_port() is not None

    def create_database(self, name: str) -> LocalDatabase:
        """Create an empty database with postgis and btree_gist, owned by the owner role; fail if
        it exists.

        The extensions come with the copy of template1, so a database is never half made.
        """
        with self._connect("postgres") as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(name), sql.Identifier(OWNER_ROLE)
                )
            )
        return self.database(name)

    def program(self, name: str) -> str:
        """The path of one of the cluster's own server programs (devservers.replica runs its
        pg_basebackup)."""
        return self._bin(name)

    def _hand_to_owner(self, database: str) -> None:
        """Give the owner role a database made before it existed, with the tables and functions
        the superuser's migrations created (not the extensions' own), so it can migrate on."""
        with self._connect(database) as conn:
            conn.execute(
                sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                    sql.Identifier(database), sql.Identifier(OWNER_ROLE)
                )
            )
            for kind, name in conn.execute(_SUPERUSER_OBJECTS, {"owner": SUPERUSER}).fetchall():
                conn.execute(
                    sql.SQL("ALTER {} {} OWNER TO {}").format(
                        sql.SQL(kind), sql.SQL(name), sql.Identifier(OWNER_ROLE)
                    )
                )

    def _default_archive_command(self) -> None:
        """A harmless archive_command where none is set: with archive_mode on and no command,
        PostgreSQL would keep every WAL segment, waiting for one (ADR 36)."""
        with self._connect("postgres") as conn:
            found = conn.execute("SELECT current_setting('archive_command')").fetchone()
            if found is not None and found[0] in ("", "(disabled)"):
                conn.execute(
                    sql.SQL("ALTER SYSTEM SET archive_command = {}").format(
                        sql.Literal(NO_ARCHIVE_COMMAND)
                    )
                )
                conn.execute("SELECT pg_reload_conf()")

    def _create_roles(self) -> None:
        """The owner and the app role, if missing. Local connections are trusted, so neither
        has a password; production gives them theirs (docs/operations.md)."""
        with self._connect("postgres") as conn:
            for role in (OWNER_ROLE, APP_ROLE):
                found = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
                if found.fetchone() is None:
                    conn.execute(sql.SQL(_CREATE_ROLE).format(sql.Identifier(role)))

    def _has_database(self, name: str) -> bool:
        with self._connect("postgres") as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            return found.fetchone() is not None

    def _create_extensions(self, database: str) -> None:
        with self._connect(database) as conn:
            for extension in EXTENSIONS:
                conn.execute(
                    sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(extension))
                )

    def _connect(self, database: str) -> psycopg.Connection[TupleRow]:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, dbname=database, autocommit=True
        )

    def _initdb(self) -> None:
        initdb = self._bin("initdb")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if _is_root():
            _let_postgres_reach(self.data_dir)
        self._run(
            initdb,
            *("-D", str(self.data_dir), "-A", "trust", "-U", "postgres"),
            *("-E", "UTF8", "--locale=C.UTF-8"),
            *(() if self.durable else ("--no-sync",)),
        )

    def _start(self) -> None:
        settings = ["listen_addresses=127.0.0.1", f"max_connections={MAX_CONNECTIONS}"]
        settings.extend(ARCHIVING_SETTINGS)
        if not self.durable:
            settings.extend(THROWAWAY_SETTINGS)
        # The socket lives in the data dir: the default /var/run/postgresql is not ours to use.
        options = ["-p", str(self.port), "-k", str(self.data_dir)]
        options += [arg for setting in settings for arg in ("-c", setting)]
        log_file = self.data_dir / "server.log"
        try:
            # pg_ctl hands -o to a shell, hence the quoting.
            self._pg_ctl("start", "-w", "-t", "60", "-l", str(log_file), "-o", shlex.join(options))
        except LocalPostgresError as error:
            raise LocalPostgresError(f"{error}\nserver log:\n{_tail(log_file)}") from error

    def _running_port(self) -> int | None:
        """The port of the server running on this data dir, None when none is running."""
        if not (self.data_dir / "PG_VERSION").exists():
            return None
        status = self._pg_ctl("status", check=False)
        if status.returncode != 0:
            return None
        # postmaster.pid line 4 is the port (see PostgreSQL's pidfile.h).
        pid_lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        return int(pid_lines[3])

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._run(self._bin("pg_ctl"), *args, "-D", str(self.data_dir), check=check)

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        if _is_root():
            argv = (_which("runuser"), "-u", _OS_USER, "--", *argv)
        # cwd "/" because the postgres user may not be allowed into the caller's directory.
        done = subprocess.run(  # noqa: S603 - argv is built here from fixed programs and our paths
            argv, cwd="/", check=False, capture_output=True, text=True
        )
        if check and done.returncode != 0:
            raise LocalPostgresError(
                f"{shlex.join(argv)} exited with {done.returncode}:\n{done.stderr.strip()}"
            )
        return done

    def _bin(self, program: str) -> str:
        return str(_bin_dir(self.data_dir) / program)


def _bin_dir(data_dir: Path) -> Path:
    """The binaries of the cluster's own major version, else the newest with PostGIS."""
    pg_version_file = data_dir / "PG_VERSION"
    if pg_version_file.exists():
        wanted = pg_version_file.read_text().strip()
        if _has_postgis(wanted):
            return _PG_LIB / wanted / "bin"
        raise PostgresNotInstalledError(
            f"{data_dir} was made by PostgreSQL {wanted}, whose server or PostGIS is missing; "
            f"install postgresql-{wanted}-postgis-3, or delete {data_dir} to start afresh"
        )
    versions = sorted(
        (path.parent.parent.name for path in _PG_LIB.glob("*/bin/initdb")),
        key=_major_version,
        reverse=True,
    )
    if not versions:
        raise PostgresNotInstalledError(
            f"PostgreSQL server not found in {_PG_LIB}; {_INSTALL_HINT}"
        )
    with_postgis = [version for version in versions if _has_postgis(version)]
    if not with_postgis:
        raise PostgresNotInstalledError(
            f"PostGIS not found for PostgreSQL {', '.join(versions)}; install it with: "
            f"apt-get install postgresql-{versions[0]}-postgis-3"
        )
    return _PG_LIB / with_postgis[0] / "bin"


def _major_version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _has_postgis(version: str) -> bool:
    return (_PG_LIB / version / "bin" / "initdb").exists() and (
        _PG_SHARE / version / "extension" / "postgis.control"
    ).exists()


def _let_postgres_reach(data_dir: Path) -> None:
    shutil.chown(data_dir, user=_OS_USER, group=_OS_USER)
    for parent in data_dir.parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            _log.warning("granting o+x on %s so the postgres user can reach %s", parent, data_dir)
            parent.chmod(mode | 0o001)


def _which(program: str) -> str:
    found = shutil.which(program)
    if found is None:
        raise LocalPostgresError(f"{program} not found on PATH")
    return found


def _is_root() -> bool:
    return os.geteuid() == 0


def _tail(log_file: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log_file.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"(no server log: {error})"
