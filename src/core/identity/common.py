"""What the identity use cases share: their outputs and the steps several of them take
(small collaborators that hold the ports they need; the container builds each once)."""

from __future__ import annotations

import base64
import enum
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

import attrs
from returns.result import Failure, Result, Success

from core.identity.errors import InvalidMfaCode, TooManyAttempts
from core.identity.model import (
    Aal,
    AccessClaims,
    AuditAction,
    AuditEntry,
    ClientContext,
    OneTimeToken,
    OneTimeTokenId,
    OperatorPrincipal,
    RefreshToken,
    RefreshTokenId,
    Session,
    SessionId,
    SigningKey,
    TokenPurpose,
    User,
    new_secret_token,
    token_digest,
)
from core.identity.ports import (
    AccessTokenCodec,
    Blocked,
    IdentityUnitOfWork,
    LiveSessions,
    SigningKeyFactory,
    Throttle,
    TotpGenerator,
)
from core.identity.settings import IdentitySettings
from core.shared.events import Event
from core.shared.ids import UserId
from core.shared.keyring import Keyring
from core.shared.mailed_tokens import mailed_token_purpose
from core.shared.principal import Principal

# --- outputs ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class AccessToken:
    """A signed JWT (`token`) and what it says."""

    token: str = attrs.field(repr=False)
    claims: AccessClaims

    @property
    def expires_at(self) -> datetime:
        return self.claims.expires_at


@attrs.frozen(kw_only=True)
class TokenPair:
    """A logged-in session: a short-lived access token and the opaque refresh token."""

    access: AccessToken
    refresh_token: str = attrs.field(repr=False)
    refresh_expires_at: datetime
    session_id: SessionId


@attrs.frozen(kw_only=True)
class MfaChallenge:
    """The password was right but the account uses MFA: present this token with a code."""

    challenge_token: str = attrs.field(repr=False)
    expires_at: datetime


# --- shared steps ----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class TokenIssuer:
    """Signs access tokens with the active signing key, creating the first key on first use."""

    settings: IdentitySettings
    codec: AccessTokenCodec
    key_factory: SigningKeyFactory
    live_sessions: LiveSessions

    async def issue(
        self, uow: IdentityUnitOfWork, user: User, session: Session, now: datetime
    ) -> AccessToken:
        """Roles are read from the user at every issue, so role changes reach the next refresh.

        They are read again after the user's epoch: a change committed between the caller's
        read and the epoch's would otherwise be signed, with the old roles, under the new
        epoch, and the token would pass. In this order a token can at worst be refused once
        needlessly (new roles, old epoch: the client refreshes again), never be stale."""
        epoch = await self.live_sessions.epoch(user.id)
        user = await uow.users.get(user.id) or user
        issued_at = now.replace(microsecond=0)  # JWT times are whole seconds
        claims = AccessClaims(
            issuer=self.settings.issuer,
            audience=self.settings.audience,
            user_id=user.id,
            session_id=session.id,
            roles=user.roles,
            provider_ids=user.staff_of,
            aal=session.aal,
            amr=session.amr,
            issued_at=issued_at,
            expires_at=issued_at + self.settings.access_ttl,
            token_id=uuid.uuid4().hex,
            epoch=epoch,
        )
        key = await self._active_key(uow, now)
        return AccessToken(token=self.codec.encode(claims.to_jwt(), key), claims=claims)

    async def _active_key(self, uow: IdentityUnitOfWork, now: datetime) -> SigningKey:
        """The active key, created on first use (the repository settles concurrent creators)."""
        key = await uow.signing_keys.active()
        if key is not None:
            return key
        return await uow.signing_keys.add_if_none_active(self.new_key(now))

    def new_key(self, now: datetime) -> SigningKey:
        generated = self.key_factory.generate()
        return SigningKey(
            kid=generated.kid,
            private_pem=generated.private_pem,
            public_jwk=generated.public_jwk,
            created_at=now,
        )


def refresh_expiry(settings: IdentitySettings, session: Session, now: datetime) -> datetime:
    return min(now + settings.refresh_ttl, session.expires_at)


@attrs.frozen(kw_only=True)
class SessionStarter:
    """Opens a signed-in session with its first refresh token, audited as `login.succeeded`."""

    settings: IdentitySettings
    token_issuer: TokenIssuer

    async def start(
        self,
        uow: IdentityUnitOfWork,
        *,
        user: User,
        aal: Aal,
        amr: tuple[str, ...],
        client: ClientContext,
        now: datetime,
        **audit_details: str,
    ) -> TokenPair:
        session = Session(
            id=SessionId(uuid.uuid4()),
            user_id=user.id,
            created_at=now,
            last_used_at=now,
            expires_at=now + self.settings.session_max_age,
            aal=aal,
            amr=amr,
            user_agent=client.user_agent,
            ip=client.ip,
        )
        await uow.sessions.add(session)
        raw = new_secret_token()
        first = RefreshToken(
            id=RefreshTokenId(uuid.uuid4()),
            session_id=session.id,
            token_hash=token_digest(raw),
            parent_id=None,
            created_at=now,
            expires_at=refresh_expiry(self.settings, session, now),
        )
        await uow.refresh_tokens.add(first)
        access = await self.token_issuer.issue(uow, user, session, now)
        await audit(
            uow,
            AuditAction.LOGIN_SUCCEEDED,
            at=now,
            actor=user.id,
            subject=user.id,
            client=client,
            aal=aal.value,
            **audit_details,
        )
        return TokenPair(
            access=access,
            refresh_token=raw,
            refresh_expires_at=first.expires_at,
            session_id=session.id,
        )


