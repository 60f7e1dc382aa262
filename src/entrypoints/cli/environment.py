"""Where the CLI's database and Redis are: the environment, or private local servers.

Production sets DATABASE_URL (the app role), MIGRATION_DATABASE_URL (the schema owner), REDIS_URL,
KEK_FILE and the STRIPE_* keys. On a developer machine they may be unset: then a private PostGIS
cluster and a Redis server run from ./.data (RESERVA_DATA_DIR), on ports that stay clear of system
servers (RESERVA_PG_PORT, RESERVA_REDIS_PORT), the local database's key-encryption key is
./.data/kek.json, and `serve` runs the local fake Stripe (devservers.stripe_fake) on
RESERVA_STRIPE_PORT, sending its webhooks to the API's own /webhooks/stripe.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path

import attrs

from adapters.security.keyring import FileKeyStore
from devservers.postgres import LocalPostgres
from devservers.redis import LocalRedis
from devservers.stripe_fake import LocalStripe
from entrypoints.settings import Settings, SettingsError

DEFAULT_DATA_DIR = Path(".data")
DEFAULT_PG_PORT = 55432
DEFAULT_REDIS_PORT = 56379
DEFAULT_STRIPE_PORT = 56112
# The CLI receives no webhooks; settings want a secret once a key is set.
NO_WEBHOOKS = "whsec_cli_receives_no_webhooks"  # a stand-in, not a secret
# Keys the local fake accepts: test mode, plainly not real.
LOCAL_STRIPE_KEYS = {
    "STRIPE_API_KEY": "sk_test_reserva_local",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_reserva_local",
}


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
    stripe_port: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> LocalServers:
        return cls(
            data_dir=Path(environ.get("RESERVA_DATA_DIR") or DEFAULT_DATA_DIR),
            pg_port=_port(environ, "RESERVA_PG_PORT", DEFAULT_PG_PORT),
            redis_port=_port(environ, "RESERVA_REDIS_PORT", DEFAULT_REDIS_PORT),
            stripe_port=_port(environ, "RESERVA_STRIPE_PORT", DEFAULT_STRIPE_PORT),
        )

    @property
    def postgres(self) -> LocalPostgres:
        return LocalPostgres(self.data_dir / "pg", self.pg_port)

    @property
    def redis(self) -> LocalRedis:
        return LocalRedis(self.redis_port, self.data_dir / "redis")

    def stripe(self, webhook_url: str) -> LocalStripe:
        """The fake Stripe, signing the events it sends to `webhook_url` with a secret made for
        this run (the fake is a child of the process that starts it, and ends with it)."""
        folder = self.data_dir / "stripe"
        folder.mkdir(parents=True, exist_ok=True)
        return LocalStripe(
            self.stripe_port,
            webhook_url=webhook_url,
            webhook_secret=f"whsec_{secrets.token_urlsafe(24)}",
            log_file=folder / "stripe.log",
            state_file=folder / "state.json",  # accounts and payments survive a restart
        )

    def key_file(self, say: Callable[[str], None]) -> Path:
        """The local key-encryption key file, made (0600) on first use."""
        path = self.data_dir / "kek.json"
        if not path.exists():
            say(f"KEK_FILE unset: keeping the local key-encryption key in {path}")
        FileKeyStore.create(path)
        return path


def resolve_settings(
    *,
    need_redis: bool,
    say: Callable[[str], None],
    environ: Mapping[str, str] | None = None,
    stripe: LocalStripe | None = None,
) -> Settings:
    """Settings from the environment, starting local servers for what it leaves unset.

    Redis is only started when the command uses it (`serve`); other commands get the local URL,
    which nothing connects to. `stripe` (from `local_stripe`, `serve` only) is started and used
    when STRIPE_API_KEY is unset; other commands on the local database get the URL of the fake
    `serve` runs; with a configured database and no key, payments stay unconfigured.
    """
    env = dict(os.environ if environ is None else environ)
    local = LocalServers.from_env(env)
    local_database = not env.get("DATABASE_URL", "").strip()
    if local_database:
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
    if not env.get("STRIPE_API_KEY", "").strip():
        if stripe is not None:
            say(f"STRIPE_API_KEY unset: using the local fake Stripe on port {stripe.port}")
            env.update(LOCAL_STRIPE_KEYS)
            env["STRIPE_API_BASE"] = stripe.start()
            env["STRIPE_WEBHOOK_SECRET"] = stripe.webhook_secret or ""
        elif local_database:
            # Other commands on the local database reach the fake `serve` runs, if it does;
            # they receive no webhooks, so the secret is a stand-in.
            env.update(LOCAL_STRIPE_KEYS)
            env["STRIPE_API_BASE"] = f"http://127.0.0.1:{local.stripe_port}"
            env["STRIPE_WEBHOOK_SECRET"] = NO_WEBHOOKS
    return Settings.from_env(env)


def local_stripe(
    host: str, port: int, environ: Mapping[str, str] | None = None
) -> LocalStripe | None:
    """The fake Stripe `serve` runs when STRIPE_API_KEY is unset (not started yet), its events
    going to the API about to listen on `host`:`port`; None when Stripe is configured."""
    env = os.environ if environ is None else environ
    if env.get("STRIPE_API_KEY", "").strip():
        return None
    reachable = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
    if ":" in reachable:
        reachable = f"[{reachable}]"
    return LocalServers.from_env(env).stripe(f"http://{reachable}:{port}/webhooks/stripe")
