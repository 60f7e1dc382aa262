"""Refresh rotation, reuse detection, the grace window, and session management."""

from __future__ import annotations

from datetime import timedelta

from identity_support import CLIENT, EMAIL, PASSWORD, login, make_env, register, value
from returns.result import Failure, Success

from core.identity import (
    ListSessions,
    LockUser,
    Login,
    PurgeRefreshSeals,
    Refresh,
    RevokeAllSessions,
    RevokeSession,
)
from core.identity.errors import InvalidRefreshToken, RefreshTokenReused
from core.identity.model import AuditAction, ClientContext
from core.identity.settings import IdentitySettings
from identity_wiring import operator

SECOND = timedelta(seconds=1)


async def test_refresh_rotates_the_token_and_issues_a_new_access_token() -> None:
    env = make_env()
    await register(env)
    pair = await login(env)
    env.clock.advance(timedelta(minutes=5))
    fresh = value(await env.deps(Refresh)(refresh_token=pair.refresh_token, client=CLIENT))
    assert fresh.refresh_token != pair.refresh_token
    assert fresh.session_id == pair.session_id
    assert fresh.access.claims.issued_at == env.clock.now()
    assert fresh.access.claims.token_id != pair.access.claims.token_id
    assert env.store.state.sessions[pair.session_id].last_used_at == env.clock.now()


async def test_reusing_a_rotated_token_after_the_grace_window_revokes_the_family() -> None:
    env = make_env()
    await register(env)
    pair = await login(env)
    refresh = env.deps(Refresh)
    child = value(await refresh(refresh_token=pair.refresh_token, client=CLIENT))
    env.clock.advance(timedelta(seconds=10))
    reused = await refresh(refresh_token=pair.refresh_token, client=CLIENT)
    assert reused == Failure(RefreshTokenReused())
    assert env.store.state.sessions[pair.session_id].revoked_at == env.clock.now()
    assert await refresh(refresh_token=child.refresh_token, client=CLIENT) == Failure(
        InvalidRefreshToken()
    )
    [entry] = [e for e in env.store.state.audit if e.action is AuditAction.REFRESH_TOKEN_REUSED]
    assert entry.details["session_id"] == str(pair.session_id)


async def test_parent_within_the_grace_window_gets_the_current_child() -> None:
    env = make_env()
    await register(env)
    pair = await login(env)
    refresh = env.deps(Refresh)
    child = value(await refresh(refresh_token=pair.refresh_token, client=CLIENT))
    env.clock.advance(9 * SECOND)
    again = value(await refresh(refresh_token=pair.refresh_token, client=CLIENT))
    assert again.refresh_token == child.refresh_token
    assert again.access.claims.session_id == pair.session_id
    assert env.store.state.sessions[pair.session_id].revoked_at is None
    # The child still works and rotates as usual.
    value(await refresh(refresh_token=child.refresh_token, client=CLIENT))


async def test_grandparent_within_the_grace_window_is_reuse() -> None:
    env = make_env()
    await register(env)
    pair = await login(env)
    refresh = env.deps(Refresh)
    child = value(await refresh(refresh_token=pair.refresh_token, client=CLIENT))
    value(await refresh(refresh_token=child.refresh_token, client=CLIENT))
    assert await refresh(refresh_token=pair.refresh_token, client=CLIENT) == Failure(
        RefreshTokenReused()
    )


async def test_grace_window_is_configurable() -> None:
    env = make_env(IdentitySettings(refresh_grace=timedelta(seconds=2)))
    await register(env)
    pair = await login(env)
    refresh = env.deps(Refresh)
    value(await refresh(refresh_token=pair.refresh_token, client=CLIENT))
    env.clock.advance(2 * SECOND)
    assert await refresh(refresh_token=pair.refresh_token, client=CLIENT) == Failure(
        RefreshTokenReused()
    )


async def test_seals_of_older_generations_are_discarded_on_rotation() -> None:
    env = make_env()
    await register(env)
    pair = await login(env)
    refresh = env.deps(Refresh)
    child = value(await refresh(refresh_token=pair.refresh_token, client=CLIENT))
    value(await refresh(refresh_token=child.refresh_token, client=CLIENT))
    sealed = [t for t in env.store.state.refresh_tokens.values() if t.child_seal is not None]
    assert len(sealed) == 1


