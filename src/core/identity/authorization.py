"""From verified access-token claims to the Principal every context checks. Pure.

Staff and admin roles count only in an aal2 session (second factor used). Below that they are
withheld, and asking for them gives MfaRequired: enrol TOTP, or step this session up.
"""

from __future__ import annotations

import attrs
from returns.result import Failure, Result, Success

from core.identity.errors import MfaRequired
from core.identity.model import PRIVILEGED_ROLES, Aal, AccessClaims, Actor, Operator
from core.shared.errors import Forbidden
from core.shared.principal import Principal, Role


@attrs.frozen(kw_only=True)
class Authorization:
    principal: Principal
    withheld_roles: frozenset[Role]  # held, but unusable until the session reaches aal2

    @property
    def mfa_required(self) -> bool:
        return bool(self.withheld_roles)

    def require(self, role: Role) -> Result[Principal, Forbidden]:
        """The principal if it may act in `role`; MfaRequired if only the second factor is
        missing; Forbidden otherwise."""
        if role in self.principal.roles:
            return Success(self.principal)
        if role in self.withheld_roles:
            return Failure(MfaRequired(reason=f"{role} actions need a second factor"))
        return Failure(Forbidden(reason=f"{role} role required"))


def authorize_principal(claims: AccessClaims) -> Authorization:
    mfa = claims.aal is Aal.AAL2
    withheld = frozenset() if mfa else claims.roles & PRIVILEGED_ROLES
    return Authorization(
        principal=Principal(
            user_id=claims.user_id,
            roles=claims.roles - withheld,
            provider_ids=frozenset() if Role.STAFF in withheld else claims.provider_ids,
            mfa=mfa,
        ),
        withheld_roles=withheld,
    )


def require_admin(actor: Actor) -> Result[Actor, Forbidden]:
    """Admin use cases accept an admin principal with MFA, or the CLI operator."""
    if isinstance(actor, Operator):
        return Success(actor)
    if not actor.is_admin:
        return Failure(Forbidden(reason="admin role required"))
    if not actor.mfa:
        return Failure(MfaRequired(reason="admin actions need a second factor"))
    return Success(actor)
