"""The caller's own account: profile, sessions, and the second factor (TOTP and recovery codes).

Every route needs an access token and acts on its owner only; another user's session answers
404, as if it did not exist.
"""

from __future__ import annotations

import base64
import enum
import uuid
from datetime import datetime
from functools import partial
from typing import Annotated

import msgspec
from litestar import Response, delete, get, post
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from core.identity import (
    AccountView,
    BeginTotpEnrolment,
    ClientContext,
    ConfirmTotpEnrolment,
    DisableMfa,
    GetAccount,
    GetMfaStatus,
    ListSessions,
    MfaStatus,
    RegenerateRecoveryCodes,
    RevokeAllSessions,
    RevokeSession,
    SessionId,
    SessionView,
    ShowTotpEnrolment,
    StepUp,
    TokenPrincipal,
    TotpEnrolment,
)
from entrypoints.http.auth import SECURITY
from entrypoints.http.controllers.sign_in import (
    SIGNED_IN,
    AccessOut,
    CodeIn,
    answers,
)
from entrypoints.http.problems import ok

QR_PATH = "/me/mfa/totp/qr"
# The TOTP secret must not linger in caches or history.
NO_STORE = CacheControlHeader(no_store=True)


class CodeBody(msgspec.Struct, forbid_unknown_fields=True):
    code: CodeIn


class MfaOut(msgspec.Struct, frozen=True):
    active: bool
    enrolment_pending: bool
    recovery_codes_left: int

    @classmethod
    def of(cls, status: MfaStatus) -> MfaOut:
        return cls(
            active=status.active,
            enrolment_pending=status.enrolment_pending,
            recovery_codes_left=status.recovery_codes_left,
        )


class AccountOut(msgspec.Struct, frozen=True):
    id: uuid.UUID
    email: str
    email_verified: bool
    roles: list[str]
    provider_ids: list[uuid.UUID]
    locked: bool
    created_at: datetime
    mfa: MfaOut
    session_id: uuid.UUID
    session_aal: str  # staff and admin roles count only at aal2

    @classmethod
    def of(cls, view: AccountView, mfa: MfaStatus, caller: TokenPrincipal) -> AccountOut:
        return cls(
            id=view.user_id,
            email=view.email,
            email_verified=view.email_verified,
            roles=sorted(view.roles),
            provider_ids=sorted(view.provider_ids),
            locked=view.locked,
            created_at=view.created_at,
            mfa=MfaOut.of(mfa),
            session_id=caller.session_id,
            session_aal="aal2" if caller.mfa else "aal1",
        )


class SessionOut(msgspec.Struct, frozen=True):
    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    user_agent: str | None
    ip: str | None
    aal: str
    current: bool

    @classmethod
    def of(cls, view: SessionView) -> SessionOut:
        return cls(
            id=view.session_id,
            created_at=view.created_at,
            last_used_at=view.last_used_at,
            user_agent=view.user_agent,
            ip=view.ip,
            aal=view.aal,
            current=view.current,
        )


class RevokedOut(msgspec.Struct, frozen=True):
    revoked: int


class EnrolmentOut(msgspec.Struct, frozen=True):
    """Scan `qr_png` (or the image at `qr_png_url` / `qr_svg_url`), or type `secret` into an
    authenticator app; then confirm with its first code."""

    secret: str
    otpauth_uri: str
    qr_png: str  # a data: URL
    qr_png_url: str
    qr_svg_url: str

    @classmethod
    def of(cls, enrolment: TotpEnrolment) -> EnrolmentOut:
        png = base64.b64encode(enrolment.qr_png).decode()
        return cls(
            secret=enrolment.secret,
            otpauth_uri=enrolment.otpauth_uri,
            qr_png=f"data:image/png;base64,{png}",
            qr_png_url=f"{QR_PATH}?format=png",
            qr_svg_url=f"{QR_PATH}?format=svg",
        )


class RecoveryCodesOut(msgspec.Struct, frozen=True):
    """Shown once: each code replaces a TOTP code one time (login or disabling MFA)."""

    recovery_codes: list[str]


class MfaEnabledOut(msgspec.Struct, frozen=True):
    recovery_codes: list[str]
    access: AccessOut  # this session is aal2 now; use this token from here on


class QrFormat(enum.StrEnum):
    PNG = "png"
    SVG = "svg"


_QR_MEDIA = {QrFormat.PNG: "image/png", QrFormat.SVG: "image/svg+xml"}

_get = partial(get, tags=["account"], security=SECURITY, responses=answers(401, 404))
_mfa = partial(
    post,
    tags=["mfa"],
    security=SECURITY,
    status_code=200,
    responses=answers(400, 401, 404, 409, 422),
)


@_get("/me", summary="My account", description=SIGNED_IN)
async def me(
    caller: NamedDependency[TokenPrincipal],
    get_account: NamedDependency[GetAccount],
    get_mfa_status: NamedDependency[GetMfaStatus],
) -> AccountOut:
    view = ok(await get_account(user_id=caller.user_id))
    return AccountOut.of(view, ok(await get_mfa_status(user_id=caller.user_id)), caller)


@_get(
    "/me/sessions",
    summary="My live sessions",
    description=f"{SIGNED_IN} Most recently used first; `current` marks this token's session.",
)
async def my_sessions(
    caller: NamedDependency[TokenPrincipal], list_sessions: NamedDependency[ListSessions]
) -> list[SessionOut]:
    found = await list_sessions(user_id=caller.user_id, current_session_id=caller.session_id)
    return [SessionOut.of(view) for view in ok(found)]


