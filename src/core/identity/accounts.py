"""The account as its owner and the admins see it."""

from __future__ import annotations

from datetime import datetime

import attrs
from returns.result import Failure, Result, Success

from core.identity.model import User
from core.identity.ports import IdentityUnitOfWork
from core.shared.errors import NotFound
from core.shared.ids import ProviderId, UserId
from core.shared.principal import Role
from core.shared.unit_of_work import Access, UnitOfWorkFactory
from core.shared.use_case import UseCase


@attrs.frozen(kw_only=True)
class AccountView:
    user_id: UserId
    email: str
    email_verified: bool
    roles: frozenset[Role]
    provider_ids: frozenset[ProviderId]
    locked: bool
    mfa_active: bool
    created_at: datetime


async def account_view(uow: IdentityUnitOfWork, user: User) -> AccountView:
    credential = await uow.totp.get(user.id)
    return AccountView(
        user_id=user.id,
        email=user.email.value,
        email_verified=user.email_verified_at is not None,
        roles=user.roles,
        provider_ids=user.staff_of,
        locked=user.is_locked,
        mfa_active=credential is not None and credential.active,
        created_at=user.created_at,
    )


@attrs.frozen(kw_only=True)
class GetAccount(UseCase):
    """The caller's own account. NotFound if it no longer exists."""

    uow: UnitOfWorkFactory[IdentityUnitOfWork]

    async def __call__(self, *, user_id: UserId) -> Result[AccountView, NotFound]:
        async with self.uow(Access.user(user_id)) as uow:
            user = await uow.users.get(user_id)
            if user is None:
                return Failure(NotFound(kind="user", id=str(user_id)))
            return Success(await account_view(uow, user))
