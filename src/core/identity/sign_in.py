"""Signing in: password login and its second step when the account has MFA.

None of these results tells a stranger whether an email address has an account.
"""

from __future__ import annotations

from functools import partial

import attrs
from returns.result import Failure, Result, Success

from core.identity.common import (
    MfaChallenge,
    SecondFactor,
    SecondFactorCheck,
    SessionStarter,
    TokenPair,
    audit,
    issue_one_time_token,
)
from core.identity.errors import (
    AccountLocked,
    InvalidCredentials,
    InvalidMfaCode,
    InvalidToken,
    TooManyAttempts,
)
from core.identity.model import (
    Aal,
    AuditAction,
    ClientContext,
    Email,
    TokenPurpose,
    User,
    token_digest,
)
from core.identity.password_policy import normalise
from core.identity.ports import Blocked, IdentityUnitOfWork, PasswordHasher, Throttle
from core.identity.settings import IdentitySettings
from core.identity.throttling import guarded, throttle_keys
from core.shared.time import Clock
from core.shared.unit_of_work import PUBLIC, Access, UnitOfWorkFactory
from core.shared.use_case import UseCase

AMR_PASSWORD = ("pwd",)
AMR_PASSWORD_AND_OTP = ("pwd", "otp", "mfa")


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
        # Counted before the hash is checked, so a burst gets no more checks than a sequence.
        reserved = await self.throttle.reserve(keys)
        if isinstance(reserved, Blocked):
            return Failure(TooManyAttempts(reserved.retry_after))
        text = normalise(password)
        async with self.uow(Access.holding(email_key)) as uow:
            user = await uow.users.by_email_key(email_key)
        # Accounts without a password cost the same work as a wrong password, and fail.
        known = user if user is not None and user.has_password else None
        if known is None:
            await self.passwords.verify_dummy(text)
        if known is None or not await self.passwords.verify(known.password_hash, text):
            await self._failed(email_key, user, client)
            return Failure(InvalidCredentials())  # the reserved attempt stays counted
        await self.throttle.release(reserved)
        await self.throttle.reset(keys[0])
        return await self._succeeded(known, text, client)

    async def _failed(self, email_key: str, user: User | None, client: ClientContext) -> None:
        async with self.uow(PUBLIC) as uow:
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
        async with self.uow(Access.user(verified.id)) as uow:
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
                    challenge_token=await issue_one_time_token(
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
        digest = token_digest(challenge_token)
        async with self.uow(Access.holding(digest)) as uow:
            challenge = await uow.one_time_tokens.find(digest, TokenPurpose.MFA_CHALLENGE)
            # One attempt of the challenge's few, reserved before the code is checked; it is
            # given back if we roll back without a verdict (throttled, locked).
            max_attempts = settings.mfa_challenge_max_attempts
            if challenge is None or not await uow.one_time_tokens.reserve_attempt(
                challenge.id, now, max_attempts
            ):
                return Failure(InvalidToken())
            await uow.act_as(challenge.user_id)
            user = await uow.users.get(challenge.user_id)
            if user is None:
                return Failure(InvalidToken())
            if user.is_locked:
                return Failure(AccountLocked())
            checked = await self.second_factor(uow, user.id, code, now, allow_recovery_code=True)
            if isinstance(checked, Failure):
                error = checked.failure()
                if isinstance(error, InvalidMfaCode):  # a code was checked: keep the attempt
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
                return Failure(InvalidToken())  # used meanwhile; consume is the authority
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
