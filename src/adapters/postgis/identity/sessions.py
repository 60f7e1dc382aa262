"""Sessions and their refresh tokens.

Refresh and revocation serialise on the session row (SELECT ... FOR UPDATE). A session's IP
address and user agent are sealed under its user's key; once that key is shredded they read
as None.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from adapters.postgis.identity.personal import SESSION_IP, SESSION_USER_AGENT
from adapters.postgis.identity.tables import auth_sessions, refresh_tokens
from adapters.postgis.sql import utc_or_none
from adapters.postgis.unit_of_work import PostgisPart, PostgisUnitOfWork
from core.identity.model import Aal, RefreshToken, RefreshTokenId, Session, SessionId
from core.identity.ports import RefreshTokenRepository, SessionRepository
from core.shared.ids import UserId
from core.shared.personal import PersonalData
from core.shared.time import to_utc


async def seal_or_none(
    personal: PersonalData, person: UserId, value: str | None, field: str
) -> bytes | None:
    return None if value is None else await personal.seal(person, value, field=field)


async def open_or_none(
    personal: PersonalData, person: UserId, blob: bytes | None, field: str
) -> str | None:
    return None if blob is None else await personal.open(person, bytes(blob), field=field)


async def session_of(personal: PersonalData, row: sa.RowMapping) -> Session:
    user_id = UserId(row["user_id"])
    return Session(
        id=SessionId(row["id"]),
        user_id=user_id,
        created_at=to_utc(row["created_at"]),
        last_used_at=to_utc(row["last_used_at"]),
        expires_at=to_utc(row["expires_at"]),
        aal=Aal(row["aal"]),
        amr=tuple(row["amr"]),
        user_agent=await open_or_none(
            personal, user_id, row["user_agent_sealed"], SESSION_USER_AGENT
        ),
        ip=await open_or_none(personal, user_id, row["ip_sealed"], SESSION_IP),
        revoked_at=utc_or_none(row["revoked_at"]),
    )


class PostgisSessionRepository(PostgisPart, SessionRepository):
    def __init__(self, uow: PostgisUnitOfWork, personal: PersonalData) -> None:
        super().__init__(uow)
        self._personal = personal

    async def add(self, session: Session) -> None:
        person, personal = session.user_id, self._personal
        await self._run(
            sa.insert(auth_sessions).values(
                id=session.id,
                user_id=session.user_id,
                created_at=session.created_at,
                last_used_at=session.last_used_at,
                expires_at=session.expires_at,
                aal=session.aal.value,
                amr=list(session.amr),
                user_agent_sealed=await seal_or_none(
                    personal, person, session.user_agent, SESSION_USER_AGENT
                ),
                ip_sealed=await seal_or_none(personal, person, session.ip, SESSION_IP),
                revoked_at=session.revoked_at,
            )
        )

    async def get(self, session_id: SessionId, *, lock: bool = False) -> Session | None:
        query = sa.select(auth_sessions).where(auth_sessions.c.id == session_id)
        row = (await self._run(query.with_for_update() if lock else query)).mappings().first()
        return await session_of(self._personal, row) if row is not None else None

    async def save(self, session: Session) -> None:
        await self._run(
            sa.update(auth_sessions)
            .where(auth_sessions.c.id == session.id)
            .values(
                last_used_at=session.last_used_at,
                expires_at=session.expires_at,
                aal=session.aal.value,
                amr=list(session.amr),
                revoked_at=session.revoked_at,
            )
        )

    async def list_live(self, user_id: UserId, now: datetime) -> Sequence[Session]:
        s = auth_sessions.c
        rows = await self._run(
            sa.select(auth_sessions)
            .where(s.user_id == user_id, s.revoked_at.is_(None), s.expires_at > now)
            .order_by(s.last_used_at.desc())
        )
        return [await session_of(self._personal, row) for row in rows.mappings()]

    async def revoke_all(
        self, user_id: UserId, at: datetime, *, keep: SessionId | None = None
    ) -> Sequence[SessionId]:
        s = auth_sessions.c
        query = sa.update(auth_sessions).where(s.user_id == user_id, s.revoked_at.is_(None))
        if keep is not None:
            query = query.where(s.id != keep)
        rows = await self._run(query.values(revoked_at=at).returning(s.id))
        revoked = [SessionId(session_id) for session_id in rows.scalars()]
        if revoked:
            await self._run(
                sa.update(refresh_tokens)
                .where(
                    refresh_tokens.c.session_id.in_(revoked),
                    refresh_tokens.c.child_seal.is_not(None),
                )
                .values(child_seal=None)
            )
        return revoked


def _refresh_token(row: sa.RowMapping) -> RefreshToken:
    return RefreshToken(
        id=RefreshTokenId(row["id"]),
        session_id=SessionId(row["session_id"]),
        token_hash=row["token_hash"],
        parent_id=RefreshTokenId(row["parent_id"]) if row["parent_id"] else None,
        created_at=to_utc(row["created_at"]),
        expires_at=to_utc(row["expires_at"]),
        rotated_at=utc_or_none(row["rotated_at"]),
        child_id=RefreshTokenId(row["child_id"]) if row["child_id"] else None,
        child_seal=row["child_seal"],
    )


class PostgisRefreshTokenRepository(PostgisPart, RefreshTokenRepository):
    async def add(self, token: RefreshToken) -> None:
        await self._run(
            sa.insert(refresh_tokens).values(
                id=token.id,
                session_id=token.session_id,
                token_hash=token.token_hash,
                parent_id=token.parent_id,
                created_at=token.created_at,
                expires_at=token.expires_at,
                rotated_at=token.rotated_at,
                child_id=token.child_id,
                child_seal=token.child_seal,
            )
        )

    async def by_hash(self, token_hash: str) -> RefreshToken | None:
        return await self._one(refresh_tokens.c.token_hash == token_hash)

    async def get(self, token_id: RefreshTokenId) -> RefreshToken | None:
        return await self._one(refresh_tokens.c.id == token_id)

    async def save(self, token: RefreshToken) -> None:
        await self._run(
            sa.update(refresh_tokens)
            .where(refresh_tokens.c.id == token.id)
            .values(
                expires_at=token.expires_at,
                rotated_at=token.rotated_at,
                child_id=token.child_id,
                child_seal=token.child_seal,
            )
        )

    async def discard_seals(self, session_id: SessionId, *, keep: RefreshTokenId | None) -> None:
        r = refresh_tokens.c
        query = sa.update(refresh_tokens).where(
            r.session_id == session_id, r.child_seal.is_not(None)
        )
        if keep is not None:
            query = query.where(r.id != keep)
        await self._run(query.values(child_seal=None))

    async def discard_seals_rotated_before(self, at: datetime) -> int:
        r = refresh_tokens.c
        result = await self._run(
            sa.update(refresh_tokens)
            .where(r.child_seal.is_not(None), r.rotated_at < at)
            .values(child_seal=None)
        )
        return result.rowcount

    async def _one(self, condition: sa.ColumnElement[bool]) -> RefreshToken | None:
        row = (await self._run(sa.select(refresh_tokens).where(condition))).mappings().first()
        return _refresh_token(row) if row is not None else None
