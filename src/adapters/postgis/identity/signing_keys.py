"""Signing keys of access tokens: one active at a time; recently retired ones still verify."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from adapters.postgis.identity.tables import signing_keys
from adapters.postgis.sql import utc_or_none
from adapters.postgis.unit_of_work import PostgisPart, PostgisUnitOfWork
from core.identity.model import SigningKey
from core.identity.ports import SigningKeyRepository
from core.shared.keyring import Keyring, Sealed
from core.shared.time import to_utc


def _purpose(kid: str) -> str:
    return f"identity.signing_key/{kid}"


class PostgisSigningKeyRepository(PostgisPart, SigningKeyRepository):
    """Private keys are sealed by the keyring, bound to their kid."""

    def __init__(self, uow: PostgisUnitOfWork, keyring: Keyring) -> None:
        super().__init__(uow)
        self._keyring = keyring

    async def active(self) -> SigningKey | None:
        return await self._one(signing_keys.c.retired_at.is_(None))

    async def add_if_none_active(self, key: SigningKey) -> SigningKey:
        # The partial unique index admits one active key; a concurrent creator's wins.
        await self._run(
            insert(signing_keys)
            .values(
                kid=key.kid,
                private_key_sealed=(
                    await self._keyring.seal(key.private_pem.encode(), purpose=_purpose(key.kid))
                ).to_bytes(),
                public_jwk=dict(key.public_jwk),
                created_at=key.created_at,
                retired_at=None,
            )
            .on_conflict_do_nothing()
        )
        active = await self.active()
        if active is None:
            raise RuntimeError("no active signing key after inserting one")
        return active

    async def get(self, kid: str) -> SigningKey | None:
        return await self._one(signing_keys.c.kid == kid)

    async def retire_active(self, at: datetime) -> SigningKey | None:
        k = signing_keys.c
        row = (
            (
                await self._run(
                    sa.update(signing_keys)
                    .where(k.retired_at.is_(None))
                    .values(retired_at=at)
                    .returning(signing_keys)
                )
            )
            .mappings()
            .first()
        )
        return await self._signing_key(row) if row is not None else None

    async def verifying(self, retired_after: datetime) -> Sequence[SigningKey]:
        k = signing_keys.c
        rows = await self._run(
            sa.select(signing_keys)
            .where(sa.or_(k.retired_at.is_(None), k.retired_at > retired_after))
            .order_by(k.retired_at.desc().nulls_first())
        )
        return [await self._signing_key(row) for row in rows.mappings()]

    async def _one(self, condition: sa.ColumnElement[bool]) -> SigningKey | None:
        row = (await self._run(sa.select(signing_keys).where(condition))).mappings().first()
        return await self._signing_key(row) if row is not None else None

    async def _signing_key(self, row: sa.RowMapping) -> SigningKey:
        sealed = Sealed.from_bytes(row["private_key_sealed"])
        private_pem = await self._keyring.open(sealed, purpose=_purpose(row["kid"]))
        return SigningKey(
            kid=row["kid"],
            private_pem=private_pem.decode(),
            public_jwk=row["public_jwk"],
            created_at=to_utc(row["created_at"]),
            retired_at=utc_or_none(row["retired_at"]),
        )
