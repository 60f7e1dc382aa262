"""Where the CLI's database and Redis are: the environment, or private local servers.

Production sets DATABASE_URL (the app role), MIGRATION_DATABASE_URL (the schema owner), REDIS_URL,
KEK_FILE and the STRIPE_*, SENDGRID_*, WHATSAPP_* and CLOUDINARY_* keys. On a developer machine
they may be unset: then a private PostGIS cluster and a Redis server run from ./.data
(RESERVA_DATA_DIR), on ports that stay clear of system servers (RESERVA_PG_PORT,
RESERVA_REDIS_PORT), the local database's key-encryption key is ./.data/kek.json, and `serve` runs
the local fakes: Stripe (devservers.stripe_fake, RESERVA_STRIPE_PORT), SendGrid + WhatsApp
(devservers.messaging_fake, RESERVA_MESSAGING_PORT) and Cloudinary (devservers.cloudinary_fake,
RESERVA_CLOUDINARY_PORT), each sending its signed webhooks to the API's own /webhooks/...; and
GA4's Measurement Protocol (devservers.ga4_fake, RESERVA_GA4_PORT) when GA4_MEASUREMENT_ID is unset.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path

import attrs

from adapters.security.keyring import FileKeyStore
from devservers.cloudinary_fake import LocalCloudinary
from devservers.ga4_fake import LocalGa4
from devservers.messaging_fake import LocalMessaging
from devservers.postgres import LocalPostgres
from devservers.redis import LocalRedis
from devservers.stripe_fake import LocalStripe
from entrypoints.settings import Settings, SettingsError

DEFAULT_DATA_DIR = Path(".data")
DEFAULT_PG_PORT = 55432
DEFAULT_REDIS_PORT = 56379
DEFAULT_STRIPE_PORT = 56112
DEFAULT_MESSAGING_PORT = 56113
DEFAULT_CLOUDINARY_PORT = 56114
DEFAULT_GA4_PORT = 56115
# The CLI receives no webhooks; settings want a secret once a key is set.
NO_WEBHOOKS = "whsec_cli_receives_no_webhooks"  # a stand-in, not a secret
# Keys the local fake accepts: test mode, plainly not real.
LOCAL_STRIPE_KEYS = {
    "STRIPE_API_KEY": "sk_test_reserva_local",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_reserva_local",
}
# What the local messaging fake accepts (any bearer): plainly not real. Commands other than
# `serve` receive no webhooks, so their verification keys are stand-ins (never checked).
LOCAL_MESSAGING_KEYS = {
    "SENDGRID_API_KEY": "SG.reserva_local",
    "WHATSAPP_ACCESS_TOKEN": "reserva_local_whatsapp_token",
    "WHATSAPP_PHONE_NUMBER_ID": "100000000000001",
}
NO_EVENTS = "the-cli-receives-no-webhooks"  # a stand-in, not a secret
# The local Cloudinary fake's account (every process on the local database shares it).
LOCAL_CLOUDINARY = {
    "cloud_name": "reserva-local",
    "api_key": "111111111111111",
    "api_secret": "reserva-local-cloudinary-secret",  # a fake's, plainly not real
}
LOCAL_CLOUDINARY_URL = "cloudinary://{api_key}:{api_secret}@{cloud_name}".format(**LOCAL_CLOUDINARY)
# The local GA4 fake's property (a fake's, plainly not real).
LOCAL_GA4 = {"GA4_MEASUREMENT_ID": "G-RESERVALOCAL", "GA4_API_SECRET": "reserva-local-ga4-secret"}


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
    messaging_port: int
    cloudinary_port: int
    ga4_port: int = DEFAULT_GA4_PORT

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> LocalServers:
        return cls(
            data_dir=Path(environ.get("RESERVA_DATA_DIR") or DEFAULT_DATA_DIR),
            pg_port=_port(environ, "RESERVA_PG_PORT", DEFAULT_PG_PORT),
            redis_port=_port(environ, "RESERVA_REDIS_PORT", DEFAULT_REDIS_PORT),
            stripe_port=_port(environ, "RESERVA_STRIPE_PORT", DEFAULT_STRIPE_PORT),
            messaging_port=_port(environ, "RESERVA_MESSAGING_PORT", DEFAULT_MESSAGING_PORT),
            cloudinary_port=_port(environ, "RESERVA_CLOUDINARY_PORT", DEFAULT_CLOUDINARY_PORT),
            ga4_port=_port(environ, "RESERVA_GA4_PORT", DEFAULT_GA4_PORT),
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

    def messaging(self, api_url: str, whatsapp_app_secret: str) -> LocalMessaging:
        """The SendGrid + WhatsApp fake, its signed webhooks going to the API at `api_url`;
        what it sent survives a restart (./.data/messaging/state.json)."""
        folder = self.data_dir / "messaging"
        folder.mkdir(parents=True, exist_ok=True)
        return LocalMessaging(
            self.messaging_port,
            sendgrid_webhook_url=f"{api_url}/webhooks/sendgrid",
            whatsapp_webhook_url=f"{api_url}/webhooks/whatsapp",
            whatsapp_app_secret=whatsapp_app_secret,
            state_file=folder / "state.json",
            log_file=folder / "messaging.log",
        )

    def cloudinary(self) -> LocalCloudinary:
        folder = self.data_dir / "cloudinary"
        folder.mkdir(parents=True, exist_ok=True)
        return LocalCloudinary(
            self.cloudinary_port,
            cloud_name=LOCAL_CLOUDINARY["cloud_name"],
            api_key=LOCAL_CLOUDINARY["api_key"],
            api_secret=LOCAL_CLOUDINARY["api_secret"],
            log_file=folder / "cloudinary.log",
        )

    def ga4(self) -> LocalGa4:
        """GA4's Measurement Protocol; what it received is listed at /_test/events."""
        folder = self.data_dir / "ga4"
        folder.mkdir(parents=True, exist_ok=True)
        return LocalGa4(
            self.ga4_port,
            measurement_id=LOCAL_GA4["GA4_MEASUREMENT_ID"],
            api_secret=LOCAL_GA4["GA4_API_SECRET"],
            log_file=folder / "ga4.log",
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
    fakes: LocalFakes | None = None,
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
    _messaging(env, local, local_database, fakes, say)
    _cloudinary(env, local, local_database, fakes, say)
    _ga4(env, local, local_database, fakes, say)
    if fakes is not None and not env.get("PUBLIC_API_URL", "").strip():
        env["PUBLIC_API_URL"] = fakes.api_url  # calendar feeds, Cloudinary's notifications
    return Settings.from_env(env)


def _messaging(
    env: dict[str, str],
    local: LocalServers,
    local_database: bool,
    fakes: LocalFakes | None,
    say: Callable[[str], None],
) -> None:
    if env.get("SENDGRID_API_KEY", "").strip():
        return
    if fakes is not None and fakes.messaging is not None:
        fake = fakes.messaging
        say(f"SENDGRID_API_KEY unset: mail goes to the local messaging fake on port {fake.port}")
        base = fake.start()
        env["SENDGRID_API_KEY"] = LOCAL_MESSAGING_KEYS["SENDGRID_API_KEY"]
        env["SENDGRID_API_HOST"] = base
        env["SENDGRID_EVENT_PUBLIC_KEY"] = fake.control.sendgrid_public_key()
        if not env.get("WHATSAPP_ACCESS_TOKEN", "").strip():
            env.update(LOCAL_MESSAGING_KEYS)
            env["WHATSAPP_API_BASE"] = base
            env["WHATSAPP_APP_SECRET"] = fakes.whatsapp_app_secret
            env["WHATSAPP_VERIFY_TOKEN"] = fakes.whatsapp_verify_token
    elif local_database:
        # The worker and the CLI on the local database send to the fake `serve` runs.
        base = f"http://127.0.0.1:{local.messaging_port}"
        env["SENDGRID_API_KEY"] = LOCAL_MESSAGING_KEYS["SENDGRID_API_KEY"]
        env["SENDGRID_API_HOST"] = base
        env["SENDGRID_EVENT_PUBLIC_KEY"] = NO_EVENTS
        if not env.get("WHATSAPP_ACCESS_TOKEN", "").strip():
            env.update(LOCAL_MESSAGING_KEYS)
            env["WHATSAPP_API_BASE"] = base
            env["WHATSAPP_APP_SECRET"] = NO_EVENTS
            env["WHATSAPP_VERIFY_TOKEN"] = NO_EVENTS


def _cloudinary(
    env: dict[str, str],
    local: LocalServers,
    local_database: bool,
    fakes: LocalFakes | None,
    say: Callable[[str], None],
) -> None:
    if env.get("CLOUDINARY_URL", "").strip():
        return
    if fakes is not None and fakes.cloudinary is not None:
        fake = fakes.cloudinary
        say(f"CLOUDINARY_URL unset: photos go to the local Cloudinary fake at {fake.api_base}")
        env["CLOUDINARY_UPLOAD_PREFIX"] = fake.start()
        env["CLOUDINARY_URL"] = f"cloudinary://{fake.api_key}:{fake.api_secret}@{fake.cloud_name}"
        env["CLOUDINARY_DELIVERY_HOST"] = fake.delivery_host
    elif local_database:  # the worker destroys assets at the fake `serve` runs
        env["CLOUDINARY_UPLOAD_PREFIX"] = f"http://127.0.0.1:{local.cloudinary_port}"
        env["CLOUDINARY_URL"] = LOCAL_CLOUDINARY_URL
        env["CLOUDINARY_DELIVERY_HOST"] = f"127.0.0.1:{local.cloudinary_port}"


def _ga4(
    env: dict[str, str],
    local: LocalServers,
    local_database: bool,
    fakes: LocalFakes | None,
    say: Callable[[str], None],
) -> None:
    if env.get("GA4_MEASUREMENT_ID", "").strip():
        return
    if fakes is not None and fakes.ga4 is not None:
        fake = fakes.ga4
        say(f"GA4_MEASUREMENT_ID unset: analytics go to the local GA4 fake at {fake.base_url}")
        env.update(LOCAL_GA4)
        env["GA4_ENDPOINT"] = fake.start()
    elif local_database:  # the worker sends to the fake `serve` runs
        env.update(LOCAL_GA4)
        env["GA4_ENDPOINT"] = f"http://127.0.0.1:{local.ga4_port}"


@attrs.frozen(kw_only=True)
class LocalFakes:
    """The messaging and Cloudinary fakes `serve` runs (not started yet), for the providers
    that have no keys in the environment."""

    api_url: str  # where the API serve runs is reachable
    messaging: LocalMessaging | None
    cloudinary: LocalCloudinary | None
    whatsapp_app_secret: str
    whatsapp_verify_token: str
    ga4: LocalGa4 | None = None

    def stop(self) -> None:
        for fake in (self.messaging, self.cloudinary, self.ga4):
            if fake is not None:
                fake.stop()


def _reachable(host: str, port: int) -> str:
    reachable = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
    if ":" in reachable:
        reachable = f"[{reachable}]"
    return f"http://{reachable}:{port}"


def local_fakes(host: str, port: int, environ: Mapping[str, str] | None = None) -> LocalFakes:
    """The fakes `serve` runs for SendGrid/WhatsApp, Cloudinary and GA4 when their keys are unset,
    their webhooks going to the API about to listen on `host`:`port`."""
    env = os.environ if environ is None else environ
    servers = LocalServers.from_env(env)
    secret = secrets.token_urlsafe(24)
    messaging = None
    if not env.get("SENDGRID_API_KEY", "").strip():
        messaging = servers.messaging(_reachable(host, port), secret)
    cloudinary = None
    if not env.get("CLOUDINARY_URL", "").strip():
        cloudinary = servers.cloudinary()
    ga4 = None if env.get("GA4_MEASUREMENT_ID", "").strip() else servers.ga4()
    return LocalFakes(
        api_url=_reachable(host, port),
        messaging=messaging,
        cloudinary=cloudinary,
        whatsapp_app_secret=secret,
        whatsapp_verify_token=secrets.token_urlsafe(16),
        ga4=ga4,
    )


def local_stripe(
    host: str, port: int, environ: Mapping[str, str] | None = None
) -> LocalStripe | None:
    """The fake Stripe `serve` runs when STRIPE_API_KEY is unset (not started yet), its events
    going to the API about to listen on `host`:`port`; None when Stripe is configured."""
    env = os.environ if environ is None else environ
    if env.get("STRIPE_API_KEY", "").strip():
        return None
    return LocalServers.from_env(env).stripe(f"{_reachable(host, port)}/webhooks/stripe")
