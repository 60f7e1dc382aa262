"""Admin-only use cases: roles, locking, MFA reset, user lookup, the audit log; and the CLI
operator's own account.

Each takes the `caller`: an admin Principal with a second factor (from an aal2 session, or the
operator account the CLI acts as). Failures common to all: Forbidden / MfaRequired (caller),
NotFound (target user).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

import attrs
from returns.result import Failure, Result, Success

from core.identity.accounts import AccountView, account_view
from core.identity.common import audit
from core.identity.errors import InvalidEmail
from core.identity.model import (
    NO_PASSWORD,
    OPERATOR_DOMAIN,
    AuditAction,
    AuditChainCheck,
    AuditEntry,
    AuditQuery,
    ClientContext,
    Email,
    OperatorPrincipal,
    User,
)
from core.identity.ports import IdentityUnitOfWork, LiveSessions
from core.shared.errors import Forbidden, NotFound
from core.shared.ids import ProviderId, UserId
from core.shared.principal import Principal, Role, require_admin
from core.shared.time import Clock
from core.shared.unit_of_work import Access, UnitOfWorkFactory
from core.shared.use_case import UseCase

MAX_AUDIT_PAGE = 1000
MAX_USER_PAGE = 1000

# Changes a locked user inside the unit of work; returns extra audit details.
UserChange = Callable[[IdentityUnitOfWork, User, datetime], Awaitable[Mapping[str, object]]]


def _update(edit: Callable[[User, datetime], User]) -> UserChange:
    async def change(uow: IdentityUnitOfWork, user: User, now: datetime) -> Mapping[str, object]:
        await uow.users.save(edit(user, now))
        return {}

    return change


@attrs.frozen(kw_only=True)
class _UserAdministration(UseCase):
    """Every change an admin makes to a user also changes what the user's access tokens may
    do, so it starts a new authorization epoch: the user's tokens are refused at their next
    request and the client refreshes into the new roles (or, locked, is refused).

    The epoch starts after the commit. Before it, a refresh in between would read the old
    roles and sign them under the new epoch. If the store fails after the commit, the error
    propagates (503 over HTTP, exit 1 in the CLI): the change stands, old tokens live on for
    at most the access TTL, and the caller, told it failed, retries; every change here is
    idempotent, so the retry starts the epoch."""

    uow: UnitOfWorkFactory[IdentityUnitOfWork]
    clock: Clock
    live_sessions: LiveSessions

    async def _change_user(
        self,
        *,
        caller: Principal,
        user_id: UserId,
        change: UserChange,
        action: AuditAction,
        client: ClientContext,
        **details: object,
    ) -> Result[None, Forbidden | NotFound]:
        """Check the caller, lock the user row, apply `change`, audit it, commit."""
        allowed = require_admin(caller)
        if isinstance(allowed, Failure):
            return Failure(allowed.failure())
        now = self.clock.now()
        async with self.uow(Access.of(caller)) as uow:
            user = await uow.users.get(user_id, lock=True)
            if user is None:
                return Failure(NotFound(kind="user", id=str(user_id)))
            outcome = await change(uow, user, now)
            await audit(
                uow,
                action,
                at=now,
                actor=caller,
                subject=user_id,
                client=client,
                **details,
                **outcome,
            )
            await uow.commit()
        await self.live_sessions.new_epoch(user_id)
        return Success(None)


@attrs.frozen(kw_only=True)
class GrantStaff(_UserAdministration):
    """Make the user staff of a provider (audited `role.granted`, role=staff)."""

    async def __call__(
        self, *, caller: Principal, user_id: UserId, provider_id: ProviderId, client: ClientContext
    ) -> Result[None, Forbidden | NotFound]:
        return await self._change_user(
            caller=caller,
            user_id=user_id,
            change=_update(lambda u, _: attrs.evolve(u, staff_of=u.staff_of | {provider_id})),
            action=AuditAction.ROLE_GRANTED,
            client=client,
            role="staff",
            provider_id=str(provider_id),
        )


@attrs.frozen(kw_only=True)
class RevokeStaff(_UserAdministration):
    """Remove the user from a provider's staff (audited `role.revoked`, role=staff)."""

    async def __call__(
        self, *, caller: Principal, user_id: UserId, provider_id: ProviderId, client: ClientContext
    ) -> Result[None, Forbidden | NotFound]:
        return await self._change_user(
            caller=caller,
            user_id=user_id,
            change=_update(lambda u, _: attrs.evolve(u, staff_of=u.staff_of - {provider_id})),
            action=AuditAction.ROLE_REVOKED,
            client=client,
            role="staff",
            provider_id=str(provider_id),
        )


