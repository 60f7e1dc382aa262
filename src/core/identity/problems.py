"""How the identity context's failures look to a caller (see core.shared.problems).

None of them says whether an email address has an account.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.identity.errors import (
    AccountLocked,
    InvalidAccessToken,
    InvalidCredentials,
    InvalidMfaCode,
    InvalidRefreshToken,
    InvalidToken,
    MfaAlreadyActive,
    MfaEnrolmentNotStarted,
    MfaNotActive,
    RefreshTokenReused,
    TooManyAttempts,
)
from core.identity.password_policy import PasswordRejected
from core.shared.errors import DomainError
from core.shared.problems import (
    UNAUTHENTICATED,
    ProblemKind,
    ProblemTable,
    retry_after,
)


def _retry_after(error: DomainError) -> Mapping[str, str]:
    assert isinstance(error, TooManyAttempts)
    return retry_after(error.retry_after_seconds)


PROBLEMS: ProblemTable = {
    InvalidCredentials: ProblemKind(
        status=401, slug="invalid-credentials", title="Invalid credentials"
    ),
    InvalidAccessToken: UNAUTHENTICATED,
    InvalidRefreshToken: ProblemKind(
        status=401, slug="invalid-refresh-token", title="Invalid refresh token"
    ),
    RefreshTokenReused: ProblemKind(
        status=401, slug="refresh-token-reused", title="Refresh token reused"
    ),
    AccountLocked: ProblemKind(status=403, slug="account-locked", title="Account locked"),
    TooManyAttempts: ProblemKind(
        status=429, slug="too-many-requests", title="Too many requests", headers=_retry_after
    ),
    InvalidToken: ProblemKind(status=400, slug="invalid-token", title="Invalid or expired token"),
    InvalidMfaCode: ProblemKind(status=400, slug="invalid-mfa-code", title="Invalid MFA code"),
    PasswordRejected: ProblemKind(status=422, slug="password-rejected", title="Password rejected"),
    MfaNotActive: ProblemKind(status=409, slug="mfa-not-active", title="MFA not active"),
    MfaAlreadyActive: ProblemKind(
        status=409, slug="mfa-already-active", title="MFA already active"
    ),
    MfaEnrolmentNotStarted: ProblemKind(
        status=409, slug="mfa-enrolment-not-started", title="MFA enrolment not started"
    ),
}
