"""Access tokens of the identity context as the calling principal.

A verified token becomes a `TokenPrincipal`: the principal every context checks, plus the
session it belongs to and the roles it holds but may not use yet. Staff and admin roles count
only in an aal2 session (`authorize_principal`), so below that the principal lacks them and the
core answers Forbidden; `step_up_hint` turns that into MfaRequired, because a second factor may
change the answer.
"""

from __future__ import annotations

from typing import Any

import attrs
from litestar import Request
from litestar.exceptions import NotAuthorizedException
from returns.result import Failure

from core.identity import MfaRequired, SessionId, VerifyAccessToken, authorize_principal
from core.shared.errors import DomainError, Forbidden
from core.shared.principal import Authenticator, Principal, Role

STEP_UP = (
    "your token holds a staff or admin role that needs a second factor in this session: "
    "enrol TOTP (POST /me/mfa/totp) or step up (POST /me/mfa/step-up), then retry"
)


@attrs.frozen(kw_only=True)
class TokenPrincipal(Principal):
    session_id: SessionId
    withheld_roles: frozenset[Role] = frozenset()  # held, unusable until the session is aal2


class AccessTokenAuthenticator(Authenticator):
    """Verifies the JWT (signature, issuer, audience, expiry) and maps its claims."""

    def __init__(self, verify: VerifyAccessToken) -> None:
        self._verify = verify

    async def __call__(self, token: str) -> Principal | None:
        verified = await self._verify(token=token)
        if isinstance(verified, Failure):
            return None
        claims = verified.unwrap()
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


async def token_caller(request: Request[Principal, Any, Any]) -> TokenPrincipal:
    """The `caller` dependency: the principal, known to hold an access token of ours (routes
    about the caller's own session need its id)."""
    if not isinstance(request.user, TokenPrincipal):
        raise NotAuthorizedException(
            detail="this endpoint needs an access token from POST /auth/login",
            headers={"WWW-Authenticate": 'Bearer realm="reserva", error="invalid_token"'},
        )
    return request.user