@attrs.frozen(kw_only=True)
class GrantAdmin(_UserAdministration):
    """Make the user an admin (audited `role.granted`, role=admin)."""

    async def __call__(
        self, *, caller: Principal, user_id: UserId, client: ClientContext
    ) -> Result[None, Forbidden | NotFound]:
        return await self._change_user(
            caller=caller,
            user_id=user_id,
            change=_update(lambda u, _: attrs.evolve(u, is_admin=True)),
            action=AuditAction.ROLE_GRANTED,
            client=client,
            role="admin",
        )


@attrs.frozen(kw_only=True)
class RevokeAdmin(_UserAdministration):
    """Take admin away (audited `role.revoked`, role=admin)."""

    async def __call__(
        self, *, caller: Principal, user_id: UserId, client: ClientContext
    ) -> Result[None, Forbidden | NotFound]:
        return await self._change_user(
            caller=caller,
            user_id=user_id,
            change=_update(lambda u, _: attrs.evolve(u, is_admin=False)),
            action=AuditAction.ROLE_REVOKED,
            client=client,
            role="admin",
        )


@attrs.frozen(kw_only=True)
class LockUser(_UserAdministration):
    """Lock the account: no login or refresh; every session revoked, every access token
    refused (audited `user.locked`)."""

    async def __call__(
        self, *, caller: Principal, user_id: UserId, reason: str, client: ClientContext
    ) -> Result[None, Forbidden | NotFound]:
        async def lock(uow: IdentityUnitOfWork, user: User, now: datetime) -> Mapping[str, object]:
            await uow.users.save(attrs.evolve(user, locked_at=user.locked_at or now))
            return {"sessions_revoked": len(await uow.sessions.revoke_all(user.id, now))}

        return await self._change_user(
            caller=caller,
            user_id=user_id,
            change=lock,
            action=AuditAction.USER_LOCKED,
            client=client,
            reason=reason,
        )


@attrs.frozen(kw_only=True)
class UnlockUser(_UserAdministration):
    """Allow the account to log in again (audited `user.unlocked`)."""

    async def __call__(
        self, *, caller: Principal, user_id: UserId, client: ClientContext
    ) -> Result[None, Forbidden | NotFound]:
        return await self._change_user(
            caller=caller,
            user_id=user_id,
            change=_update(lambda u, _: attrs.evolve(u, locked_at=None)),
            action=AuditAction.USER_UNLOCKED,
            client=client,
        )


@attrs.frozen(kw_only=True)
class ResetUserMfa(_UserAdministration):
    """Remove a user's TOTP and recovery codes (lost device) and revoke their sessions, so
    nothing keeps an aal2 it can no longer prove (audited `mfa.reset_by_admin`)."""

    async def __call__(
        self, *, caller: Principal, user_id: UserId, client: ClientContext
    ) -> Result[None, Forbidden | NotFound]:
        async def reset(uow: IdentityUnitOfWork, user: User, now: datetime) -> Mapping[str, object]:
            await uow.totp.delete(user.id)
            await uow.recovery_codes.delete_all(user.id)
            return {"sessions_revoked": len(await uow.sessions.revoke_all(user.id, now))}

        return await self._change_user(
            caller=caller,
            user_id=user_id,
            change=reset,
            action=AuditAction.MFA_RESET_BY_ADMIN,
            client=client,
        )


@attrs.frozen(kw_only=True)
class FindUserByEmail(UseCase):
    """Look an account up by email (case-insensitive). Failures: InvalidEmail too."""

    uow: UnitOfWorkFactory[IdentityUnitOfWork]

    async def __call__(
        self, *, caller: Principal, email: str
    ) -> Result[AccountView, Forbidden | NotFound | InvalidEmail]:
        allowed = require_admin(caller)
        if isinstance(allowed, Failure):
            return Failure(allowed.failure())
        parsed = Email.parse(email)
        if isinstance(parsed, Failure):
            return Failure(parsed.failure())
        address: Email = parsed.unwrap()
        async with self.uow(Access.of(caller)) as uow:
            user = await uow.users.by_email_key(address.key)
            if user is None:
                return Failure(NotFound(kind="user", id=address.value))
            return Success(await account_view(uow, user))