@delete(
    "/me/sessions/{session_id:str}",
    tags=["account"],
    security=SECURITY,
    summary="End one of my sessions",
    description=f"{SIGNED_IN} Its refresh token and access tokens stop working at once. "
    "Another user's session answers 404.",
    responses=answers(400, 401, 404, 422),
)
async def end_session(
    session_id: FromPath[uuid.UUID],
    caller: NamedDependency[TokenPrincipal],
    revoke_session: NamedDependency[RevokeSession],
) -> None:
    ok(await revoke_session(user_id=caller.user_id, session_id=SessionId(session_id)))


@delete(
    "/me/sessions",
    tags=["account"],
    security=SECURITY,
    status_code=200,
    summary="End all my sessions",
    description=f"{SIGNED_IN} Every session, this one included unless `keep_current=true`.",
    responses=answers(400, 401),
)
async def end_all_sessions(
    caller: NamedDependency[TokenPrincipal],
    revoke_all_sessions: NamedDependency[RevokeAllSessions],
    keep_current: Annotated[
        bool, QueryParameter(description="keep the session of this access token")
    ] = False,
) -> RevokedOut:
    keep = caller.session_id if keep_current else None
    return RevokedOut(revoked=ok(await revoke_all_sessions(user_id=caller.user_id, keep=keep)))


@_mfa(
    "/me/mfa/totp",
    status_code=201,
    summary="Start TOTP enrolment",
    description=f"{SIGNED_IN} A new pending secret (any earlier pending one is replaced) with its "
    "otpauth URI and QR code. Confirm with POST /me/mfa/totp/confirm.",
    cache_control=NO_STORE,
)
async def begin_totp(
    caller: NamedDependency[TokenPrincipal],
    begin_totp_enrolment: NamedDependency[BeginTotpEnrolment],
) -> EnrolmentOut:
    return EnrolmentOut.of(ok(await begin_totp_enrolment(user_id=caller.user_id)))


@get(
    QR_PATH,
    tags=["mfa"],
    security=SECURITY,
    summary="The pending enrolment's QR code",
    description=f"{SIGNED_IN} An image (PNG or SVG) of the otpauth URI of the enrolment started "
    "with POST /me/mfa/totp; 409 once it is confirmed (the secret is never shown again).",
    media_type="image/png",
    cache_control=NO_STORE,
    responses=answers(400, 401, 404, 409),
)
async def totp_qr(
    caller: NamedDependency[TokenPrincipal],
    show_totp_enrolment: NamedDependency[ShowTotpEnrolment],
    format: FromQuery[QrFormat] = QrFormat.PNG,
) -> Response[bytes]:
    enrolment = ok(await show_totp_enrolment(user_id=caller.user_id))
    image = enrolment.qr_png if format is QrFormat.PNG else enrolment.qr_svg.encode()
    return Response(image, media_type=_QR_MEDIA[format])


@_mfa(
    "/me/mfa/totp/confirm",
    summary="Confirm TOTP enrolment",
    description=f"{SIGNED_IN} With the first code from the app. Answers recovery codes (shown "
    "once) and an aal2 access token for this session.",
    cache_control=NO_STORE,
)
async def confirm_totp(
    data: JSONBody[CodeBody],
    caller: NamedDependency[TokenPrincipal],
    client: NamedDependency[ClientContext],
    confirm_totp_enrolment: NamedDependency[ConfirmTotpEnrolment],
) -> MfaEnabledOut:
    enabled = ok(
        await confirm_totp_enrolment(
            user_id=caller.user_id, session_id=caller.session_id, code=data.code, client=client
        )
    )
    return MfaEnabledOut(
        recovery_codes=list(enabled.recovery_codes), access=AccessOut.of(enabled.access)
    )


@_mfa(
    "/me/mfa/step-up",
    summary="Raise this session to aal2",
    description=f"{SIGNED_IN} With a TOTP code: staff and admin roles count only at aal2. "
    "Answers a new access token; later refreshes keep aal2.",
)
async def step_up_session(
    data: JSONBody[CodeBody],
    caller: NamedDependency[TokenPrincipal],
    client: NamedDependency[ClientContext],
    step_up: NamedDependency[StepUp],
) -> AccessOut:
    raised = await step_up(
        user_id=caller.user_id, session_id=caller.session_id, code=data.code, client=client
    )
    return AccessOut.of(ok(raised))


@_mfa(
    "/me/mfa/disable",
    status_code=204,
    summary="Turn MFA off",
    description=f"{SIGNED_IN} With a TOTP or recovery code. Staff and admins lose the use of "
    "their roles until they enrol again.",
)
async def disable_totp(
    data: JSONBody[CodeBody],
    caller: NamedDependency[TokenPrincipal],
    client: NamedDependency[ClientContext],
    disable_mfa: NamedDependency[DisableMfa],
) -> None:
    ok(await disable_mfa(user_id=caller.user_id, code=data.code, client=client))


@_mfa(
    "/me/mfa/recovery-codes",
    summary="Replace my recovery codes",
    description=f"{SIGNED_IN} With a TOTP code (a recovery code cannot mint more). The old "
    "codes stop working.",
    cache_control=NO_STORE,
)
async def new_recovery_codes(
    data: JSONBody[CodeBody],
    caller: NamedDependency[TokenPrincipal],
    client: NamedDependency[ClientContext],
    regenerate_recovery_codes: NamedDependency[RegenerateRecoveryCodes],
) -> RecoveryCodesOut:
    codes = await regenerate_recovery_codes(user_id=caller.user_id, code=data.code, client=client)
    return RecoveryCodesOut(recovery_codes=list(ok(codes)))


ROUTES = [
    me,
    my_sessions,
    end_session,
    end_all_sessions,
    begin_totp,
    totp_qr,
    confirm_totp,
    step_up_session,
    disable_totp,
    new_recovery_codes,
]
