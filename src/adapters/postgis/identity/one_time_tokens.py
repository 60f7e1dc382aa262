"""Single-use tokens (email verification, password reset, MFA challenge), consumed once."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from adapters.postgis.identity.tables import one_time_tokens
from adapters.postgis.sql import utc_or_none
from adapters.postgis.unit_of_work import PostgisPart
from core.identity.model import OneTimeToken, OneTimeTokenId, TokenPurpose
from core.identity.ports import OneTimeTokenRepository
from core.shared.ids import UserId
from core.shared.time import to_utc


class PostgisOneTimeTokenRepository(PostgisPart, OneTimeTokenRepository):
    async def add(self, token: OneTimeToken) -> None:
        await self._run(
            sa.insert(one_time_tokens).values(
                id=token.id,
                user_id=token.user_id,
                purpose=token.purpose.value,
                token_hash=token.token_hash,
                created_at=token.created_at,
                expires_at=token.expires_at,
                used_at=token.used_at,
                failed_attempts=token.failed_attempts,
            )
        )

    async def find(self, token_hash: str, purpose: TokenPurpose) -> OneTimeToken | None:
        row = (
            (
                await self._run(
                    sa.select(one_time_tokens).where(
                        one_time_tokens.c.token_hash == token_hash,
                        one_time_tokens.c.purpose == purpose.value,
                    )
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        return OneTimeToken(
            id=OneTimeTokenId(row["id"]),
            user_id=UserId(row["user_id"]),
            purpose=TokenPurpose(row["purpose"]),
            token_hash=row["token_hash"],
            created_at=to_utc(row["created_at"]),
            expires_at=to_utc(row["expires_at"]),
            used_at=utc_or_none(row["used_at"]),
            failed_attempts=row["failed_attempts"],
        )

    async def consume(self, token_id: OneTimeTokenId, at: datetime) -> bool:
        t = one_time_tokens.c
        result = await self._run(
            sa.update(one_time_tokens)
            .where(t.id == token_id, t.used_at.is_(None), t.expires_at > at)
            .values(used_at=at)
            .returning(t.id)
        )
        return result.first() is not None

    async def reserve_attempt(
        self, token_id: OneTimeTokenId, at: datetime, max_attempts: int
    ) -> bool:
        t = one_time_tokens.c
        result = await self._run(
            sa.update(one_time_tokens)
            .where(
                t.id == token_id,
                t.used_at.is_(None),
                t.expires_at > at,
                t.failed_attempts < max_attempts,
            )
            .values(failed_attempts=t.failed_attempts + 1)
            .returning(t.id)
        )
        return result.first() is not None

    async def discard_for_user(self, user_id: UserId, purpose: TokenPurpose, at: datetime) -> None:
        t = one_time_tokens.c
        await self._run(
            sa.update(one_time_tokens)
            .where(t.user_id == user_id, t.purpose == purpose.value, t.used_at.is_(None))
            .values(used_at=at)
        )