async def test_purge_drops_seals_whose_grace_window_ended() -> None:
    env = make_env()
    await register(env)
    pair = await login(env)
    value(await env.deps(Refresh)(refresh_token=pair.refresh_token, client=CLIENT))
    purge = env.deps(PurgeRefreshSeals)
    assert await purge() == Success(0)
    env.clock.advance(11 * SECOND)
    assert await purge() == Success(1)
    assert all(t.child_seal is None for t in env.store.state.refresh_tokens.values())


async def test_unknown_and_expired_refresh_tokens_are_invalid() -> None:
    env = make_env(IdentitySettings(refresh_ttl=timedelta(days=1)))
    await register(env)
    pair = await login(env)
    refresh = env.deps(Refresh)
    assert await refresh(refresh_token="made-up", client=CLIENT) == Failure(InvalidRefreshToken())
    env.clock.advance(timedelta(days=1))
    assert await refresh(refresh_token=pair.refresh_token, client=CLIENT) == Failure(
        InvalidRefreshToken()
    )


async def test_sessions_end_at_their_maximum_age_however_often_refreshed() -> None:
    env = make_env(
        IdentitySettings(refresh_ttl=timedelta(days=1), session_max_age=timedelta(days=2))
    )
    await register(env)
    token = (await login(env)).refresh_token
    refresh = env.deps(Refresh)
    env.clock.advance(timedelta(hours=23))
    token = value(await refresh(refresh_token=token, client=CLIENT)).refresh_token
    env.clock.advance(timedelta(hours=23))
    last = value(await refresh(refresh_token=token, client=CLIENT))
    assert last.refresh_expires_at == env.clock.now() + timedelta(hours=2)
    env.clock.advance(timedelta(hours=2))
    assert await refresh(refresh_token=last.refresh_token, client=CLIENT) == Failure(
        InvalidRefreshToken()
    )


async def test_list_sessions_shows_live_sessions_newest_use_first() -> None:
    env = make_env()
    user_id = await register(env)
    first = await login(env)
    env.clock.advance(timedelta(minutes=1))
    second = value(
        await env.deps(Login)(
            email=EMAIL,
            password=PASSWORD,
            client=ClientContext(ip="198.51.100.1", user_agent="phone"),
        )
    )
    env.clock.advance(timedelta(minutes=1))
    value(await env.deps(Refresh)(refresh_token=first.refresh_token, client=CLIENT))
    views = value(
        await env.deps(ListSessions)(user_id=user_id, current_session_id=first.session_id)
    )
    assert [v.session_id for v in views] == [first.session_id, second.session_id]
    assert [v.current for v in views] == [True, False]
    assert views[1].user_agent == "phone"
    assert views[1].ip == "198.51.100.1"
    assert views[0].last_used_at == env.clock.now()


async def test_logout_revokes_only_the_current_session() -> None:
    env = make_env()
    user_id = await register(env)
    here, there = await login(env), await login(env)
    assert await env.deps(RevokeSession)(user_id=user_id, session_id=here.session_id) == (
        Success(None)
    )
    refresh = env.deps(Refresh)
    assert await refresh(refresh_token=here.refresh_token, client=CLIENT) == Failure(
        InvalidRefreshToken()
    )
    value(await refresh(refresh_token=there.refresh_token, client=CLIENT))


async def test_users_cannot_revoke_each_others_sessions() -> None:
    env = make_env()
    await register(env)
    mallory = await register(env, email="mallory@example.com")
    pair = await login(env)
    result = await env.deps(RevokeSession)(user_id=mallory, session_id=pair.session_id)
    assert result.failure().kind == "session"
    value(await env.deps(Refresh)(refresh_token=pair.refresh_token, client=CLIENT))


async def test_revoke_all_sessions() -> None:
    env = make_env()
    user_id = await register(env)
    pairs = [await login(env) for _ in range(3)]
    assert await env.deps(RevokeAllSessions)(user_id=user_id) == Success(3)
    for pair in pairs:
        assert await env.deps(Refresh)(refresh_token=pair.refresh_token, client=CLIENT) == (
            Failure(InvalidRefreshToken())
        )
    assert value(await env.deps(ListSessions)(user_id=user_id)) == []


async def test_locking_a_user_revokes_sessions_so_refresh_fails() -> None:
    env = make_env()
    user_id = await register(env)
    pair = await login(env)
    value(
        await env.deps(LockUser)(
            caller=await operator(env.deps), user_id=user_id, reason="x", client=CLIENT
        )
    )
    assert await env.deps(Refresh)(refresh_token=pair.refresh_token, client=CLIENT) == Failure(
        InvalidRefreshToken()
    )
