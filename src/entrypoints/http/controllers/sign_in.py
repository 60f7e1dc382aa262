"""Accounts and tokens: registration, email verification, login (with MFA), refresh, logout,
password change and reset, and the public keys that verify access tokens.

Nothing here tells a stranger whether an email address has an account: login answers the same
401 for an unknown address and a wrong password (after the same Argon2 work), registration and
reset requests answer the same 202 whatever the address, and reset mail is prepared after the
answer has gone, so not even the response time differs.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import partial
from typing import Annotated

import msgspec
from litestar import Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody

from core.identity import (
    AccessToken,
    ChangePassword,
    ClientContext,
    CompleteMfaLogin,
    GetJwks,
    InvalidCredentials,
    Login,
    MfaChallenge,
    Refresh,
    Register,
    RequestPasswordReset,
    ResetPassword,
    RevokeSession,
    TokenPair,
    TokenPrincipal,
    VerifyEmail,
)
from core.shared.errors import DomainError, InvalidInput
from entrypoints.http.auth import PUBLIC, SECURITY
from entrypoints.http.problems import documented, ok

EmailIn = Annotated[str, msgspec.Meta(min_length=3, max_length=320, examples=["ana@example.com"])]
# The policy allows 1,024 characters; a hard cap in bytes keeps huge bodies away from hashing.
PasswordIn = Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
SecretIn = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
CodeIn = Annotated[
    str,
    msgspec.Meta(min_length=6, max_length=64, description="six TOTP digits, or a recovery code"),
]

ANYONE = "Who may call: anyone (no token)."
SIGNED_IN = "Who may call: any signed-in user, for their own account (access token)."
ACCEPTED = (
    "If the address can receive mail, a message is on its way. The answer is the same whether "
    "or not the address has an account."
)


# ---------------------------------------------------------------- wire shapes


class RegisterIn(msgspec.Struct, forbid_unknown_fields=True):
    email: EmailIn
    password: PasswordIn


class LoginIn(msgspec.Struct, forbid_unknown_fields=True):
    email: EmailIn
    password: PasswordIn


class MfaLoginIn(msgspec.Struct, forbid_unknown_fields=True):
    challenge_token: SecretIn
    code: CodeIn


class TokenIn(msgspec.Struct, forbid_unknown_fields=True):
    token: SecretIn


class RefreshIn(msgspec.Struct, forbid_unknown_fields=True):
    refresh_token: SecretIn


class ResetRequestIn(msgspec.Struct, forbid_unknown_fields=True):
    email: EmailIn


class ResetIn(msgspec.Struct, forbid_unknown_fields=True):
    token: SecretIn
    new_password: PasswordIn


class ChangePasswordIn(msgspec.Struct, forbid_unknown_fields=True):
    current_password: PasswordIn
    new_password: PasswordIn


class AcceptedOut(msgspec.Struct, frozen=True):
    detail: str


class AccessOut(msgspec.Struct, frozen=True):
    """A bearer access token (EdDSA JWT; verify with /.well-known/jwks.json)."""

    access_token: str
    token_type: str
    expires_in: int
    expires_at: datetime
    aal: str

    @classmethod
    def of(cls, access: AccessToken) -> AccessOut:
        claims = access.claims
        return cls(
            access_token=access.token,
            token_type="Bearer",  # noqa: S106 (the scheme name, RFC 6750)
            expires_in=int((claims.expires_at - claims.issued_at).total_seconds()),
            expires_at=claims.expires_at,
            aal=claims.aal.value,
        )


class TokensOut(msgspec.Struct, frozen=True, tag_field="outcome", tag="tokens"):
    """Signed in. Keep the refresh token secret; each use of it returns a new one."""

    access_token: str
    token_type: str
    expires_in: int
    expires_at: datetime
    aal: str
    refresh_token: str
    refresh_expires_at: datetime
    session_id: uuid.UUID

    @classmethod
    def of(cls, pair: TokenPair) -> TokensOut:
        access = AccessOut.of(pair.access)
        return cls(
            access_token=access.access_token,
            token_type=access.token_type,
            expires_in=access.expires_in,
            expires_at=access.expires_at,
            aal=access.aal,
            refresh_token=pair.refresh_token,
            refresh_expires_at=pair.refresh_expires_at,
            session_id=pair.session_id,
        )


class MfaChallengeOut(msgspec.Struct, frozen=True, tag_field="outcome", tag="mfa_required"):
    """The password was right; finish at POST /auth/mfa/login with a code."""

    challenge_token: str
    expires_at: datetime


def _login_outcome(outcome: TokenPair | MfaChallenge) -> TokensOut | MfaChallengeOut:
    if isinstance(outcome, MfaChallenge):
        return MfaChallengeOut(
            challenge_token=outcome.challenge_token, expires_at=outcome.expires_at
        )
    return TokensOut.of(outcome)


# ---------------------------------------------------------------- handlers


def answers(*statuses: int) -> dict[int, ResponseSpec]:
    """The problems a handler documents: its own, plus the API limit's 429 and the 503 of a
    dependency down, which any route may answer."""
    return documented(*sorted({*statuses, 429, 503}))


_public = partial(
    post,
    tags=["auth"],
    opt={PUBLIC: True},
    status_code=200,
    responses=answers(400, 401, 403, 422),
)
_signed_in = partial(
    post,
    tags=["auth"],
    security=SECURITY,
    status_code=204,
    responses=answers(400, 401, 422),
)


@_public(
    "/auth/register",
    status_code=202,
    summary="Create an account",
    description=f"{ANYONE} Passwords: 12 to 1,024 characters, not a common or breached one, "
    "not containing the address. A verification link is mailed. Limited per IP and per "
    "address (429 with Retry-After).",
)
async def register_account(
    data: JSONBody[RegisterIn],
    client: NamedDependency[ClientContext],
    register: NamedDependency[Register],
) -> AcceptedOut:
    ok(await register.admit(email=data.email, client=client))
    ok(await register(email=data.email, password=data.password))
    return AcceptedOut(detail=ACCEPTED)


@_public(
    "/auth/verify-email",
    status_code=204,
    summary="Confirm an email address",
    description=f"{ANYONE} Consumes the token from the verification mail.",
)
async def verify_email_address(
    data: JSONBody[TokenIn],
    client: NamedDependency[ClientContext],
    verify_email: NamedDependency[VerifyEmail],
) -> None:
    ok(await verify_email(token=data.token, client=client))


@_public(
    "/auth/login",
    summary="Log in with email and password",
    description=f"{ANYONE} Answers tokens (`outcome: tokens`) or, when the account uses MFA, "
    "a challenge (`outcome: mfa_required`) to finish at POST /auth/mfa/login. A wrong password "
    "and an unknown address get the same 401. Failures back off per account and per IP "
    "(429 with Retry-After, growing with every further failure).",
)
async def log_in(
    data: JSONBody[LoginIn], client: NamedDependency[ClientContext], login: NamedDependency[Login]
) -> TokensOut | MfaChallengeOut:
    outcome = await login(email=data.email, password=data.password, client=client)
    return _login_outcome(ok(outcome))


@_public(
    "/auth/mfa/login",
    summary="Finish a login with a second factor",
    description="Who may call: anyone holding a challenge token from POST /auth/login (no "
    "access token). Send it with six TOTP digits or a recovery code; each code works once. "
    "Failures back off per account and per IP.",
)
async def log_in_with_mfa(
    data: JSONBody[MfaLoginIn],
    client: NamedDependency[ClientContext],
    complete_mfa_login: NamedDependency[CompleteMfaLogin],
) -> TokensOut:
    pair = await complete_mfa_login(
        challenge_token=data.challenge_token, code=data.code, client=client
    )
    return TokensOut.of(ok(pair))


@_public(
    "/auth/refresh",
    summary="Trade a refresh token for new tokens",
    description="Who may call: anyone holding a refresh token (no access token). Every use "
    "rotates it: keep the new one. "
    "Two uses of one token within a few seconds (two tabs) both get the same new token; a "
    "reuse after that revokes the whole session. Failures back off per IP.",
)
async def refresh_tokens(
    data: JSONBody[RefreshIn],
    client: NamedDependency[ClientContext],
    refresh: NamedDependency[Refresh],
) -> TokensOut:
    return TokensOut.of(ok(await refresh(refresh_token=data.refresh_token, client=client)))


@_signed_in(
    "/auth/logout",
    summary="Log out",
    description=f"{SIGNED_IN} Ends the session of this access token: its refresh token and "
    "its access tokens stop working at once, in every API process.",
)
async def log_out(
    caller: NamedDependency[TokenPrincipal], revoke_session: NamedDependency[RevokeSession]
) -> None:
    ok(await revoke_session(user_id=caller.user_id, session_id=caller.session_id))


@_signed_in(
    "/auth/password/change",
    summary="Change my password",
    description=f"{SIGNED_IN} Needs the current password; ends every other session. Wrong "
    "current passwords back off per account and per IP.",
)
async def change_my_password(
    data: JSONBody[ChangePasswordIn],
    caller: NamedDependency[TokenPrincipal],
    client: NamedDependency[ClientContext],
    change_password: NamedDependency[ChangePassword],
) -> None:
    changed = await change_password(
        user_id=caller.user_id,
        session_id=caller.session_id,
        current_password=data.current_password,
        new_password=data.new_password,
        client=client,
    )
    # A 401 would tell clients their token failed; this is a wrong form field.
    ok(changed.alt(_wrong_current_password))


def _wrong_current_password(error: DomainError) -> DomainError:
    if isinstance(error, InvalidCredentials):
        return InvalidInput(field="current_password", reason="is not your current password")
    return error


@_public(
    "/auth/password/reset-request",
    status_code=202,
    summary="Ask for a password-reset link",
    description=f"{ANYONE} The same 202 whatever the address. Limited per IP and per address.",
)
async def request_reset(
    data: JSONBody[ResetRequestIn],
    client: NamedDependency[ClientContext],
    request_password_reset: NamedDependency[RequestPasswordReset],
) -> Response[AcceptedOut]:
    ok(await request_password_reset.admit(email=data.email, client=client))
    # After the answer is sent: known and unknown addresses take the same time to answer.
    mail = BackgroundTask(request_password_reset, email=data.email)
    return Response(AcceptedOut(detail=ACCEPTED), status_code=202, background=mail)


@_public(
    "/auth/password/reset",
    status_code=204,
    summary="Set a new password with a reset token",
    description="Who may call: anyone holding the token from the reset mail (no access token). "
    "Ends every session of the account. Invalid tokens back off per IP.",
)
async def reset_my_password(
    data: JSONBody[ResetIn],
    client: NamedDependency[ClientContext],
    reset_password: NamedDependency[ResetPassword],
) -> None:
    ok(await reset_password(token=data.token, new_password=data.new_password, client=client))


@get(
    "/.well-known/jwks.json",
    tags=["auth"],
    opt={PUBLIC: True},
    summary="Public keys that verify access tokens",
    description=f"{ANYONE} A JWK set (Ed25519, `alg: EdDSA`), the signing key first; keys stay "
    "listed until every token they signed has expired. Refetch on an unknown `kid`.",
    cache_control=CacheControlHeader(public=True, max_age=60),
    responses=answers(),
)
async def jwks(get_jwks: NamedDependency[GetJwks]) -> dict[str, list[dict[str, str]]]:
    return ok(await get_jwks())


ROUTES = [
    register_account,
    verify_email_address,
    log_in,
    log_in_with_mfa,
    refresh_tokens,
    log_out,
    change_my_password,
    request_reset,
    reset_my_password,
    jwks,
]
