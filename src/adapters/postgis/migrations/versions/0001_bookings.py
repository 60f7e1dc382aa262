"""Bookings context: catalog, opening hours, occurrences, bookings, and the shared outbox.

Revision ID: 0001_bookings
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geography
from sqlalchemy.dialects import postgresql as pg

revision: str = "0001_bookings"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = pg.UUID(as_uuid=True)
INTERVAL_CHECK = "0 <= opens AND opens < closes AND closes <= 1440"
LIVE = "status IN ('held', 'confirmed')"


def _id() -> sa.Column[object]:
    return sa.Column("id", UUID, nullable=False)


def upgrade() -> None:
    # Extensions stay on downgrade: other schemas (and the test fixtures) may rely on them.
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    _outbox()
    _catalog()
    _hours()
    _offerings()
    _bookings()


def _outbox() -> None:
    op.create_table(
        "outbox",
        _id(),
        sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", pg.JSONB, nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("seq", name="uq_outbox_seq"),
    )
    op.create_index(
        "ix_outbox_undelivered",
        "outbox",
        ["seq"],
        postgresql_where=sa.text("delivered_at IS NULL"),
    )


def _catalog() -> None:
    op.create_table(
        "providers",
        _id(),
        sa.Column("name", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_providers"),
    )
    op.create_table(
        "places",
        _id(),
        sa.Column("provider_id", UUID, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("line1", sa.Text, nullable=False),
        sa.Column("city", sa.Text, nullable=False),
        sa.Column("postal_code", sa.Text, nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column(
            "location",
            Geography(geometry_type="POINT", srid=4326, spatial_index=False),
            nullable=False,
        ),
        sa.Column("timezone", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_places"),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["providers.id"], name="fk_places_provider_id_providers"
        ),
    )
    op.create_index("ix_places_provider_id", "places", ["provider_id"])
    op.create_index("ix_places_location", "places", ["location"], postgresql_using="gist")
    op.create_table(
        "resources",
        _id(),
        sa.Column("provider_id", UUID, nullable=False),
        sa.Column("place_id", UUID, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_resources"),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["providers.id"], name="fk_resources_provider_id_providers"
        ),
        sa.ForeignKeyConstraint(["place_id"], ["places.id"], name="fk_resources_place_id_places"),
    )
    op.create_index("ix_resources_provider_id", "resources", ["provider_id"])
    op.create_index("ix_resources_place_id", "resources", ["place_id"])


def _hours() -> None:
    op.create_table(
        "opening_hours",
        sa.Column("place_id", UUID, nullable=False),
        sa.Column("weekday", sa.SmallInteger, nullable=False),
        sa.Column("opens", sa.SmallInteger, nullable=False),
        sa.Column("closes", sa.SmallInteger, nullable=False),
        sa.PrimaryKeyConstraint("place_id", "weekday", "opens", name="pk_opening_hours"),
        sa.ForeignKeyConstraint(
            ["place_id"],
            ["places.id"],
            ondelete="CASCADE",
            name="fk_opening_hours_place_id_places",
        ),
        sa.CheckConstraint("weekday BETWEEN 0 AND 6", name="ck_opening_hours_weekday"),
        sa.CheckConstraint(INTERVAL_CHECK, name="ck_opening_hours_interval"),
        pg.ExcludeConstraint(
            (sa.column("place_id"), "="),
            (sa.column("weekday"), "="),
            (sa.text("int4range(opens, closes)"), "&&"),
            name="ex_opening_hours_overlap",
            using="gist",
        ),
    )
    op.create_table(
        "opening_exceptions",
        sa.Column("place_id", UUID, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.PrimaryKeyConstraint("place_id", "day", name="pk_opening_exceptions"),
        sa.ForeignKeyConstraint(
            ["place_id"],
            ["places.id"],
            ondelete="CASCADE",
            name="fk_opening_exceptions_place_id_places",
        ),
    )
    op.create_table(
        "opening_exception_intervals",
        sa.Column("place_id", UUID, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("opens", sa.SmallInteger, nullable=False),
        sa.Column("closes", sa.SmallInteger, nullable=False),
        sa.PrimaryKeyConstraint("place_id", "day", "opens", name="pk_opening_exception_intervals"),
        sa.ForeignKeyConstraint(
            ["place_id", "day"],
            ["opening_exceptions.place_id", "opening_exceptions.day"],
            ondelete="CASCADE",
            name="fk_opening_exception_intervals_exception",
        ),
        sa.CheckConstraint(INTERVAL_CHECK, name="ck_opening_exception_intervals_interval"),
        pg.ExcludeConstraint(
            (sa.column("place_id"), "="),
            (sa.column("day"), "="),
            (sa.text("int4range(opens, closes)"), "&&"),
            name="ex_opening_exception_intervals_overlap",
            using="gist",
        ),
    )


def _offerings() -> None:
    op.create_table(
        "offerings",
        _id(),
        sa.Column("provider_id", UUID, nullable=False),
        sa.Column("place_id", UUID, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("price_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        *(
            sa.Column(name, sa.Interval, nullable=False)
            for name in (
                "duration",
                "slot_step",
                "buffer_before",
                "buffer_after",
                "lead_time",
                "horizon",
            )
        ),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_offerings"),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["providers.id"], name="fk_offerings_provider_id_providers"
        ),
        sa.ForeignKeyConstraint(["place_id"], ["places.id"], name="fk_offerings_place_id_places"),
        sa.CheckConstraint("kind IN ('appointment', 'session')", name="ck_offerings_kind"),
        sa.CheckConstraint("price_minor >= 0", name="ck_offerings_price"),
        sa.CheckConstraint("capacity BETWEEN 1 AND 10000", name="ck_offerings_capacity"),
    )
    op.create_index("ix_offerings_provider_id", "offerings", ["provider_id"])
    op.create_index("ix_offerings_place_id", "offerings", ["place_id"])
    op.create_index("ix_offerings_category", "offerings", ["category"])
    op.create_table(
        "offering_resources",
        sa.Column("offering_id", UUID, nullable=False),
        sa.Column("resource_id", UUID, nullable=False),
        sa.Column("position", sa.SmallInteger, nullable=False),
        sa.PrimaryKeyConstraint("offering_id", "resource_id", name="pk_offering_resources"),
        sa.ForeignKeyConstraint(
            ["offering_id"],
            ["offerings.id"],
            ondelete="CASCADE",
            name="fk_offering_resources_offering_id_offerings",
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"], ["resources.id"], name="fk_offering_resources_resource_id_resources"
        ),
    )
    op.create_index("ix_offering_resources_resource_id", "offering_resources", ["resource_id"])
    op.create_table(
        "occurrences",
        _id(),
        sa.Column("offering_id", UUID, nullable=False),
        sa.Column("during", pg.TSTZRANGE, nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_occurrences"),
        sa.ForeignKeyConstraint(
            ["offering_id"], ["offerings.id"], name="fk_occurrences_offering_id_offerings"
        ),
        sa.CheckConstraint("NOT isempty(during)", name="ck_occurrences_during"),
        sa.CheckConstraint("capacity BETWEEN 1 AND 10000", name="ck_occurrences_capacity"),
    )
    op.create_index(
        "ix_occurrences_offering_start", "occurrences", ["offering_id", sa.text("lower(during)")]
    )


def _bookings() -> None:
    op.create_table(
        "bookings",
        _id(),
        sa.Column("offering_id", UUID, nullable=False),
        sa.Column("provider_id", UUID, nullable=False),
        sa.Column("customer_id", UUID, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("during", pg.TSTZRANGE, nullable=False),
        sa.Column("blocked", pg.TSTZRANGE, nullable=False),
        sa.Column("resource_id", UUID),
        sa.Column("occurrence_id", UUID),
        sa.Column("seats", sa.Integer, nullable=False),
        sa.Column("price_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("hold_expires_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rescheduled_from", UUID),
        sa.PrimaryKeyConstraint("id", name="pk_bookings"),
        sa.ForeignKeyConstraint(
            ["offering_id"], ["offerings.id"], name="fk_bookings_offering_id_offerings"
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["providers.id"], name="fk_bookings_provider_id_providers"
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"], ["resources.id"], name="fk_bookings_resource_id_resources"
        ),
        sa.ForeignKeyConstraint(
            ["occurrence_id"], ["occurrences.id"], name="fk_bookings_occurrence_id_occurrences"
        ),
        sa.ForeignKeyConstraint(
            ["rescheduled_from"], ["bookings.id"], name="fk_bookings_rescheduled_from_bookings"
        ),
        sa.CheckConstraint("kind IN ('appointment', 'session')", name="ck_bookings_kind"),
        sa.CheckConstraint(
            "status IN ('held', 'confirmed', 'cancelled', 'completed', 'no_show', 'expired',"
            " 'rescheduled')",
            name="ck_bookings_status",
        ),
        sa.CheckConstraint("seats >= 1", name="ck_bookings_seats"),
        sa.CheckConstraint("price_minor >= 0", name="ck_bookings_price"),
        sa.CheckConstraint("NOT isempty(during) AND blocked @> during", name="ck_bookings_ranges"),
        sa.CheckConstraint(
            "status <> 'held' OR hold_expires_at IS NOT NULL", name="ck_bookings_hold_expiry"
        ),
        sa.CheckConstraint(
            "(kind = 'appointment' AND resource_id IS NOT NULL AND occurrence_id IS NULL)"
            " OR (kind = 'session' AND occurrence_id IS NOT NULL AND resource_id IS NULL)",
            name="ck_bookings_target",
        ),
        # Two live bookings of one resource can never overlap, whatever the application does.
        pg.ExcludeConstraint(
            (sa.column("resource_id"), "="),
            (sa.column("blocked"), "&&"),
            name="ex_bookings_resource_blocked",
            using="gist",
            where=sa.text(LIVE),
        ),
    )
    op.create_index(
        "ix_bookings_customer_newest",
        "bookings",
        ["customer_id", sa.text("created_at DESC"), sa.text("id DESC")],
    )
    op.create_index(
        "ix_bookings_provider_newest",
        "bookings",
        ["provider_id", sa.text("created_at DESC"), sa.text("id DESC")],
    )
    op.create_index(
        "ix_bookings_occurrence_live",
        "bookings",
        ["occurrence_id", "status"],
        postgresql_where=sa.text(LIVE),
    )


def downgrade() -> None:
    for table in (
        "bookings",
        "occurrences",
        "offering_resources",
        "offerings",
        "opening_exception_intervals",
        "opening_exceptions",
        "opening_hours",
        "resources",
        "places",
        "providers",
        "outbox",
    ):
        op.drop_table(table)
