"""Admin-only use cases: roles, locking, MFA reset, user lookup, the audit log.

Each takes an `actor`: an admin Principal from an aal2 session, or the CLI `Operator`.
Failures common to all: Forbidden / MfaRequired (actor), NotFound (target user).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import attrs
from returns.result import Failure, Result, Success

from core.identity.accounts import AccountView, account_view
from core.identity.authorization import require_admin
from core.identity.common import IdentityDeps, audit
from core.identity.errors import InvalidEmail
from core.identity.model import (
    Actor,
    AuditAction,
    AuditEntry,
    AuditQuery,
    ClientContext,
    Email,
    User,
)
from core.shared.errors import Forbidden, NotFound
from core.shared.ids import ProviderId, UserId
from core.shared.use_case import UseCase

MAX_AUDIT_PAGE = 1000
MAX_USER_PAGE = 1000


async def _change_user(
    deps: IdentityDeps,
    *,
    actor: Actor,
    user_id: UserId,
    change: Callable[[User, datetime], User],
    action: AuditAction,
    client: ClientContext,
    **details: str,
) -> Result[None, Forbidden | NotFound]:
    """Lock the user row, apply `change`, audit it, commit."""
    allowed = require_admin(actor)
    if isinstance(allowed, Failure):
        return Failure(allowed.failure())
    now = deps.clock.now()
    async with deps.uow() as uow:
        user = await uow.users.get(user_id, lock=True)
        if user is None:
            return Failure(NotFound(kind="user", id=str(user_id)))
        await uow.users.save(change(user, now))
        await audit(uow, action, at=now, actor=actor, subject=user_id, client=client, **details)
        await uow.commit()
    return Success(None)


@attrs.frozen
class GrantStaff(UseCase):
    """Make the user staff of a provider (audited `role.granted`, role=staff)."""

    deps: IdentityDeps

    async def __call__(
        self, *, actor: Actor, user_id: UserId, provider_id: ProviderId, client: ClientContext
    ) -> Result[None, Forbidden | NotFound]:
        return await _change_user(
            self.deps,
            actor=actor,
            user_id=user_id,
            change=lambda u, _: attrs.evolve(u, staff_of=u.staff_of | {provider_id}),
            action=AuditAction.ROLE_GRANTED,
            client=client,
            role="staff",
            provider_id=str(provider_id),
        )


@attrs.frozen
class RevokeStaff(UseCase):
    """Remove the user from a provider's staff (audited `role.revoked`, role=staff)."""

    deps: IdentityDeps

    async def __call__(
        self, *, actor: Actor, user_id: UserId, provider_id: ProviderId, client: ClientContext
    ) -> Result[None, Forbidden | NotFound]:
        return await _change_user(
            self.deps,
            actor=actor,
            user_id=user_id,
            change=lambda u, _: attrs.evolve(u, staff_of=u.staff_of - {provider_id}),
            action=AuditAction.ROLE_REVOKED,
            client=client,
            role="staff",
            provider_id=str(provider_id),
        )


@attrs.frozen
class GrantAdmin(UseCase):
    """Make the user an admin (audited `role.granted`, role=admin)."""

    deps: IdentityDeps

    async def __call__(
        self, *, actor: Actor, user_id: UserId, client: ClientContext
    ) -> Result[None, Forbidden | NotFound]:
        return await _change_user(
            self.deps,
            actor=actor,
            user_id=user_id,
            change=lambda u, _: attrs.evolve(u, is_admin=True),
            action=AuditAction.ROLE_GRANTED,
            client=client,
            role="admin",
        )


@attrs.frozen
class RevokeAdmin(UseCase):
    """Take admin away (audited `role.revoked`, role=admin)."""

    deps: IdentityDeps

    async def __call__(
        self, *, actor: Actor, user_id: UserId, client: ClientContext
    ) -> Result[None, Forbidden | NotFound]:
        return await _change_user(
            self.deps,
            actor=actor,
            user_id=user_id,
            change=lambda u, _: attrs.evolve(u, is_admin=False),
            action=AuditAction.ROLE_REVOKED,
            client=client,
            role="admin",
        )


