"""From access tokens to the Principal every context checks. Pure.

Staff and admin roles count only in an aal2 session (second factor used). Below that they are
withheld: the principal lacks them, so the core answers Forbidden, and `step_up_hint` turns
that into MfaRequired, because a second factor may change the answer.
"""

from __future__ import annotations

import attrs
from returns.result import Failure, Result, Success

from core.identity.keys import VerifyAccessToken
from core.identity.model import PRIVILEGED_ROLES, Aal, AccessClaims, SessionId
from core.identity.ports import LiveSessions
from core.shared.errors import DomainError, Forbidden
from core.shared.principal import Authenticator, MfaRequired, Principal, Role

STEP_UP = (
    "your token holds a staff or admin role that needs a second factor in this session: "
    "enrol TOTP (POST /me/mfa/totp) or step up (POST /me/mfa/step-up), then retry"
)


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


@attrs.frozen(kw_only=True)
class TokenPrincipal(Principal):
    """A caller known by an access token: also the session it belongs to, and the roles it
    holds but may not use yet."""

    session_id: SessionId
    withheld_roles: frozenset[Role] = frozenset()  # held, unusable until the session is aal2


@attrs.frozen
class AccessTokenAuthenticator(Authenticator):
    """Verifies the JWT (signature, issuer, audience, expiry), checks that its session is
    live and its roles current (one LiveSessions round trip), and maps its claims.

    A token whose session ended, or whose user's authorization changed since it was issued,
    is refused at once, in every process. A store that cannot answer raises: the request
    fails (503) rather than let a possibly revoked token through."""

    verify: VerifyAccessToken
    live_sessions: LiveSessions

    async def __call__(self, token: str) -> Principal | None:
        verified = await self.verify(token=token)
        if isinstance(verified, Failure):
            return None
        claims = verified.unwrap()
        if not await self.live_sessions.is_live(claims.user_id, claims.session_id, claims.epoch):
            return None
        authorization = authorize_principal(claims)
        principal = authorization.principal
        return TokenPrincipal(
            user_id=principal.user_id,
            roles=principal.roles,
            provider_ids=principal.provider_ids,
            mfa=principal.mfa,
            session_id=claims.session_id,
            withheld_roles=authorization.withheld_roles,
        )


def step_up_hint(caller: object, error: DomainError) -> DomainError:
    """MfaRequired instead of a plain Forbidden when the caller's token withholds a role."""
    if (
        isinstance(caller, TokenPrincipal)
        and caller.withheld_roles
        and isinstance(error, Forbidden)
        and not isinstance(error, MfaRequired)
    ):
        return MfaRequired(reason=STEP_UP)
    return error
