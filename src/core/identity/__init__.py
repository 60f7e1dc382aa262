"""The identity context's public API: what entrypoints and other programs import.

Use cases (one class each, called with keyword arguments, returning `Result[value, error]`),
their inputs and outputs, the errors they return, and `PROBLEMS`, how those errors look to a
caller. Build the use cases once (they hold no per-request state; VerifyAccessToken caches
public keys) and call them per request: every call opens its own unit of work and commits
explicitly.
"""

from core.identity.accounts import AccountView, GetAccount
from core.identity.admin import (
    FindUserByEmail,
    GrantAdmin,
    GrantStaff,
    ListUsers,
    LockUser,
    QueryAuditLog,
    ResetUserMfa,
    RevokeAdmin,
    RevokeStaff,
    StartOperatorSession,
    UnlockUser,
    VerifyAuditLog,
)
from core.identity.authorization import (
    AccessTokenAuthenticator,
    Authorization,
    TokenPrincipal,
    authorize_principal,
    step_up_hint,
)
from core.identity.common import (
    AccessToken,
    MfaChallenge,
    SecondFactorCheck,
    SessionStarter,
    TokenIssuer,
    TokenPair,
)
from core.identity.errors import (
    AccountLocked,
    InvalidAccessToken,
    InvalidCredentials,
    InvalidEmail,
    InvalidMfaCode,
    InvalidRefreshToken,
    InvalidToken,
    MfaAlreadyActive,
    MfaEnrolmentNotStarted,
    MfaNotActive,
    RefreshTokenReused,
    TooManyAttempts,
    TooManyRequests,
)
from core.identity.keys import GetJwks, RotateSigningKey, VerifyAccessToken
from core.identity.mfa import (
    BeginTotpEnrolment,
    ConfirmTotpEnrolment,
    DisableMfa,
    GetMfaStatus,
    MfaEnabled,
    MfaStatus,
    RegenerateRecoveryCodes,
    ShowTotpEnrolment,
    StepUp,
    TotpEnrolment,
)
from core.identity.model import (
    AuditAction,
    AuditChainBreak,
    AuditChainCheck,
    AuditEntry,
    AuditQuery,
    ClientContext,
    Email,
    OperatorPrincipal,
    SessionId,
)
from core.identity.password_policy import PasswordRejected
from core.identity.passwords import ChangePassword, RequestPasswordReset, ResetPassword
from core.identity.ports import RateLimiter, Throttle
from core.identity.problems import PROBLEMS
from core.identity.registration import Register, VerifyEmail
from core.identity.sessions import (
    ListSessions,
    PurgeRefreshSeals,
    Refresh,
    RevokeAllSessions,
    RevokeSession,
    SessionView,
)
from core.identity.settings import IdentitySettings
from core.identity.sign_in import CompleteMfaLogin, Login
from core.identity.throttling import ThrottlePolicy

__all__ = [
    "PROBLEMS",
    "AccessToken",
    "AccessTokenAuthenticator",
    "AccountLocked",
    "AccountView",
    "AuditAction",
    "AuditChainBreak",
    "AuditChainCheck",
    "AuditEntry",
    "AuditQuery",
    "Authorization",
    "BeginTotpEnrolment",
    "ChangePassword",
    "ClientContext",
    "CompleteMfaLogin",
    "ConfirmTotpEnrolment",
    "DisableMfa",
    "Email",
    "FindUserByEmail",
    "GetAccount",
    "GetJwks",
    "GetMfaStatus",
    "GrantAdmin",
    "GrantStaff",
    "IdentitySettings",
    "InvalidAccessToken",
    "InvalidCredentials",
    "InvalidEmail",
    "InvalidMfaCode",
    "InvalidRefreshToken",
    "InvalidToken",
    "ListSessions",
    "ListUsers",
    "LockUser",
    "Login",
    "MfaAlreadyActive",
    "MfaChallenge",
    "MfaEnabled",
    "MfaEnrolmentNotStarted",
    "MfaNotActive",
    "MfaStatus",
    "OperatorPrincipal",
    "PasswordRejected",
    "PurgeRefreshSeals",
    "QueryAuditLog",
    "RateLimiter",
    "Refresh",
    "RefreshTokenReused",
    "RegenerateRecoveryCodes",
    "Register",
    "RequestPasswordReset",
    "ResetPassword",
    "ResetUserMfa",
    "RevokeAdmin",
    "RevokeAllSessions",
    "RevokeSession",
    "RevokeStaff",
    "RotateSigningKey",
    "SecondFactorCheck",
    "SessionId",
    "SessionStarter",
    "SessionView",
    "ShowTotpEnrolment",
    "StartOperatorSession",
    "StepUp",
    "Throttle",
    "ThrottlePolicy",
    "TokenIssuer",
    "TokenPair",
    "TokenPrincipal",
    "TooManyAttempts",
    "TooManyRequests",
    "TotpEnrolment",
    "UnlockUser",
    "VerifyAccessToken",
    "VerifyAuditLog",
    "VerifyEmail",
    "authorize_principal",
    "step_up_hint",
]
