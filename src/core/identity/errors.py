"""Expected failures of the identity context (password rules live in password_policy).

None of them tells whether an email address has an account: unknown emails and wrong passwords
both give InvalidCredentials, and flows that start from an email always succeed outwardly.
"""

from __future__ import annotations

import attrs

from core.shared.errors import DomainError, InvalidInput


@attrs.frozen
class InvalidEmail(InvalidInput):
    """The address is not something we can send mail to."""


@attrs.frozen
class InvalidCredentials(DomainError):
    @property
    def detail(self) -> str:
        return "email or password is wrong"


@attrs.frozen
class AccountLocked(DomainError):
    """Only returned after the password was right, so it reveals nothing to strangers."""

    @property
    def detail(self) -> str:
        return "this account is locked"


@attrs.frozen
class TooManyAttempts(DomainError):
    retry_after_seconds: float

    @property
    def detail(self) -> str:
        return f"too many failed attempts; retry in {self.retry_after_seconds:.0f} s"


@attrs.frozen
class TooManyRequests(TooManyAttempts):
    """Refused by a limit that counts requests, not failures."""

    @property
    def detail(self) -> str:
        return f"too many requests; retry in {self.retry_after_seconds:.0f} s"


@attrs.frozen
class InvalidToken(DomainError):
    """An email-verification, password-reset or MFA-challenge token that is unknown, used,
    expired or out of attempts."""

    @property
    def detail(self) -> str:
        return "the link or challenge is invalid or has expired"


@attrs.frozen
class InvalidRefreshToken(DomainError):
    """Unknown, expired, or of an ended session."""

    @property
    def detail(self) -> str:
        return "the refresh token is unknown, expired or of an ended session; sign in again"


@attrs.frozen
class RefreshTokenReused(DomainError):
    """An already-rotated token came back: the whole session has been revoked."""

    @property
    def detail(self) -> str:
        return "this refresh token was already used, so its session has been ended; sign in again"


@attrs.frozen
class InvalidAccessToken(DomainError):
    """Bad signature, unknown key, wrong issuer/audience, malformed or expired."""


@attrs.frozen
class InvalidMfaCode(DomainError):
    @property
    def detail(self) -> str:
        return "the code is wrong or was already used"


@attrs.frozen
class MfaNotActive(DomainError):
    pass


@attrs.frozen
class MfaAlreadyActive(DomainError):
    pass


@attrs.frozen
class MfaEnrolmentNotStarted(DomainError):
    pass
