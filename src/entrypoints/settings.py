"""Settings of the running service, read from the environment and checked once at startup."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from adapters.postgis.database import POOL_SIZE

DAY = 24 * 60 * 60


class SettingsError(ValueError):
    """An environment variable is missing or malformed; the message names it."""


def _int(environ: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name} is not set")
    return value


@attrs.frozen(kw_only=True)
class Settings:
    database_url: str  # postgresql+psycopg://...
    redis_url: str  # redis://host:port/db
    hold_ttl_seconds: int = 600
    idempotency_ttl_seconds: int = 24 * 60 * 60
    db_pool_size: int = POOL_SIZE
    # Identity. Argon2id defaults are OWASP's minimum (19 MiB, 2 passes); tests lower them.
    argon2_memory_kib: int = 19_456
    argon2_time_cost: int = 2
    argon2_parallelism: int = 1
    access_ttl_seconds: int = 600  # at most 900: the identity core refuses longer
    refresh_ttl_seconds: int = 14 * DAY
    refresh_grace_seconds: int = 10  # two tabs refreshing with one token both stay logged in
    # Failed logins, MFA codes, refresh and reset tokens: per account and per IP, after
    # `login_max_failures` in the window, a block that doubles with each further failure.
    login_max_failures: int = 5
    throttle_window_seconds: int = 900
    throttle_base_block_seconds: int = 2
    throttle_max_block_seconds: int = 900
    # Registrations and password-reset requests (they send mail) per IP and per address.
    auth_request_limit: int = 10
    # Every request, per user (with a valid token) or per IP; 0 turns the limit off.
    rate_limit_requests: int = 600
    rate_limit_window_seconds: int = 60

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        return cls(
            database_url=_required(environ, "DATABASE_URL"),
            redis_url=_required(environ, "REDIS_URL"),
            hold_ttl_seconds=_int(environ, "HOLD_TTL_SECONDS", 600, 30, 24 * 60 * 60),
            idempotency_ttl_seconds=_int(
                environ, "IDEMPOTENCY_TTL_SECONDS", 24 * 60 * 60, 60, 7 * 24 * 60 * 60
            ),
            db_pool_size=_int(environ, "DB_POOL_SIZE", POOL_SIZE, 1, 100),
            argon2_memory_kib=_int(environ, "ARGON2_MEMORY_KIB", 19_456, 8, 4 * 1024 * 1024),
            argon2_time_cost=_int(environ, "ARGON2_TIME_COST", 2, 1, 100),
            argon2_parallelism=_int(environ, "ARGON2_PARALLELISM", 1, 1, 64),
            access_ttl_seconds=_int(environ, "ACCESS_TTL_SECONDS", 600, 30, 900),
            refresh_ttl_seconds=_int(environ, "REFRESH_TTL_SECONDS", 14 * DAY, 60, 90 * DAY),
            refresh_grace_seconds=_int(environ, "REFRESH_GRACE_SECONDS", 10, 1, 300),
            login_max_failures=_int(environ, "LOGIN_MAX_FAILURES", 5, 1, 1000),
            throttle_window_seconds=_int(environ, "THROTTLE_WINDOW_SECONDS", 900, 1, DAY),
            throttle_base_block_seconds=_int(environ, "THROTTLE_BASE_BLOCK_SECONDS", 2, 1, DAY),
            throttle_max_block_seconds=_int(environ, "THROTTLE_MAX_BLOCK_SECONDS", 900, 1, DAY),
            auth_request_limit=_int(environ, "AUTH_REQUEST_LIMIT", 10, 1, 100_000),
            rate_limit_requests=_int(environ, "RATE_LIMIT_REQUESTS", 600, 0, 10_000_000),
            rate_limit_window_seconds=_int(environ, "RATE_LIMIT_WINDOW_SECONDS", 60, 1, DAY),
        )
