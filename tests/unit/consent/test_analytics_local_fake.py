"""`reserva serve` runs the GA4 fake beside the other fakes when GA4_MEASUREMENT_ID is unset
(nothing is started here); a configured deployment without GA4 settings has analytics off."""

from __future__ import annotations

from pathlib import Path

from entrypoints.cli.environment import DEFAULT_GA4_PORT, local_fakes, resolve_settings


def test_serve_would_run_the_ga4_fake_when_no_property_is_configured(tmp_path: Path) -> None:
    fakes = local_fakes("127.0.0.1", 8000, {"RESERVA_DATA_DIR": str(tmp_path)})
    moved = local_fakes(
        "127.0.0.1", 8000, {"RESERVA_DATA_DIR": str(tmp_path), "RESERVA_GA4_PORT": "40005"}
    )

    assert fakes.ga4 is not None
    assert fakes.ga4.port == DEFAULT_GA4_PORT
    assert moved.ga4 is not None
    assert moved.ga4.port == 40005
    assert (tmp_path / "ga4").is_dir()


def test_no_ga4_fake_when_a_property_is_configured(tmp_path: Path) -> None:
    env = {"RESERVA_DATA_DIR": str(tmp_path), "GA4_MEASUREMENT_ID": "G-REAL1234"}

    assert local_fakes("127.0.0.1", 8000, env).ga4 is None


def test_a_configured_database_without_ga4_settings_has_analytics_off(tmp_path: Path) -> None:
    env = {
        "RESERVA_DATA_DIR": str(tmp_path),
        "DATABASE_URL": "postgresql+psycopg://app@db/reserva",
        "KEK_FILE": str(tmp_path / "kek.json"),
        "REDIS_URL": "redis://cache/0",
    }

    settings = resolve_settings(need_redis=False, say=lambda _: None, environ=env)

    assert not settings.analytics_configured
