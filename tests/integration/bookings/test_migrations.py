"""Alembic migrations: every step goes up, down and up again on an empty database, and the
migrated schema is exactly what the adapter's tables declare."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from adapters.postgis import migrate
from adapters.postgis.bookings import tables
from adapters.postgis.metadata import metadata
from devservers.postgres import LocalDatabase, LocalPostgres
from migration_support import catalog, declared_catalog

BOOKINGS_TABLES = {
    "outbox",
    "providers",
    "places",
    "opening_hours",
    "opening_exceptions",
    "opening_exception_intervals",
    "resources",
    "offerings",
    "offering_resources",
    "occurrences",
    "bookings",
}


def _revisions_base_to_head(url: str) -> list[tuple[str, str]]:
    """(revision, the revision below it or "base"), oldest first."""
    script = ScriptDirectory.from_config(migrate.alembic_config(url))
    steps = []
    for revision in script.walk_revisions("base", "heads"):
        down = revision.down_revision
        assert down is None or isinstance(down, str), "the history is linear"
        steps.append((revision.revision, down or "base"))
    return list(reversed(steps))


def _table_names(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names()) - {"spatial_ref_sys"}
    finally:
        engine.dispose()


def test_the_history_starts_with_the_bookings_revision(new_database: LocalDatabase) -> None:
    assert _revisions_base_to_head(new_database.migrator_url)[0] == ("0001_bookings", "base")


def test_an_empty_database_has_no_revision(new_database: LocalDatabase) -> None:
    assert migrate.current(new_database.migrator_url) is None


def test_stairway_each_revision_upgrades_downgrades_and_upgrades_again(
    new_database: LocalDatabase,
) -> None:
    for revision, below in _revisions_base_to_head(new_database.migrator_url):
        migrate.upgrade(new_database.migrator_url, revision)
        migrate.downgrade(new_database.migrator_url, below)
        assert migrate.current(new_database.migrator_url) == (None if below == "base" else below)
        migrate.upgrade(new_database.migrator_url, revision)
        assert migrate.current(new_database.migrator_url) == revision


def test_head_then_base_then_head_again(new_database: LocalDatabase) -> None:
    head = _revisions_base_to_head(new_database.migrator_url)[-1][0]

    migrate.upgrade(new_database.migrator_url)
    assert _table_names(new_database.migrator_url) >= BOOKINGS_TABLES
    migrate.downgrade(new_database.migrator_url, "base")
    assert _table_names(new_database.migrator_url) == {"alembic_version"}
    migrate.upgrade(new_database.migrator_url)

    assert migrate.current(new_database.migrator_url) == head
    assert _table_names(new_database.migrator_url) >= BOOKINGS_TABLES


def test_the_migrated_schema_is_exactly_the_declared_tables(
    new_database: LocalDatabase, postgres_server: LocalPostgres
) -> None:
    assert tables.bookings.metadata is metadata
    declared = declared_catalog(postgres_server, BOOKINGS_TABLES)
    migrate.upgrade(new_database.migrator_url)

    migrated = catalog(new_database.migrator_url, BOOKINGS_TABLES)

    assert migrated - declared == set()
    assert declared - migrated == set()
    assert len(migrated) > 100


def test_downgrading_to_base_keeps_the_extensions(new_database: LocalDatabase) -> None:
    migrate.upgrade(new_database.migrator_url, "0001_bookings")
    migrate.downgrade(new_database.migrator_url, "base")

    engine = sa.create_engine(new_database.migrator_url)
    try:
        with engine.connect() as conn:
            installed = set(conn.execute(sa.text("SELECT extname FROM pg_extension")).scalars())
    finally:
        engine.dispose()
    assert {"postgis", "btree_gist"} <= installed


# ---------------------------------------------------------------- 0003: secrets at rest

PLAINTEXT_KEY = (
    "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIPlain\n-----END PRIVATE KEY-----\n"
)


def _at_0002_with_secrets(url: str, *, totp: bool) -> sa.Engine:
    """A database at 0002 holding what 0002 stored in plain text."""
    migrate.upgrade(url, "0002_identity")
    engine = sa.create_engine(url)
    user = uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (id, email, email_key, password_hash, created_at) "
                "VALUES (:id, 'old@example.org', 'old@example.org', 'x', now())"
            ),
            {"id": user},
        )
        conn.execute(
            sa.text(
                "INSERT INTO signing_keys (kid, private_key_pem, public_jwk, created_at) "
                "VALUES ('old-kid', :pem, '{}', now())"
            ),
            {"pem": PLAINTEXT_KEY},
        )
        conn.execute(
            sa.text(
                "INSERT INTO outbox (id, name, occurred_at, payload) VALUES (:id, "
                "'identity.password_reset_requested', now(), "
                "jsonb_build_object('user_id', CAST(:user AS text), 'email', 'old@example.org', "
                "'token', 'raw-reset-token'))"
            ),
            {"id": uuid.uuid4(), "user": str(user)},
        )
        if totp:
            conn.execute(
                sa.text(
                    "INSERT INTO totp_credentials (user_id, secret, created_at) "
                    "VALUES (:user, 'JBSWY3DPEHPK3PXP', now())"
                ),
                {"user": user},
            )
    return engine


def test_0003_drops_plaintext_signing_keys_and_mailed_tokens(new_database: LocalDatabase) -> None:
    url = new_database.migrator_url
    engine = _at_0002_with_secrets(url, totp=False)
    try:
        migrate.upgrade(url, "0003_secrets_at_rest")
        with engine.connect() as conn:
            keys = conn.execute(sa.text("SELECT count(*) FROM signing_keys")).scalar_one()
            payload = conn.execute(sa.text("SELECT payload FROM outbox")).scalar_one()
            columns = dict(
                conn.execute(
                    sa.text(
                        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                        "WHERE attrelid IN ('signing_keys'::regclass, 'totp_credentials'::regclass)"
                        " AND attname LIKE '%sealed'"
                    )
                ).all()
            )
    finally:
        engine.dispose()

    assert keys == 0  # a fresh key is made on first use
    assert payload == {"user_id": payload["user_id"], "email": "old@example.org"}
    assert columns == {"private_key_sealed": "bytea", "secret_sealed": "bytea"}


def test_0003_refuses_plaintext_totp_secrets_and_changes_nothing(
    new_database: LocalDatabase,
) -> None:
    url = new_database.migrator_url
    engine = _at_0002_with_secrets(url, totp=True)
    try:
        with pytest.raises(CommandError, match="1 TOTP secret"):
            migrate.upgrade(url, "0003_secrets_at_rest")
        with engine.connect() as conn:
            secret = conn.execute(sa.text("SELECT secret FROM totp_credentials")).scalar_one()
            keys = conn.execute(sa.text("SELECT count(*) FROM signing_keys")).scalar_one()
    finally:
        engine.dispose()

    assert migrate.current(url) == "0002_identity"
    assert secret == "JBSWY3DPEHPK3PXP"  # still there: the operator decides, not the migration
    assert keys == 1
