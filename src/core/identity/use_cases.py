"""The identity context's public API: one class per use case, each built from `IdentityDeps`
and called with keyword arguments, returning `Result[value, error]`.

Build them once (they hold no per-request state; VerifyAccessToken caches public keys) and
call them per request: every call opens its own unit of work and commits explicitly.
"""

from core.identity.accounts import (
    AccountView,
    ChangePassword,
    CompleteMfaLogin,
    GetAccount,
    Login,
    Register,
    RequestPasswordReset,
    ResetPassword,
    VerifyEmail,
)
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
    UnlockUser,
)
from core.identity.authorization import Authorization, authorize_principal, require_admin
from core.identity.common import AccessToken, IdentityDeps, MfaChallenge, TokenPair
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
from core.identity.sessions import (
    ListSessions,
    PurgeRefreshSeals,
    Refresh,
    RevokeAllSessions,
    RevokeSession,
    SessionView,
)

__all__ = [
    "AccessToken",
    "AccountView",
    "Authorization",
    "BeginTotpEnrolment",
    "ChangePassword",
    "CompleteMfaLogin",
    "ConfirmTotpEnrolment",
    "DisableMfa",
    "FindUserByEmail",
    "GetAccount",
    "GetJwks",
    "GetMfaStatus",
    "GrantAdmin",
    "GrantStaff",
    "IdentityDeps",
    "ListSessions",
    "ListUsers",
    "LockUser",
    "Login",
    "MfaChallenge",
    "MfaEnabled",
    "MfaStatus",
    "PurgeRefreshSeals",
    "QueryAuditLog",
    "Refresh",
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
    "SessionView",
    "ShowTotpEnrolment",
    "StepUp",
    "TokenPair",
    "TotpEnrolment",
    "UnlockUser",
    "VerifyAccessToken",
    "VerifyEmail",
    "authorize_principal",
    "require_admin",
]
