"""VerifyAccessToken remembers the tokens it verified until their `exp`: a token seen again
costs no signature check, yet a revoked session, a changed authorization, an expired token,
an altered token or a key that no longer verifies is refused exactly as without the cache."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta

import attrs
from identity_support import CLIENT, Env, login, make_env, register, value
from returns.result import Failure, Success

from adapters.memory.security_fakes import FakeAccessTokenCodec
from core.identity import (
    AccessTokenAuthenticator,
    GrantStaff,
    InvalidAccessToken,
    RevokeSession,
    RotateSigningKey,
    VerifyAccessToken,
)
from core.identity.model import SigningKey
from core.identity.ports import AccessTokenCodec
from core.identity.settings import IdentitySettings
from core.shared.ids import ProviderId
from identity_wiring import operator

INVALID = Failure(InvalidAccessToken())


@attrs.define
class CountingCodec(AccessTokenCodec):
    """The fake codec, counting the signature checks it is asked for."""

    inner: FakeAccessTokenCodec = attrs.field(factory=FakeAccessTokenCodec)
    checks: int = 0

    def encode(self, claims: Mapping[str, object], key: SigningKey) -> str:
        return self.inner.encode(claims, key)

    def key_id(self, token: str) -> str | None:
        return self.inner.key_id(token)

    def decode(
        self, token: str, key: SigningKey, *, issuer: str, audience: str
    ) -> dict[str, object] | None:
        self.checks += 1
        return self.inner.decode(token, key, issuer=issuer, audience=audience)


def verifier(
    env: Env, codec: CountingCodec, settings: IdentitySettings | None = None, **options: object
) -> VerifyAccessToken:
    return VerifyAccessToken(
        uow=env.store.uow,
        clock=env.clock,
        settings=settings or env.deps.settings,
        codec=codec,
        **options,  # type: ignore[arg-type]
    )


async def test_a_token_seen_again_is_not_checked_again() -> None:
    env = make_env()
    await register(env)
    pair = await login(env)
    codec = CountingCodec()
    verify = verifier(env, codec)
    answers = [await verify(token=pair.access.token) for _ in range(3)]
    assert answers == [Success(pair.access.claims)] * 3
    assert codec.checks == 1


async def test_a_cached_token_expires_at_its_exp() -> None:
    env = make_env()
    await register(env)
    pair = await login(env)
    verify = verifier(env, CountingCodec())
    assert await verify(token=pair.access.token) == Success(pair.access.claims)
    env.clock.set(pair.access.claims.expires_at - timedelta(microseconds=1))
    assert await verify(token=pair.access.token) == Success(pair.access.claims)
    env.clock.set(pair.access.claims.expires_at)
    assert await verify(token=pair.access.token) == INVALID


async def test_altered_and_forged_tokens_are_checked_every_time_and_refused() -> None:
    env = make_env()
    await register(env)
    pair = await login(env)
    codec = CountingCodec()
    verify = verifier(env, codec)
    value(await verify(token=pair.access.token))  # the genuine one is now cached
    kid, payload, mac = pair.access.token.split(".")
    wrong_mac = f"{kid}.{payload}.{'0' * len(mac)}"
    other_payload = f"{kid}.{payload[:-2]}{'A' if payload[-2] != 'A' else 'B'}{payload[-1]}.{mac}"
    checks = codec.checks
    for forged in (wrong_mac, other_payload, wrong_mac, other_payload):
        assert await verify(token=forged) == INVALID
    assert codec.checks == checks + 4  # failures were never remembered
    assert await verify(token=pair.access.token) == Success(pair.access.claims)


async def test_a_cached_token_fails_after_logout_and_after_a_role_change() -> None:
    """The live-session check runs on every request, whether or not the signature was cached."""
    env = make_env()
    user_id = await register(env)
    here, elsewhere = await login(env), await login(env)
    codec = CountingCodec()
    authenticate = AccessTokenAuthenticator(
        verify=verifier(env, codec), live_sessions=env.deps.live_sessions
    )
    assert await authenticate(here.access.token) is not None
    assert await authenticate(elsewhere.access.token) is not None

    value(await env.deps(RevokeSession)(user_id=user_id, session_id=here.session_id))
    assert await authenticate(here.access.token) is None
    assert await authenticate(elsewhere.access.token) is not None

    value(
        await env.deps(GrantStaff)(
            caller=await operator(env.deps),
            user_id=user_id,
            provider_id=ProviderId(uuid.uuid4()),
            client=CLIENT,
        )
    )
    assert await authenticate(elsewhere.access.token) is None
    assert codec.checks == 2  # the refusals came from LiveSessions, not from a new check


async def test_a_cached_token_stops_passing_when_its_retired_key_ages_out() -> None:
    """Issued for 15 minutes; this verifier keeps retired keys 5 minutes (a shortened access
    TTL): once the key has been retired that long, the cached token is refused like an uncached
    one would be, although its own `exp` is still ahead."""
    env = make_env(IdentitySettings(access_ttl=timedelta(minutes=15)))
    await register(env)
    pair = await login(env)
    codec = CountingCodec()
    verify = verifier(env, codec, IdentitySettings(access_ttl=timedelta(minutes=5)))
    assert await verify(token=pair.access.token) == Success(pair.access.claims)
    value(await env.deps(RotateSigningKey)(caller=await operator(env.deps), client=CLIENT))
    env.clock.advance(timedelta(minutes=5) - timedelta(microseconds=1))
    assert await verify(token=pair.access.token) == Success(pair.access.claims)
    env.clock.advance(timedelta(microseconds=1))
    assert await verify(token=pair.access.token) == INVALID
    assert codec.checks == 1


async def test_a_cached_token_stops_passing_once_its_key_is_gone_from_the_store() -> None:
    env = make_env()
    await register(env)
    pair = await login(env)
    verify = verifier(env, CountingCodec(), keys_max_age=timedelta(minutes=1))
    assert await verify(token=pair.access.token) == Success(pair.access.claims)
    env.store.state.signing_keys.clear()  # an operator deleted the key
    env.clock.advance(timedelta(seconds=59))
    assert await verify(token=pair.access.token) == Success(pair.access.claims)
    env.clock.advance(timedelta(seconds=1))  # every process reloads its keys within a minute
    assert await verify(token=pair.access.token) == INVALID


async def test_the_cache_holds_at_most_max_cached_tokens() -> None:
    env = make_env()
    await register(env)
    pairs = [await login(env) for _ in range(3)]
    codec = CountingCodec()
    verify = verifier(env, codec, max_cached=2)
    for pair in pairs:
        value(await verify(token=pair.access.token))
    value(await verify(token=pairs[2].access.token))  # still cached
    assert codec.checks == 3
    value(await verify(token=pairs[0].access.token))  # evicted: checked again
    assert codec.checks == 4
