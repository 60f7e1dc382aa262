"""Holds in one round trip (issue 11; docs/adr/0030-holds-in-one-round-trip.md).

The core decides a hold on a snapshot of the catalog (offering, place, opening hours) that a
process may cache; the database checks in the write that the snapshot is still current:

- `places.catalog_version` is bumped by triggers on every change to what a hold is decided
  with: the place itself, its weekly hours and dated exceptions, its offerings and their
  resources, and updates or deletions of their runs (occurrences). New runs change no decision
  already made. The trigger functions are SECURITY DEFINER: whoever changes the catalog, and
  whatever row-level security the tables get, the place's version moves.
- `hold_booking(...)` and `reschedule_booking(...)` write a booking the core built (passed as
  JSON, with its outbox events) in one statement: the caller's transaction is then BEGIN, the
  caller's settings, this call and COMMIT, one round trip (adapters/postgis/one_trip.py). They
  are SECURITY INVOKER, so row-level security applies to the caller as everywhere else; they
  refuse with `catalog_changed` when the place's version is no longer the one decided with.
  Appointments go to the first candidate resource the exclusion constraint lets in (`ON
  CONFLICT DO NOTHING`), after expiring holds in the way; session seats are counted under the
  run's row lock. No slot rule is written here: which starts exist stays the core's to say.

Outcomes (the `outcome` column): held, slot_unavailable, session_full (with `seats_left`),
catalog_changed, moved (reschedule: the old booking was no longer in the expected status).

Revision ID: 0020_holds_in_one_trip
Revises: 0019_retention
Create Date: 2026-11-27
"""

# ruff: noqa: S608  (every statement here is built from this file's constants only)
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from adapters.postgis.migrations.helpers import app_role

revision: str = "0020_holds_in_one_trip"
down_revision: str | None = "0019_retention"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFINER = "SECURITY DEFINER SET search_path = pg_catalog, public"

# A change to the place's own row moves its version (unless the statement moves it itself).
PLACE_CHANGED = """
CREATE FUNCTION catalog_place_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.catalog_version = OLD.catalog_version THEN
        NEW.catalog_version := OLD.catalog_version + 1;
    END IF;
    RETURN NEW;
END
$$
"""
# Rows that name their place (hours, exceptions, their intervals, offerings).
PLACE_ROW_CHANGED = f"""
CREATE FUNCTION catalog_place_row_changed() RETURNS trigger LANGUAGE plpgsql {DEFINER} AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        UPDATE places SET catalog_version = catalog_version + 1 WHERE id = OLD.place_id;
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.place_id IS DISTINCT FROM OLD.place_id) THEN
        UPDATE places SET catalog_version = catalog_version + 1 WHERE id = NEW.place_id;
    END IF;
    RETURN NULL;
END
$$
"""
# Rows that name their offering (its resources, its runs).
OFFERING_ROW_CHANGED = f"""
CREATE FUNCTION catalog_offering_row_changed() RETURNS trigger LANGUAGE plpgsql {DEFINER} AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        UPDATE places SET catalog_version = catalog_version + 1
        WHERE id = (SELECT place_id FROM offerings WHERE id = OLD.offering_id);
    END IF;
    IF TG_OP = 'INSERT'
       OR (TG_OP = 'UPDATE' AND NEW.offering_id IS DISTINCT FROM OLD.offering_id) THEN
        UPDATE places SET catalog_version = catalog_version + 1
        WHERE id = (SELECT place_id FROM offerings WHERE id = NEW.offering_id);
    END IF;
    RETURN NULL;
END
$$
"""
# (trigger, table, events, function)
TRIGGERS = (
    ("catalog_place", "places", "BEFORE UPDATE", "catalog_place_changed"),
    ("catalog_opening_hours", "opening_hours", "AFTER INSERT OR UPDATE OR DELETE",
     "catalog_place_row_changed"),
    ("catalog_opening_exceptions", "opening_exceptions", "AFTER INSERT OR UPDATE OR DELETE",
     "catalog_place_row_changed"),
    ("catalog_opening_exception_intervals", "opening_exception_intervals",
     "AFTER INSERT OR UPDATE OR DELETE", "catalog_place_row_changed"),
    ("catalog_offerings", "offerings", "AFTER INSERT OR UPDATE OR DELETE",
     "catalog_place_row_changed"),
    ("catalog_offering_resources", "offering_resources", "AFTER INSERT OR UPDATE OR DELETE",
     "catalog_offering_row_changed"),
    ("catalog_occurrences", "occurrences", "AFTER UPDATE OR DELETE",
     "catalog_offering_row_changed"),
)  # fmt: skip

