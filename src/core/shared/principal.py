"""Who is calling: the identity context produces it, every other context checks it."""

from __future__ import annotations

import enum
from typing import Protocol

import attrs
from returns.result import Failure, Result, Success

from core.shared.errors import DomainError, Forbidden
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
class MfaRequired(DomainError):
    """Staff and admin actions need a second factor in this session (step-up)."""

    @property
    def detail(self) -> str:
        return "this action needs multi-factor authentication; verify a TOTP code first"


def may_manage(
    principal: Principal, provider_id: ProviderId
) -> Result[None, Forbidden | MfaRequired]:
    if not principal.manages(provider_id):
        return Failure(Forbidden(reason="you do not manage this provider"))
    if not principal.mfa:
        return Failure(MfaRequired())
    return Success(None)


def may_administer(principal: Principal) -> Result[None, Forbidden | MfaRequired]:
    if not principal.is_admin:
        return Failure(Forbidden(reason="platform administrators only"))
    if not principal.mfa:
        return Failure(MfaRequired())
    return Success(None)


class Authenticator(Protocol):
    """Turns a bearer access token into the calling principal (identity implements it)."""

    async def __call__(self, token: str) -> Principal | None: ...
