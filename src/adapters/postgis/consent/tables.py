"""The consent context's tables (SQLAlchemy Core), kept apart from the attrs domain. Keep
them and migration 0017_consent in step (tests/integration/consent compares the catalogs).

`consent_entries` is append-only: the app role may only SELECT and INSERT. A row names a user
(`user_id`, no foreign key: the entry outlives the erased account as proof) or an anonymous
browser (`anonymous_id`), never both. `seq` orders one key's entries; the partial unique
indexes refuse two entries in one place.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from adapters.postgis.metadata import metadata, one_of
from core.consent.model import Channel, Decision, Method, PolicyKind, Purpose

UUID = pg.UUID(as_uuid=True)
TZ = sa.DateTime(timezone=True)
CONSENT_TABLES = ("consent_entries", "policy_versions")


def _values(enum: type[Purpose | Channel | Decision | Method | PolicyKind]) -> tuple[str, ...]:
    return tuple(member.value for member in enum)


PURPOSES = _values(Purpose)
CHANNELS = _values(Channel)
DECISIONS = _values(Decision)
METHODS = _values(Method)
POLICY_KINDS = _values(PolicyKind)

consent_entries = sa.Table(
    "consent_entries",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("user_id", UUID),
    sa.Column("anonymous_id", sa.Text),
    sa.Column("purpose", sa.Text, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("decision", sa.Text, nullable=False),
    sa.Column("policy_kind", sa.Text, nullable=False),
    sa.Column("policy_version", sa.Integer),
    sa.Column("wording_hash", sa.Text, nullable=False),
    sa.Column("method", sa.Text, nullable=False),
    sa.Column("at", TZ, nullable=False),
    sa.Column("merged_from", sa.Text),
    sa.CheckConstraint("(user_id IS NULL) <> (anonymous_id IS NULL)", name="one_subject"),
    sa.CheckConstraint(one_of("purpose", PURPOSES), name="purpose"),
    sa.CheckConstraint(one_of("channel", CHANNELS), name="channel"),
    sa.CheckConstraint(one_of("decision", DECISIONS), name="decision"),
    sa.CheckConstraint(one_of("method", METHODS), name="method"),
    sa.CheckConstraint(one_of("policy_kind", POLICY_KINDS), name="policy_kind"),
    sa.CheckConstraint("seq >= 1", name="seq"),
    sa.CheckConstraint("wording_hash ~ '^[0-9a-f]{64}$'", name="wording_hash"),
    sa.CheckConstraint("anonymous_id ~ '^anon_[A-Za-z0-9_-]{32}$'", name="anonymous_id"),
)
sa.Index(
    "uq_consent_entries_user_key",
    consent_entries.c.user_id,
    consent_entries.c.purpose,
    consent_entries.c.channel,
    consent_entries.c.seq,
    unique=True,
    postgresql_where=consent_entries.c.user_id.isnot(None),
)
sa.Index(
    "uq_consent_entries_anonymous_key",
    consent_entries.c.anonymous_id,
    consent_entries.c.purpose,
    consent_entries.c.channel,
    consent_entries.c.seq,
    unique=True,
    postgresql_where=consent_entries.c.anonymous_id.isnot(None),
)

policy_versions = sa.Table(
    "policy_versions",
    metadata,
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("text_hash", sa.Text, nullable=False),
    sa.Column("requires_fresh_consent", sa.Boolean, nullable=False),
    sa.Column("published_at", TZ, nullable=False),
    sa.CheckConstraint(one_of("kind", POLICY_KINDS), name="kind"),
    sa.CheckConstraint("version >= 1", name="version"),
)
