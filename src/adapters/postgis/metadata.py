"""The one SQLAlchemy MetaData every PostGIS table registers on (migration tests check it)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg


def one_of(column: str, values: tuple[str, ...]) -> str:
    """SQL for a CHECK that `column` holds one of `values`."""
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Events written in the same transaction as the state change; a worker delivers them at least once.
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("payload", pg.JSONB, nullable=False),
    sa.Column("delivered_at", sa.DateTime(timezone=True)),
    # The request (or job) whose transaction wrote the event: the transaction's `app.request_id`
    # (migration 0024, docs/adr/0033); NULL when none (a sweep, a CLI command, older rows).
    sa.Column(
        "request_id",
        sa.Text,
        server_default=sa.text("nullif(current_setting('app.request_id', true), '')"),
    ),
)
sa.Index("ix_outbox_undelivered", outbox.c.seq, postgresql_where=outbox.c.delivered_at.is_(None))
