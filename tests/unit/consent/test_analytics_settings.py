"""GA4 settings: unset means analytics off (no error); the id and the secret go together."""

from __future__ import annotations

import pytest

from entrypoints.settings import Settings, SettingsError

URLS = {
    "DATABASE_URL": "postgresql+psycopg://db/reserva",
    "REDIS_URL": "redis://cache/0",
    "KEK_FILE": "/run/secrets/reserva-kek.json",
}
GA4 = {"GA4_MEASUREMENT_ID": "G-ABC123XYZ", "GA4_API_SECRET": "ga4-shh"}


def test_analytics_is_off_unless_configured() -> None:
    settings = Settings.from_env(URLS)

    assert not settings.analytics_configured
    assert settings.ga4_endpoint == "https://www.google-analytics.com"
    assert settings.ga4_validate is False


def test_a_configured_property_keeps_its_secret_out_of_reprs() -> None:
    settings = Settings.from_env(
        {**URLS, **GA4, "GA4_ENDPOINT": "http://127.0.0.1:56115", "GA4_VALIDATE": "true"}
    )

    assert settings.analytics_configured
    assert settings.ga4_validate is True
    assert "ga4-shh" not in repr(settings) + str(settings.model_dump())


@pytest.mark.parametrize("missing", sorted(GA4))
def test_the_id_and_the_secret_go_together(missing: str) -> None:
    partial = {k: v for k, v in GA4.items() if k != missing}

    with pytest.raises(SettingsError, match="GA4_MEASUREMENT_ID and GA4_API_SECRET go together"):
        Settings.from_env({**URLS, **partial})


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("GA4_MEASUREMENT_ID", "UA-12345-1"),
        ("GA4_ENDPOINT", "https://www.google-analytics.com/mp/collect"),
    ],
)
def test_bad_ga4_settings_are_refused(name: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({**URLS, **GA4, name: raw})
