"""Tables of the bookings context: plain SQLAlchemy Core, kept apart from the attrs domain.

The repositories translate rows to domain values (ADR 2). Integrity rules the database can
enforce are declared here and in the migration (ADR 4): the exclusion constraint that makes
double-booking impossible, non-overlapping opening hours, status and shape checks.
The migrations must build exactly these tables: test_migrations.py compares PostgreSQL's own
catalog (columns, constraints, indexes) of a migrated database and of one made from this file.
"""

from __future__ import annotations

import sqlalchemy as sa
from geoalchemy2 import Geography
from sqlalchemy.dialects import postgresql as pg

from adapters.postgis.metadata import metadata, one_of

LIVE_STATUSES = ("held", "confirmed")
BOOKING_STATUSES = (
    "held",
    "confirmed",
    "cancelled",
    "completed",
    "no_show",
    "expired",
    "rescheduled",
)
OFFERING_KINDS = ("appointment", "session")
CANCELLED_BY = ("customer", "provider")


def _uuid_pk() -> sa.Column[object]:
    return sa.Column("id", pg.UUID(as_uuid=True), primary_key=True)


def _fk(name: str, target: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(
        name, pg.UUID(as_uuid=True), sa.ForeignKey(target), nullable=nullable, index=True
    )


def _place_key() -> sa.Column[object]:
    """`place_id` as the first primary-key column of a table of the place's opening rules."""
    return sa.Column(
        "place_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("places.id", ondelete="CASCADE"),
        primary_key=True,
    )


def _interval_rules(day_column: str, overlap_name: str) -> tuple[sa.Constraint, ...]:
    """[opens, closes) minutes within one day; no two intervals of a place's day overlap."""
    return (
        sa.CheckConstraint("0 <= opens AND opens < closes AND closes <= 1440", name="interval"),
        pg.ExcludeConstraint(
            (sa.column("place_id"), "="),
            (sa.column(day_column), "="),
            (sa.text("int4range(opens, closes)"), "&&"),
            name=overlap_name,
            using="gist",
        ),
    )


providers = sa.Table(
    "providers",
    metadata,
    _uuid_pk(),
    sa.Column("name", sa.Text, nullable=False),
)

places = sa.Table(
    "places",
    metadata,
    _uuid_pk(),
    _fk("provider_id", "providers.id"),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("line1", sa.Text, nullable=False),
    sa.Column("city", sa.Text, nullable=False),
    sa.Column("postal_code", sa.Text, nullable=False),
    sa.Column("country", sa.String(2), nullable=False),
    # The index is declared below so that migration and metadata name it the same way.
    sa.Column(
        "location",
        Geography(geometry_type="POINT", srid=4326, spatial_index=False),
        nullable=False,
    ),
    sa.Column("timezone", sa.Text, nullable=False),
    # Bumped by triggers on every change to what a hold is decided with (migration 0020).
    sa.Column("catalog_version", sa.BigInteger, nullable=False, server_default="1"),
)
sa.Index("ix_places_location", places.c.location, postgresql_using="gist")

# Weekly rules: minutes since local midnight, [opens, closes) on a weekday (Monday 0).
opening_hours = sa.Table(
    "opening_hours",
    metadata,
    _place_key(),
    sa.Column("weekday", sa.SmallInteger, primary_key=True),
    sa.Column("opens", sa.SmallInteger, primary_key=True),
    sa.Column("closes", sa.SmallInteger, nullable=False),
    sa.CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
    *_interval_rules("weekday", "ex_opening_hours_overlap"),
)

# A dated exception replaces the weekly rules on that local date; no intervals = closed.
opening_exceptions = sa.Table(
    "opening_exceptions",
    metadata,
    _place_key(),
    sa.Column("day", sa.Date, primary_key=True),
)

opening_exception_intervals = sa.Table(
    "opening_exception_intervals",
    metadata,
    sa.Column("place_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("opens", sa.SmallInteger, primary_key=True),
    sa.Column("closes", sa.SmallInteger, nullable=False),
    sa.ForeignKeyConstraint(
        ["place_id", "day"],
        ["opening_exceptions.place_id", "opening_exceptions.day"],
        ondelete="CASCADE",
        name="fk_opening_exception_intervals_exception",
    ),
    *_interval_rules("day", "ex_opening_exception_intervals_overlap"),
)

resources = sa.Table(
    "resources",
    metadata,
    _uuid_pk(),
    _fk("provider_id", "providers.id"),
    _fk("place_id", "places.id"),
    sa.Column("name", sa.Text, nullable=False),
)

offerings = sa.Table(
    "offerings",
    metadata,
    _uuid_pk(),
    _fk("provider_id", "providers.id"),
    _fk("place_id", "places.id"),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("category", sa.Text, nullable=False, index=True),
    sa.Column("price_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("duration", sa.Interval, nullable=False),
    sa.Column("slot_step", sa.Interval, nullable=False),
    sa.Column("buffer_before", sa.Interval, nullable=False),
    sa.Column("buffer_after", sa.Interval, nullable=False),
    sa.Column("lead_time", sa.Interval, nullable=False),
    sa.Column("horizon", sa.Interval, nullable=False),
    sa.Column("capacity", sa.Integer, nullable=False),
    sa.CheckConstraint(one_of("kind", OFFERING_KINDS), name="kind"),
    sa.CheckConstraint("price_minor >= 0", name="price"),
    sa.CheckConstraint("capacity BETWEEN 1 AND 10000", name="capacity"),
)

# Appointment offerings: any one of these resources serves; `position` keeps the given order.
offering_resources = sa.Table(
    "offering_resources",
    metadata,
    sa.Column(
        "offering_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("offerings.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "resource_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("resources.id"),
        primary_key=True,
        index=True,
    ),
    sa.Column("position", sa.SmallInteger, nullable=False),
)

occurrences = sa.Table(
    "occurrences",
    metadata,
    _uuid_pk(),
    sa.Column("offering_id", pg.UUID(as_uuid=True), sa.ForeignKey("offerings.id"), nullable=False),
    sa.Column("during", pg.TSTZRANGE, nullable=False),
    sa.Column("capacity", sa.Integer, nullable=False),
    sa.CheckConstraint("NOT isempty(during)", name="during"),
    sa.CheckConstraint("capacity BETWEEN 1 AND 10000", name="capacity"),
)
sa.Index("ix_occurrences_offering_start", occurrences.c.offering_id, sa.text("lower(during)"))

bookings = sa.Table(
    "bookings",
    metadata,
    _uuid_pk(),
    sa.Column("offering_id", pg.UUID(as_uuid=True), sa.ForeignKey("offerings.id"), nullable=False),
    sa.Column("provider_id", pg.UUID(as_uuid=True), sa.ForeignKey("providers.id"), nullable=False),
    # Users belong to the identity context: no foreign key across contexts.
    sa.Column("customer_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("during", pg.TSTZRANGE, nullable=False),
    sa.Column("blocked", pg.TSTZRANGE, nullable=False),
    sa.Column("resource_id", pg.UUID(as_uuid=True), sa.ForeignKey("resources.id")),
    sa.Column("occurrence_id", pg.UUID(as_uuid=True), sa.ForeignKey("occurrences.id")),
    sa.Column("seats", sa.Integer, nullable=False),
    sa.Column("price_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("hold_expires_at", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("rescheduled_from", pg.UUID(as_uuid=True), sa.ForeignKey("bookings.id")),
    sa.Column("cancelled_at", sa.DateTime(timezone=True)),
    sa.Column("cancelled_by", sa.Text),
    sa.CheckConstraint(one_of("kind", OFFERING_KINDS), name="kind"),
    sa.CheckConstraint(one_of("status", BOOKING_STATUSES), name="status"),
    sa.CheckConstraint("seats >= 1", name="seats"),
    sa.CheckConstraint("price_minor >= 0", name="price"),
    sa.CheckConstraint("NOT isempty(during) AND blocked @> during", name="ranges"),
    sa.CheckConstraint("status <> 'held' OR hold_expires_at IS NOT NULL", name="hold_expiry"),
    sa.CheckConstraint(one_of("cancelled_by", CANCELLED_BY), name="cancelled_by"),
    sa.CheckConstraint("(cancelled_at IS NULL) = (cancelled_by IS NULL)", name="cancellation"),
    sa.CheckConstraint(
        "(kind = 'appointment' AND resource_id IS NOT NULL AND occurrence_id IS NULL)"
        " OR (kind = 'session' AND occurrence_id IS NOT NULL AND resource_id IS NULL)",
        name="target",
    ),
    # The rule that makes double-booking impossible under any interleaving of writers.
    pg.ExcludeConstraint(
        (sa.column("resource_id"), "="),
        (sa.column("blocked"), "&&"),
        name="ex_bookings_resource_blocked",
        using="gist",
        where=sa.text(one_of("status", LIVE_STATUSES)),
    ),
)
sa.Index(
    "ix_bookings_customer_newest",
    bookings.c.customer_id,
    bookings.c.created_at.desc(),
    bookings.c.id.desc(),
)
sa.Index(
    "ix_bookings_provider_newest",
    bookings.c.provider_id,
    bookings.c.created_at.desc(),
    bookings.c.id.desc(),
)
# The payments sweeper's read of recent cancellations (migration 0007).
sa.Index(
    "ix_bookings_cancelled",
    bookings.c.cancelled_at,
    bookings.c.id,
    postgresql_where=sa.text("cancelled_at IS NOT NULL"),
)
# Seat counts of a run, and the foreign key to occurrences (migration 0021).
sa.Index(
    "ix_bookings_occurrence",
    bookings.c.occurrence_id,
    bookings.c.status,
    postgresql_where=sa.text("occurrence_id IS NOT NULL"),
)

# Every foreign key has an index on its referencing side (migrations 0019, 0021): deleting a
# referenced row checks it. The self-reference, the offering, the resource.
sa.Index(
    "ix_bookings_rescheduled_from",
    bookings.c.rescheduled_from,
    postgresql_where=sa.text("rescheduled_from IS NOT NULL"),
)
sa.Index("ix_bookings_offering", bookings.c.offering_id)
sa.Index(
    "ix_bookings_resource",
    bookings.c.resource_id,
    postgresql_where=sa.text("resource_id IS NOT NULL"),
)
# The sweep marking lapsed holds expired (held ones only) and retention's delete of holds that
# expired long ago (held or expired), migration 0021.
sa.Index(
    "ix_bookings_hold_expiry",
    bookings.c.status,
    bookings.c.hold_expires_at,
    postgresql_where=sa.text("status IN ('held', 'expired')"),
)


# Everyone's bookings as availability sees them (a view, migration 0004): row-level security
# shows a caller only the bookings they are party to, and busy slots and seat counts include
# everyone's. Who booked, and for how much, stays out. Not in `metadata`: it is no table.
OCCUPANCY_COLUMNS = (
    "id", "resource_id", "occurrence_id", "blocked", "seats", "status", "hold_expires_at",
)  # fmt: skip
booking_occupancy = sa.Table(
    "booking_occupancy",
    sa.MetaData(),
    *(sa.Column(name, bookings.c[name].type) for name in OCCUPANCY_COLUMNS),
)
