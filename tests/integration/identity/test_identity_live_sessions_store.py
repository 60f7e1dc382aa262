"""LiveSessions: one contract over the memory fake and Redis; what the use cases do when Redis
is down; and the order in which a token's epoch and roles are read, over real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import attrs
import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from returns.result import Success

from adapters.memory.live_sessions import MemoryLiveSessions
from adapters.redis.sessions import REMEMBER, RedisLiveSessions
from core.identity import (
    AccessTokenAuthenticator,
    ClientContext,
    GrantAdmin,
    Login,
    Refresh,
    Register,
    RevokeAdmin,
    RevokeSession,
    TokenPair,
    VerifyAccessToken,
)
from core.identity.model import SessionId
from core.identity.ports import LiveSessions
from core.identity.settings import MAX_ACCESS_TTL
from core.shared.ids import UserId
from core.shared.principal import Role
from core.shared.unit_of_work import MAINTENANCE
from identity_wiring import IdentityPorts, operator

CLIENT = ClientContext(ip="198.51.100.4", user_agent="pytest")
PASSWORD = "plum orbit lantern 77"
UNREACHABLE = "redis://127.0.0.1:1/0"


def new_user_id() -> UserId:
    return UserId(uuid.uuid4())


def new_session_id() -> SessionId:
    return SessionId(uuid.uuid4())


@pytest.fixture(params=["memory", "redis"])
def live(request: pytest.FixtureRequest) -> LiveSessions:
    if request.param == "memory":
        return MemoryLiveSessions()
    prefix = f"test:{uuid.uuid4().hex}:"  # the Redis server is shared by the test session
    return RedisLiveSessions(request.getfixturevalue("redis"), prefix=prefix)


# --- the contract ----------------------------------------------------------------------------


async def test_a_user_nothing_happened_to_has_no_epoch_and_live_sessions(
    live: LiveSessions,
) -> None:
    user = new_user_id()
    assert await live.epoch(user) is None
    assert await live.is_live(user, new_session_id(), None)


async def test_an_ended_session_is_refused_and_only_it(live: LiveSessions) -> None:
    user, ended, other = new_user_id(), new_session_id(), new_session_id()
    await live.end(user, [ended])
    await live.end(user, [])
    assert not await live.is_live(user, ended, None)
    assert await live.is_live(user, other, None)
    assert await live.is_live(new_user_id(), other, None)


async def test_several_sessions_end_at_once(live: LiveSessions) -> None:
    user = new_user_id()
    sessions = [new_session_id() for _ in range(3)]
    await live.end(user, sessions)
    assert [await live.is_live(user, s, None) for s in sessions] == [False, False, False]


async def test_a_new_epoch_refuses_tokens_of_older_ones(live: LiveSessions) -> None:
    user, other, session = new_user_id(), new_user_id(), new_session_id()
    await live.new_epoch(user)
    first = await live.epoch(user)
    await live.new_epoch(user)
    second = await live.epoch(user)

    assert first is not None
    assert second not in (None, first)
    assert not await live.is_live(user, session, None)  # issued before any change
    assert not await live.is_live(user, session, first)
    assert await live.is_live(user, session, second)
    assert await live.is_live(other, session, None)  # other users keep theirs


async def test_an_ended_session_stays_refused_under_the_current_epoch(live: LiveSessions) -> None:
    user, session = new_user_id(), new_session_id()
    await live.new_epoch(user)
    await live.end(user, [session])
    assert not await live.is_live(user, session, await live.epoch(user))


# --- Redis only: what it keeps, and for how long ------------------------------------------------


async def test_redis_forgets_only_after_every_token_has_expired(redis: Redis) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    live = RedisLiveSessions(redis, prefix=prefix)
    user = new_user_id()
    await live.end(user, [new_session_id()])
    await live.new_epoch(user)

    keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
    ttls = [await redis.pttl(key) for key in keys]

    assert len(keys) == 2
    assert all(f"{{{user}}}".encode() in key for key in keys)  # one cluster slot per user
    assert timedelta(minutes=1) <= REMEMBER - MAX_ACCESS_TTL  # for clocks that disagree
    assert all(MAX_ACCESS_TTL.total_seconds() * 1000 < ttl <= REMEMBER.total_seconds() * 1000
               for ttl in ttls)  # fmt: skip


# --- use cases against an unreachable store ------------------------------------------------------


@pytest.fixture
def no_redis() -> Redis:
    return Redis.from_url(UNREACHABLE, socket_connect_timeout=1)


async def _signed_up(ports: IdentityPorts, email: str) -> tuple[UserId, TokenPair]:
    assert await ports(Register)(email=email, password=PASSWORD) == Success(None)
    pair = (await ports(Login)(email=email, password=PASSWORD, client=CLIENT)).unwrap()
    assert isinstance(pair, TokenPair)
    return pair.access.claims.user_id, pair


def _authenticator(ports: IdentityPorts) -> Callable[[TokenPair], Awaitable[object]]:
    authenticator = AccessTokenAuthenticator(
        verify=ports(VerifyAccessToken), live_sessions=ports.live_sessions
    )
    return lambda pair: authenticator(pair.access.token)


async def test_a_logout_that_cannot_reach_redis_fails_and_ends_nothing(
    pg_deps: IdentityPorts, no_redis: Redis
) -> None:
    user_id, pair = await _signed_up(pg_deps, "leaver@example.com")
    broken = attrs.evolve(pg_deps, live_sessions=RedisLiveSessions(no_redis))

    with pytest.raises(RedisConnectionError):
        await broken(RevokeSession)(user_id=user_id, session_id=pair.session_id)

    async with pg_deps.uow(MAINTENANCE) as uow:
        session = await uow.sessions.get(pair.session_id)
    assert session is not None
    assert session.revoked_at is None  # rolled back: the caller may retry cleanly
    refreshed = await pg_deps(Refresh)(refresh_token=pair.refresh_token, client=CLIENT)
    assert isinstance(refreshed, Success)


async def test_a_role_change_that_cannot_reach_redis_fails_and_its_retry_refuses_the_token(
    pg_deps: IdentityPorts, no_redis: Redis
) -> None:
    user_id, pair = await _signed_up(pg_deps, "demoted@example.com")
    caller = await operator(pg_deps)
    value = await pg_deps(GrantAdmin)(caller=caller, user_id=user_id, client=CLIENT)
    pair = (await pg_deps(Refresh)(refresh_token=pair.refresh_token, client=CLIENT)).unwrap()
    broken = attrs.evolve(pg_deps, live_sessions=RedisLiveSessions(no_redis))
    authenticate = _authenticator(pg_deps)

    with pytest.raises(RedisConnectionError):
        await broken(RevokeAdmin)(caller=caller, user_id=user_id, client=CLIENT)
    still_live = await authenticate(pair)  # committed, but not yet told: the caller saw 503
    retried = await pg_deps(RevokeAdmin)(caller=caller, user_id=user_id, client=CLIENT)

    assert value == Success(None)
    assert still_live is not None
    assert retried == Success(None)
    assert await authenticate(pair) is None


# --- the order of reads when a token is issued ---------------------------------------------------


class ChangeWhileReadingTheEpoch(MemoryLiveSessions):
    """Runs `change` (another request, committing) the first time an epoch is read: the worst
    moment, after the issuing use case has read the user and before it signs."""

    def __init__(self) -> None:
        super().__init__()
        self.change: Callable[[], Awaitable[object]] | None = None

    async def epoch(self, user_id: UserId) -> str | None:
        change, self.change = self.change, None
        if change is not None:
            await change()
        return await super().epoch(user_id)


async def test_a_role_removed_while_a_token_is_issued_is_not_signed_under_the_new_epoch(
    pg_deps: IdentityPorts,
) -> None:
    live = ChangeWhileReadingTheEpoch()
    ports = attrs.evolve(pg_deps, live_sessions=live)
    user_id, pair = await _signed_up(ports, "racer@example.com")
    caller = await operator(ports)
    assert await ports(GrantAdmin)(caller=caller, user_id=user_id, client=CLIENT) == Success(None)
    live.change = lambda: ports(RevokeAdmin)(caller=caller, user_id=user_id, client=CLIENT)

    refreshed = (await ports(Refresh)(refresh_token=pair.refresh_token, client=CLIENT)).unwrap()
    principal = await _authenticator(ports)(refreshed)

    assert live.change is None  # the change ran during the refresh
    stale = principal is not None and Role.ADMIN in refreshed.access.claims.roles
    assert not stale
