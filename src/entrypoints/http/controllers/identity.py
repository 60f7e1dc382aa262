"""The identity context over HTTP: one router for /auth, /me, /admin and the JWK set, with the
dependencies its handlers name, and what it needs from the composition root."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from litestar import Router
from litestar.di import Provide

from core.identity.ports import RateLimiter
from core.identity.use_cases import (
    BeginTotpEnrolment,
    ChangePassword,
    CompleteMfaLogin,
    ConfirmTotpEnrolment,
    DisableMfa,
    GetAccount,
    GetJwks,
    GetMfaStatus,
    GrantAdmin,
    GrantStaff,
    ListSessions,
    ListUsers,
    LockUser,
    Login,
    QueryAuditLog,
    Refresh,
    RegenerateRecoveryCodes,
    Register,
    RequestPasswordReset,
    ResetPassword,
    ResetUserMfa,
    RevokeAdmin,
    RevokeAllSessions,
    RevokeSession,
    RevokeStaff,
    ShowTotpEnrolment,
    StepUp,
    UnlockUser,
    VerifyEmail,
)
from entrypoints.http.controllers import account, admin, sign_in
from entrypoints.http.dependencies import provide
from entrypoints.http.rate_limit import RateLimitPolicy, client_context
from entrypoints.http.token_auth import token_caller


class IdentityServices(Protocol):
    """Zero-argument callables (the container's providers), called per request."""

    # ---- accounts and tokens
    @property
    def register(self) -> Callable[[], Register]: ...
    @property
    def verify_email(self) -> Callable[[], VerifyEmail]: ...
    @property
    def login(self) -> Callable[[], Login]: ...
    @property
    def complete_mfa_login(self) -> Callable[[], CompleteMfaLogin]: ...
    @property
    def refresh(self) -> Callable[[], Refresh]: ...
    @property
    def change_password(self) -> Callable[[], ChangePassword]: ...
    @property
    def request_password_reset(self) -> Callable[[], RequestPasswordReset]: ...
    @property
    def reset_password(self) -> Callable[[], ResetPassword]: ...
    @property
    def get_jwks(self) -> Callable[[], GetJwks]: ...

    # ---- the caller's account
    @property
    def get_account(self) -> Callable[[], GetAccount]: ...
    @property
    def list_sessions(self) -> Callable[[], ListSessions]: ...
    @property
    def revoke_session(self) -> Callable[[], RevokeSession]: ...
    @property
    def revoke_all_sessions(self) -> Callable[[], RevokeAllSessions]: ...
    @property
    def get_mfa_status(self) -> Callable[[], GetMfaStatus]: ...
    @property
    def begin_totp_enrolment(self) -> Callable[[], BeginTotpEnrolment]: ...
    @property
    def show_totp_enrolment(self) -> Callable[[], ShowTotpEnrolment]: ...
    @property
    def confirm_totp_enrolment(self) -> Callable[[], ConfirmTotpEnrolment]: ...
    @property
    def step_up(self) -> Callable[[], StepUp]: ...
    @property
    def disable_mfa(self) -> Callable[[], DisableMfa]: ...
    @property
    def regenerate_recovery_codes(self) -> Callable[[], RegenerateRecoveryCodes]: ...

    # ---- administration
    @property
    def grant_staff(self) -> Callable[[], GrantStaff]: ...
    @property
    def revoke_staff(self) -> Callable[[], RevokeStaff]: ...
    @property
    def grant_admin(self) -> Callable[[], GrantAdmin]: ...
    @property
    def revoke_admin(self) -> Callable[[], RevokeAdmin]: ...
    @property
    def lock_user(self) -> Callable[[], LockUser]: ...
    @property
    def unlock_user(self) -> Callable[[], UnlockUser]: ...
    @property
    def reset_user_mfa(self) -> Callable[[], ResetUserMfa]: ...
    @property
    def list_users(self) -> Callable[[], ListUsers]: ...
    @property
    def query_audit_log(self) -> Callable[[], QueryAuditLog]: ...

    # ---- limits
    @property
    def rate_limiter(self) -> Callable[[], RateLimiter]: ...
    @property
    def rate_limit_policy(self) -> Callable[[], RateLimitPolicy]: ...


def router(services: IdentityServices) -> Router:
    return Router(
        path="/",
        route_handlers=[*sign_in.ROUTES, *account.ROUTES, *admin.ROUTES],
        dependencies={
            "register": provide(services.register),
            "verify_email": provide(services.verify_email),
            "login": provide(services.login),
            "complete_mfa_login": provide(services.complete_mfa_login),
            "refresh": provide(services.refresh),
            "change_password": provide(services.change_password),
            "request_password_reset": provide(services.request_password_reset),
            "reset_password": provide(services.reset_password),
            "get_jwks": provide(services.get_jwks),
            "get_account": provide(services.get_account),
            "list_sessions": provide(services.list_sessions),
            "revoke_session": provide(services.revoke_session),
            "revoke_all_sessions": provide(services.revoke_all_sessions),
            "get_mfa_status": provide(services.get_mfa_status),
            "begin_totp_enrolment": provide(services.begin_totp_enrolment),
            "show_totp_enrolment": provide(services.show_totp_enrolment),
            "confirm_totp_enrolment": provide(services.confirm_totp_enrolment),
            "step_up": provide(services.step_up),
            "disable_mfa": provide(services.disable_mfa),
            "regenerate_recovery_codes": provide(services.regenerate_recovery_codes),
            "grant_staff": provide(services.grant_staff),
            "revoke_staff": provide(services.revoke_staff),
            "grant_admin": provide(services.grant_admin),
            "revoke_admin": provide(services.revoke_admin),
            "lock_user": provide(services.lock_user),
            "unlock_user": provide(services.unlock_user),
            "reset_user_mfa": provide(services.reset_user_mfa),
            "list_users": provide(services.list_users),
            "query_audit_log": provide(services.query_audit_log),
            "client": Provide(client_context),
            "caller": Provide(token_caller),
        },
    )
