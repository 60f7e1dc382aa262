"""Sessions (refresh-token families): refresh with rotation and reuse detection, listing and
revocation.

Ending a session tells LiveSessions before the commit: if the store fails, the transaction
rolls back and the caller gets the error (nothing ended, nothing claimed); if the commit
fails after, the session's access tokens are refused early, which fails closed. Written
after the commit instead, a store failure would leave revoked sessions with live tokens and
no way back to them (a retry of revoke-all finds nothing left to revoke).

Refresh follows RFC 9700 §4.14.2: every use rotates the token, and a rotated token that comes
back revokes the whole family — except that the immediate parent of the current token, within
the grace window, gets the current token back (two tabs refreshing at once). The current
token's raw value is kept only sealed under a key derived from the parent's raw value.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import partial
from typing import Never

import attrs
from returns.result import Failure, Result, Success

from core.identity.common import (
    TokenIssuer,
    TokenPair,
    audit,
    refresh_expiry,
)
from core.identity.errors import InvalidRefreshToken, RefreshTokenReused, TooManyAttempts
from core.identity.model import (
    AuditAction,
    ClientContext,
    RefreshToken,
    RefreshTokenId,
    Session,
    SessionId,
    User,
    new_secret_token,
    token_digest,
)
from core.identity.ports import IdentityUnitOfWork, LiveSessions, Throttle, TokenSealer
from core.identity.settings import IdentitySettings
from core.identity.throttling import guarded, throttle_keys
from core.shared.errors import NotFound
from core.shared.ids import UserId
from core.shared.time import Clock
from core.shared.unit_of_work import MAINTENANCE, Access, UnitOfWorkFactory
from core.shared.use_case import UseCase


@attrs.frozen(kw_only=True)
class Refresh(UseCase):
    """Trade a refresh token for a new pair. Success(TokenPair) with a new refresh token — or,
    for the parent of the current token within the grace window, the current one again.
    Failures: InvalidRefreshToken (unknown, expired, session ended, user locked),
    RefreshTokenReused (the session is revoked now)."""

    uow: UnitOfWorkFactory[IdentityUnitOfWork]
    clock: Clock
    settings: IdentitySettings
    sealer: TokenSealer
    token_issuer: TokenIssuer
    throttle: Throttle
    live_sessions: LiveSessions

    async def __call__(
        self, *, refresh_token: str, client: ClientContext
    ) -> Result[TokenPair, InvalidRefreshToken | RefreshTokenReused | TooManyAttempts]:
        """Invalid and reused tokens back off per IP."""
        attempt = partial(self._refresh, refresh_token, client)
        counts = (InvalidRefreshToken, RefreshTokenReused)
        return await guarded(
            self.throttle, throttle_keys("refresh", client), attempt, counts=counts
        )

    async def _refresh(
        self, refresh_token: str, client: ClientContext
    ) -> Result[TokenPair, InvalidRefreshToken | RefreshTokenReused]:
        digest = token_digest(refresh_token)
        async with self.uow(Access.holding(digest)) as uow:
            seen = await uow.refresh_tokens.by_hash(digest)
            if seen is None:
                return Failure(InvalidRefreshToken())
            # The family lock serialises refreshes and revocations; read the token again under it.
            session = await uow.sessions.get(seen.session_id, lock=True)
            if session is not None:
                await uow.act_as(session.user_id)
            token = await uow.refresh_tokens.by_hash(digest)
            now = self.clock.now()
            if session is None or token is None or not session.is_live(now):
                return Failure(InvalidRefreshToken())
            user = await uow.users.get(session.user_id)
            if user is None or user.is_locked:
                return Failure(InvalidRefreshToken())
            if token.rotated_at is None:
                if now >= token.expires_at:
                    return Failure(InvalidRefreshToken())
                pair = await self._rotate(uow, user, session, token, refresh_token, now)
            else:
                replay = await self._grace_replay(uow, user, session, token, refresh_token, now)
                if replay is None:
                    await self._revoke_family(uow, session, token, client, now)
                    await uow.commit()
                    return Failure(RefreshTokenReused())
                pair = replay
            await uow.commit()
            return Success(pair)

    async def _rotate(
        self,
        uow: IdentityUnitOfWork,
        user: User,
        session: Session,
        parent: RefreshToken,
        parent_raw: str,
        now: datetime,
    ) -> TokenPair:
        child_raw = new_secret_token()
        child = RefreshToken(
            id=RefreshTokenId(uuid.uuid4()),
            session_id=session.id,
            token_hash=token_digest(child_raw),
            parent_id=parent.id,
            created_at=now,
            expires_at=refresh_expiry(self.settings, session, now),
        )
        await uow.refresh_tokens.add(child)
        await uow.refresh_tokens.save(
            attrs.evolve(
                parent,
                rotated_at=now,
                child_id=child.id,
                child_seal=self.sealer.seal(parent_raw, child_raw),
            )
        )
        # Only the newest parent may still replay; older seals are useless from now on.
        await uow.refresh_tokens.discard_seals(session.id, keep=parent.id)
        return await self._pair(uow, user, session, child, child_raw, now)

    async def _grace_replay(
        self,
        uow: IdentityUnitOfWork,
        user: User,
        session: Session,
        token: RefreshToken,
        token_raw: str,
        now: datetime,
    ) -> TokenPair | None:
        """The current token again if `token` is its parent, rotated less than the grace
        window ago; None means reuse."""
        assert token.rotated_at is not None
        if token.child_id is None or token.child_seal is None:
            return None
        if now >= token.rotated_at + self.settings.refresh_grace:
            return None
        child = await uow.refresh_tokens.get(token.child_id)
        if child is None or child.rotated_at is not None or now >= child.expires_at:
            return None
        child_raw = self.sealer.open(token_raw, token.child_seal)
        if child_raw is None or token_digest(child_raw) != child.token_hash:
            return None
        return await self._pair(uow, user, session, child, child_raw, now)

    async def _pair(
        self,
        uow: IdentityUnitOfWork,
        user: User,
        session: Session,
        current: RefreshToken,
        current_raw: str,
        now: datetime,
    ) -> TokenPair:
        used = attrs.evolve(session, last_used_at=now)
        await uow.sessions.save(used)
        return TokenPair(
            access=await self.token_issuer.issue(uow, user, used, now),
            refresh_token=current_raw,
            refresh_expires_at=current.expires_at,
            session_id=session.id,
        )

    async def _revoke_family(
        self,
        uow: IdentityUnitOfWork,
        session: Session,
        token: RefreshToken,
        client: ClientContext,
        now: datetime,
    ) -> None:
        await uow.sessions.save(attrs.evolve(session, revoked_at=now))
        await uow.refresh_tokens.discard_seals(session.id, keep=None)
        await self.live_sessions.end(session.user_id, [session.id])
        await audit(
            uow,
            AuditAction.REFRESH_TOKEN_REUSED,
            at=now,
            actor=None,
            subject=session.user_id,
            client=client,
            session_id=str(session.id),
            token_id=str(token.id),
        )


async def _revoke_own_session(
    uow: IdentityUnitOfWork, user_id: UserId, session_id: SessionId, now: datetime
) -> bool:
    session = await uow.sessions.get(session_id, lock=True)
    if session is None or session.user_id != user_id:
        return False
    if session.revoked_at is None:
        await uow.sessions.save(attrs.evolve(session, revoked_at=now))
        await uow.refresh_tokens.discard_seals(session.id, keep=None)
    return True


@attrs.frozen(kw_only=True)
class RevokeSession(UseCase):
    """End one of the user's sessions (also what logout does with the caller's own session,
    the `sid` claim): its refresh token and its access tokens stop working at once.
    Idempotent. NotFound if the session is not the user's."""

    uow: UnitOfWorkFactory[IdentityUnitOfWork]
    clock: Clock
    live_sessions: LiveSessions

    async def __call__(self, *, user_id: UserId, session_id: SessionId) -> Result[None, NotFound]:
        async with self.uow(Access.user(user_id)) as uow:
            if not await _revoke_own_session(uow, user_id, session_id, self.clock.now()):
                return Failure(NotFound(kind="session", id=str(session_id)))
            # Also when it was revoked already: a retry after a store failure must reach it.
            await self.live_sessions.end(user_id, [session_id])
            await uow.commit()
        return Success(None)


