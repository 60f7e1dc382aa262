"""Where the CLI's database and Redis are: the environment, or private local servers.

Production sets DATABASE_URL (the app role), MIGRATION_DATABASE_URL (the schema owner), REDIS_URL
and KEK_FILE. On a developer machine they may be unset: then a private PostGIS cluster and a Redis
server run from ./.data (RESERVA_DATA_DIR), on ports that stay clear of system servers
(RESERVA_PG_PORT, RESERVA_REDIS_PORT), and the local database's key-encryption key is
./.data/kek.json.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import attrs

from adapters.security.keyring import FileKeyStore
from devservers.postgres import LocalPostgres
from devservers.redis import LocalRedis
from entrypoints.settings import Settings, SettingsError

DEFAULT_DATA_DIR = Path(".data")
DEFAULT_PG_PORT = 55432
DEFAULT_REDIS_PORT = 56379


def _port(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise SettingsError(f"{name} must be a TCP port (1-65535), got {raw!r}")
    return int(raw)


@attrs.frozen(kw_only=True)
class LocalServers:
    data_dir: Path
    pg_port: int
    redis_port: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> LocalServers:
        return cls(
            data_dir=Path(environ.get("RESERVA_DATA_DIR") or DEFAULT_DATA_DIR),
            pg_port=_port(environ, "RESERVA_PG_PORT", DEFAULT_PG_PORT),
            redis_port=_port(environ, "RESERVA_REDIS_PORT", DEFAULT_REDIS_PORT),
        )

    @property
    def postgres(self) -> LocalPostgres:
        return LocalPostgres(self.data_dir / "pg", self.pg_port)

    @property
    def redis(self) -> LocalRedis:
        return LocalRedis(self.redis_port, self.data_dir / "redis")

    def key_file(self, say: Callable[[str], None]) -> Path:
        """The local key-encryption key file, made (0600) on first use."""
        path = self.data_dir / "kek.json"
        if not path.exists():
            say(f"KEK_FILE unset: keeping the local key-encryption key in {path}")
        FileKeyStore.create(path)
        return path


def resolve_settings(
    *, need_redis: bool, say: Callable[[str], None], environ: Mapping[str, str] | None = None
) -> Settings:
    """Settings from the environment, starting local servers for what it leaves unset.

    Redis is only started when the command uses it (`serve`); other commands get the local URL,
    which nothing connects to.
    """
    env = dict(os.environ if environ is None else environ)
    local = LocalServers.from_env(env)
    if not env.get("DATABASE_URL", "").strip():
        say(f"DATABASE_URL unset: using local PostgreSQL in {local.data_dir / 'pg'}")
        database = local.postgres.ensure_running()
        env["DATABASE_URL"] = database.app_url
        if not env.get("MIGRATION_DATABASE_URL", "").strip():
            env["MIGRATION_DATABASE_URL"] = database.migrator_url
        # The local database's secrets are sealed under a local key; a configured database
        # never gets a made-up one (KEK_FILE is then required).
        if not env.get("KEK_FILE", "").strip():
            env["KEK_FILE"] = str(local.key_file(say))
    if not env.get("REDIS_URL", "").strip():
        if need_redis:
            say(f"REDIS_URL unset: using local Redis on port {local.redis_port}")
            env["REDIS_URL"] = local.redis.ensure_running()
        else:
            env["REDIS_URL"] = local.redis.url
    return Settings.from_env(env)
