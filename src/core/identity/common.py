"""What the identity use cases share: their dependencies, their outputs and a few steps."""

from __future__ import annotations

import enum
import secrets
import uuid
from datetime import datetime
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
    Operator,
    RefreshToken,
    RefreshTokenId,
    Session,
    SessionId,
    SigningKey,
    User,
    new_secret_token,
    token_digest,
)
from core.identity.ports import (
    AccessTokenCodec,
    BreachedPasswords,
    IdentityUnitOfWork,
    PasswordHasher,
    QrRenderer,
    SigningKeyFactory,
    Throttle,
    TokenSealer,
    TotpGenerator,
)
from core.identity.settings import IdentitySettings
from core.shared.ids import UserId
from core.shared.principal import Principal
from core.shared.time import Clock
from core.shared.unit_of_work import UnitOfWorkFactory


@attrs.frozen(kw_only=True)
class IdentityDeps:
    """Everything the identity use cases depend on; each use case takes this one bundle."""

    uow: UnitOfWorkFactory[IdentityUnitOfWork]
    clock: Clock
    settings: IdentitySettings
    passwords: PasswordHasher
    breached: BreachedPasswords
    codec: AccessTokenCodec
    key_factory: SigningKeyFactory
    sealer: TokenSealer
    totp: TotpGenerator
    qr: QrRenderer
    throttle: Throttle


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


async def issue_access_token(
    deps: IdentityDeps, uow: IdentityUnitOfWork, user: User, session: Session, now: datetime
) -> AccessToken:
    """Roles are read from the user at every issue, so role changes reach the next refresh."""
    issued_at = now.replace(microsecond=0)  # JWT times are whole seconds
    claims = AccessClaims(
        issuer=deps.settings.issuer,
        audience=deps.settings.audience,
        user_id=user.id,
        session_id=session.id,
        roles=user.roles,
        provider_ids=user.staff_of,
        aal=session.aal,
        amr=session.amr,
        issued_at=issued_at,
        expires_at=issued_at + deps.settings.access_ttl,
        token_id=uuid.uuid4().hex,
    )
    key = await active_signing_key(deps, uow, now)
    return AccessToken(token=deps.codec.encode(claims.to_jwt(), key), claims=claims)


async def active_signing_key(
    deps: IdentityDeps, uow: IdentityUnitOfWork, now: datetime
) -> SigningKey:
    """The active key, created on first use (the repository settles concurrent creators)."""
    key = await uow.signing_keys.active()
    if key is not None:
        return key
    return await uow.signing_keys.add_if_none_active(new_signing_key(deps, now))


def new_signing_key(deps: IdentityDeps, now: datetime) -> SigningKey:
    generated = deps.key_factory.generate()
    return SigningKey(
        kid=generated.kid,
        private_pem=generated.private_pem,
        public_jwk=generated.public_jwk,
        created_at=now,
    )


async def start_session(
    deps: IdentityDeps,
    uow: IdentityUnitOfWork,
    *,
    user: User,
    aal: Aal,
    amr: tuple[str, ...],
    client: ClientContext,
    now: datetime,
    **audit_details: str,
) -> TokenPair:
    """A signed-in session with its first refresh token, audited as `login.succeeded`."""
    session = Session(
        id=SessionId(uuid.uuid4()),
        user_id=user.id,
        created_at=now,
        last_used_at=now,
        expires_at=now + deps.settings.session_max_age,
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
        expires_at=refresh_expiry(deps, session, now),
    )
    await uow.refresh_tokens.add(first)
    access = await issue_access_token(deps, uow, user, session, now)
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


def refresh_expiry(deps: IdentityDeps, session: Session, now: datetime) -> datetime:
    return min(now + deps.settings.refresh_ttl, session.expires_at)


async def audit(
    uow: IdentityUnitOfWork,
    action: AuditAction,
    *,
    at: datetime,
    actor: UserId | Principal | Operator | None,
    subject: UserId | None,
    client: ClientContext | None = None,
    **details: Any,
) -> None:
    if isinstance(actor, Operator):
        actor_id, details = None, {**details, "via": "operator"}
    elif isinstance(actor, Principal):
        actor_id = actor.user_id
    else:
        actor_id = actor
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


# --- second factors --------------------------------------------------------------------------

_RECOVERY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_RECOVERY_CODE_CHARS = 16  # 80 bits


class SecondFactor(enum.StrEnum):
    TOTP = "totp"
    RECOVERY_CODE = "recovery_code"


def new_recovery_code() -> str:
    """16 base32 characters (80 bits), shown in groups of four: ABCD-EFGH-IJKL-MNOP."""
    chars = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_CODE_CHARS))
    return "-".join(chars[i : i + 4] for i in range(0, _RECOVERY_CODE_CHARS, 4))


def recovery_code_digest(code: str) -> str:
    """SHA-256 of the code without separators or case. 80 random bits make a dictionary or
    brute-force attack on a leaked digest hopeless, so a slow salted hash would add nothing;
    a deterministic digest lets the store find and consume a code in one atomic update."""
    cleaned = "".join(code.split()).replace("-", "").upper()
    return token_digest(cleaned)


def _totp_code(code: str) -> str | None:
    cleaned = "".join(code.split())
    return cleaned if cleaned.isdigit() else None


async def _verify_second_factor(
    deps: IdentityDeps,
    uow: IdentityUnitOfWork,
    user_id: UserId,
    code: str,
    now: datetime,
    *,
    allow_recovery_code: bool,
) -> SecondFactor | None:
    """Accept an unused TOTP step or (if allowed) an unused recovery code; burn what matched."""
    credential = await uow.totp.get(user_id)
    if credential is None or not credential.active:
        return None
    digits = _totp_code(code)
    if digits is not None:
        step = deps.totp.matching_step(credential.secret, digits, now)
        if step is not None and await uow.totp.use_step(user_id, step):
            return SecondFactor.TOTP
        return None
    if allow_recovery_code and await uow.recovery_codes.consume(
        user_id, recovery_code_digest(code), now
    ):
        return SecondFactor.RECOVERY_CODE
    return None


async def check_second_factor(
    deps: IdentityDeps,
    uow: IdentityUnitOfWork,
    user_id: UserId,
    code: str,
    now: datetime,
    *,
    allow_recovery_code: bool,
) -> Result[SecondFactor, InvalidMfaCode | TooManyAttempts]:
    """Verify a code under the user's MFA throttle: six digits already give 1 in 333,333 odds
    per guess, so guessing must be slowed down across challenges and sessions."""
    key = f"mfa:user:{user_id}"
    wait = await deps.throttle.retry_after(key)
    if wait is not None:
        return Failure(TooManyAttempts(wait))
    factor = await _verify_second_factor(
        deps, uow, user_id, code, now, allow_recovery_code=allow_recovery_code
    )
    if factor is None:
        await deps.throttle.record_failure(key)
        return Failure(InvalidMfaCode())
    await deps.throttle.reset(key)
    return Success(factor)
