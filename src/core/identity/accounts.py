"""Accounts: registration, email verification, login, password change and reset.

None of these results tells a stranger whether an email address has an account.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from functools import partial
from typing import Never

import attrs
from returns.result import Failure, Result, Success

from core.identity.common import (
    MfaChallenge,
    SecondFactor,
    SecondFactorCheck,
    SessionStarter,
    TokenPair,
    audit,
)
from core.identity.errors import (
    AccountLocked,
    InvalidCredentials,
    InvalidEmail,
    InvalidMfaCode,
    InvalidToken,
    TooManyAttempts,
    TooManyRequests,
)
from core.identity.model import (
    EMAIL_VERIFICATION_REQUESTED,
    EXISTING_ACCOUNT_REGISTRATION_ATTEMPTED,
    OPERATOR_DOMAIN,
    PASSWORD_RESET_REQUESTED,
    Aal,
    AuditAction,
    ClientContext,
    Email,
    OneTimeToken,
    OneTimeTokenId,
    SessionId,
    TokenPurpose,
    User,
    new_secret_token,
    token_digest,
)
from core.identity.password_policy import Password, PasswordRejected, normalise
from core.identity.ports import BreachedPasswords, IdentityUnitOfWork, PasswordHasher, Throttle
from core.identity.settings import IdentitySettings
from core.identity.throttling import guarded, longest_wait, ration, throttle_keys
from core.shared.errors import NotFound
from core.shared.events import Event
from core.shared.ids import ProviderId, UserId
from core.shared.principal import Role
from core.shared.time import Clock
from core.shared.unit_of_work import UnitOfWorkFactory
from core.shared.use_case import UseCase

AMR_PASSWORD = ("pwd",)
AMR_PASSWORD_AND_OTP = ("pwd", "otp", "mfa")


async def _issue_one_time_token(
    uow: IdentityUnitOfWork,
    *,
    user_id: UserId,
    purpose: TokenPurpose,
    now: datetime,
    ttl: timedelta,
) -> str:
    raw = new_secret_token()
    await uow.one_time_tokens.add(
        OneTimeToken(
            id=OneTimeTokenId(uuid.uuid4()),
            user_id=user_id,
            purpose=purpose,
            token_hash=token_digest(raw),
            created_at=now,
            expires_at=now + ttl,
        )
    )
    return raw


async def _mail_one_time_token(
    uow: IdentityUnitOfWork,
    *,
    user: User,
    purpose: TokenPurpose,
    event_name: str,
    now: datetime,
    ttl: timedelta,
) -> None:
    """Issue a single-use token and queue the mail that carries it (outbox payload user_id,
    email, token)."""
    token = await _issue_one_time_token(uow, user_id=user.id, purpose=purpose, now=now, ttl=ttl)
    await uow.outbox.add(
        Event(
            name=event_name,
            occurred_at=now,
            payload={"user_id": str(user.id), "email": user.email.value, "token": token},
        )
    )


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
        checked = self.settings.password_policy.check(
            password, email=address, breached=self.breached
        )
        if isinstance(checked, Failure):
            return Failure(checked.failure())
        accepted: Password = checked.unwrap()
        password_hash = await self.passwords.hash(accepted.text)
        now = self.clock.now()
        user = User(
            id=UserId(uuid.uuid4()), email=address, password_hash=password_hash, created_at=now
        )
        async with self.uow() as uow:
            if await uow.users.add(user):
                await _mail_one_time_token(
                    uow,
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
                payload={"user_id": str(owner.id), "email": owner.email.value},
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
        async with self.uow() as uow:
            found = await uow.one_time_tokens.find(
                token_digest(token), TokenPurpose.EMAIL_VERIFICATION
            )
            if found is None or not await uow.one_time_tokens.consume(found.id, now):
                return Failure(InvalidToken())
            user = await uow.users.get(found.user_id, lock=True)
            if user is None:
                return Failure(InvalidToken())
            if user.email_verified_at is None:
                await uow.users.save(attrs.evolve(user, email_verified_at=now))
            await uow.commit()
            return Success(user.id)


@attrs.frozen(kw_only=True)
class Login(UseCase):
    """Password login.

    Success(TokenPair) at aal1, or Success(MfaChallenge) when the account has active TOTP
    (finish with CompleteMfaLogin). Failures: InvalidCredentials (unknown email and wrong
    password alike; an unknown email still costs one hash verification), AccountLocked (only
    after a right password), TooManyAttempts (per-account and per-IP back-off).
    """

    uow: UnitOfWorkFactory[IdentityUnitOfWork]
    clock: Clock
    settings: IdentitySettings
    passwords: PasswordHasher
    throttle: Throttle
    session_starter: SessionStarter

    async def __call__(
        self, *, email: str, password: str, client: ClientContext
    ) -> Result[TokenPair | MfaChallenge, InvalidCredentials | AccountLocked | TooManyAttempts]:
        email_key = Email.key_of(email)
        keys = throttle_keys("login", client, account=email_key)
        wait = await longest_wait(self.throttle, keys)
        if wait is not None:
            return Failure(TooManyAttempts(wait))
        text = normalise(password)
        async with self.uow() as uow:
            user = await uow.users.by_email_key(email_key)
        # Accounts without a password cost the same work as a wrong password, and fail.
        known = user if user is not None and user.has_password else None
        if known is None:
            await self.passwords.verify_dummy(text)
        if known is None or not await self.passwords.verify(known.password_hash, text):
            await self._failed(email_key, user, client)
            for key in keys:
                await self.throttle.record_failure(key)
            return Failure(InvalidCredentials())
        await self.throttle.reset(keys[0])
        return await self._succeeded(known, text, client)

    async def _failed(self, email_key: str, user: User | None, client: ClientContext) -> None:
        async with self.uow() as uow:
            await audit(
                uow,
                AuditAction.LOGIN_FAILED,
                at=self.clock.now(),
                actor=None,
                subject=user.id if user else None,
                client=client,
                email=email_key,
                reason="password",
            )
            await uow.commit()

    async def _succeeded(
        self, verified: User, text: str, client: ClientContext
    ) -> Result[TokenPair | MfaChallenge, AccountLocked]:
        rehashed = (
            await self.passwords.hash(text)
            if self.passwords.needs_rehash(verified.password_hash)
            else None
        )
        now = self.clock.now()
        async with self.uow() as uow:
            user = await uow.users.get(verified.id, lock=True)
            if user is None or user.is_locked:
                await audit(
                    uow,
                    AuditAction.LOGIN_FAILED,
                    at=now,
                    actor=None,
                    subject=verified.id,
                    client=client,
                    reason="locked",
                )
                await uow.commit()
                return Failure(AccountLocked())
            if rehashed and user.password_hash == verified.password_hash:
                await uow.users.save(attrs.evolve(user, password_hash=rehashed))
            credential = await uow.totp.get(user.id)
            result: TokenPair | MfaChallenge
            if credential is not None and credential.active:
                ttl = self.settings.mfa_challenge_ttl
                result = MfaChallenge(
                    challenge_token=await _issue_one_time_token(
                        uow, user_id=user.id, purpose=TokenPurpose.MFA_CHALLENGE, now=now, ttl=ttl
                    ),
                    expires_at=now + ttl,
                )
            else:
                result = await self.session_starter.start(
                    uow,
                    user=user,
                    aal=Aal.AAL1,
                    amr=AMR_PASSWORD,
                    client=client,
                    now=now,
                )
            await uow.commit()
            return Success(result)


@attrs.frozen(kw_only=True)
class CompleteMfaLogin(UseCase):
    """Second step of a login with MFA: the challenge token plus a TOTP code (six digits) or a
    recovery code. Success(TokenPair) at aal2. Failures: InvalidToken (challenge unknown,
    used, expired or out of attempts), InvalidMfaCode, TooManyAttempts, AccountLocked."""

    uow: UnitOfWorkFactory[IdentityUnitOfWork]
    clock: Clock
    settings: IdentitySettings
    second_factor: SecondFactorCheck
    session_starter: SessionStarter
    throttle: Throttle

    async def __call__(
        self, *, challenge_token: str, code: str, client: ClientContext
    ) -> Result[TokenPair, InvalidToken | InvalidMfaCode | TooManyAttempts | AccountLocked]:
        """Wrong challenges and codes back off per IP (and per account, in the code check)."""
        attempt = partial(self._complete, challenge_token, code, client)
        counts = (InvalidToken, InvalidMfaCode)
        return await guarded(self.throttle, throttle_keys("mfa", client), attempt, counts=counts)

    async def _complete(
        self, challenge_token: str, code: str, client: ClientContext
    ) -> Result[TokenPair, InvalidToken | InvalidMfaCode | TooManyAttempts | AccountLocked]:
        now = self.clock.now()
        settings = self.settings
        async with self.uow() as uow:
            challenge = await uow.one_time_tokens.find(
                token_digest(challenge_token), TokenPurpose.MFA_CHALLENGE
            )
            if challenge is None or not challenge.usable(now, settings.mfa_challenge_max_attempts):
                return Failure(InvalidToken())
            user = await uow.users.get(challenge.user_id)
            if user is None:
                return Failure(InvalidToken())
            if user.is_locked:
                return Failure(AccountLocked())
            checked = await self.second_factor(uow, user.id, code, now, allow_recovery_code=True)
            if isinstance(checked, Failure):
                error = checked.failure()
                if isinstance(error, InvalidMfaCode):  # a code was checked, not throttled
                    await uow.one_time_tokens.record_failed_attempt(challenge.id)
                    await audit(
                        uow,
                        AuditAction.LOGIN_FAILED,
                        at=now,
                        actor=None,
                        subject=user.id,
                        client=client,
                        reason="second_factor",
                    )
                    await uow.commit()
                return Failure(error)
            factor: SecondFactor = checked.unwrap()
            if not await uow.one_time_tokens.consume(challenge.id, now):
                return Failure(InvalidToken())  # a concurrent request won; roll back our use
            pair = await self.session_starter.start(
                uow,
                user=user,
                aal=Aal.AAL2,
                amr=AMR_PASSWORD_AND_OTP,
                client=client,
                now=now,
                second_factor=factor.value,
            )
            if factor is SecondFactor.RECOVERY_CODE:
                await audit(
                    uow,
                    AuditAction.MFA_RECOVERY_CODE_USED,
                    at=now,
                    actor=user.id,
                    subject=user.id,
                    client=client,
                    remaining=await uow.recovery_codes.count_unused(user.id),
                )
            await uow.commit()
            return Success(pair)


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
        async with self.uow() as uow:
            user = await uow.users.get(user_id)
        if user is None:
            return Failure(NotFound(kind="user", id=str(user_id)))
        typed = normalise(current_password)
        if not user.has_password or not await self.passwords.verify(user.password_hash, typed):
            return Failure(InvalidCredentials())
        checked = self.settings.password_policy.check(
            new_password, email=user.email, breached=self.breached
        )
        if isinstance(checked, Failure):
            return Failure(checked.failure())
        accepted: Password = checked.unwrap()
        new_hash = await self.passwords.hash(accepted.text)
        now = self.clock.now()
        async with self.uow() as uow:
            current = await uow.users.get(user_id, lock=True)
            if current is None or current.password_hash != user.password_hash:
                return Failure(InvalidCredentials())  # changed meanwhile: verify again
            await uow.users.save(attrs.evolve(current, password_hash=new_hash))
            revoked = await uow.sessions.revoke_all(user_id, now, keep=session_id)
            await audit(
                uow,
                AuditAction.PASSWORD_CHANGED,
                at=now,
                actor=user_id,
                subject=user_id,
                client=client,
                sessions_revoked=revoked,
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

    async def admit(self, *, email: str, client: ClientContext) -> Result[None, TooManyRequests]:
        """Ration reset requests per IP and per address (whatever their outcome) before
        calling; call after answering, so known and unknown addresses answer alike."""
        keys = throttle_keys("reset", client, account=Email.key_of(email))
        return await ration(self.request_throttle, keys)

    async def __call__(self, *, email: str) -> Result[None, Never]:
        email_key = Email.parse(email).map(lambda e: e.key).value_or("")
        now = self.clock.now()
        async with self.uow() as uow:
            user = await uow.users.by_email_key(email_key) if email_key else None
            if user is not None:
                await _mail_one_time_token(
                    uow,
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
        async with self.uow() as uow:
            found = await uow.one_time_tokens.find(token_digest(token), TokenPurpose.PASSWORD_RESET)
            user = await uow.users.get(found.user_id) if found else None
        if found is None or user is None or not found.usable(now, max_attempts=1):
            return Failure(InvalidToken())
        checked = self.settings.password_policy.check(
            new_password, email=user.email, breached=self.breached
        )
        if isinstance(checked, Failure):
            return Failure(checked.failure())
        accepted: Password = checked.unwrap()
        new_hash = await self.passwords.hash(accepted.text)
        now = self.clock.now()
        async with self.uow() as uow:
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
            await audit(
                uow,
                AuditAction.PASSWORD_RESET,
                at=now,
                actor=None,
                subject=user.id,
                client=client,
                sessions_revoked=revoked,
            )
            await uow.commit()
        return Success(None)


@attrs.frozen(kw_only=True)
class AccountView:
    user_id: UserId
    email: str
    email_verified: bool
    roles: frozenset[Role]
    provider_ids: frozenset[ProviderId]
    locked: bool
    mfa_active: bool
    created_at: datetime


async def account_view(uow: IdentityUnitOfWork, user: User) -> AccountView:
    credential = await uow.totp.get(user.id)
    return AccountView(
        user_id=user.id,
        email=user.email.value,
        email_verified=user.email_verified_at is not None,
        roles=user.roles,
        provider_ids=user.staff_of,
        locked=user.is_locked,
        mfa_active=credential is not None and credential.active,
        created_at=user.created_at,
    )


@attrs.frozen(kw_only=True)
class GetAccount(UseCase):
    """The caller's own account. NotFound if it no longer exists."""

    uow: UnitOfWorkFactory[IdentityUnitOfWork]

    async def __call__(self, *, user_id: UserId) -> Result[AccountView, NotFound]:
        async with self.uow() as uow:
            user = await uow.users.get(user_id)
            if user is None:
                return Failure(NotFound(kind="user", id=str(user_id)))
            return Success(await account_view(uow, user))
