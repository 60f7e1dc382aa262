"""Settings of the running service, read from the environment and checked once at startup.

Each value is an environment variable of the same name in upper case (HOLD_TTL_SECONDS for
`hold_ttl_seconds`); an unset or blank variable takes the default. Defaults that the core or an
adapter already states are taken from there, so every number is written once; the bounds here
are what an operator may set, and the core still guards its own invariants.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from adapters.ga4 import GA4_ENDPOINT
from adapters.postgis.database import POOL_SIZE, POOL_TIMEOUT_SECONDS
from adapters.redis.idempotency import ANSWER_TTL_SECONDS
from adapters.redis.write_marks import TTL_SECONDS as WRITE_MARK_TTL_SECONDS
from adapters.security.hibp import TIMEOUT_SECONDS
from adapters.security.passwords import Argon2Params
from adapters.stripe import STRIPE_API_BASE
from adapters.stripe.webhooks import DEFAULT_TOLERANCE_SECONDS
from core.bookings import BookingSettings
from core.consent import RightsSettings
from core.identity.settings import MAX_ACCESS_TTL, IdentitySettings
from core.identity.throttling import ThrottlePolicy
from core.payments.service import PaymentSettings

DAY = 24 * 60 * 60
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")

_BOOKINGS = BookingSettings()
_RIGHTS = RightsSettings()
_IDENTITY = IdentitySettings()
_THROTTLE = ThrottlePolicy()
_ARGON2 = Argon2Params()
_PAYMENTS = PaymentSettings()

# Values never repeated in an error message or a repr (pydantic's SecretStr shows '**********').
SECRETS = frozenset(
    {
        "stripe_api_key",
        "stripe_webhook_secret",
        "sendgrid_api_key",
        "whatsapp_access_token",
        "whatsapp_app_secret",
        "whatsapp_verify_token",
        "cloudinary_url",
        "ga4_api_secret",
        "metrics_token",  # observe (issue 12)
        "sentry_dsn",  # observe (issue 12)
    }
)
SENDGRID_API_HOST = "https://api.sendgrid.com"
WHATSAPP_API_BASE = "https://graph.facebook.com"
CLOUDINARY_API_BASE = "https://api.cloudinary.com"
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_BASE_URL = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s?#]*)?")
_SENTRY_DSN = re.compile(r"https?://[A-Za-z0-9]+@[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s?#]*)?/[0-9]+")
_CLOUDINARY_URL = re.compile(r"cloudinary://[^:@/\s]+:[^:@/\s]+@[A-Za-z0-9_-]+")


class NotConfigured(RuntimeError):
    """A call needed a provider this deployment has no settings for (the message names them).
    HTTP answers 503: the deployment, not the request, is what lacks it."""


def _seconds(duration: timedelta) -> int:
    return int(duration.total_seconds())


class SettingsError(ValueError):
    """An environment variable is missing or malformed; the message names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, case_sensitive=False, extra="forbid")

    database_url: str = Field(min_length=1)  # postgresql+psycopg://... as the app role
    # The schema owner, for `reserva db` and the migration step of `reserva serve` (ADR, docs/
    # operations.md); unset, migrations run as DATABASE_URL's role.
    migration_database_url: str | None = Field(None, min_length=1)
    redis_url: str = Field(min_length=1)  # redis://host:port/db
    # The key-encryption keys of secrets at rest (docs/adr/0011): a 0600 JSON file kept out of
    # the database and its backups. Required: without it nothing sealed can be read.
    kek_file: Path
    hold_ttl_seconds: int = Field(_seconds(_BOOKINGS.hold_ttl), ge=30, le=DAY)
    idempotency_ttl_seconds: int = Field(ANSWER_TTL_SECONDS, ge=60, le=7 * DAY)
    # Database connections per process (fixed: no overflow). Throughput stops rising past ~8
    # clients on a 2-core database, so keep workers x DB_POOL_SIZE near 2-4 per database core
    # (docs/caching.md); a request waits up to DB_POOL_TIMEOUT_SECONDS for one, then gets 503.
    db_pool_size: int = Field(POOL_SIZE, ge=1, le=100)
    db_pool_timeout_seconds: float = Field(POOL_TIMEOUT_SECONDS, gt=0, le=300)
    # Identity. Argon2id defaults are OWASP's minimum (see Argon2Params); tests lower them.
    argon2_memory_kib: int = Field(_ARGON2.memory_cost_kib, ge=8, le=4 * 1024 * 1024)
    argon2_time_cost: int = Field(_ARGON2.time_cost, ge=1, le=100)
    argon2_parallelism: int = Field(_ARGON2.parallelism, ge=1, le=64)
    access_ttl_seconds: int = Field(
        _seconds(_IDENTITY.access_ttl), ge=30, le=_seconds(MAX_ACCESS_TTL)
    )
    refresh_ttl_seconds: int = Field(_seconds(_IDENTITY.refresh_ttl), ge=60, le=90 * DAY)
    # Two tabs refreshing with one token both stay logged in.
    refresh_grace_seconds: int = Field(_seconds(_IDENTITY.refresh_grace), ge=1, le=300)
    # Failed logins, MFA codes, refresh and reset tokens: per account and per IP, after
    # `login_max_failures` in the window, a block that doubles with each further failure.
    login_max_failures: int = Field(_THROTTLE.max_failures, ge=1, le=1000)
    throttle_window_seconds: int = Field(_seconds(_THROTTLE.window), ge=1, le=DAY)
    throttle_base_block_seconds: int = Field(_seconds(_THROTTLE.base_block), ge=1, le=DAY)
    throttle_max_block_seconds: int = Field(_seconds(_THROTTLE.max_block), ge=1, le=DAY)
    # Registrations and password-reset requests (they send mail) per IP and per address.
    auth_request_limit: int = Field(10, ge=1, le=100_000)
    # Every request, per user (with a valid token) or per IP; 0 turns the limit off.
    rate_limit_requests: int = Field(600, ge=0, le=10_000_000)
    rate_limit_window_seconds: int = Field(60, ge=1, le=DAY)
    # Also ask Have I Been Pwned's range API (k-anonymity) about new passwords, e.g.
    # https://api.pwnedpasswords.com; unset: the bundled list only. An outage fails open.
    hibp_api_url: str | None = None
    hibp_timeout_seconds: float = Field(TIMEOUT_SECONDS, gt=0, le=30)
    # Browser origins allowed to call the API (CORS), comma-separated, e.g.
    # "https://app.example.com,https://admin.example.com"; unset: no CORS headers at all.
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    # Payments (Stripe). Unset STRIPE_API_KEY: `reserva serve` runs the local fake Stripe
    # (devservers.stripe_fake) and points these at it; other processes then cannot pay.
    stripe_api_key: SecretStr | None = None  # sk_... or a restricted rk_...
    stripe_publishable_key: str | None = Field(None, pattern=r"^pk_(test|live)_[A-Za-z0-9_]+$")
    stripe_api_base: str = STRIPE_API_BASE  # the fake's URL in development and tests
    stripe_webhook_secret: SecretStr | None = None  # whsec_..., of the /webhooks/stripe endpoint
    stripe_webhook_tolerance_seconds: int = Field(DEFAULT_TOLERANCE_SECONDS, ge=1, le=3600)
    # The platform's share of every charge, and the cap of an admin's goodwill refunds.
    payments_commission_percent: int = Field(_PAYMENTS.commission_percent, ge=0, le=100)
    goodwill_cap_percent: int = Field(_PAYMENTS.goodwill_cap_percent, ge=0, le=100)
    # How often `reserva serve` sweeps for payments, refunds and events a crash left behind.
    # Email (SendGrid). Unset SENDGRID_API_KEY: `reserva serve` runs the local messaging fake
    # (devservers.messaging_fake, SendGrid's v3 API and WhatsApp's Cloud API) and points these
    # at it; other processes then queue mail that no one sends until a key is configured.
    sendgrid_api_key: SecretStr | None = None  # SG....
    sendgrid_api_host: str = SENDGRID_API_HOST
    # The Event Webhook's verification key (base64 DER of an ECDSA P-256 public key, as
    # SendGrid's settings page shows it): events without a valid signature are refused (401).
    sendgrid_event_public_key: str | None = Field(None, min_length=1)
    mail_from_address: str = "bookings@reserva.example"
    mail_from_name: str = Field("Reserva", min_length=1, max_length=100)
    # WhatsApp Business (Cloud API): all four or none; unset, nobody gets WhatsApp messages.
    whatsapp_access_token: SecretStr | None = None  # a system user's permanent token
    whatsapp_api_base: str = WHATSAPP_API_BASE
    whatsapp_phone_number_id: str | None = Field(None, pattern=r"^[0-9]{1,32}$")
    whatsapp_app_secret: SecretStr | None = None  # X-Hub-Signature-256 of the webhooks
    whatsapp_verify_token: SecretStr | None = None  # the GET subscription handshake
    # Photos (Cloudinary): cloudinary://<api key>:<api secret>@<cloud name>; the upload prefix
    # is the API's origin (the fake's in development and tests).
    cloudinary_url: SecretStr | None = None
    cloudinary_upload_prefix: str = CLOUDINARY_API_BASE
    # Where delivery URLs point (host[:port]); unset: Cloudinary's CDN (res.cloudinary.com).
    cloudinary_delivery_host: str | None = Field(None, pattern=r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
    # "manual": uploaded photos wait for a moderator's approval (Cloudinary's moderation).
    media_moderation: str | None = Field(None, pattern=r"^(manual|aws_rek|webpurify)$")
    # Analytics (GA4's Measurement Protocol, docs/adr/0029): both or neither; unset, analytics
    # is off (nothing is queued or sent). Only people who granted analytics are tracked.
    ga4_measurement_id: str | None = Field(None, pattern=r"^G-[A-Z0-9]{4,20}$")
    ga4_api_secret: SecretStr | None = None
    ga4_endpoint: str = GA4_ENDPOINT  # the local fake's in development and tests
    # Validate every send at /debug/mp/collect first (staging; twice the requests).
    ga4_validate: bool = False
    # Privacy rights: how long a download link of a person's export works, and how long a
    # built export is kept (sealed) before it is built again.
    export_link_ttl_seconds: int = Field(_seconds(_RIGHTS.link_ttl), ge=60, le=DAY)
    export_keep_seconds: int = Field(_seconds(_RIGHTS.keep_export), ge=60 * 60, le=7 * DAY)
    # Where people act on mails (the web client's pages) and where the API is reachable from
    # outside (calendar feeds, providers' notifications): origins with an optional path.
    public_web_url: str = "http://localhost:3000"
    public_api_url: str = "http://127.0.0.1:8000"
    # Jobs one `reserva worker` runs at a time (serve's in-process worker runs 1..this).
    worker_concurrency: int = Field(4, ge=1, le=256)
    # Integrators' webhook endpoints must resolve to public addresses unless this is set
    # (tests and development post to 127.0.0.1).
    integration_webhooks_allow_private: bool = False
    # --- replica (issue 12 §3, ADR 34): read replicas with read-your-writes.
    # A streaming replica for search and availability (postgresql+psycopg://, the app role);
    # unset: every read goes to DATABASE_URL. It has a pool of DB_POOL_SIZE per process.
    database_replica_url: str | None = Field(None, min_length=1)
    # How long a person's last write keeps their reads off a replica that has not replayed it.
    read_your_writes_seconds: float = Field(WRITE_MARK_TTL_SECONDS, ge=1, le=3600)
    # --- end replica
    # --- pool (issue 12, docs/adr/0035): DATABASE_URL through a transaction pooler.
    # Set when DATABASE_URL is PgBouncer in pool_mode=transaction (or another pooler handing
    # each transaction to any server connection): psycopg then prepares no statements and the
    # session settings must be the app role's defaults (docs/scaling.md).
    database_transaction_pooler: bool = False
    # A direct URL of the same database (not through the pooler), for what needs a session of
    # its own: the job worker's LISTEN. Required with DATABASE_TRANSACTION_POOLER.
    database_direct_url: str | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _pooler(self) -> Settings:
        if self.database_transaction_pooler and self.database_direct_url is None:
            raise ValueError(
                "DATABASE_DIRECT_URL is not set (DATABASE_TRANSACTION_POOLER is): the job "
                "worker's LISTEN needs a connection that bypasses the pooler"
            )
        return self

    # --- end of pool
    # --- edge (issue 12 §5, docs/adr/0037): TLS served by `reserva serve` itself, TLS 1.3
    # only. Both PEM files or neither; unset, the API speaks plain HTTP and TLS ends at the
    # proxy or load balancer in front of it (the usual production shape).
    tls_cert_file: Path | None = None  # the certificate chain, leaf first
    tls_key_file: Path | None = None  # its private key, unencrypted, readable by the server only

    @model_validator(mode="after")
    def _tls(self) -> Settings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("TLS_CERT_FILE and TLS_KEY_FILE go together (or neither)")
        return self

    # --- end of edge

    # ---- observe: request ids, metrics, error reports, health (issue 12 §2, docs/adr/0033)
    # The header in which a trusted proxy in front sends its request id (e.g. X-Request-ID);
    # unset, such headers are ignored (clients could forge them) and every id is ours.
    request_id_header: str | None = Field(None, pattern=r"^[A-Za-z][A-Za-z0-9-]{0,63}$")
    # /metrics: scrapers send METRICS_TOKEN as a bearer token, or METRICS_PUBLIC opens it
    # (a private network); neither: 404.
    metrics_token: SecretStr | None = None
    metrics_public: bool = False
    # Sentry: errors are reported (scrubbed of personal data) when a DSN is set.
    sentry_dsn: SecretStr | None = None
    sentry_environment: str = Field("production", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    # /health/ready fails when no job worker beat its heart for this long; 0: not checked
    # (an API whose workers are watched elsewhere).
    worker_heartbeat_max_age_seconds: int = Field(60, ge=0, le=DAY)

    @field_validator("metrics_token")
    @classmethod
    def _metrics_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters (a random token)")
        return value

    @field_validator("sentry_dsn")
    @classmethod
    def _sentry_dsn(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _SENTRY_DSN.fullmatch(value.get_secret_value()):
            raise ValueError("must look like https://<key>@<host>/<project id>")
        return value

    # ---- end of observe
    # ---- live availability (issue 12, docs/adr/0032) ----
    # This API process contends to relay booking changes from the database to Redis (one relay
    # runs across all processes; off where no API process should hold a LISTEN connection).
    live_relay: bool = True
    # A direct (not transaction-pooled) database URL for the relay's LISTEN; DATABASE_URL if unset.
    live_listen_url: str | None = Field(None, min_length=1)
    # Changes kept in the Redis stream for `Last-Event-ID` replays (about; trimmed approximately).
    live_history_size: int = Field(10_000, ge=100, le=1_000_000)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        origins = tuple(part.strip() for part in value.split(",") if part.strip())
        for origin in origins:
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(f"{origin!r} is not an origin like https://app.example.com")
        return origins

    @field_validator("database_replica_url")
    @classmethod
    def _replica_url(cls, value: str | None) -> str | None:  # replica (ADR 34)
        if value is None:
            return None
        try:
            driver = make_url(value).drivername
        except ArgumentError:
            driver = None
        if driver != "postgresql+psycopg":
            raise ValueError("must be a postgresql+psycopg:// URL, like DATABASE_URL")
        return value

    @field_validator("stripe_api_base")
    @classmethod
    def _api_base(cls, value: str) -> str:
        if not _ORIGIN.fullmatch(value):
            raise ValueError(f"must be an origin like {STRIPE_API_BASE}")
        return value

    @field_validator(
        "sendgrid_api_host", "whatsapp_api_base", "cloudinary_upload_prefix", "ga4_endpoint"
    )
    @classmethod
    def _provider_origin(cls, value: str) -> str:
        if not _ORIGIN.fullmatch(value):
            raise ValueError("must be an origin like https://api.example.com")
        return value

    @field_validator("public_web_url", "public_api_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not _BASE_URL.fullmatch(value):
            raise ValueError("must be a URL like https://app.example.com (no query)")
        return value.rstrip("/")

    @field_validator("mail_from_address")
    @classmethod
    def _mail_from(cls, value: str) -> str:
        if not _EMAIL.fullmatch(value):
            raise ValueError("must be an email address")
        return value

    @field_validator("cloudinary_url")
    @classmethod
    def _cloudinary(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _CLOUDINARY_URL.fullmatch(value.get_secret_value()):
            raise ValueError("must look like cloudinary://<api key>:<api secret>@<cloud name>")
        return value

    @model_validator(mode="after")
    def _messaging(self) -> Settings:
        if self.sendgrid_api_key is not None and self.sendgrid_event_public_key is None:
            raise ValueError("SENDGRID_EVENT_PUBLIC_KEY is not set (SENDGRID_API_KEY is)")
        whatsapp = {
            "WHATSAPP_ACCESS_TOKEN": self.whatsapp_access_token,
            "WHATSAPP_PHONE_NUMBER_ID": self.whatsapp_phone_number_id,
            "WHATSAPP_APP_SECRET": self.whatsapp_app_secret,
            "WHATSAPP_VERIFY_TOKEN": self.whatsapp_verify_token,
        }
        unset = [name for name, setting in whatsapp.items() if setting is None]
        if unset and len(unset) < len(whatsapp):
            raise ValueError(f"{', '.join(unset)} not set (the WhatsApp settings go together)")
        return self

    @model_validator(mode="after")
    def _ga4(self) -> Settings:
        if (self.ga4_measurement_id is None) != (self.ga4_api_secret is None):
            raise ValueError("GA4_MEASUREMENT_ID and GA4_API_SECRET go together (or neither)")
        return self

    @model_validator(mode="after")
    def _stripe(self) -> Settings:
        key = self.stripe_api_key
        if key is None:
            return self
        secret = key.get_secret_value()
        if not secret.startswith(("sk_test_", "sk_live_", "rk_test_", "rk_live_")):
            raise ValueError("STRIPE_API_KEY must be a secret key (sk_... or rk_...)")
        if self.stripe_webhook_secret is None:
            raise ValueError("STRIPE_WEBHOOK_SECRET is not set (STRIPE_API_KEY is)")
        if not self.stripe_webhook_secret.get_secret_value().startswith("whsec_"):
            raise ValueError("STRIPE_WEBHOOK_SECRET must be a signing secret (whsec_...)")
        if self.stripe_publishable_key is None:
            raise ValueError("STRIPE_PUBLISHABLE_KEY is not set (STRIPE_API_KEY is)")
        live = "_live_" in secret[:8]
        if live != self.stripe_publishable_key.startswith("pk_live_"):
            raise ValueError("STRIPE_API_KEY and STRIPE_PUBLISHABLE_KEY mix live and test mode")
        if live and self.stripe_api_base != STRIPE_API_BASE:
            # A live key is sent to Stripe itself and nowhere else (not to a fake, not in clear).
            raise ValueError(f"STRIPE_API_BASE must be {STRIPE_API_BASE} for a live key")
        return self

    @property
    def payments_configured(self) -> bool:
        return self.stripe_api_key is not None

    @property
    def email_configured(self) -> bool:
        return self.sendgrid_api_key is not None

    @property
    def whatsapp_configured(self) -> bool:
        return self.whatsapp_access_token is not None

    @property
    def media_configured(self) -> bool:
        return self.cloudinary_url is not None

    @property
    def analytics_configured(self) -> bool:
        return self.ga4_measurement_id is not None

    @property
    def migrator_url(self) -> str:
        return self.migration_database_url or self.database_url

    @property
    def app_role(self) -> str | None:
        """The role the service connects as: the one the migrations grant row privileges to."""
        return make_url(self.database_url).username

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Keyword arguments only: the environment is read by from_env, from the mapping it is
        # given, so a test's Settings(...) never picks up the developer's shell.
        return (init_settings,)

    def to_env(self) -> dict[str, str]:
        """The environment from which `from_env` reads these settings again: what a child
        process (an API worker of `reserva serve`) is started with."""
        environ = {}
        for name, value in self:
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif isinstance(value, tuple):
                value = ",".join(value)
            environ[name.upper()] = str(value)
        return environ

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        try:
            return cls(**_EnvironSource(cls, environ)())
        except ValidationError as error:
            raise SettingsError("; ".join(map(_complaint, error.errors()))) from None


class _EnvironSource(EnvSettingsSource):
    """pydantic-settings' environment source, reading a given mapping instead of os.environ.

    Blank values count as unset and values are stripped, as operators' env files expect.
    """

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name.lower(): raw.strip() for name, raw in self._environ.items() if raw.strip()}


def _complaint(error: ErrorDetails) -> str:
    if not error["loc"]:  # a check across variables: its message names them
        return error["msg"].removeprefix("Value error, ")
    field = str(error["loc"][0])
    name = field.upper()
    if error["type"] == "missing":
        return f"{name} is not set"
    reason = (
        error["msg"]
        .replace("Input should be", "must be")
        .replace("String should", "must")
        .removeprefix("Value error, ")
    )
    if field in SECRETS:
        return f"{name} {reason}"  # never repeat a secret, not even a malformed one
    return f"{name} {reason}, got {error['input']!r}"
