"""Access-token signing keys: rotation, the public JWK set, and verification.

A retired key stops signing at once but stays in the JWKS (and keeps verifying) until every
token it signed has expired: retired_at + access_ttl.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Never

import attrs
from returns.result import Failure, Result, Success

from core.identity.common import TokenIssuer, audit
from core.identity.errors import InvalidAccessToken
from core.identity.model import AccessClaims, AuditAction, ClientContext, SigningKey
from core.identity.ports import AccessTokenCodec, IdentityUnitOfWork
from core.identity.settings import IdentitySettings
from core.shared.errors import Forbidden
from core.shared.keyring import KeyStore, SealedSecrets
from core.shared.principal import Principal, require_admin
from core.shared.time import Clock
from core.shared.unit_of_work import PUBLIC, Access, UnitOfWorkFactory
from core.shared.use_case import UseCase


@attrs.frozen(kw_only=True)
class RotateSigningKey(UseCase):
    """Retire the active key and make a new one active; Success(new kid). Audited
    `signing_key.rotated`. Failures: Forbidden / MfaRequired."""

    uow: UnitOfWorkFactory[IdentityUnitOfWork]
    clock: Clock
    token_issuer: TokenIssuer

    async def __call__(self, *, caller: Principal, client: ClientContext) -> Result[str, Forbidden]:
        allowed = require_admin(caller)
        if isinstance(allowed, Failure):
            return Failure(allowed.failure())
        now = self.clock.now()
        async with self.uow(Access.of(caller)) as uow:
            retired = await uow.signing_keys.retire_active(now)
            active = await uow.signing_keys.add_if_none_active(self.token_issuer.new_key(now))
            await audit(
                uow,
                AuditAction.SIGNING_KEY_ROTATED,
                at=now,
                actor=caller,
                subject=None,
                client=client,
                new_kid=active.kid,
                retired_kid=retired.kid if retired else None,
            )
            await uow.commit()
        return Success(active.kid)


@attrs.frozen(kw_only=True)
class KekRotated:
    kek_id: str  # the new active key-encryption key
    rewrapped: int  # sealed values re-wrapped under it


@attrs.frozen(kw_only=True)
class RotateKeyEncryptionKey(UseCase):
    """Make a new key-encryption key active and re-wrap every sealed value's data key under
    it, beside live traffic: the old KEK keeps unwrapping meanwhile (and afterwards, until the
    operator removes it). Audited `kek.rotated`. Failures: Forbidden / MfaRequired."""

    uow: UnitOfWorkFactory[IdentityUnitOfWork]
    clock: Clock
    key_store: KeyStore
    sealed_secrets: SealedSecrets

    async def __call__(
        self, *, caller: Principal, client: ClientContext
    ) -> Result[KekRotated, Forbidden]:
        allowed = require_admin(caller)
        if isinstance(allowed, Failure):
            return Failure(allowed.failure())
        kek_id = await self.key_store.rotate()
        rewrapped = await self.sealed_secrets.rewrap_all()
        async with self.uow(Access.of(caller)) as uow:
            await audit(
                uow,
                AuditAction.KEK_ROTATED,
                at=self.clock.now(),
                actor=caller,
                subject=None,
                client=client,
                new_kek=kek_id,
                rewrapped=rewrapped,
            )
            await uow.commit()
        return Success(KekRotated(kek_id=kek_id, rewrapped=rewrapped))


@attrs.frozen(kw_only=True)
class GetJwks(UseCase):
    """The public JWK set ({"keys": [...]}, active key first) for /.well-known/jwks.json."""

    uow: UnitOfWorkFactory[IdentityUnitOfWork]
    clock: Clock
    settings: IdentitySettings

    async def __call__(self) -> Result[dict[str, list[dict[str, str]]], Never]:
        retired_after = self.clock.now() - self.settings.access_ttl
        async with self.uow(PUBLIC) as uow:
            keys = await uow.signing_keys.verifying(retired_after)
        return Success({"keys": [dict(key.public_jwk) for key in keys]})


@attrs.define(kw_only=True)
class VerifyAccessToken(UseCase):
    """Check an access token's signature, issuer, audience and expiry; Success(AccessClaims).
    Feed the claims to `authorize_principal`. Failure: InvalidAccessToken.

    The token alone: whether its session is still live is AccessTokenAuthenticator's
    question (LiveSessions), asked after this check on every request, cached or not.

    Keeps verifying keys in memory (they never change, only appear and age out), reloading
    when an unknown `kid` shows up — at most once per `reload_interval`, so garbage tokens
    cannot hammer the database — and at least every `keys_max_age`, so a key deleted from
    the database stops verifying in every process within that time.

    Remembers the claims of the tokens it verified (an LRU of `max_cached` tokens, keyed by
    the exact token string, so an altered byte is another key): a token seen again costs no
    signature check until its `exp`, while its key still verifies. Only successes are kept.
    Build it once per process (a singleton).
    """

    uow: UnitOfWorkFactory[IdentityUnitOfWork]
    clock: Clock
    settings: IdentitySettings
    codec: AccessTokenCodec
    reload_interval: timedelta = timedelta(seconds=5)
    keys_max_age: timedelta = timedelta(minutes=1)
    max_cached: int = 8192
    _keys: dict[str, SigningKey] = attrs.field(factory=dict, init=False)
    _loaded_at: datetime | None = attrs.field(default=None, init=False)
    _verified: OrderedDict[str, tuple[str, AccessClaims]] = attrs.field(
        factory=OrderedDict, init=False
    )

    async def __call__(self, *, token: str) -> Result[AccessClaims, InvalidAccessToken]:
        now = self.clock.now()
        cached = await self._cached(token, now)
        if cached is not None:
            return Success(cached)
        kid = self.codec.key_id(token)
        key = await self._key(kid, now) if kid else None
        if kid is None or key is None:
            return Failure(InvalidAccessToken())
        settings = self.settings
        decoded = self.codec.decode(token, key, issuer=settings.issuer, audience=settings.audience)
        if decoded is None:
            return Failure(InvalidAccessToken())
        verified = AccessClaims.from_jwt(decoded).bind(lambda claims: _unexpired(claims, now))
        if isinstance(verified, Success):
            self._remember(token, kid, verified.unwrap())
        return verified

    async def _cached(self, token: str, now: datetime) -> AccessClaims | None:
        entry = self._verified.get(token)
        if entry is None:
            return None
        kid, claims = entry
        if now >= claims.expires_at or await self._key(kid, now) is None:
            del self._verified[token]
            return None
        self._verified.move_to_end(token)
        return claims

    def _remember(self, token: str, kid: str, claims: AccessClaims) -> None:
        self._verified[token] = (kid, claims)
        if len(self._verified) > self.max_cached:
            self._verified.popitem(last=False)

    async def _key(self, kid: str, now: datetime) -> SigningKey | None:
        """The verifying key `kid`, if it still verifies: active, or retired less than
        access_ttl ago (every token it signed has expired after that)."""
        loaded_at = self._loaded_at
        if (
            loaded_at is None
            or now - loaded_at >= self.keys_max_age
            or (kid not in self._keys and now - loaded_at >= self.reload_interval)
        ):
            async with self.uow(PUBLIC) as uow:
                keys = await uow.signing_keys.verifying(now - self.settings.access_ttl)
            self._keys = {key.kid: key for key in keys}
            self._loaded_at = now
        key = self._keys.get(kid)
        if key is None or (
            key.retired_at is not None and key.retired_at <= now - self.settings.access_ttl
        ):
            return None
        return key


def _unexpired(claims: AccessClaims, now: datetime) -> Result[AccessClaims, InvalidAccessToken]:
    if now >= claims.expires_at:
        return Failure(InvalidAccessToken())
    return Success(claims)
