"""Passwords: changing one's own, and resetting a forgotten one by mail.

None of these results tells a stranger whether an email address has an account.
"""

from __future__ import annotations

from functools import partial
from typing import Never

import attrs
from returns.result import Failure, Result, Success

from core.identity.common import audit, mail_one_time_token
from core.identity.errors import InvalidCredentials, InvalidToken, TooManyAttempts, TooManyRequests
from core.identity.model import (
    PASSWORD_RESET_REQUESTED,
    AuditAction,
    ClientContext,
    Email,
    SessionId,
    TokenPurpose,
    token_digest,
)
from core.identity.password_policy import PasswordRejected, normalise
from core.identity.ports import (
    BreachedPasswords,
    IdentityUnitOfWork,
    LiveSessions,
    PasswordHasher,
    Throttle,
)
from core.identity.settings import IdentitySettings
from core.identity.throttling import guarded, ration, throttle_keys
from core.shared.errors import NotFound
from core.shared.ids import UserId
from core.shared.keyring import Keyring
from core.shared.time import Clock
from core.shared.unit_of_work import Access, UnitOfWorkFactory
from core.shared.use_case import UseCase


@attrs.frozen(kw_only=True)
class ChangePassword(UseCase):
    """Change a logged-in user's password; needs the current one. Revokes the user's other
    sessions (not `session_id`, the caller's). Failures: InvalidCredentials (current password
    wrong), the PasswordRejected rules for the new one, NotFound (user)."""

    uow: UnitOfWorkFactory[IdentityUnitOfWork]
    clock: Clock
    settings: IdentitySettings
    passwords: PasswordHasher
    breached: BreachedPasswords
    throttle: Throttle
    live_sessions: LiveSessions

    async def __call__(
        self,
        *,
        user_id: UserId,
        session_id: SessionId,
        current_password: str,
        new_password: str,
        client: ClientContext,
    ) -> Result[None, InvalidCredentials | PasswordRejected | NotFound | TooManyAttempts]:
        """Wrong current passwords back off per account and per IP."""
        attempt = partial(self._change, user_id, session_id, current_password, new_password, client)
        keys = throttle_keys("password", client, account=str(user_id))
        return await guarded(self.throttle, keys, attempt, counts=(InvalidCredentials,))

    async def _change(
        self,
        user_id: UserId,
        session_id: SessionId,
        current_password: str,
        new_password: str,
        client: ClientContext,
    ) -> Result[None, InvalidCredentials | PasswordRejected | NotFound]:
        async with self.uow(Access.user(user_id)) as uow:
            user = await uow.users.get(user_id)
        if user is None:
            return Failure(NotFound(kind="user", id=str(user_id)))
        typed = normalise(current_password)
        if not user.has_password or not await self.passwords.verify(user.password_hash, typed):
            return Failure(InvalidCredentials())
        hashed = await self.settings.password_policy.check_and_hash(
            new_password, email=user.email, breached=self.breached, hasher=self.passwords
        )
        if isinstance(hashed, Failure):
            return Failure(hashed.failure())
        new_hash = hashed.unwrap()
        now = self.clock.now()
        async with self.uow(Access.user(user_id)) as uow:
            current = await uow.users.get(user_id, lock=True)
            if current is None or current.password_hash != user.password_hash:
                return Failure(InvalidCredentials())  # changed meanwhile: verify again
            await uow.users.save(attrs.evolve(current, password_hash=new_hash))
            revoked = await uow.sessions.revoke_all(user_id, now, keep=session_id)
            await self.live_sessions.end(user_id, revoked)  # before commit: see sessions.py
            await audit(
                uow,
                AuditAction.PASSWORD_CHANGED,
                at=now,
                actor=user_id,
                subject=user_id,
                client=client,
                sessions_revoked=len(revoked),
            )
            await uow.commit()
        return Success(None)


