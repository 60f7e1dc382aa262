"""An access token acts only while its session is live and its roles are current (ASVS V7.4.1):
every way a session ends, and every change an admin makes to a user, refuses the tokens
already issued at their very next use, not when they expire."""

from __future__ import annotations

import uuid

from identity_support import (
    CLIENT,
    EMAIL,
    PASSWORD,
    Env,
    enable_mfa,
    events,
    login,
    mailed,
    make_env,
    register,
    value,
)
from returns.result import Success

from core.identity import (
    AccessTokenAuthenticator,
    ChangePassword,
    GrantAdmin,
    GrantStaff,
    LockUser,
    Refresh,
    RequestPasswordReset,
    ResetPassword,
    ResetUserMfa,
    RevokeAdmin,
    RevokeAllSessions,
    RevokeSession,
    RevokeStaff,
    TokenPair,
    UnlockUser,
    VerifyAccessToken,
)
from core.identity.model import PASSWORD_RESET_REQUESTED
from core.shared.ids import ProviderId, UserId
from core.shared.principal import Principal, Role
from identity_wiring import operator

PROVIDER = ProviderId(uuid.UUID("00000000-0000-4000-8000-000000000002"))


async def authenticate(env: Env, pair: TokenPair) -> Principal | None:
    authenticator = AccessTokenAuthenticator(
        verify=env.deps(VerifyAccessToken), live_sessions=env.deps.live_sessions
    )
    return await authenticator(pair.access.token)


async def test_a_fresh_token_authenticates() -> None:
    env = make_env()
    user_id = await register(env)
    principal = await authenticate(env, await login(env))
    assert principal is not None
    assert principal.user_id == user_id


async def test_logout_refuses_the_sessions_token_and_no_other() -> None:
    env = make_env()
    user_id = await register(env)
    here, elsewhere = await login(env), await login(env)
    value(await env.deps(RevokeSession)(user_id=user_id, session_id=here.session_id))
    assert await authenticate(env, here) is None
    assert await authenticate(env, elsewhere) is not None


async def test_logging_out_twice_still_records_the_end() -> None:
    """A retry after the store failed must reach it, though the database has nothing left to do."""
    env = make_env()
    user_id = await register(env)
    pair = await login(env)
    value(await env.deps(RevokeSession)(user_id=user_id, session_id=pair.session_id))
    env.deps.live_sessions.ended.clear()  # type: ignore[attr-defined]  # as if it never got there
    assert await authenticate(env, pair) is not None  # so only the retry can end it
    value(await env.deps(RevokeSession)(user_id=user_id, session_id=pair.session_id))
    assert await authenticate(env, pair) is None


async def test_revoke_all_refuses_every_token_but_the_kept_sessions() -> None:
    env = make_env()
    user_id = await register(env)
    kept, *others = [await login(env) for _ in range(3)]
    assert await env.deps(RevokeAllSessions)(user_id=user_id, keep=kept.session_id) == Success(2)
    assert [await authenticate(env, pair) for pair in others] == [None, None]
    assert await authenticate(env, kept) is not None
    value(await env.deps(RevokeAllSessions)(user_id=user_id))
    assert await authenticate(env, kept) is None


async def test_a_refresh_token_replay_refuses_the_sessions_access_tokens() -> None:
    env = make_env()
    await register(env)
    pair = await login(env)
    refresh = env.deps(Refresh)
    child = value(await refresh(refresh_token=pair.refresh_token, client=CLIENT))
    env.clock.advance(env.deps.settings.refresh_grace)
    await refresh(refresh_token=pair.refresh_token, client=CLIENT)  # reuse: the family dies
    assert await authenticate(env, pair) is None
    assert await authenticate(env, child) is None


async def test_a_password_change_refuses_the_other_sessions_tokens() -> None:
    env = make_env()
    user_id = await register(env)
    here, elsewhere = await login(env), await login(env)
    value(
        await env.deps(ChangePassword)(
            user_id=user_id,
            session_id=here.session_id,
            current_password=PASSWORD,
            new_password="a whole new secret",
            client=CLIENT,
        )
    )
    assert await authenticate(env, elsewhere) is None
    assert await authenticate(env, here) is not None


async def test_a_password_reset_refuses_every_token() -> None:
    env = make_env()
    await register(env)
    pairs = [await login(env), await login(env)]
    value(await env.deps(RequestPasswordReset)(email=EMAIL))
    assert None not in [await authenticate(env, pair) for pair in pairs]
    [mail] = events(env, PASSWORD_RESET_REQUESTED)
    reset = env.deps(ResetPassword)
    value(
        await reset(token=await mailed(env, mail), new_password="brand new secret", client=CLIENT)
    )
    assert [await authenticate(env, pair) for pair in pairs] == [None, None]


async def _admin_change(env: Env, user_id: UserId, use_case: type) -> None:
    caller = await operator(env.deps)
    extra = {"provider_id": PROVIDER} if use_case in (GrantStaff, RevokeStaff) else {}
    extra |= {"reason": "fraud"} if use_case is LockUser else {}
    value(await env.deps(use_case)(caller=caller, user_id=user_id, client=CLIENT, **extra))


async def test_a_lock_refuses_every_token_and_an_mfa_reset_too() -> None:
    for change in (LockUser, ResetUserMfa):
        env = make_env()
        user_id = await register(env)
        pair = await login(env)
        if change is ResetUserMfa:
            await enable_mfa(env, user_id, pair)
        assert await authenticate(env, pair) is not None, change
        await _admin_change(env, user_id, change)
        assert await authenticate(env, pair) is None, change


async def test_every_role_change_refuses_older_tokens_and_the_refreshed_one_has_the_new_roles() -> (
    None
):
    env = make_env()
    user_id = await register(env)
    pair = await login(env)
    steps: list[tuple[type, set[Role]]] = [
        (GrantStaff, {Role.CUSTOMER, Role.STAFF}),
        (GrantAdmin, {Role.CUSTOMER, Role.STAFF, Role.ADMIN}),
        (RevokeStaff, {Role.CUSTOMER, Role.ADMIN}),
        (RevokeAdmin, {Role.CUSTOMER}),
    ]
    for change, roles in steps:
        await _admin_change(env, user_id, change)
        assert await authenticate(env, pair) is None, change
        pair = value(await env.deps(Refresh)(refresh_token=pair.refresh_token, client=CLIENT))
        assert pair.access.claims.roles == roles
        assert await authenticate(env, pair) is not None, change


async def test_an_unlock_lets_new_logins_act() -> None:
    env = make_env()
    user_id = await register(env)
    await _admin_change(env, user_id, LockUser)
    await _admin_change(env, user_id, UnlockUser)
    assert await authenticate(env, await login(env)) is not None


async def test_one_users_changes_leave_other_users_alone() -> None:
    env = make_env()
    user_id = await register(env)
    await register(env, email="bob@example.com")
    bob = await login(env, email="bob@example.com")
    await login(env)
    await _admin_change(env, user_id, LockUser)
    value(await env.deps(RevokeAllSessions)(user_id=user_id))
    assert await authenticate(env, bob) is not None
