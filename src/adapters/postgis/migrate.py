"""Run the Alembic migrations from code: the CLI (`reserva db ...`) and the tests call these."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.pool import NullPool

MIGRATIONS = Path(__file__).with_name("migrations")
URL_ATTRIBUTE = "database_url"  # read by migrations/env.py
APP_ROLE_ATTRIBUTE = "app_role"  # read by the migrations that grant privileges
APP_ROLE = "reserva_app"  # the default name of the role the service connects as


def alembic_config(url: str, app_role: str | None = APP_ROLE) -> Config:
    """A Config built in code; the URL travels in `attributes`, safe from ini interpolation.

    `url` is the schema owner's (MIGRATION_DATABASE_URL); `app_role` is the role the service
    connects as, which the migrations grant row privileges to (docs/operations.md).
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes[URL_ATTRIBUTE] = url
    config.attributes[APP_ROLE_ATTRIBUTE] = app_role or APP_ROLE
    return config


def upgrade(url: str, revision: str = "head", *, app_role: str | None = APP_ROLE) -> None:
    command.upgrade(alembic_config(url, app_role), revision)


def downgrade(url: str, revision: str, *, app_role: str | None = APP_ROLE) -> None:
    command.downgrade(alembic_config(url, app_role), revision)


def current(url: str) -> str | None:
    """The revision the database is at; None for a database never migrated."""
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