@attrs.frozen(kw_only=True)
class RequestPasswordReset(UseCase):
    """Always Success(None). For an existing account, writes outbox
    `identity.password_reset_requested` (user_id, email, token); the token is single-use and
    short-lived (settings.password_reset_ttl)."""

    uow: UnitOfWorkFactory[IdentityUnitOfWork]
    clock: Clock
    settings: IdentitySettings
    request_throttle: Throttle  # requests that send mail
    keyring: Keyring  # seals the mailed token

    async def admit(self, *, email: str, client: ClientContext) -> Result[None, TooManyRequests]:
        """Ration reset requests per IP and per address (whatever their outcome) before
        calling; call after answering, so known and unknown addresses answer alike."""
        keys = throttle_keys("reset", client, account=Email.key_of(email))
        return await ration(self.request_throttle, keys)

    async def __call__(self, *, email: str) -> Result[None, Never]:
        email_key = Email.parse(email).map(lambda e: e.key).value_or("")
        now = self.clock.now()
        async with self.uow(Access.holding(email_key)) as uow:
            user = await uow.users.by_email_key(email_key) if email_key else None
            if user is not None:
                await uow.act_as(user.id)
                await mail_one_time_token(
                    uow,
                    self.keyring,
                    user=user,
                    purpose=TokenPurpose.PASSWORD_RESET,
                    event_name=PASSWORD_RESET_REQUESTED,
                    now=now,
                    ttl=self.settings.password_reset_ttl,
                )
                await uow.commit()
        return Success(None)


@attrs.frozen(kw_only=True)
class ResetPassword(UseCase):
    """Set a new password with a reset token. Revokes ALL the user's sessions and every other
    outstanding reset token; also marks the email verified (the token arrived by mail).
    Failures: InvalidToken, the PasswordRejected rules (the token stays usable then)."""

    uow: UnitOfWorkFactory[IdentityUnitOfWork]
    clock: Clock
    settings: IdentitySettings
    passwords: PasswordHasher
    breached: BreachedPasswords
    throttle: Throttle
    live_sessions: LiveSessions

    async def __call__(
        self, *, token: str, new_password: str, client: ClientContext
    ) -> Result[None, InvalidToken | PasswordRejected | TooManyAttempts]:
        """Invalid tokens back off per IP."""
        attempt = partial(self._reset, token, new_password, client)
        keys = throttle_keys("reset-token", client)
        return await guarded(self.throttle, keys, attempt, counts=(InvalidToken,))

    async def _reset(
        self, token: str, new_password: str, client: ClientContext
    ) -> Result[None, InvalidToken | PasswordRejected]:
        now = self.clock.now()
        digest = token_digest(token)
        async with self.uow(Access.holding(digest)) as uow:
            found = await uow.one_time_tokens.find(digest, TokenPurpose.PASSWORD_RESET)
            if found is not None:
                await uow.act_as(found.user_id)
            user = await uow.users.get(found.user_id) if found else None
        if found is None or user is None or not found.usable(now, max_attempts=1):
            return Failure(InvalidToken())
        hashed = await self.settings.password_policy.check_and_hash(
            new_password, email=user.email, breached=self.breached, hasher=self.passwords
        )
        if isinstance(hashed, Failure):
            return Failure(hashed.failure())
        new_hash = hashed.unwrap()
        now = self.clock.now()
        async with self.uow(Access.user(user.id)) as uow:
            if not await uow.one_time_tokens.consume(found.id, now):
                return Failure(InvalidToken())
            current = await uow.users.get(user.id, lock=True)
            if current is None:
                return Failure(InvalidToken())
            await uow.users.save(
                attrs.evolve(
                    current,
                    password_hash=new_hash,
                    email_verified_at=current.email_verified_at or now,
                )
            )
            await uow.one_time_tokens.discard_for_user(user.id, TokenPurpose.PASSWORD_RESET, now)
            revoked = await uow.sessions.revoke_all(user.id, now)
            await self.live_sessions.end(user.id, revoked)  # before commit: see sessions.py
            await audit(
                uow,
                AuditAction.PASSWORD_RESET,
                at=now,
                actor=None,
                subject=user.id,
                client=client,
                sessions_revoked=len(revoked),
            )
            await uow.commit()
        return Success(None)