@attrs.frozen
class LockUser(UseCase):
    """Lock the account: no login or refresh; every session revoked (audited `user.locked`).
    Access tokens already issued stay valid until they expire (settings.access_ttl)."""

    deps: IdentityDeps

    async def __call__(
        self, *, actor: Actor, user_id: UserId, reason: str, client: ClientContext
    ) -> Result[None, Forbidden | NotFound]:
        allowed = require_admin(actor)
        if isinstance(allowed, Failure):
            return Failure(allowed.failure())
        now = self.deps.clock.now()
        async with self.deps.uow() as uow:
            user = await uow.users.get(user_id, lock=True)
            if user is None:
                return Failure(NotFound(kind="user", id=str(user_id)))
            await uow.users.save(attrs.evolve(user, locked_at=user.locked_at or now))
            revoked = await uow.sessions.revoke_all(user_id, now)
            await audit(
                uow,
                AuditAction.USER_LOCKED,
                at=now,
                actor=actor,
                subject=user_id,
                client=client,
                reason=reason,
                sessions_revoked=revoked,
            )
            await uow.commit()
        return Success(None)


@attrs.frozen
class UnlockUser(UseCase):
    """Allow the account to log in again (audited `user.unlocked`)."""

    deps: IdentityDeps

    async def __call__(
        self, *, actor: Actor, user_id: UserId, client: ClientContext
    ) -> Result[None, Forbidden | NotFound]:
        return await _change_user(
            self.deps,
            actor=actor,
            user_id=user_id,
            change=lambda u, _: attrs.evolve(u, locked_at=None),
            action=AuditAction.USER_UNLOCKED,
            client=client,
        )


@attrs.frozen
class ResetUserMfa(UseCase):
    """Remove a user's TOTP and recovery codes (lost device) and revoke their sessions, so
    nothing keeps an aal2 it can no longer prove (audited `mfa.reset_by_admin`)."""

    deps: IdentityDeps

    async def __call__(
        self, *, actor: Actor, user_id: UserId, client: ClientContext
    ) -> Result[None, Forbidden | NotFound]:
        allowed = require_admin(actor)
        if isinstance(allowed, Failure):
            return Failure(allowed.failure())
        now = self.deps.clock.now()
        async with self.deps.uow() as uow:
            user = await uow.users.get(user_id, lock=True)
            if user is None:
                return Failure(NotFound(kind="user", id=str(user_id)))
            await uow.totp.delete(user_id)
            await uow.recovery_codes.delete_all(user_id)
            revoked = await uow.sessions.revoke_all(user_id, now)
            await audit(
                uow,
                AuditAction.MFA_RESET_BY_ADMIN,
                at=now,
                actor=actor,
                subject=user_id,
                client=client,
                sessions_revoked=revoked,
            )
            await uow.commit()
        return Success(None)


@attrs.frozen
class FindUserByEmail(UseCase):
    """Look an account up by email (case-insensitive). Failures: InvalidEmail too."""

    deps: IdentityDeps

    async def __call__(
        self, *, actor: Actor, email: str
    ) -> Result[AccountView, Forbidden | NotFound | InvalidEmail]:
        allowed = require_admin(actor)
        if isinstance(allowed, Failure):
            return Failure(allowed.failure())
        parsed = Email.parse(email)
        if isinstance(parsed, Failure):
            return Failure(parsed.failure())
        address: Email = parsed.unwrap()
        async with self.deps.uow() as uow:
            user = await uow.users.by_email_key(address.key)
            if user is None:
                return Failure(NotFound(kind="user", id=address.value))
            return Success(await account_view(uow, user))


@attrs.frozen
class ListUsers(UseCase):
    """Accounts ordered by email (case-insensitive), at most `limit` (capped at 1000), starting
    after the email `after` (the last one of the previous page)."""

    deps: IdentityDeps

    async def __call__(
        self, *, actor: Actor, after: str | None = None, limit: int = 50
    ) -> Result[list[AccountView], Forbidden]:
        allowed = require_admin(actor)
        if isinstance(allowed, Failure):
            return Failure(allowed.failure())
        after_key = after.strip().lower() if after else None
        async with self.deps.uow() as uow:
            found = await uow.users.list_by_email(
                after=after_key, limit=max(1, min(limit, MAX_USER_PAGE))
            )
            return Success([await account_view(uow, user) for user in found])


@attrs.frozen
class QueryAuditLog(UseCase):
    """Audit entries matching the query, newest first (limit capped at 1000)."""

    deps: IdentityDeps

    async def __call__(
        self, *, actor: Actor, query: AuditQuery
    ) -> Result[list[AuditEntry], Forbidden]:
        allowed = require_admin(actor)
        if isinstance(allowed, Failure):
            return Failure(allowed.failure())
        capped = attrs.evolve(query, limit=max(1, min(query.limit, MAX_AUDIT_PAGE)))
        async with self.deps.uow() as uow:
            return Success(list(await uow.audit.query(capped)))
