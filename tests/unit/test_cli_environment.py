"""Which fake Stripe `reserva serve` would start, and where its webhooks would go (nothing is
started here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from entrypoints.cli.environment import (
    DEFAULT_CLOUDINARY_PORT,
    DEFAULT_STRIPE_PORT,
    local_fakes,
    local_stripe,
    resolve_settings,
)
from entrypoints.settings import SettingsError


def test_no_fake_when_stripe_is_configured() -> None:
    assert local_stripe("127.0.0.1", 8000, {"STRIPE_API_KEY": "sk_live_x"}) is None


def test_the_fake_sends_its_webhooks_to_the_api_about_to_listen(tmp_path: Path) -> None:
    env = {"RESERVA_DATA_DIR": str(tmp_path), "STRIPE_API_KEY": "  "}

    fake = local_stripe("127.0.0.1", 8123, env)
    everywhere = local_stripe("0.0.0.0", 8000, env | {"RESERVA_STRIPE_PORT": "40001"})  # noqa: S104

    assert fake is not None
    assert everywhere is not None
    assert fake.port == DEFAULT_STRIPE_PORT
    assert fake.webhook_url == "http://127.0.0.1:8123/webhooks/stripe"
    assert fake.webhook_secret is not None
    assert fake.webhook_secret.startswith("whsec_")
    assert fake.log_file == tmp_path / "stripe" / "stripe.log"
    assert everywhere.port == 40001
    assert everywhere.webhook_url == "http://127.0.0.1:8000/webhooks/stripe"
    assert everywhere.webhook_secret != fake.webhook_secret  # made per run


def test_a_bad_stripe_port_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="RESERVA_STRIPE_PORT"):
        local_stripe("127.0.0.1", 8000, {"RESERVA_STRIPE_PORT": "http", "RESERVA_DATA_DIR": "x"})


def test_no_messaging_or_cloudinary_fake_when_their_keys_are_set(tmp_path: Path) -> None:
    env = {
        "RESERVA_DATA_DIR": str(tmp_path),
        "SENDGRID_API_KEY": "SG.real",
        "CLOUDINARY_URL": "cloudinary://1:s@c",
    }

    fakes = local_fakes("127.0.0.1", 8000, env)

    assert fakes.messaging is None
    assert fakes.cloudinary is None


def test_the_fakes_send_their_webhooks_to_the_api_about_to_listen(tmp_path: Path) -> None:
    env = {"RESERVA_DATA_DIR": str(tmp_path), "RESERVA_MESSAGING_PORT": "40002"}

    fakes = local_fakes("0.0.0.0", 8123, env)  # noqa: S104

    assert fakes.api_url == "http://127.0.0.1:8123"
    assert fakes.messaging is not None
    assert fakes.messaging.port == 40002
    arguments = fakes.messaging.server.arguments
    assert "http://127.0.0.1:8123/webhooks/sendgrid" in arguments
    assert "http://127.0.0.1:8123/webhooks/whatsapp" in arguments
    assert fakes.whatsapp_app_secret in arguments  # the fake signs with the API's secret
    assert fakes.cloudinary is not None
    assert fakes.cloudinary.api_base == f"http://127.0.0.1:{DEFAULT_CLOUDINARY_PORT}"
    assert (tmp_path / "messaging").is_dir()


def test_a_configured_database_gets_no_made_up_providers(tmp_path: Path) -> None:
    """Production's `reserva worker` without SENDGRID_API_KEY queues mail (nothing is sent to
    a fake that is not there); only the local database points commands at serve's fakes."""
    env = {
        "RESERVA_DATA_DIR": str(tmp_path),
        "DATABASE_URL": "postgresql+psycopg://app@db/reserva",
        "KEK_FILE": str(tmp_path / "kek.json"),
        "REDIS_URL": "redis://cache/0",
    }
    settings = resolve_settings(need_redis=False, say=lambda _: None, environ=env)

    assert not settings.email_configured
    assert not settings.media_configured
