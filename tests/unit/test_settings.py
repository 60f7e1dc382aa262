"""The service's settings: read from the mapping given, defaults for blanks, errors that name
the variable."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from entrypoints.settings import Settings, SettingsError

URLS = {
    "DATABASE_URL": "postgresql+psycopg://db/reserva",
    "REDIS_URL": "redis://cache/0",
    "KEK_FILE": "/run/secrets/reserva-kek.json",
}


def test_blank_variables_take_the_defaults_and_values_are_stripped() -> None:
    settings = Settings.from_env({**URLS, "HOLD_TTL_SECONDS": "  ", "ACCESS_TTL_SECONDS": " 300 "})

    assert settings.hold_ttl_seconds == 600
    assert settings.access_ttl_seconds == 300
    assert settings.database_url == URLS["DATABASE_URL"]


def test_only_the_given_mapping_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOLD_TTL_SECONDS", "77")
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://elsewhere/db")

    assert Settings.from_env(URLS).hold_ttl_seconds == 600
    assert Settings(database_url="a", redis_url="b", kek_file=Path("c")).hold_ttl_seconds == 600
    with pytest.raises(SettingsError, match="DATABASE_URL is not set"):
        Settings.from_env({"REDIS_URL": "redis://cache/0", "KEK_FILE": "k"})


def test_the_key_encryption_key_file_is_required() -> None:
    """Secrets at rest cannot be read without it: the service refuses to start, not later."""
    with pytest.raises(SettingsError, match="KEK_FILE is not set"):
        Settings.from_env({k: v for k, v in URLS.items() if k != "KEK_FILE"})
    assert Settings.from_env(URLS).kek_file == Path("/run/secrets/reserva-kek.json")


@pytest.mark.parametrize(
    ("name", "raw", "complaint"),
    [
        ("ACCESS_TTL_SECONDS", "901", "ACCESS_TTL_SECONDS must be less than or equal to 900"),
        ("HOLD_TTL_SECONDS", "29", "HOLD_TTL_SECONDS must be greater than or equal to 30"),
        ("DB_POOL_SIZE", "ten", "DB_POOL_SIZE must be a valid integer"),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(name: str, raw: str, complaint: str) -> None:
    with pytest.raises(SettingsError, match=complaint):
        Settings.from_env({**URLS, name: raw})


def test_the_bounds_are_inclusive() -> None:
    settings = Settings.from_env({**URLS, "ACCESS_TTL_SECONDS": "900", "RATE_LIMIT_REQUESTS": "0"})

    assert timedelta(seconds=settings.access_ttl_seconds) == timedelta(minutes=15)
    assert settings.rate_limit_requests == 0


def test_cors_origins_are_a_comma_separated_list_and_none_by_default() -> None:
    listed = URLS | {"CORS_ORIGINS": " https://app.example , http://localhost:5173 "}

    assert Settings.from_env(URLS).cors_origins == ()
    assert Settings.from_env(listed).cors_origins == (
        "https://app.example",
        "http://localhost:5173",
    )
    for bad in ("*", "https://app.example/", "app.example"):
        with pytest.raises(SettingsError, match="CORS_ORIGINS"):
            Settings.from_env(URLS | {"CORS_ORIGINS": bad})


def test_have_i_been_pwned_is_off_unless_its_url_is_set() -> None:
    assert Settings.from_env(URLS).hibp_api_url is None
    on = Settings.from_env(URLS | {"HIBP_API_URL": "https://api.pwnedpasswords.com"})
    assert on.hibp_api_url == "https://api.pwnedpasswords.com"


def test_migrations_run_as_their_own_role_when_one_is_given() -> None:
    owner = "postgresql+psycopg://reserva_owner@db/reserva"
    app_only = Settings.from_env({**URLS, "DATABASE_URL": "postgresql+psycopg://reserva_app@db/r"})
    both = Settings.from_env({**URLS, "MIGRATION_DATABASE_URL": owner})

    assert app_only.migrator_url == app_only.database_url
    assert app_only.app_role == "reserva_app"
    assert both.migrator_url == owner
    assert both.database_url == URLS["DATABASE_URL"]


STRIPE = {
    "STRIPE_API_KEY": "sk_test_51abcSECRETvalue",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_51abcPUBLIC",
    "STRIPE_WEBHOOK_SECRET": "whsec_SIGNINGsecret",
}


def test_payments_are_off_by_default_and_take_the_core_defaults() -> None:
    settings = Settings.from_env(URLS)

    assert not settings.payments_configured
    assert settings.stripe_api_key is None
    assert settings.stripe_api_base == "https://api.stripe.com"
    assert settings.stripe_webhook_tolerance_seconds == 300
    assert settings.payments_commission_percent == 10
    assert settings.goodwill_cap_percent == 50


def test_stripe_keys_are_secret_in_reprs_and_dumps() -> None:
    settings = Settings.from_env(URLS | STRIPE)

    assert settings.payments_configured
    assert settings.stripe_api_key is not None
    assert settings.stripe_api_key.get_secret_value() == STRIPE["STRIPE_API_KEY"]
    for shown in (repr(settings), str(settings), str(settings.model_dump())):
        assert "SECRETvalue" not in shown
        assert "SIGNINGsecret" not in shown


@pytest.mark.parametrize(
    ("changed", "complaint"),
    [
        ({"STRIPE_WEBHOOK_SECRET": ""}, "STRIPE_WEBHOOK_SECRET is not set"),
        ({"STRIPE_PUBLISHABLE_KEY": ""}, "STRIPE_PUBLISHABLE_KEY is not set"),
        ({"STRIPE_API_KEY": "pk_test_SECRETvalue"}, "STRIPE_API_KEY must be a secret key"),
        ({"STRIPE_WEBHOOK_SECRET": "SIGNINGsecret"}, "STRIPE_WEBHOOK_SECRET must be a signing"),
        ({"STRIPE_PUBLISHABLE_KEY": "sk_test_x"}, "STRIPE_PUBLISHABLE_KEY must match"),
        ({"STRIPE_API_KEY": "sk_live_SECRETvalue"}, "mix live and test mode"),
        ({"STRIPE_API_BASE": "localhost:12111"}, "STRIPE_API_BASE must be an origin"),
        ({"STRIPE_WEBHOOK_TOLERANCE_SECONDS": "0"}, "STRIPE_WEBHOOK_TOLERANCE_SECONDS must be"),
        ({"PAYMENTS_COMMISSION_PERCENT": "101"}, "PAYMENTS_COMMISSION_PERCENT must be less"),
        ({"GOODWILL_CAP_PERCENT": "-1"}, "GOODWILL_CAP_PERCENT must be greater"),
    ],
)
def test_stripe_settings_are_checked_together(changed: dict[str, str], complaint: str) -> None:
    with pytest.raises(SettingsError, match=complaint) as refused:
        Settings.from_env(URLS | STRIPE | changed)
    assert "SECRETvalue" not in str(refused.value)
    assert "SIGNINGsecret" not in str(refused.value)


def test_a_live_key_only_ever_goes_to_stripe_itself() -> None:
    live = STRIPE | {
        "STRIPE_API_KEY": "sk_live_SECRETvalue",
        "STRIPE_PUBLISHABLE_KEY": "pk_live_PUBLIC",
    }

    assert Settings.from_env(URLS | live).stripe_api_base == "https://api.stripe.com"
    with pytest.raises(SettingsError, match=r"STRIPE_API_BASE must be https://api\.stripe\.com"):
        Settings.from_env(URLS | live | {"STRIPE_API_BASE": "http://127.0.0.1:12111"})
    test_mode = Settings.from_env(URLS | STRIPE | {"STRIPE_API_BASE": "http://127.0.0.1:12111"})
    assert test_mode.stripe_api_base == "http://127.0.0.1:12111"


# ---------------------------------------------------------------- messaging and media

SENDGRID = {"SENDGRID_API_KEY": "SG.key", "SENDGRID_EVENT_PUBLIC_KEY": "MFkwEwYHKoZIzj0CAQYI"}
WHATSAPP = {
    "WHATSAPP_ACCESS_TOKEN": "EAAG-token",
    "WHATSAPP_PHONE_NUMBER_ID": "1234567890",
    "WHATSAPP_APP_SECRET": "app-secret",
    "WHATSAPP_VERIFY_TOKEN": "verify-me",
}


def test_messaging_and_media_are_off_by_default() -> None:
    settings = Settings.from_env(URLS)

    assert not settings.email_configured
    assert not settings.whatsapp_configured
    assert not settings.media_configured
    assert settings.worker_concurrency == 4
    assert settings.integration_webhooks_allow_private is False


def test_provider_secrets_never_show_in_reprs_or_errors() -> None:
    settings = Settings.from_env(
        {**URLS, **SENDGRID, **WHATSAPP, "CLOUDINARY_URL": "cloudinary://123:shh@demo"}
    )

    shown = repr(settings) + str(settings.model_dump())
    for secret in ("SG.key", "EAAG-token", "app-secret", "verify-me", "shh"):
        assert secret not in shown
    assert settings.email_configured
    assert settings.whatsapp_configured
    with pytest.raises(SettingsError, match="CLOUDINARY_URL must look like") as refused:
        Settings.from_env({**URLS, "CLOUDINARY_URL": "https://sk_live_leaked@demo"})
    assert "leaked" not in str(refused.value)


def test_a_sendgrid_key_needs_its_event_verification_key() -> None:
    with pytest.raises(SettingsError, match="SENDGRID_EVENT_PUBLIC_KEY is not set"):
        Settings.from_env({**URLS, "SENDGRID_API_KEY": "SG.key"})


def test_the_whatsapp_settings_go_together() -> None:
    partial = {k: v for k, v in WHATSAPP.items() if k != "WHATSAPP_APP_SECRET"}
    with pytest.raises(SettingsError, match="WHATSAPP_APP_SECRET not set"):
        Settings.from_env({**URLS, **partial})


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("PUBLIC_WEB_URL", "app.example.com"),
        ("PUBLIC_API_URL", "https://api.example.com/?x=1"),
        ("SENDGRID_API_HOST", "https://api.sendgrid.com/v3"),
        ("MAIL_FROM_ADDRESS", "bookings"),
        ("WORKER_CONCURRENCY", "0"),
    ],
)
def test_bad_messaging_settings_are_refused(name: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({**URLS, name: raw})


def test_public_urls_lose_their_trailing_slash() -> None:
    settings = Settings.from_env({**URLS, "PUBLIC_WEB_URL": "https://app.example.com/r/"})

    assert settings.public_web_url == "https://app.example.com/r"


def test_settings_survive_the_trip_through_a_child_process_environment() -> None:
    """`reserva serve` hands its settings (local servers and fakes included) to its API
    workers as their environment."""
    settings = Settings.from_env(
        URLS
        | STRIPE
        | {
            "CORS_ORIGINS": "https://app.example.com,https://admin.example.com",
            "GA4_VALIDATE": "true",
            "DB_POOL_SIZE": "3",
            "DB_POOL_TIMEOUT_SECONDS": "2.5",
        }
    )

    assert Settings.from_env(settings.to_env()) == settings
    assert settings.to_env()["STRIPE_API_KEY"] == STRIPE["STRIPE_API_KEY"]


# ---------------------------------------------------------------- observe (issue 12)


def test_observability_settings_are_off_unless_given() -> None:
    settings = Settings.from_env(URLS)

    assert settings.request_id_header is None
    assert settings.metrics_token is None
    assert settings.metrics_public is False
    assert settings.sentry_dsn is None
    assert settings.worker_heartbeat_max_age_seconds == 60


@pytest.mark.parametrize(
    ("name", "value", "complaint"),
    [
        ("METRICS_TOKEN", "short-secret", "METRICS_TOKEN must be at least 16 characters"),
        ("SENTRY_DSN", "https://sentry.example/1", "SENTRY_DSN must look like https://"),
        ("REQUEST_ID_HEADER", "X Request Id", "REQUEST_ID_HEADER must match pattern"),
        ("WORKER_HEARTBEAT_MAX_AGE_SECONDS", "-1", "WORKER_HEARTBEAT_MAX_AGE_SECONDS must be"),
    ],
)
def test_bad_observability_settings_are_named_and_secrets_not_repeated(
    name: str, value: str, complaint: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({**URLS, name: value})

    assert complaint in str(raised.value)
    if name in ("METRICS_TOKEN", "SENTRY_DSN"):
        assert value not in str(raised.value)