CATALOG_CURRENT = """
CREATE FUNCTION booking_catalog_current(offering uuid, decided_version bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        (SELECT p.catalog_version = decided_version
         FROM offerings o JOIN places p ON p.id = o.place_id WHERE o.id = offering),
        false)
$$
"""
WRITE_OUTBOX = """
CREATE FUNCTION booking_outbox_write(outbox_events jsonb) RETURNS void LANGUAGE sql AS $$
    INSERT INTO outbox (id, name, occurred_at, payload)
    SELECT e.id, e.name, e.occurred_at, e.payload
    FROM jsonb_to_recordset(outbox_events) AS e(id uuid, name text, occurred_at timestamptz,
                                                payload jsonb)
$$
"""
# Named columns, so a column a later revision adds gets its default.
COLUMNS = (
    "id, offering_id, provider_id, customer_id, kind, during, blocked, resource_id,"
    " occurrence_id, seats, price_minor, currency, status, hold_expires_at, created_at,"
    " rescheduled_from, cancelled_at, cancelled_by"
)
VALUES = ", ".join(f"b.{column.strip()}" for column in COLUMNS.split(","))
# The first candidate on which no booking live at `at` overlaps; NULL if none. Holds expired
# at `at` in the way are marked expired first (they must not block, swept or not). Racing
# writers of one slot: the exclusion constraint lets exactly one in, the others insert nothing.
PLACE_APPOINTMENT = f"""
CREATE FUNCTION booking_place_appointment(b bookings, candidate_resources uuid[], at timestamptz)
RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
    candidate uuid;
BEGIN
    FOREACH candidate IN ARRAY candidate_resources LOOP
        PERFORM expire_overlapping_holds(candidate, b.blocked, at);
        b.resource_id := candidate;
        INSERT INTO bookings ({COLUMNS}) VALUES ({VALUES}) ON CONFLICT DO NOTHING;
        IF FOUND THEN
            RETURN candidate;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$
"""
# Seats fit beside those live at `at` (everyone's, through the occupancy view), counted under
# the run's row lock. The run must still be the one the booking was decided on.
PLACE_SEATS = f"""
CREATE FUNCTION booking_place_seats(b bookings, at timestamptz,
                                    OUT outcome text, OUT seats_left integer)
LANGUAGE plpgsql AS $$
DECLARE
    run occurrences%ROWTYPE;
    taken bigint;
BEGIN
    SELECT * INTO run FROM occurrences WHERE id = b.occurrence_id FOR UPDATE;
    IF NOT FOUND OR run.offering_id <> b.offering_id OR run.during <> b.during THEN
        outcome := 'catalog_changed';
        RETURN;
    END IF;
    SELECT coalesce(sum(o.seats), 0) INTO taken FROM booking_occupancy o
    WHERE o.occurrence_id = run.id AND o.status IN ('held', 'confirmed')
      AND (o.status = 'confirmed' OR o.hold_expires_at > at);
    IF taken + b.seats > run.capacity THEN
        outcome := 'session_full';
        seats_left := greatest(run.capacity - taken, 0);
        RETURN;
    END IF;
    INSERT INTO bookings ({COLUMNS}) VALUES ({VALUES});
    outcome := 'held';
END
$$
"""
PLACE_BOOKING = """
CREATE FUNCTION booking_place(b bookings, candidate_resources uuid[], at timestamptz,
                              OUT outcome text, OUT held_resource uuid, OUT seats_left integer)
LANGUAGE plpgsql AS $$
BEGIN
    IF b.occurrence_id IS NOT NULL THEN
        SELECT s.outcome, s.seats_left INTO outcome, seats_left
        FROM booking_place_seats(b, at) AS s;
        RETURN;
    END IF;
    held_resource := booking_place_appointment(b, candidate_resources, at);
    outcome := CASE WHEN held_resource IS NULL THEN 'slot_unavailable' ELSE 'held' END;
END
$$
"""
HOLD_SIGNATURE = (
    "hold_booking(new_booking jsonb, candidate_resources uuid[], decided_version bigint,"
    " at timestamptz, outbox_events jsonb,"
    " OUT outcome text, OUT held_resource uuid, OUT seats_left integer)"
)
HOLD = f"""
CREATE FUNCTION {HOLD_SIGNATURE} LANGUAGE plpgsql SECURITY INVOKER AS $$
DECLARE
    b bookings := jsonb_populate_record(NULL::bookings, new_booking);
BEGIN
    IF NOT booking_catalog_current(b.offering_id, decided_version) THEN
        outcome := 'catalog_changed';
        RETURN;
    END IF;
    SELECT p.outcome, p.held_resource, p.seats_left INTO outcome, held_resource, seats_left
    FROM booking_place(b, candidate_resources, at) AS p;
    IF outcome = 'held' THEN
        PERFORM booking_outbox_write(outbox_events);
    END IF;
END
$$
"""
RESCHEDULE_SIGNATURE = (
    "reschedule_booking(old_booking uuid, old_status text, new_booking jsonb,"
    " candidate_resources uuid[], decided_version bigint, at timestamptz, outbox_events jsonb,"
    " OUT outcome text, OUT held_resource uuid, OUT seats_left integer)"
)
# The old booking is released first, so the new one may overlap it; a refusal of the new one
# raises inside the block, which undoes the release (a subtransaction, on this path only).
RESCHEDULE = f"""
CREATE FUNCTION {RESCHEDULE_SIGNATURE} LANGUAGE plpgsql SECURITY INVOKER AS $$
DECLARE
    b bookings := jsonb_populate_record(NULL::bookings, new_booking);
BEGIN
    IF NOT booking_catalog_current(b.offering_id, decided_version) THEN
        outcome := 'catalog_changed';
        RETURN;
    END IF;
    BEGIN
        UPDATE bookings SET status = 'rescheduled'
        WHERE id = old_booking AND status = old_status
          AND (old_status <> 'held' OR hold_expires_at > at);
        IF NOT FOUND THEN
            outcome := 'moved';
            RETURN;
        END IF;
        SELECT p.outcome, p.held_resource, p.seats_left INTO outcome, held_resource, seats_left
        FROM booking_place(b, candidate_resources, at) AS p;
        IF outcome <> 'held' THEN
            RAISE EXCEPTION 'reschedule refused: %', outcome USING ERRCODE = 'RV001';
        END IF;
    EXCEPTION WHEN SQLSTATE 'RV001' THEN
        RETURN;  -- variables keep their values; the release is undone
    END;
    PERFORM booking_outbox_write(outbox_events);
END
$$
"""

