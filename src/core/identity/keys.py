"""Access-token signing keys: rotation, the public JWK set, and verification.

A retired key stops signing at once but stays in the JWKS (and keeps verifying) until every
token it signed has expired: retired_at + access_ttl.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Never

import attrs
from returns.result import Failure, Result, Success

from core.identity.authorization import require_admin
from core.identity.common import IdentityDeps, audit, new_signing_key
from core.identity.errors import InvalidAccessToken
from core.identity.model import AccessClaims, Actor, AuditAction, ClientContext, SigningKey
from core.shared.errors import Forbidden
from core.shared.use_case import UseCase


@attrs.frozen
class RotateSigningKey(UseCase):
    """Retire the active key and make a new one active; Success(new kid). Audited
    `signing_key.rotated`. Failures: Forbidden / MfaRequired."""

    deps: IdentityDeps

    async def __call__(self, *, actor: Actor, client: ClientContext) -> Result[str, Forbidden]:
        allowed = require_admin(actor)
        if isinstance(allowed, Failure):
            return Failure(allowed.failure())
        now = self.deps.clock.now()
        async with self.deps.uow() as uow:
            retired = await uow.signing_keys.retire_active(now)
            active = await uow.signing_keys.add_if_none_active(new_signing_key(self.deps, now))
            await audit(
                uow,
                AuditAction.SIGNING_KEY_ROTATED,
                at=now,
                actor=actor,
                subject=None,
                client=client,
                new_kid=active.kid,
                retired_kid=retired.kid if retired else None,
            )
            await uow.commit()
        return Success(active.kid)


@attrs.frozen
class GetJwks(UseCase):
    """The public JWK set ({"keys": [...]}, active key first) for /.well-known/jwks.json."""

    deps: IdentityDeps

    async def __call__(self) -> Result[dict[str, list[dict[str, str]]], Never]:
        retired_after = self.deps.clock.now() - self.deps.settings.access_ttl
        async with self.deps.uow() as uow:
            keys = await uow.signing_keys.verifying(retired_after)
        return Success({"keys": [dict(key.public_jwk) for key in keys]})


@attrs.define
class VerifyAccessToken(UseCase):
    """Check an access token's signature, issuer, audience and expiry; Success(AccessClaims).
    Feed the claims to `authorize_principal`. Failure: InvalidAccessToken.

    Stateless: a token of a session revoked since it was issued stays valid until it expires
    (at most settings.access_ttl); refresh is where revocation bites.

    Keeps verifying keys in memory (they never change, only appear and age out), reloading
    when an unknown `kid` shows up — at most once per `reload_interval`, so garbage tokens
    cannot hammer the database. Build it once per process (a singleton).
    """

    deps: IdentityDeps
    reload_interval: timedelta = timedelta(seconds=5)
    _keys: dict[str, SigningKey] = attrs.field(factory=dict, init=False)
    _loaded_at: datetime | None = attrs.field(default=None, init=False)

    async def __call__(self, *, token: str) -> Result[AccessClaims, InvalidAccessToken]:
        now = self.deps.clock.now()
        kid = self.deps.codec.key_id(token)
        key = await self._key(kid, now) if kid else None
        if key is None:
            return Failure(InvalidAccessToken())
        settings = self.deps.settings
        decoded = self.deps.codec.decode(
            token, key, issuer=settings.issuer, audience=settings.audience
        )
        if decoded is None:
            return Failure(InvalidAccessToken())
        return AccessClaims.from_jwt(decoded).bind(lambda claims: _unexpired(claims, now))

    async def _key(self, kid: str, now: datetime) -> SigningKey | None:
        if kid not in self._keys and (
            self._loaded_at is None or now - self._loaded_at >= self.reload_interval
        ):
            async with self.deps.uow() as uow:
                keys = await uow.signing_keys.verifying(now - self.deps.settings.access_ttl)
            self._keys = {key.kid: key for key in keys}
            self._loaded_at = now
        return self._keys.get(kid)


def _unexpired(claims: AccessClaims, now: datetime) -> Result[AccessClaims, InvalidAccessToken]:
    if now >= claims.expires_at:
        return Failure(InvalidAccessToken())
    return Success(claims)
