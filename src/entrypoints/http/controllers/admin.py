"""Platform administration: roles, locking, MFA resets, the user list and the audit log.

Only admins in a session with a second factor (aal2) may call these; every change is audited
with the admin as actor. An admin token without aal2 answers 403 mfa-required.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import partial
from typing import Annotated, Any

import msgspec
from litestar import delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from core.identity import (
    AccountView,
    AuditAction,
    AuditEntry,
    AuditQuery,
    ClientContext,
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
from core.shared.ids import ProviderId, UserId
from core.shared.principal import Principal
from entrypoints.http.auth import SECURITY
from entrypoints.http.controllers.sign_in import answers
from entrypoints.http.dto import AwareDatetime, instant
from entrypoints.http.problems import ok

ADMINS = "Who may call: admins, in a session with a second factor (aal2)."


class LockIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class UserOut(msgspec.Struct, frozen=True):
    id: uuid.UUID
    email: str
    email_verified: bool
    roles: list[str]
    provider_ids: list[uuid.UUID]
    locked: bool
    mfa_active: bool
    created_at: datetime

    @classmethod
    def of(cls, view: AccountView) -> UserOut:
        return cls(
            id=view.user_id,
            email=view.email,
            email_verified=view.email_verified,
            roles=sorted(view.roles),
            provider_ids=sorted(view.provider_ids),
            locked=view.locked,
            mfa_active=view.mfa_active,
            created_at=view.created_at,
        )


class AuditOut(msgspec.Struct, frozen=True):
    id: uuid.UUID
    at: datetime
    action: str
    actor_user_id: uuid.UUID | None
    subject_user_id: uuid.UUID | None
    ip: str | None
    user_agent: str | None
    details: dict[str, Any]

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditOut:
        return cls(
            id=entry.id,
            at=entry.at,
            action=str(entry.action),
            actor_user_id=entry.actor_user_id,
            subject_user_id=entry.subject_user_id,
            ip=entry.ip,
            user_agent=entry.user_agent,
            details=dict(entry.details),
        )


_change = partial(
    post,
    tags=["admin"],
    security=SECURITY,
    status_code=204,
    responses=answers(400, 401, 403, 404, 422),
)
_undo = partial(
    delete, tags=["admin"], security=SECURITY, responses=answers(400, 401, 403, 404, 422)
)
_read = partial(get, tags=["admin"], security=SECURITY, responses=answers(400, 401, 403, 422))


@_change(
    "/admin/users/{user_id:str}/staff/{provider_id:str}",
    summary="Make a user staff of a provider",
    description=f"{ADMINS} The user's staff role counts once their session has a second factor; "
    "their access tokens answer 401 until the client refreshes into the new roles.",
)
async def grant_staff_role(
    user_id: FromPath[uuid.UUID],
    provider_id: FromPath[uuid.UUID],
    principal: NamedDependency[Principal],
    client: NamedDependency[ClientContext],
    grant_staff: NamedDependency[GrantStaff],
) -> None:
    ok(
        await grant_staff(
            caller=principal,
            user_id=UserId(user_id),
            provider_id=ProviderId(provider_id),
            client=client,
        )
    )


@_undo(
    "/admin/users/{user_id:str}/staff/{provider_id:str}",
    summary="Remove a user from a provider's staff",
    description=f"{ADMINS} Takes effect at once: the user's access tokens answer 401 until "
    "the client refreshes into the new roles.",
)
async def revoke_staff_role(
    user_id: FromPath[uuid.UUID],
    provider_id: FromPath[uuid.UUID],
    principal: NamedDependency[Principal],
    client: NamedDependency[ClientContext],
    revoke_staff: NamedDependency[RevokeStaff],
) -> None:
    ok(
        await revoke_staff(
            caller=principal,
            user_id=UserId(user_id),
            provider_id=ProviderId(provider_id),
            client=client,
        )
    )


@_change(
    "/admin/users/{user_id:str}/admin",
    summary="Make a user an admin",
    description=f"{ADMINS} The new admin needs a second factor before the role counts; their "
    "access tokens answer 401 until the client refreshes into the new roles.",
)
async def grant_admin_role(
    user_id: FromPath[uuid.UUID],
    principal: NamedDependency[Principal],
    client: NamedDependency[ClientContext],
    grant_admin: NamedDependency[GrantAdmin],
) -> None:
    ok(await grant_admin(caller=principal, user_id=UserId(user_id), client=client))


@_undo(
    "/admin/users/{user_id:str}/admin",
    summary="Take the admin role away",
    description=f"{ADMINS} Takes effect at once: the user's access tokens answer 401 until "
    "the client refreshes into the new roles.",
)
async def revoke_admin_role(
    user_id: FromPath[uuid.UUID],
    principal: NamedDependency[Principal],
    client: NamedDependency[ClientContext],
    revoke_admin: NamedDependency[RevokeAdmin],
) -> None:
    ok(await revoke_admin(caller=principal, user_id=UserId(user_id), client=client))


@_change(
    "/admin/users/{user_id:str}/lock",
    summary="Lock an account",
    description=f"{ADMINS} No more logins or refreshes; every session ends now, and access "
    "tokens already issued are refused at once.",
)
async def lock_account(
    user_id: FromPath[uuid.UUID],
    data: JSONBody[LockIn],
    principal: NamedDependency[Principal],
    client: NamedDependency[ClientContext],
    lock_user: NamedDependency[LockUser],
) -> None:
    ok(
        await lock_user(
            caller=principal, user_id=UserId(user_id), reason=data.reason, client=client
        )
    )


@_change(
    "/admin/users/{user_id:str}/unlock",
    summary="Unlock an account",
    description=ADMINS,
)
async def unlock_account(
    user_id: FromPath[uuid.UUID],
    principal: NamedDependency[Principal],
    client: NamedDependency[ClientContext],
    unlock_user: NamedDependency[UnlockUser],
) -> None:
    ok(await unlock_user(caller=principal, user_id=UserId(user_id), client=client))


@_change(
    "/admin/users/{user_id:str}/mfa/reset",
    summary="Reset a user's MFA (lost device)",
    description=f"{ADMINS} Removes TOTP and recovery codes and ends every session of the user.",
)
async def reset_mfa(
    user_id: FromPath[uuid.UUID],
    principal: NamedDependency[Principal],
    client: NamedDependency[ClientContext],
    reset_user_mfa: NamedDependency[ResetUserMfa],
) -> None:
    ok(await reset_user_mfa(caller=principal, user_id=UserId(user_id), client=client))


@_read(
    "/admin/users",
    summary="Users by email",
    description=f"{ADMINS} Pages of users, in no alphabetical order (addresses are stored"
    " sealed); pass the last email as `after`.",
)
async def list_accounts(
    principal: NamedDependency[Principal],
    list_users: NamedDependency[ListUsers],
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 50,
    after: Annotated[str | None, QueryParameter(min_length=1, max_length=320)] = None,
) -> list[UserOut]:
    found = await list_users(caller=principal, after=after, limit=limit)
    return [UserOut.of(view) for view in ok(found)]


@_read(
    "/admin/audit",
    summary="The audit log",
    description=f"{ADMINS} Newest first. `user` matches the actor or the subject; `since` is "
    "inclusive, `until` exclusive.",
)
async def audit_log(
    principal: NamedDependency[Principal],
    query_audit_log: NamedDependency[QueryAuditLog],
    user: Annotated[uuid.UUID | None, QueryParameter(description="actor or subject")] = None,
    action: FromQuery[AuditAction | None] = None,
    since: FromQuery[AwareDatetime | None] = None,
    until: FromQuery[AwareDatetime | None] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
) -> list[AuditOut]:
    query = AuditQuery(
        user_id=UserId(user) if user else None,
        action=action,
        since=ok(instant("since", since)) if since else None,
        until=ok(instant("until", until)) if until else None,
        limit=limit,
    )
    entries = ok(await query_audit_log(caller=principal, query=query))
    return [AuditOut.of(entry) for entry in entries]


ROUTES = [
    grant_staff_role,
    revoke_staff_role,
    grant_admin_role,
    revoke_admin_role,
    lock_account,
    unlock_account,
    reset_mfa,
    list_accounts,
    audit_log,
]
