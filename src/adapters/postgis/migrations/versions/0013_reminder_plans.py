"""Providers' reminder plans: which providers chose their own plan.

0010 kept a provider's reminder offsets as rows and read "no rows" as "the default plan", so a
provider could not choose to send no reminders at all. `provider_reminder_plans` marks the
providers that chose a plan: their offsets are their rows in `provider_reminder_offsets`, and
none means no reminders; a provider without a mark gets the default (24 h and 2 h). Providers
that already had offsets are marked as having chosen them.

Least privilege and row-level security as for the offsets: public to read (like the catalog),
marked and re-marked by the provider's staff, admins and maintenance; never deleted.

Revision ID: 0013_reminder_plans
Revises: 0012_integrations
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from adapters.postgis.migrations.helpers import grant_app_role, row_level_security

revision: str = "0013_reminder_plans"
down_revision: str | None = "0012_integrations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = pg.UUID(as_uuid=True)
TZ = sa.DateTime(timezone=True)
TABLE = "provider_reminder_plans"
PRIVILEGES = "SELECT, INSERT, UPDATE"
STAFF = "app_all_rows() OR provider_id = ANY (app_provider_ids())"
POLICIES = (
    f"CREATE POLICY {TABLE}_read ON {TABLE} FOR SELECT USING (true)",
    f"CREATE POLICY {TABLE}_add ON {TABLE} FOR INSERT WITH CHECK ({STAFF})",
    f"CREATE POLICY {TABLE}_change ON {TABLE} FOR UPDATE USING ({STAFF}) WITH CHECK ({STAFF})",
)


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("provider_id", UUID, nullable=False),
        sa.Column("chosen_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("provider_id", name=f"pk_{TABLE}"),
    )
    op.execute(
        "INSERT INTO provider_reminder_plans (provider_id, chosen_at)"
        " SELECT DISTINCT provider_id, now() FROM provider_reminder_offsets"
    )
    row_level_security([TABLE], POLICIES)
    grant_app_role({TABLE: PRIVILEGES})


def downgrade() -> None:
    op.drop_table(TABLE)  # its policies and grants go with it
