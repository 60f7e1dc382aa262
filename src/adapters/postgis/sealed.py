"""Every sealed value in the database, re-wrapped under the active KEK after a rotation.

A new context that stores sealed values adds its columns to `SEALED_COLUMNS`. The sweep walks
each table in primary-key order, a batch per transaction, and writes a re-wrapped value only
if the row still holds the value it read: a concurrent write (a new TOTP secret) wins, and it
was sealed under whichever KEK its writer had, which stays readable. No lock is held across
batches, so reads and writes go on during the sweep.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.postgis.identity.tables import signing_keys, totp_credentials
from adapters.postgis.integrations.tables import webhook_endpoints
from adapters.postgis.metadata import outbox
from adapters.postgis.personal import person_keys, privacy_lookup_keys
from core.shared.keyring import Keyring, Sealed, SealedSecrets

BATCH = 200
ALL_ROWS = sa.text("SELECT set_config('app.all_rows', 'on', true)")


# bytea columns holding `Sealed.to_bytes()`, in tables with a one-column primary key.
SEALED_COLUMNS = (
    signing_keys.c.private_key_sealed,
    totp_credentials.c.secret_sealed,
    webhook_endpoints.c.secret_sealed,
    webhook_endpoints.c.previous_secret_sealed,
    person_keys.c.key_sealed,
    privacy_lookup_keys.c.key_sealed,
)

Write = Callable[[AsyncConnection, object, object, Sealed], Awaitable[bool]]


class PostgisSealedSecrets(SealedSecrets):
    def __init__(self, engine: AsyncEngine, keyring: Keyring, batch: int = BATCH) -> None:
        self._engine = engine
        self._keyring = keyring
        self._batch = batch

    async def rewrap_all(self) -> int:
        total = 0
        for column in SEALED_COLUMNS:
            key = next(iter(column.table.primary_key.columns))
            total += await self._sweep(key, column, _bytes_column(column))
        # Tokens of mails not yet sent (the JSON payload holds them in base64).
        token = outbox.c.payload["sealed_token"].astext
        total += await self._sweep(outbox.c.seq, token, _outbox_token(token))
        return total

    async def _sweep(
        self,
        key: sa.ColumnElement[object],
        value: sa.ColumnElement[object],
        write: Write,
    ) -> int:
        rewrapped, after = 0, None
        while True:
            async with self._engine.begin() as connection:
                # A job of the service's own: every account's rows (row-level security).
                await connection.execute(ALL_ROWS)
                query = sa.select(key, value).where(value.is_not(None)).order_by(key)
                if after is not None:
                    query = query.where(key > after)
                rows = (await connection.execute(query.limit(self._batch))).all()
                for row_key, stored in rows:
                    sealed = _sealed(stored)
                    fresh = await self._keyring.rewrap(sealed)
                    if fresh != sealed and await write(connection, row_key, stored, fresh):
                        rewrapped += 1
            if len(rows) < self._batch:
                return rewrapped
            after = rows[-1][0]


def _sealed(stored: object) -> Sealed:
    if isinstance(stored, str):
        return Sealed.from_bytes(base64.b64decode(stored))
    assert isinstance(stored, bytes | memoryview)
    return Sealed.from_bytes(bytes(stored))


def _bytes_column(value: sa.Column[bytes]) -> Write:
    table, key = value.table, next(iter(value.table.primary_key.columns))

    async def write(connection: AsyncConnection, row_key: object, old: object, new: Sealed) -> bool:
        result = await connection.execute(
            sa.update(table)
            .where(key == row_key, value == old)
            .values({value.name: new.to_bytes()})
        )
        return result.rowcount == 1

    return write


def _outbox_token(token: sa.ColumnElement[str]) -> Write:
    async def write(connection: AsyncConnection, seq: object, old: object, new: Sealed) -> bool:
        encoded = base64.b64encode(new.to_bytes()).decode()
        result = await connection.execute(
            sa.update(outbox)
            .where(outbox.c.seq == seq, token == old)
            .values(
                payload=outbox.c.payload.op("||")(
                    sa.func.jsonb_build_object("sealed_token", sa.cast(encoded, sa.Text))
                )
            )
        )
        return result.rowcount == 1

    return write
