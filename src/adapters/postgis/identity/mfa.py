"""Second factors: TOTP credentials (each time step used once) and recovery codes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from adapters.postgis.identity.tables import recovery_codes, totp_credentials
from adapters.postgis.sql import utc_or_none
from adapters.postgis.unit_of_work import PostgisPart, PostgisUnitOfWork
from core.identity.model import TotpCredential
from core.identity.ports import RecoveryCodeRepository, TotpRepository
from core.shared.ids import UserId
from core.shared.keyring import Keyring, Sealed
from core.shared.time import to_utc


def _totp_purpose(user_id: UserId) -> str:
    return f"identity.totp_secret/{user_id}"


class PostgisTotpRepository(PostgisPart, TotpRepository):
    """Secrets are sealed by the keyring, bound to their user: a row copied onto another
    user's does not open."""

    def __init__(self, uow: PostgisUnitOfWork, keyring: Keyring) -> None:
        super().__init__(uow)
        self._keyring = keyring

    async def get(self, user_id: UserId) -> TotpCredential | None:
        row = (
            (
                await self._run(
                    sa.select(totp_credentials).where(totp_credentials.c.user_id == user_id)
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        user_id = UserId(row["user_id"])
        secret = await self._keyring.open(
            Sealed.from_bytes(row["secret_sealed"]), purpose=_totp_purpose(user_id)
        )
        return TotpCredential(
            user_id=user_id,
            secret=secret.decode(),
            created_at=to_utc(row["created_at"]),
            confirmed_at=utc_or_none(row["confirmed_at"]),
            last_used_step=row["last_used_step"],
        )

    async def save(self, credential: TotpCredential) -> None:
        sealed = await self._keyring.seal(
            credential.secret.encode(), purpose=_totp_purpose(credential.user_id)
        )
        values = {
            "secret_sealed": sealed.to_bytes(),
            "created_at": credential.created_at,
            "confirmed_at": credential.confirmed_at,
            "last_used_step": credential.last_used_step,
        }
        await self._run(
            insert(totp_credentials)
            .values(user_id=credential.user_id, **values)
            .on_conflict_do_update(index_elements=[totp_credentials.c.user_id], set_=values)
        )

    async def delete(self, user_id: UserId) -> None:
        await self._run(sa.delete(totp_credentials).where(totp_credentials.c.user_id == user_id))

    async def use_step(self, user_id: UserId, step: int) -> bool:
        t = totp_credentials.c
        result = await self._run(
            sa.update(totp_credentials)
            .where(
                t.user_id == user_id,
                sa.or_(t.last_used_step.is_(None), t.last_used_step < step),
            )
            .values(last_used_step=step)
            .returning(t.user_id)
        )
        return result.first() is not None


class PostgisRecoveryCodeRepository(PostgisPart, RecoveryCodeRepository):
    async def replace(self, user_id: UserId, code_hashes: Sequence[str], at: datetime) -> None:
        await self.delete_all(user_id)
        if code_hashes:
            await self._run(
                sa.insert(recovery_codes).values(
                    [{"user_id": user_id, "code_hash": h, "created_at": at} for h in code_hashes]
                )
            )

    async def consume(self, user_id: UserId, code_hash: str, at: datetime) -> bool:
        c = recovery_codes.c
        result = await self._run(
            sa.update(recovery_codes)
            .where(c.user_id == user_id, c.code_hash == code_hash, c.used_at.is_(None))
            .values(used_at=at)
            .returning(c.code_hash)
        )
        return result.first() is not None

    async def count_unused(self, user_id: UserId) -> int:
        c = recovery_codes.c
        result = await self._run(
            sa.select(sa.func.count()).where(c.user_id == user_id, c.used_at.is_(None))
        )
        return int(result.scalar_one())

    async def delete_all(self, user_id: UserId) -> None:
        await self._run(sa.delete(recovery_codes).where(recovery_codes.c.user_id == user_id))
