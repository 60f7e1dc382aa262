"""Second factor: TOTP (RFC 6238) enrolment, recovery codes, step-up, disabling."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import Never, TypeVar

import attrs
from returns.result import Failure, Result, Success

from core.identity.common import (
    AccessToken,
    SecondFactorCheck,
    TokenIssuer,
    audit,
    new_recovery_code,
    recovery_code_digest,
)
from core.identity.errors import (
    InvalidMfaCode,
    MfaAlreadyActive,
    MfaEnrolmentNotStarted,
    MfaNotActive,
    TooManyAttempts,
)
from core.identity.model import (
    Aal,
    AuditAction,
    ClientContext,
    Session,
    SessionId,
    TotpCredential,
    User,
)
from core.identity.ports import IdentityUnitOfWork, QrRenderer, Throttle, TotpGenerator
from core.identity.settings import IdentitySettings
from core.identity.throttling import guarded, throttle_keys
from core.shared.errors import DomainError, NotFound
from core.shared.ids import UserId
from core.shared.time import Clock
from core.shared.unit_of_work import Access, UnitOfWorkFactory
from core.shared.use_case import UseCase

AMR_WITH_OTP = ("otp", "mfa")

T = TypeVar("T")
E = TypeVar("E", bound=DomainError)


async def _guarded_code(
    throttle: Throttle,
    client: ClientContext,
    attempt: Callable[[], Awaitable[Result[T, E]]],
) -> Result[T, E | TooManyAttempts]:
    """Wrong codes back off per IP here; SecondFactorCheck backs off per account as well."""
    return await guarded(throttle, throttle_keys("mfa", client), attempt, counts=(InvalidMfaCode,))


@attrs.frozen(kw_only=True)
class TotpEnrolment:
    """Show the QR code (or the secret for manual entry), then confirm with a first code."""

    secret: str = attrs.field(repr=False)
    otpauth_uri: str = attrs.field(repr=False)
    qr_png: bytes = attrs.field(repr=False)
    qr_svg: str = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class MfaEnabled:
    """Recovery codes are shown once and stored only hashed; `access` is a new aal2 access
    token for the session that confirmed (it has just proved the second factor)."""

    recovery_codes: tuple[str, ...] = attrs.field(repr=False)
    access: AccessToken


@attrs.frozen(kw_only=True)
class MfaStatus:
    active: bool
    enrolment_pending: bool
    recovery_codes_left: int


async def _own_live_session(
    uow: IdentityUnitOfWork, user_id: UserId, session_id: SessionId, now: datetime
) -> Session | None:
    session = await uow.sessions.get(session_id, lock=True)
    if session is None or session.user_id != user_id or not session.is_live(now):
        return None
    return session


async def _raise_to_aal2(
    token_issuer: TokenIssuer,
    uow: IdentityUnitOfWork,
    user: User,
    session: Session,
    now: datetime,
) -> AccessToken:
    amr = session.amr + tuple(m for m in AMR_WITH_OTP if m not in session.amr)
    raised = attrs.evolve(session, aal=Aal.AAL2, amr=amr, last_used_at=now)
    await uow.sessions.save(raised)
    return await token_issuer.issue(uow, user, raised, now)


async def _new_recovery_codes(
    count: int, uow: IdentityUnitOfWork, user_id: UserId, now: datetime
) -> tuple[str, ...]:
    codes = tuple(new_recovery_code() for _ in range(count))
    await uow.recovery_codes.replace(user_id, [recovery_code_digest(c) for c in codes], now)
    return codes


@attrs.frozen(kw_only=True)
class BeginTotpEnrolment(UseCase):
    """Start (or restart) TOTP enrolment: a new pending secret, its otpauth URI and QR code.
    Failures: MfaAlreadyActive (disable first), NotFound (user)."""

    uow: UnitOfWorkFactory[IdentityUnitOfWork]
    clock: Clock
    settings: IdentitySettings
    totp: TotpGenerator
    qr: QrRenderer

    async def __call__(
        self, *, user_id: UserId
    ) -> Result[TotpEnrolment, MfaAlreadyActive | NotFound]:
        now = self.clock.now()
        async with self.uow(Access.user(user_id)) as uow:
            user = await uow.users.get(user_id)
            if user is None:
                return Failure(NotFound(kind="user", id=str(user_id)))
            existing = await uow.totp.get(user_id)
            if existing is not None and existing.active:
                return Failure(MfaAlreadyActive())
            secret = self.totp.new_secret()
            await uow.totp.save(TotpCredential(user_id=user_id, secret=secret, created_at=now))
            await uow.commit()
        return Success(_enrolment(self.totp, self.qr, self.settings.totp_issuer, user, secret))


def _enrolment(
    totp: TotpGenerator, qr: QrRenderer, issuer: str, user: User, secret: str
) -> TotpEnrolment:
    uri = totp.provisioning_uri(secret, account=user.email.value, issuer=issuer)
    return TotpEnrolment(secret=secret, otpauth_uri=uri, qr_png=qr.png(uri), qr_svg=qr.svg(uri))


@attrs.frozen(kw_only=True)
class ShowTotpEnrolment(UseCase):
    """The pending enrolment again (its QR code for a second look), without a new secret.
    Failures: MfaEnrolmentNotStarted, MfaAlreadyActive (the secret is never shown again once
    active), NotFound (user)."""

    uow: UnitOfWorkFactory[IdentityUnitOfWork]
    settings: IdentitySettings
    totp: TotpGenerator
    qr: QrRenderer

    async def __call__(
        self, *, user_id: UserId
    ) -> Result[TotpEnrolment, MfaEnrolmentNotStarted | MfaAlreadyActive | NotFound]:
        async with self.uow(Access.user(user_id)) as uow:
            user = await uow.users.get(user_id)
            pending = await uow.totp.get(user_id)
        if user is None:
            return Failure(NotFound(kind="user", id=str(user_id)))
        if pending is None:
            return Failure(MfaEnrolmentNotStarted())
        if pending.active:
            return Failure(MfaAlreadyActive())
        return Success(
            _enrolment(self.totp, self.qr, self.settings.totp_issuer, user, pending.secret)
        )


@attrs.frozen(kw_only=True)
class ConfirmTotpEnrolment(UseCase):
    """Activate the pending secret with a first code; returns recovery codes and an aal2
    access token for `session_id` (the caller's session). Failures: InvalidMfaCode,
    MfaAlreadyActive, MfaEnrolmentNotStarted, NotFound (user or live session)."""

    uow: UnitOfWorkFactory[IdentityUnitOfWork]
    clock: Clock
    settings: IdentitySettings
    totp: TotpGenerator
    token_issuer: TokenIssuer
    throttle: Throttle

    async def __call__(
        self, *, user_id: UserId, session_id: SessionId, code: str, client: ClientContext
    ) -> Result[
        MfaEnabled,
        InvalidMfaCode | MfaAlreadyActive | MfaEnrolmentNotStarted | NotFound | TooManyAttempts,
    ]:
        attempt = partial(self._confirm, user_id, session_id, code, client)
        return await _guarded_code(self.throttle, client, attempt)

    async def _confirm(
        self, user_id: UserId, session_id: SessionId, code: str, client: ClientContext
    ) -> Result[MfaEnabled, InvalidMfaCode | MfaAlreadyActive | MfaEnrolmentNotStarted | NotFound]:
        now = self.clock.now()
        async with self.uow(Access.user(user_id)) as uow:
            user = await uow.users.get(user_id)
            session = await _own_live_session(uow, user_id, session_id, now)
            if user is None or session is None:
                return Failure(NotFound(kind="session", id=str(session_id)))
            pending = await uow.totp.get(user_id)
            if pending is None:
                return Failure(MfaEnrolmentNotStarted())
            if pending.active:
                return Failure(MfaAlreadyActive())
            step = self.totp.matching_step(pending.secret, "".join(code.split()), now)
            if step is None:
                return Failure(InvalidMfaCode())
            await uow.totp.save(attrs.evolve(pending, confirmed_at=now, last_used_step=step))
            codes = await _new_recovery_codes(self.settings.recovery_code_count, uow, user_id, now)
            access = await _raise_to_aal2(self.token_issuer, uow, user, session, now)
            await audit(
                uow, AuditAction.MFA_ENROLLED, at=now, actor=user_id, subject=user_id, client=client
            )
            await uow.commit()
        return Success(MfaEnabled(recovery_codes=codes, access=access))


@attrs.frozen(kw_only=True)
class DisableMfa(UseCase):
    """Turn TOTP off and forget the recovery codes; needs a TOTP or recovery code.
    Failures: MfaNotActive, InvalidMfaCode, TooManyAttempts."""

    uow: UnitOfWorkFactory[IdentityUnitOfWork]
    clock: Clock
    second_factor: SecondFactorCheck
    throttle: Throttle

    async def __call__(
        self, *, user_id: UserId, code: str, client: ClientContext
    ) -> Result[None, MfaNotActive | InvalidMfaCode | TooManyAttempts]:
        return await _guarded_code(
            self.throttle, client, partial(self._disable, user_id, code, client)
        )

    async def _disable(
        self, user_id: UserId, code: str, client: ClientContext
    ) -> Result[None, MfaNotActive | InvalidMfaCode | TooManyAttempts]:
        now = self.clock.now()
        async with self.uow(Access.user(user_id)) as uow:
            credential = await uow.totp.get(user_id)
            if credential is None or not credential.active:
                return Failure(MfaNotActive())
            checked = await self.second_factor(uow, user_id, code, now, allow_recovery_code=True)
            if isinstance(checked, Failure):
                return Failure(checked.failure())
            await uow.totp.delete(user_id)
            await uow.recovery_codes.delete_all(user_id)
            await audit(
                uow,
                AuditAction.MFA_DISABLED,
                at=now,
                actor=user_id,
                subject=user_id,
                client=client,
                second_factor=checked.unwrap().value,
            )
            await uow.commit()
        return Success(None)


@attrs.frozen(kw_only=True)
class RegenerateRecoveryCodes(UseCase):
    """Replace all recovery codes; needs a TOTP code (a recovery code cannot mint more).
    Failures: MfaNotActive, InvalidMfaCode, TooManyAttempts."""

    uow: UnitOfWorkFactory[IdentityUnitOfWork]
    clock: Clock
    settings: IdentitySettings
    second_factor: SecondFactorCheck
    throttle: Throttle

    async def __call__(
        self, *, user_id: UserId, code: str, client: ClientContext
    ) -> Result[tuple[str, ...], MfaNotActive | InvalidMfaCode | TooManyAttempts]:
        return await _guarded_code(
            self.throttle, client, partial(self._regenerate, user_id, code, client)
        )

    async def _regenerate(
        self, user_id: UserId, code: str, client: ClientContext
    ) -> Result[tuple[str, ...], MfaNotActive | InvalidMfaCode | TooManyAttempts]:
        now = self.clock.now()
        async with self.uow(Access.user(user_id)) as uow:
            credential = await uow.totp.get(user_id)
            if credential is None or not credential.active:
                return Failure(MfaNotActive())
            checked = await self.second_factor(uow, user_id, code, now, allow_recovery_code=False)
            if isinstance(checked, Failure):
                return Failure(checked.failure())
            codes = await _new_recovery_codes(self.settings.recovery_code_count, uow, user_id, now)
            await audit(
                uow,
                AuditAction.MFA_RECOVERY_CODES_REGENERATED,
                at=now,
                actor=user_id,
                subject=user_id,
                client=client,
            )
            await uow.commit()
        return Success(codes)


@attrs.frozen(kw_only=True)
class StepUp(UseCase):
    """Raise the caller's session to aal2 with a TOTP code; Success(new access token).
    Failures: MfaNotActive, InvalidMfaCode, TooManyAttempts, NotFound (live session)."""

    uow: UnitOfWorkFactory[IdentityUnitOfWork]
    clock: Clock
    second_factor: SecondFactorCheck
    token_issuer: TokenIssuer
    throttle: Throttle

    async def __call__(
        self, *, user_id: UserId, session_id: SessionId, code: str, client: ClientContext
    ) -> Result[AccessToken, MfaNotActive | InvalidMfaCode | TooManyAttempts | NotFound]:
        return await _guarded_code(
            self.throttle, client, partial(self._step_up, user_id, session_id, code)
        )

    async def _step_up(
        self, user_id: UserId, session_id: SessionId, code: str
    ) -> Result[AccessToken, MfaNotActive | InvalidMfaCode | TooManyAttempts | NotFound]:
        now = self.clock.now()
        async with self.uow(Access.user(user_id)) as uow:
            user = await uow.users.get(user_id)
            session = await _own_live_session(uow, user_id, session_id, now)
            if user is None or session is None:
                return Failure(NotFound(kind="session", id=str(session_id)))
            credential = await uow.totp.get(user_id)
            if credential is None or not credential.active:
                return Failure(MfaNotActive())
            checked = await self.second_factor(uow, user_id, code, now, allow_recovery_code=False)
            if isinstance(checked, Failure):
                return Failure(checked.failure())
            access = await _raise_to_aal2(self.token_issuer, uow, user, session, now)
            await uow.commit()
        return Success(access)


@attrs.frozen(kw_only=True)
class GetMfaStatus(UseCase):
    uow: UnitOfWorkFactory[IdentityUnitOfWork]

    async def __call__(self, *, user_id: UserId) -> Result[MfaStatus, Never]:
        async with self.uow(Access.user(user_id)) as uow:
            credential = await uow.totp.get(user_id)
            left = await uow.recovery_codes.count_unused(user_id)
        return Success(
            MfaStatus(
                active=credential is not None and credential.active,
                enrolment_pending=credential is not None and not credential.active,
                recovery_codes_left=left,
            )
        )
