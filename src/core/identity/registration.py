"""Registration and email verification.

None of these results tells a stranger whether an email address has an account.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import partial

import attrs
from returns.result import Failure, Result, Success

from core.identity.common import mail_one_time_token
from core.identity.errors import InvalidEmail, InvalidToken, TooManyAttempts, TooManyRequests
from core.identity.model import (
    EMAIL_VERIFICATION_REQUESTED,
    EXISTING_ACCOUNT_REGISTRATION_ATTEMPTED,
    OPERATOR_DOMAIN,
    ClientContext,
    Email,
    TokenPurpose,
    User,
    token_digest,
)
from core.identity.password_policy import PasswordRejected
from core.identity.ports import BreachedPasswords, IdentityUnitOfWork, PasswordHasher, Throttle
from core.identity.settings import IdentitySettings
from core.identity.throttling import guarded, ration, throttle_keys
from core.shared.events import Event
from core.shared.ids import UserId
from core.shared.keyring import Keyring
from core.shared.time import Clock
from core.shared.unit_of_work import Access, UnitOfWorkFactory
from core.shared.use_case import UseCase


@attrs.frozen(kw_only=True)
class Register(UseCase):
    """Create an account and ask for email verification.

    Success(None) whether or not the email already had an account: for an existing one the
    owner is told by mail instead (outbox `identity.existing_account_registration_attempted`,
    payload user_id, email), and the password is hashed anyway so both take as long.
    A new account gets outbox `identity.email_verification_requested` (user_id, email, token).
    """

    uow: UnitOfWorkFactory[IdentityUnitOfWork]
    clock: Clock
    settings: IdentitySettings
    passwords: PasswordHasher
    breached: BreachedPasswords
    request_throttle: Throttle  # requests that send mail
    keyring: Keyring  # seals the mailed token

    async def admit(self, *, email: str, client: ClientContext) -> Result[None, TooManyRequests]:
        """Ration registrations per IP and per address (whatever their outcome) before calling:
        over the API, not for the trusted CLI."""
        keys = throttle_keys("register", client, account=Email.key_of(email))
        return await ration(self.request_throttle, keys)

    async def __call__(
        self, *, email: str, password: str
    ) -> Result[None, InvalidEmail | PasswordRejected]:
        parsed = Email.parse(email)
        if isinstance(parsed, Failure):
            return Failure(parsed.failure())
        address: Email = parsed.unwrap()
        if address.key.endswith(f"@{OPERATOR_DOMAIN}"):
            return Failure(InvalidEmail(field="email", reason="this domain is reserved"))
        hashed = await self.settings.password_policy.check_and_hash(
            password, email=address, breached=self.breached, hasher=self.passwords
        )
        if isinstance(hashed, Failure):
            return Failure(hashed.failure())
        password_hash = hashed.unwrap()
        now = self.clock.now()
        user = User(
            id=UserId(uuid.uuid4()), email=address, password_hash=password_hash, created_at=now
        )
        async with self.uow(Access.holding(address.key)) as uow:
            if await uow.users.add(user):
                await uow.act_as(user.id)
                await mail_one_time_token(
                    uow,
                    self.keyring,
                    user=user,
                    purpose=TokenPurpose.EMAIL_VERIFICATION,
                    event_name=EMAIL_VERIFICATION_REQUESTED,
                    now=now,
                    ttl=self.settings.email_verification_ttl,
                )
            else:
                await self._notify_owner(uow, address, now)
            await uow.commit()
        return Success(None)

    async def _notify_owner(self, uow: IdentityUnitOfWork, address: Email, now: datetime) -> None:
        owner = await uow.users.by_email_key(address.key)
        if owner is None:  # deleted between the failed insert and now; nobody to tell
            return
        await uow.outbox.add(
            Event(
                name=EXISTING_ACCOUNT_REGISTRATION_ATTEMPTED,
                occurred_at=now,
                payload={"user_id": str(owner.id)},
            )
        )


@attrs.frozen(kw_only=True)
class VerifyEmail(UseCase):
    """Consume an email-verification token. Success(user id) or InvalidToken."""

    uow: UnitOfWorkFactory[IdentityUnitOfWork]
    clock: Clock
    throttle: Throttle

    async def __call__(
        self, *, token: str, client: ClientContext
    ) -> Result[UserId, InvalidToken | TooManyAttempts]:
        """Invalid tokens back off per IP."""
        attempt = partial(self._verify, token)
        return await guarded(
            self.throttle, throttle_keys("verify", client), attempt, counts=(InvalidToken,)
        )

    async def _verify(self, token: str) -> Result[UserId, InvalidToken]:
        now = self.clock.now()
        digest = token_digest(token)
        async with self.uow(Access.holding(digest)) as uow:
            found = await uow.one_time_tokens.find(digest, TokenPurpose.EMAIL_VERIFICATION)
            if found is None or not await uow.one_time_tokens.consume(found.id, now):
                return Failure(InvalidToken())
            await uow.act_as(found.user_id)
            user = await uow.users.get(found.user_id, lock=True)
            if user is None:
                return Failure(InvalidToken())
            if user.email_verified_at is None:
                await uow.users.save(attrs.evolve(user, email_verified_at=now))
            await uow.commit()
            return Success(user.id)