@attrs.frozen(kw_only=True)
class RevokeAllSessions(UseCase):
    """End every session of the user, or all but `keep`. Success(number revoked)."""

    uow: UnitOfWorkFactory[IdentityUnitOfWork]
    clock: Clock
    live_sessions: LiveSessions

    async def __call__(
        self, *, user_id: UserId, keep: SessionId | None = None
    ) -> Result[int, Never]:
        async with self.uow(Access.user(user_id)) as uow:
            revoked = await uow.sessions.revoke_all(user_id, self.clock.now(), keep=keep)
            await self.live_sessions.end(user_id, revoked)
            await uow.commit()
        return Success(len(revoked))


@attrs.frozen(kw_only=True)
class SessionView:
    session_id: SessionId
    created_at: datetime
    last_used_at: datetime
    user_agent: str | None
    ip: str | None
    aal: str
    current: bool


@attrs.frozen(kw_only=True)
class ListSessions(UseCase):
    """The user's live sessions, most recently used first; `current` marks the caller's."""

    uow: UnitOfWorkFactory[IdentityUnitOfWork]
    clock: Clock

    async def __call__(
        self, *, user_id: UserId, current_session_id: SessionId | None = None
    ) -> Result[list[SessionView], Never]:
        async with self.uow(Access.user(user_id)) as uow:
            sessions = await uow.sessions.list_live(user_id, self.clock.now())
        return Success(
            [
                SessionView(
                    session_id=s.id,
                    created_at=s.created_at,
                    last_used_at=s.last_used_at,
                    user_agent=s.user_agent,
                    ip=s.ip,
                    aal=s.aal.value,
                    current=s.id == current_session_id,
                )
                for s in sessions
            ]
        )


@attrs.frozen(kw_only=True)
class PurgeRefreshSeals(UseCase):
    """Maintenance (a periodic job): drop sealed child tokens whose grace window has ended.
    Refresh already ignores them; this keeps no recoverable token material around longer
    than needed. Success(number purged)."""

    uow: UnitOfWorkFactory[IdentityUnitOfWork]
    clock: Clock
    settings: IdentitySettings

    async def __call__(self) -> Result[int, Never]:
        cutoff = self.clock.now() - self.settings.refresh_grace
        async with self.uow(MAINTENANCE) as uow:
            purged = await uow.refresh_tokens.discard_seals_rotated_before(cutoff)
            await uow.commit()
        return Success(purged)
