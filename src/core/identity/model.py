"""Identity: users, credentials, sessions (refresh-token families), MFA, signing keys, audit.

Values and aggregates are frozen attrs classes; persistence and cryptography live behind ports.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NewType

import attrs
from returns.result import Failure, Result, Success

from core.identity.errors import InvalidAccessToken, InvalidEmail
from core.shared.ids import ProviderId, UserId
from core.shared.principal import Principal, Role

SessionId = NewType("SessionId", uuid.UUID)
RefreshTokenId = NewType("RefreshTokenId", uuid.UUID)
OneTimeTokenId = NewType("OneTimeTokenId", uuid.UUID)
AuditEntryId = NewType("AuditEntryId", uuid.UUID)


def new_secret_token() -> str:
    """An opaque bearer secret with 256 bits of entropy, safe in URLs."""
    return secrets.token_urlsafe(32)


def token_digest(raw: str) -> str:
    """How opaque tokens are stored: SHA-256 hex. They are random, so no salt or stretching."""
    return hashlib.sha256(raw.encode()).hexdigest()


# Stored as the password hash of accounts that must never sign in with a password (operator
# accounts): no hasher produces it, and Login never hands it to one.
NO_PASSWORD = "!no-password"  # noqa: S105 (a marker, not a secret)
OPERATOR_DOMAIN = "operators.reserva.invalid"  # .invalid: no mail can ever reach it


# --- email -----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Email:
    """An address as the user typed it (trimmed, domain lowercased) plus its lookup key.

    Mailbox local parts are case-sensitive in theory and never in practice, so uniqueness and
    lookups use `key` (the whole address lowercased) while mail goes to `value`.
    """

    value: str

    @classmethod
    def parse(cls, raw: str) -> Result[Email, InvalidEmail]:
        text = raw.strip()
        local, at, domain = text.rpartition("@")
        if not at or not local or not domain:
            return Failure(InvalidEmail(field="email", reason="must look like name@example.com"))
        if len(text) > 254 or len(local) > 64:
            return Failure(InvalidEmail(field="email", reason="too long"))
        if any(ch.isspace() for ch in text) or any(not label for label in domain.split(".")):
            return Failure(InvalidEmail(field="email", reason="must look like name@example.com"))
        return Success(cls(value=f"{local}@{domain.lower()}"))

    @property
    def key(self) -> str:
        return Email.key_of(self.value)

    @staticmethod
    def key_of(raw: str) -> str:
        """The lookup (and throttling) key of an address as typed, valid or not."""
        return raw.strip().lower()

    @property
    def local_part(self) -> str:
        return self.value.rpartition("@")[0]


# --- users -----------------------------------------------------------------------------------


class Aal(enum.StrEnum):
    """NIST authenticator assurance level reached by a session."""

    AAL1 = "aal1"
    AAL2 = "aal2"


PRIVILEGED_ROLES = frozenset({Role.STAFF, Role.ADMIN})


@attrs.frozen(kw_only=True)
class User:
    id: UserId
    email: Email
    password_hash: str = attrs.field(repr=False)
    created_at: datetime
    email_verified_at: datetime | None = None
    is_admin: bool = False
    staff_of: frozenset[ProviderId] = frozenset()
    locked_at: datetime | None = None

    @property
    def roles(self) -> frozenset[Role]:
        roles = {Role.CUSTOMER}
        if self.staff_of:
            roles.add(Role.STAFF)
        if self.is_admin:
            roles.add(Role.ADMIN)
        return frozenset(roles)

    @property
    def is_locked(self) -> bool:
        return self.locked_at is not None

    @property
    def has_password(self) -> bool:
        return self.password_hash != NO_PASSWORD


# --- one-time tokens (email verification, password reset, MFA login challenge) ---------------


class TokenPurpose(enum.StrEnum):
    EMAIL_VERIFICATION = "email_verification"
    PASSWORD_RESET = "password_reset"  # noqa: S105 (a purpose name, not a secret)
    MFA_CHALLENGE = "mfa_challenge"


@attrs.frozen(kw_only=True)
class OneTimeToken:
    """A single-use bearer secret; only its digest is stored."""

    id: OneTimeTokenId
    user_id: UserId
    purpose: TokenPurpose
    token_hash: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    failed_attempts: int = 0

    def usable(self, now: datetime, max_attempts: int) -> bool:
        return (
            self.used_at is None and now < self.expires_at and self.failed_attempts < max_attempts
        )


# --- sessions and refresh tokens -------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Session:
    """A login: one refresh-token family. Revoking it ends every token of the family."""

    id: SessionId
    user_id: UserId
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    aal: Aal
    amr: tuple[str, ...]
    user_agent: str | None = None
    ip: str | None = None
    revoked_at: datetime | None = None

    def is_live(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at


@attrs.frozen(kw_only=True)
class RefreshToken:
    """One generation of a family. `child_seal` holds the child's raw token encrypted under a
    key derived from this token's raw value, so only whoever presents this token can recover
    the child during the grace window."""

    id: RefreshTokenId
    session_id: SessionId
    token_hash: str
    parent_id: RefreshTokenId | None
    created_at: datetime
    expires_at: datetime
    rotated_at: datetime | None = None
    child_id: RefreshTokenId | None = None
    child_seal: bytes | None = attrs.field(default=None, repr=False)


@attrs.frozen(kw_only=True)
class ClientContext:
    """Where a request came from; recorded on sessions and audit entries."""

    ip: str | None = None
    user_agent: str | None = None


# --- MFA -------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class TotpCredential:
    """A TOTP secret; pending until confirmed with a first code. `last_used_step` blocks replay."""

    user_id: UserId
    secret: str = attrs.field(repr=False)
    created_at: datetime
    confirmed_at: datetime | None = None
    last_used_step: int | None = None

    @property
    def active(self) -> bool:
        return self.confirmed_at is not None


# --- signing keys and access tokens ----------------------------------------------------------


@attrs.frozen(kw_only=True)
class SigningKey:
    kid: str
    private_pem: str = attrs.field(repr=False)
    public_jwk: Mapping[str, str]
    created_at: datetime
    retired_at: datetime | None = None


@attrs.frozen(kw_only=True)
class AccessClaims:
    """What a verified access token says. JWT claim names: sub, sid, providers, aal, amr..."""

    issuer: str
    audience: str
    user_id: UserId
    session_id: SessionId
    roles: frozenset[Role]
    provider_ids: frozenset[ProviderId]
    aal: Aal
    amr: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime
    token_id: str
    # The user's authorization epoch when issued (LiveSessions); None before any change.
    epoch: str | None = None

    def to_jwt(self) -> dict[str, Any]:
        epoch = {} if self.epoch is None else {"epoch": self.epoch}
        return {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(self.user_id),
            "sid": str(self.session_id),
            "roles": sorted(self.roles),
            "providers": sorted(str(p) for p in self.provider_ids),
            "aal": self.aal.value,
            "amr": list(self.amr),
            "iat": int(self.issued_at.timestamp()),
            "exp": int(self.expires_at.timestamp()),
            "jti": self.token_id,
            **epoch,
        }

    @classmethod
    def from_jwt(cls, claims: Mapping[str, Any]) -> Result[AccessClaims, InvalidAccessToken]:
        """Trusts the signature (checked by the caller) but not the shape of the payload."""
        try:
            return Success(
                cls(
                    issuer=str(claims["iss"]),
                    audience=str(claims["aud"]),
                    user_id=UserId(uuid.UUID(str(claims["sub"]))),
                    session_id=SessionId(uuid.UUID(str(claims["sid"]))),
                    roles=frozenset(Role(r) for r in claims["roles"]),
                    provider_ids=frozenset(
                        ProviderId(uuid.UUID(str(p))) for p in claims["providers"]
                    ),
                    aal=Aal(claims["aal"]),
                    amr=tuple(str(m) for m in claims["amr"]),
                    issued_at=datetime.fromtimestamp(int(claims["iat"]), tz=UTC),
                    expires_at=datetime.fromtimestamp(int(claims["exp"]), tz=UTC),
                    token_id=str(claims["jti"]),
                    epoch=None if claims.get("epoch") is None else str(claims["epoch"]),
                )
            )
        except (KeyError, TypeError, ValueError, OverflowError):
            return Failure(InvalidAccessToken())


# --- authorization ---------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class OperatorPrincipal(Principal):
    """The CLI's caller: an operator account (see StartOperatorSession), and the OS user who
    runs the command, which every audit entry of the session records."""

    os_user: str


# --- audit -----------------------------------------------------------------------------------


class AuditAction(enum.StrEnum):
    LOGIN_SUCCEEDED = "login.succeeded"
    LOGIN_FAILED = "login.failed"
    MFA_ENROLLED = "mfa.enrolled"
    MFA_DISABLED = "mfa.disabled"
    MFA_RECOVERY_CODE_USED = "mfa.recovery_code_used"
    MFA_RECOVERY_CODES_REGENERATED = "mfa.recovery_codes_regenerated"
    MFA_RESET_BY_ADMIN = "mfa.reset_by_admin"
    REFRESH_TOKEN_REUSED = "refresh_token.reuse_detected"  # noqa: S105 (an action name)
    PASSWORD_CHANGED = "password.changed"  # noqa: S105 (an action name)
    PASSWORD_RESET = "password.reset"  # noqa: S105 (an action name)
    ROLE_GRANTED = "role.granted"
    ROLE_REVOKED = "role.revoked"
    USER_LOCKED = "user.locked"
    USER_UNLOCKED = "user.unlocked"
    SIGNING_KEY_ROTATED = "signing_key.rotated"
    KEK_ROTATED = "kek.rotated"
    OPERATOR_SESSION_STARTED = "operator.session_started"
    # Money, written into the same log by the payments context (its MoneyAudit port): listed
    # here so the one audit log reads (and filters) every entry it holds.
    PAYMENT_STARTED = "payment.started"
    PAYMENT_SUCCEEDED = "payment.succeeded"
    PAYMENT_FAILED = "payment.failed"
    PAYMENT_REVIEWED = "payment.reviewed"
    REFUND_REQUESTED = "refund.requested"
    REFUND_SUCCEEDED = "refund.succeeded"
    REFUND_FAILED = "refund.failed"
    REFUND_RETRIED = "refund.retried"
    REFUND_RESOLVED = "refund.resolved"
    TERMS_CHANGED = "terms.changed"
    CONNECT_ONBOARDING_STARTED = "connect.onboarding_started"


@attrs.frozen(kw_only=True)
class AuditEntry:
    id: AuditEntryId = attrs.field(factory=lambda: AuditEntryId(uuid.uuid4()))
    at: datetime
    # Other contexts write to the same log (payments: "refund.requested", ...): their actions
    # are read back as plain strings.
    action: AuditAction | str
    actor_user_id: UserId | None
    subject_user_id: UserId | None
    ip: str | None = None
    user_agent: str | None = None
    details: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class AuditQuery:
    """Filters combine with AND; `user_id` matches the actor or the subject."""

    user_id: UserId | None = None
    action: AuditAction | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100


@attrs.frozen(kw_only=True)
class AuditChainBreak:
    """The first entry where the hash chain does not hold: `seq` and `entry_id` name it
    (None when the entry itself is gone), `reason` says what is wrong."""

    position: int  # place in the chain, from 1
    seq: int | None
    entry_id: AuditEntryId | None
    reason: str


@attrs.frozen(kw_only=True)
class AuditChainCheck:
    """The outcome of walking the audit log's hash chain."""

    entries: int  # walked before the first break, or all of them
    head: str | None  # hex hash of the newest entry: note it down to detect a cut-off tail
    broken: AuditChainBreak | None = None


# --- outbox event names ----------------------------------------------------------------------

EMAIL_VERIFICATION_REQUESTED = "identity.email_verification_requested"
PASSWORD_RESET_REQUESTED = "identity.password_reset_requested"  # noqa: S105 (an event name)
EXISTING_ACCOUNT_REGISTRATION_ATTEMPTED = "identity.existing_account_registration_attempted"
