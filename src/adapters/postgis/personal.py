"""The person-key vault: each person's data key, wrapped by the keyring (migration 0014).

A shredded person keeps a row with no key and the time of the erasure, so that a late writer
cannot give them a new key (`PersonErased`). Calls run in short transactions of their own: a
key created for a write that then rolls back only leaves an unused key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis.metadata import metadata
from core.shared.keyring import Sealed
from core.shared.personal import PersonErased, PersonKeyVault

person_keys = sa.Table(
    "person_keys",
    metadata,
    sa.Column("person_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("key_sealed", sa.LargeBinary),  # core.shared.keyring.Sealed; NULL once shredded
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("shredded_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint("(key_sealed IS NULL) = (shredded_at IS NOT NULL)", name="shredded"),
)

# The key of lookup hashes (HMAC): one row.
privacy_lookup_keys = sa.Table(
    "privacy_lookup_keys",
    metadata,
    sa.Column("id", sa.SmallInteger, primary_key=True),
    sa.Column("key_sealed", sa.LargeBinary, nullable=False),
    sa.CheckConstraint("id = 1", name="one_row"),
)

ALL_ROWS = sa.text("SELECT set_config('app.all_rows', 'on', true)")


class PostgisPersonKeyVault(PersonKeyVault):
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self, person: UUID) -> Sealed | None:
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(
                    sa.select(person_keys.c.key_sealed, person_keys.c.shredded_at).where(
                        person_keys.c.person_id == person
                    )
                )
            ).first()
        if row is None:
            return None
        if row.shredded_at is not None:
            raise PersonErased(person)
        return Sealed.from_bytes(bytes(row.key_sealed))

    async def add(self, person: UUID, key: Sealed) -> Sealed:
        k = person_keys.c
        async with self._engine.begin() as connection:
            await connection.execute(
                insert(person_keys)
                .values(person_id=person, key_sealed=key.to_bytes(), created_at=_now())
                .on_conflict_do_nothing()
            )
            # Ours, or a concurrent writer's (or a shred's tombstone): read in the same transaction.
            row = (
                await connection.execute(
                    sa.select(k.key_sealed, k.shredded_at).where(k.person_id == person)
                )
            ).one()
        if row.shredded_at is not None:
            raise PersonErased(person)
        return Sealed.from_bytes(bytes(row.key_sealed))

    async def shred(self, person: UUID) -> bool:
        now = _now()
        async with self._engine.begin() as connection:
            # Insert the tombstone, or empty the key: one statement, so a concurrent `add`
            # cannot slip a key in between.
            row = (
                await connection.execute(
                    sa.text(
                        "INSERT INTO person_keys AS k (person_id, key_sealed, created_at,"
                        " shredded_at) VALUES (:person, NULL, :now, :now)"
                        " ON CONFLICT (person_id) DO UPDATE SET key_sealed = NULL,"
                        " shredded_at = coalesce(k.shredded_at, :now)"
                        " RETURNING (xmax <> 0) AS existed,"
                        " (SELECT key_sealed IS NOT NULL FROM person_keys"
                        "  WHERE person_id = :person) AS had_key"
                    ),
                    {"person": person, "now": now},
                )
            ).one()
        return bool(row.existed and row.had_key)

    async def is_shredded(self, person: UUID) -> bool:
        async with self._engine.connect() as connection:
            shredded = await connection.scalar(
                sa.select(person_keys.c.shredded_at).where(person_keys.c.person_id == person)
            )
        return shredded is not None

    async def lookup_key(self, candidate: Sealed) -> Sealed:
        async with self._engine.begin() as connection:
            await connection.execute(
                insert(privacy_lookup_keys)
                .values(id=1, key_sealed=candidate.to_bytes())
                .on_conflict_do_nothing()
            )
            stored = await connection.scalar(sa.select(privacy_lookup_keys.c.key_sealed))
        assert stored is not None
        return Sealed.from_bytes(bytes(stored))


def _now() -> datetime:
    return datetime.now(UTC)