@attrs.frozen(kw_only=True)
class ListUsers(UseCase):
    """Accounts at most `limit` at a time (capped at 1000), starting after the email `after`
    (the last one of the previous page), in the store's order of addresses (case-insensitive;
    not alphabetical where addresses are sealed, see `UserRepository.list_by_email`)."""

    uow: UnitOfWorkFactory[IdentityUnitOfWork]

    async def __call__(
        self, *, caller: Principal, after: str | None = None, limit: int = 50
    ) -> Result[list[AccountView], Forbidden]:
        allowed = require_admin(caller)
        if isinstance(allowed, Failure):
            return Failure(allowed.failure())
        after_key = Email.key_of(after) if after else None
        async with self.uow(Access.of(caller)) as uow:
            found = await uow.users.list_by_email(
                after=after_key, limit=max(1, min(limit, MAX_USER_PAGE))
            )
            return Success([await account_view(uow, user) for user in found])


@attrs.frozen(kw_only=True)
class QueryAuditLog(UseCase):
    """Audit entries matching the query, newest first (limit capped at 1000)."""

    uow: UnitOfWorkFactory[IdentityUnitOfWork]

    async def __call__(
        self, *, caller: Principal, query: AuditQuery
    ) -> Result[list[AuditEntry], Forbidden]:
        allowed = require_admin(caller)
        if isinstance(allowed, Failure):
            return Failure(allowed.failure())
        capped = attrs.evolve(query, limit=max(1, min(query.limit, MAX_AUDIT_PAGE)))
        async with self.uow(Access.of(caller)) as uow:
            return Success(list(await uow.audit.query(capped)))


@attrs.frozen(kw_only=True)
class VerifyAuditLog(UseCase):
    """Walk the audit log's hash chain: Success(check), whose `broken` names the first entry
    that was removed, edited or written around the chain."""

    uow: UnitOfWorkFactory[IdentityUnitOfWork]

    async def __call__(self, *, caller: Principal) -> Result[AuditChainCheck, Forbidden]:
        allowed = require_admin(caller)
        if isinstance(allowed, Failure):
            return Failure(allowed.failure())
        async with self.uow(Access.of(caller)) as uow:
            return Success(await uow.audit.verify_chain())


def operator_email(os_user: str) -> str:
    """`<os user>@operators.reserva.invalid`, the OS name reduced to what a mailbox allows."""
    mailbox = re.sub(r"[^a-z0-9._-]+", "-", os_user.strip().lower()).strip(".-") or "operator"
    return f"{mailbox[:64]}@{OPERATOR_DOMAIN}"


@attrs.frozen(kw_only=True)
class StartOperatorSession(UseCase):
    """The caller the CLI acts as: the operator account of the OS user running it, created on
    first use. Whoever runs the CLI already controls the database, so there is nothing to
    check; what this adds is a real, audited user id on everything the operator does
    (`operator.session_started`, then every action names the account).

    The account is an admin with no password (NO_PASSWORD matches nothing; Login refuses it
    after the same work as a wrong password), so it can never sign in over the API.
    Failure Forbidden if a password account already holds the address.
    """

    uow: UnitOfWorkFactory[IdentityUnitOfWork]
    clock: Clock

    async def __call__(
        self, *, os_user: str, client: ClientContext
    ) -> Result[OperatorPrincipal, Forbidden]:
        address: Email = Email.parse(operator_email(os_user)).unwrap()
        now = self.clock.now()
        operator = User(
            id=UserId(uuid.uuid4()),
            email=address,
            password_hash=NO_PASSWORD,
            created_at=now,
            email_verified_at=now,
            is_admin=True,
        )
        async with self.uow(Access.holding(address.key)) as uow:
            # The unique email key decides between concurrent first runs, not a prior lookup.
            if not await uow.users.add(operator):
                existing = await uow.users.by_email_key(address.key)
                if existing is None or existing.has_password:
                    return Failure(Forbidden(reason=f"{address.value} is not an operator account"))
                operator = existing
            principal = OperatorPrincipal(
                user_id=operator.id,
                roles=frozenset({Role.ADMIN, Role.CUSTOMER}),
                mfa=True,
                os_user=os_user,
            )
            await audit(
                uow,
                AuditAction.OPERATOR_SESSION_STARTED,
                at=now,
                actor=principal,
                subject=operator.id,
                client=client,
            )
            await uow.commit()
        return Success(principal)
