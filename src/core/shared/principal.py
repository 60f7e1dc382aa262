"""Who is calling: the identity context produces it, every other context checks it."""

from __future__ import annotations

import enum
from typing import Protocol

import attrs
from returns.result import Failure, Result, Success

from core.shared.errors import Forbidden
from core.shared.ids import ProviderId, UserId


class Role(enum.StrEnum):
    CUSTOMER = "customer"
    STAFF = "staff"
    ADMIN = "admin"


@attrs.frozen(kw_only=True)
class Principal:
    user_id: UserId
    roles: frozenset[Role]
    provider_ids: frozenset[ProviderId] = frozenset()
    mfa: bool = False  # authenticated with a second factor in this session

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles

    def manages(self, provider_id: ProviderId) -> bool:
        return self.is_admin or (Role.STAFF in self.roles and provider_id in self.provider_ids)


@attrs.frozen
class MfaRequired(Forbidden):
    """Staff and admin actions need a second factor in this session: enrol TOTP, or step up."""

    reason: str = "this action needs multi-factor authentication; verify a TOTP code first"


def may_manage(caller: Principal, provider_id: ProviderId) -> Result[None, Forbidden]:
    """Staff of the provider or an admin, with a second factor (Forbidden or MfaRequired)."""
    if not caller.manages(provider_id):
        return Failure(Forbidden(reason="you do not manage this provider"))
    if not caller.mfa:
        return Failure(MfaRequired())
    return Success(None)


def require_admin(caller: Principal) -> Result[Principal, Forbidden]:
    """The caller if it is an admin with a second factor (Forbidden or MfaRequired)."""
    if not caller.is_admin:
        return Failure(Forbidden(reason="platform administrators only"))
    if not caller.mfa:
        return Failure(MfaRequired())
    return Success(caller)


class Authenticator(Protocol):
    """Turns a bearer access token into the calling principal (identity implements it)."""

    async def __call__(self, token: str) -> Principal | None: ...
