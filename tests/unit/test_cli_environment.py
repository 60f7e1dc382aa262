"""Which fake Stripe `reserva serve` would start, and where its webhooks would go (nothing is
started here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from entrypoints.cli.environment import DEFAULT_STRIPE_PORT, local_stripe
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