async def audit(
    uow: IdentityUnitOfWork,
    action: AuditAction,
    *,
    at: datetime,
    actor: UserId | Principal | None,
    subject: UserId | None,
    client: ClientContext | None = None,
    **details: Any,
) -> None:
    if isinstance(actor, OperatorPrincipal):
        details = {**details, "via": "operator", "os_user": actor.os_user}
    actor_id = actor.user_id if isinstance(actor, Principal) else actor
    await uow.audit.append(
        AuditEntry(
            at=at,
            action=action,
            actor_user_id=actor_id,
            subject_user_id=subject,
            ip=client.ip if client else None,
            user_agent=client.user_agent if client else None,
            details=details,
        )
    )


# --- single-use tokens ---------------------------------------------------------------------


async def issue_one_time_token(
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


async def mail_one_time_token(
    uow: IdentityUnitOfWork,
    keyring: Keyring,
    *,
    user: User,
    purpose: TokenPurpose,
    event_name: str,
    now: datetime,
    ttl: timedelta,
) -> None:
    """Issue a single-use token and queue the mail that carries it (outbox payload user_id,
    email, sealed_token). The outbox keeps the token sealed, never usable as it stands: only
    whoever holds the keyring (the mail sender, `open_mailed_token`) reads it."""
    token = await issue_one_time_token(uow, user_id=user.id, purpose=purpose, now=now, ttl=ttl)
    sealed = await keyring.seal(token.encode(), purpose=mailed_token_purpose(event_name, user.id))
    await uow.outbox.add(
        Event(
            name=event_name,
            occurred_at=now,
            payload={
                "user_id": str(user.id),
                "sealed_token": base64.b64encode(sealed.to_bytes()).decode(),
            },
        )
    )


# --- second factors --------------------------------------------------------------------------

_RECOVERY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
# 28 base32 characters: 140 random bits, above the 112 that let a fast digest stand in for a
# salted slow hash (ASVS 5.0 V6.5.2) and the 128 of V11.5.1. Older 16-character codes still verify.
_RECOVERY_CODE_CHARS = 28


class SecondFactor(enum.StrEnum):
    TOTP = "totp"
    RECOVERY_CODE = "recovery_code"


def new_recovery_code() -> str:
    """28 base32 characters (140 bits), shown in seven groups of four: ABCD-EFGH-...-YZ23."""
    chars = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_CODE_CHARS))
    return "-".join(chars[i : i + 4] for i in range(0, _RECOVERY_CODE_CHARS, 4))


def recovery_code_digest(code: str) -> str:
    """SHA-256 of the code without separators or case. 140 random bits make a dictionary or
    brute-force attack on a leaked digest hopeless, so a slow salted hash would add nothing;
    a deterministic digest lets the store find and consume a code in one atomic update."""
    cleaned = "".join(code.split()).replace("-", "").upper()
    return token_digest(cleaned)


def _totp_code(code: str) -> str | None:
    cleaned = "".join(code.split())
    return cleaned if cleaned.isdigit() else None


@attrs.frozen(kw_only=True)
class SecondFactorCheck:
    """Verifies a TOTP code (or, where allowed, a recovery code) under the user's MFA throttle:
    six digits already give 1 in 333,333 odds per guess, so guessing must be slowed down
    across challenges and sessions."""

    totp: TotpGenerator
    throttle: Throttle

    async def __call__(
        self,
        uow: IdentityUnitOfWork,
        user_id: UserId,
        code: str,
        now: datetime,
        *,
        allow_recovery_code: bool,
    ) -> Result[SecondFactor, InvalidMfaCode | TooManyAttempts]:
        key = f"mfa:user:{user_id}"
        reserved = await self.throttle.reserve([key])  # before the code is compared
        if isinstance(reserved, Blocked):
            return Failure(TooManyAttempts(reserved.retry_after))
        factor = await self._verify(uow, user_id, code, now, allow_recovery_code)
        if factor is None:
            return Failure(InvalidMfaCode())  # the reserved attempt stays counted
        await self.throttle.reset(key)
        return Success(factor)

    async def _verify(
        self,
        uow: IdentityUnitOfWork,
        user_id: UserId,
        code: str,
        now: datetime,
        allow_recovery_code: bool,
    ) -> SecondFactor | None:
        """Accept an unused TOTP step or (if allowed) an unused recovery code; burn it."""
        credential = await uow.totp.get(user_id)
        if credential is None or not credential.active:
            return None
        digits = _totp_code(code)
        if digits is not None:
            step = self.totp.matching_step(credential.secret, digits, now)
            if step is not None and await uow.totp.use_step(user_id, step):
                return SecondFactor.TOTP
            return None
        if allow_recovery_code and await uow.recovery_codes.consume(
            user_id, recovery_code_digest(code), now
        ):
            return SecondFactor.RECOVERY_CODE
        return None