INTERNAL = (
    "booking_place(bookings, uuid[], timestamptz)",
    "booking_place_seats(bookings, timestamptz)",
    "booking_place_appointment(bookings, uuid[], timestamptz)",
    "booking_outbox_write(jsonb)",
    "booking_catalog_current(uuid, bigint)",
)
CALLED = (
    "hold_booking(jsonb, uuid[], bigint, timestamptz, jsonb)",
    "reschedule_booking(uuid, text, jsonb, uuid[], bigint, timestamptz, jsonb)",
)
TRIGGER_FUNCTIONS = (
    "catalog_place_changed()",
    "catalog_place_row_changed()",
    "catalog_offering_row_changed()",
)


def upgrade() -> None:
    op.add_column(
        "places",
        sa.Column("catalog_version", sa.BigInteger, nullable=False, server_default="1"),
    )
    for statement in (PLACE_CHANGED, PLACE_ROW_CHANGED, OFFERING_ROW_CHANGED):
        op.execute(statement)
    for function in TRIGGER_FUNCTIONS:
        op.execute(f"REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC")
    for name, table, events, function in TRIGGERS:
        op.execute(
            f"CREATE TRIGGER {name} {events} ON {table} FOR EACH ROW EXECUTE FUNCTION {function}()"
        )
    for statement in (
        CATALOG_CURRENT,
        WRITE_OUTBOX,
        PLACE_APPOINTMENT,
        PLACE_SEATS,
        PLACE_BOOKING,
        HOLD,
        RESCHEDULE,
    ):
        op.execute(statement)
    role = app_role()
    if role is not None:
        for function in (*CALLED, *INTERNAL):
            op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {role}")


def downgrade() -> None:
    for function in (*CALLED, *INTERNAL):
        op.execute(f"DROP FUNCTION {function}")
    for name, table, _, _ in TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON {table}")
    for function in TRIGGER_FUNCTIONS:
        op.execute(f"DROP FUNCTION {function}")
    op.drop_column("places", "catalog_version")
