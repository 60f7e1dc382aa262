"""What the privacy rights need of the identity context, built on identity's own ports:
re-authentication by the current password (throttled like a sign-in) and ending every session
of a person. The composition root wires them into `RequestErasure`; contexts stay apart
(core.consent never imports core.identity)."""

from __future__ import annotations

import attrs
from returns.result import Failure, Result, Success

from core.consent import (
    ReAuthentication,
    ReAuthenticationFailed,
    ReAuthenticationThrottled,
    SessionEnder,
)
from core.identity import InvalidCredentials, TooManyAttempts
from core.identity.password_policy import normalise
from core.identity.ports import IdentityUnitOfWork, LiveSessions, PasswordHasher, Throttle
from core.identity.throttling import guarded
from core.shared.ids import UserId
from core.shared.time import Clock
from core.shared.unit_of_work import Access, UnitOfWorkFactory


@attrs.frozen
class IdentityPasswordReAuthentication(ReAuthentication):
    uow: UnitOfWorkFactory[IdentityUnitOfWork]
    passwords: PasswordHasher
    throttle: Throttle

    async def confirm(
        self, person: UserId, password: str
    ) -> Result[None, ReAuthenticationFailed | ReAuthenticationThrottled]:
        typed = normalise(password)

        async def attempt() -> Result[None, InvalidCredentials]:
            async with self.uow(Access.user(person)) as uow:
                user = await uow.users.get(person)
            if user is None or not user.has_password:
                await self.passwords.verify_dummy(typed)
                return Failure(InvalidCredentials())
            if not await self.passwords.verify(user.password_hash, typed):
                return Failure(InvalidCredentials())
            return Success(None)

        keys = [f"reauth:acct:{person}"]
        checked = await guarded(self.throttle, keys, attempt, counts=(InvalidCredentials,))
        if isinstance(checked, Success):
            return Success(None)
        error = checked.failure()
        if isinstance(error, TooManyAttempts):
            return Failure(ReAuthenticationThrottled(error.retry_after_seconds))
        return Failure(ReAuthenticationFailed())


@attrs.frozen
class IdentitySessionEnder(SessionEnder):
    uow: UnitOfWorkFactory[IdentityUnitOfWork]
    live_sessions: LiveSessions
    clock: Clock

    async def end_all(self, person: UserId) -> None:
        async with self.uow(Access.user(person)) as uow:
            ended = await uow.sessions.revoke_all(person, self.clock.now())
            await uow.commit()
        await self.live_sessions.end(person, ended)
        await self.live_sessions.new_epoch(person)
