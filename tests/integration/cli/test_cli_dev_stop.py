"""`reserva serve` leaves its private PostgreSQL and Redis running in ./.data and says so;
`reserva dev stop` stops them (ADR 37). A serve whose certificate does not match its key
starts them, says how to stop them, and fails with a clear error before any worker starts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from click.testing import Result
from typer.testing import CliRunner

from devservers.net import free_port
from devservers.postgres import LocalPostgres
from devservers.redis import LocalRedis
from entrypoints.cli.main import app
from tls_support import self_signed

runner = CliRunner()
# Plainly fake provider settings, so serve starts no fakes: nothing is sent before it stops.
CONFIGURED_PROVIDERS = {
    "STRIPE_API_KEY": "sk_test_dev_stop",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_dev_stop",
    "STRIPE_WEBHOOK_SECRET": "whsec_dev_stop",
    "SENDGRID_API_KEY": "SG.dev_stop",
    "SENDGRID_EVENT_PUBLIC_KEY": "not-used-here",
    "CLOUDINARY_URL": "cloudinary://1:dev_stop@dev-stop",
    "GA4_MEASUREMENT_ID": "G-DEVSTOP",
    "GA4_API_SECRET": "dev-stop",
}


@attrs.frozen
class Checkout:
    """What `reserva` sees in a checkout of its own: ./.data and the ports of its servers."""

    env: dict[str, str | None]
    postgres: LocalPostgres
    redis: LocalRedis

    def reserva(self, *args: str) -> Result:
        return runner.invoke(app, list(args), env=self.env)


@pytest.fixture
def checkout(tmp_path: Path) -> Iterator[Checkout]:
    data, pg_port, redis_port = tmp_path / ".data", free_port(), free_port()
    unset: dict[str, str | None] = dict.fromkeys(("DATABASE_URL", "REDIS_URL", "PUBLIC_API_URL"))
    env = unset | CONFIGURED_PROVIDERS | {"COLUMNS": "400"}  # one line per message
    env |= {
        "RESERVA_DATA_DIR": str(data),
        "RESERVA_PG_PORT": str(pg_port),
        "RESERVA_REDIS_PORT": str(redis_port),
    }
    found = Checkout(
        env=env,
        postgres=LocalPostgres(data / "pg", pg_port),
        redis=LocalRedis(redis_port, data / "redis"),
    )
    try:
        yield found
    finally:
        found.postgres.stop()
        found.redis.stop()


def test_serve_leaves_its_servers_running_and_dev_stop_stops_them(
    checkout: Checkout, tmp_path: Path
) -> None:
    mine, other = self_signed(tmp_path / "mine"), self_signed(tmp_path / "other")
    checkout.env["TLS_CERT_FILE"] = str(mine.cert_file)
    checkout.env["TLS_KEY_FILE"] = str(other.key_file)  # not the certificate's key

    served = checkout.reserva("serve", "--port", str(free_port()), "--demo-providers", "0")
    left_running = (checkout.postgres.is_running(), checkout.redis.is_running())
    stopped = checkout.reserva("dev", "stop")
    after = (checkout.postgres.is_running(), checkout.redis.is_running())
    again = checkout.reserva("dev", "stop")

    assert served.exit_code == 1
    assert "the local PostgreSQL and Redis keep running after serve stops" in served.stderr
    assert "stop them with `reserva dev stop` (or `./dev.sh stop`)" in served.stderr
    assert f"cannot load the certificate {mine.cert_file} with the key" in served.stderr
    assert "key values mismatch" in served.stderr
    assert "Traceback" not in served.output
    assert left_running == (True, True)
    assert stopped.exit_code == 0, stopped.output
    assert f"stopped PostgreSQL in {checkout.postgres.data_dir}" in stopped.stdout
    assert f"stopped Redis on port {checkout.redis.port}" in stopped.stdout
    assert after == (False, False)
    assert again.exit_code == 0, again.output
    assert "was not running" in again.stdout
    assert (checkout.postgres.data_dir / "PG_VERSION").exists()  # stopped, not deleted
