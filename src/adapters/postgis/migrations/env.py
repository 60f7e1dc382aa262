"""Alembic environment, configured in code by `adapters.postgis.migrate` (no alembic.ini).

Migrations run online over a synchronous psycopg connection: the same `postgresql+psycopg://`
URL the application uses works with SQLAlchemy's sync psycopg dialect.

No `target_metadata`: revisions are written by hand with every constraint named in full, and
the MetaData's naming convention would otherwise be applied on top of those names (a check
named "ck_users_x" would become "ck_users_ck_users_x"). The tests compare the migrated schema
with the declared tables instead.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context
from sqlalchemy.pool import NullPool

from adapters.postgis.migrate import URL_ATTRIBUTE


def run_migrations_online() -> None:
    url: str = context.config.attributes[URL_ATTRIBUTE]
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


run_migrations_online()
