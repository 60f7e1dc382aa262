"""Signing keys and JWKS, access-token verification, roles, the authorizer, admin actions."""

from __future__ import annotations

import uuid
from datetime import timedelta

from identity_support import (
    CLIENT,
    EMAIL,
    PASSWORD,
    enable_mfa,
    login,
    make_env,
    register,
    user,
    value,
)
from returns.result import Failure, Success

from core.identity import (
    CompleteMfaLogin,
    FindUserByEmail,
    GetJwks,
    GrantAdmin,
    GrantStaff,
    Login,
    QueryAuditLog,
    Refresh,
    ResetUserMfa,
    RevokeAdmin,
    RevokeStaff,
    RotateSigningKey,
    UnlockUser,
    VerifyAccessToken,
    authorize_principal,
)
from core.identity.errors import InvalidAccessToken
from core.identity.model import Aal, AccessClaims, AuditAction, AuditQuery
from core.identity.settings import IdentitySettings
from core.shared.errors import Forbidden, NotFound
from core.shared.ids import ProviderId, UserId
from core.shared.principal import MfaRequired, Principal, Role
from identity_wiring import operator

PROVIDER = ProviderId(uuid.UUID("00000000-0000-4000-8000-000000000001"))


def claims(
    roles: set[Role], aal: Aal, providers: frozenset[ProviderId] = frozenset()
) -> AccessClaims:
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, tzinfo=UTC)
    return AccessClaims(
        issuer="reserva",
        audience="reserva-api",
        user_id=UserId(uuid.uuid4()),
        session_id=uuid.uuid4(),  # type: ignore[arg-type]
        roles=frozenset(roles),
        provider_ids=providers,
        aal=aal,
        amr=("pwd",),
        issued_at=now,
        expires_at=now + timedelta(minutes=10),
        token_id="j",
    )


# --- keys and verification -------------------------------------------------------------------


async def test_first_token_creates_the_signing_key_and_jwks_lists_it() -> None:
    env = make_env()
    await register(env)
    assert value(await env.deps(GetJwks)()) == {"keys": []}
    await login(env)
    [key] = env.store.state.signing_keys.values()
    assert value(await env.deps(GetJwks)()) == {"keys": [dict(key.public_jwk)]}


async def test_access_token_verifies_and_expires() -> None:
    env = make_env()
    await register(env)
    pair = await login(env)
    verify = env.deps(VerifyAccessToken)
    assert await verify(token=pair.access.token) == Success(pair.access.claims)
    env.clock.advance(timedelta(minutes=10))
    assert await verify(token=pair.access.token) == Failure(InvalidAccessToken())


async def test_issued_claims_equal_the_verified_ones_at_any_instant() -> None:
    env = make_env()
    env.clock.advance(timedelta(microseconds=123_456))
    await register(env)
    pair = await login(env)
    assert await env.deps(VerifyAccessToken)(token=pair.access.token) == Success(pair.access.claims)


async def test_access_token_for_another_audience_or_tampered_is_rejected() -> None:
    env = make_env()
    await register(env)
    pair = await login(env)
    other = make_env(IdentitySettings(audience="someone-else"))
    other.store.state = env.store.state  # same keys, different audience
    assert await other.deps(VerifyAccessToken)(token=pair.access.token) == Failure(
        InvalidAccessToken()
    )
    kid, payload, mac = pair.access.token.split(".")
    verify = env.deps(VerifyAccessToken)
    assert await verify(token=f"{kid}.{payload}.{'0' * len(mac)}") == Failure(InvalidAccessToken())
    assert await verify(token="garbage") == Failure(InvalidAccessToken())


async def test_rotation_keeps_retired_keys_in_jwks_until_their_tokens_expired() -> None:
    env = make_env()
    await register(env)
    old_pair = await login(env)
    [old] = env.store.state.signing_keys.values()
    new_kid = value(
        await env.deps(RotateSigningKey)(caller=await operator(env.deps), client=CLIENT)
    )
    assert new_kid != old.kid
    new_pair = await login(env)
    assert new_pair.access.token.split(".")[0] == new_kid  # new tokens use the new key
    verify = env.deps(VerifyAccessToken)
    assert await verify(token=old_pair.access.token) == Success(old_pair.access.claims)
    kids = [k["kid"] for k in value(await env.deps(GetJwks)())["keys"]]
    assert kids == [new_kid, old.kid]
    env.clock.advance(timedelta(minutes=10))
    kids = [k["kid"] for k in value(await env.deps(GetJwks)())["keys"]]
    assert kids == [new_kid]
    assert AuditAction.SIGNING_KEY_ROTATED in [e.action for e in env.store.state.audit]


async def test_verifier_picks_up_keys_created_after_it_started() -> None:
    env = make_env()
    await register(env)
    verify = env.deps(VerifyAccessToken)
    assert await verify(token="unknown-kid.e30=.00") == Failure(InvalidAccessToken())
    env.clock.advance(timedelta(seconds=5))
    pair = await login(env)
    assert await verify(token=pair.access.token) == Success(pair.access.claims)


async def test_only_admins_with_mfa_may_rotate_keys() -> None:
    env = make_env()
    customer = Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.CUSTOMER}))
    admin_aal1 = Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.ADMIN}))
    rotate = env.deps(RotateSigningKey)
    assert isinstance((await rotate(caller=customer, client=CLIENT)).failure(), Forbidden)
    assert isinstance((await rotate(caller=admin_aal1, client=CLIENT)).failure(), MfaRequired)


# --- the authorizer --------------------------------------------------------------------------


def test_customer_claims_authorize_a_customer() -> None:
    auth = authorize_principal(claims({Role.CUSTOMER}, Aal.AAL1))
    assert auth.principal.roles == {Role.CUSTOMER}
    assert not auth.principal.mfa
    assert not auth.mfa_required


def test_staff_with_aal2_acts_as_staff_of_their_providers() -> None:
    auth = authorize_principal(claims({Role.CUSTOMER, Role.STAFF}, Aal.AAL2, frozenset({PROVIDER})))
    assert auth.principal.manages(PROVIDER)
    assert auth.principal.mfa
    assert auth.require(Role.STAFF) == Success(auth.principal)


def test_staff_and_admin_without_mfa_get_mfa_required() -> None:
    auth = authorize_principal(
        claims({Role.CUSTOMER, Role.STAFF, Role.ADMIN}, Aal.AAL1, frozenset({PROVIDER}))
    )
    assert auth.principal.roles == {Role.CUSTOMER}
    assert auth.principal.provider_ids == frozenset()
    assert not auth.principal.manages(PROVIDER)
    assert auth.mfa_required
    assert isinstance(auth.require(Role.ADMIN).failure(), MfaRequired)
    assert isinstance(auth.require(Role.STAFF).failure(), MfaRequired)
    assert auth.require(Role.CUSTOMER) == Success(auth.principal)


def test_customer_asking_for_admin_is_forbidden_not_mfa_required() -> None:
    failure = authorize_principal(claims({Role.CUSTOMER}, Aal.AAL2)).require(Role.ADMIN).failure()
    assert isinstance(failure, Forbidden)
    assert not isinstance(failure, MfaRequired)


# --- roles and admin actions -------------------------------------------------------------------


async def test_staff_grant_reaches_the_next_access_token_and_needs_mfa_to_count() -> None:
    env = make_env()
    user_id = await register(env)
    pair = await login(env)
    value(
        await env.deps(GrantStaff)(
            caller=await operator(env.deps), user_id=user_id, provider_id=PROVIDER, client=CLIENT
        )
    )
    refreshed = value(await env.deps(Refresh)(refresh_token=pair.refresh_token, client=CLIENT))
    assert refreshed.access.claims.roles == {Role.CUSTOMER, Role.STAFF}
    assert refreshed.access.claims.provider_ids == {PROVIDER}
    assert authorize_principal(refreshed.access.claims).mfa_required  # staff without MFA
    secret, _ = await enable_mfa(env, user_id, refreshed)
    challenge = value(await env.deps(Login)(email=EMAIL, password=PASSWORD, client=CLIENT))
    code = env.totp.code_at(secret, env.clock.now())
    staff = value(
        await env.deps(CompleteMfaLogin)(
            challenge_token=challenge.challenge_token, code=code, client=CLIENT
        )
    )
    assert authorize_principal(staff.access.claims).principal.manages(PROVIDER)


async def test_role_changes_are_audited_with_the_actor() -> None:
    env = make_env()
    user_id = await register(env)
    admin_id = await register(env, email="root@example.com")
    admin = Principal(user_id=admin_id, roles=frozenset({Role.ADMIN}), mfa=True)
    for change in (
        env.deps(GrantStaff)(caller=admin, user_id=user_id, provider_id=PROVIDER, client=CLIENT),
        env.deps(RevokeStaff)(caller=admin, user_id=user_id, provider_id=PROVIDER, client=CLIENT),
        env.deps(GrantAdmin)(caller=admin, user_id=user_id, client=CLIENT),
        env.deps(RevokeAdmin)(caller=admin, user_id=user_id, client=CLIENT),
    ):
        assert await change == Success(None)
    assert user(env).roles == {Role.CUSTOMER}
    entries = value(await env.deps(QueryAuditLog)(caller=admin, query=AuditQuery(user_id=user_id)))
    assert [(e.action, e.details["role"]) for e in reversed(entries)] == [
        (AuditAction.ROLE_GRANTED, "staff"),
        (AuditAction.ROLE_REVOKED, "staff"),
        (AuditAction.ROLE_GRANTED, "admin"),
        (AuditAction.ROLE_REVOKED, "admin"),
    ]
    assert {e.actor_user_id for e in entries} == {admin_id}


async def test_admin_actions_refuse_non_admins_and_unknown_users() -> None:
    env = make_env()
    user_id = await register(env)
    customer = Principal(user_id=user_id, roles=frozenset({Role.CUSTOMER}), mfa=True)
    grant = env.deps(GrantAdmin)
    assert isinstance(
        (await grant(caller=customer, user_id=user_id, client=CLIENT)).failure(), Forbidden
    )
    missing = await grant(
        caller=await operator(env.deps), user_id=UserId(uuid.uuid4()), client=CLIENT
    )
    assert isinstance(missing.failure(), NotFound)
    assert not user(env).is_admin


async def test_operator_changes_are_audited_as_operator() -> None:
    env = make_env()
    user_id = await register(env)
    caller = await operator(env.deps, os_user="ops")
    value(await env.deps(GrantAdmin)(caller=caller, user_id=user_id, client=CLIENT))
    [entry] = [e for e in env.store.state.audit if e.action is AuditAction.ROLE_GRANTED]
    assert entry.actor_user_id == caller.user_id  # the operator's own account
    assert entry.details["via"] == "operator"
    assert entry.details["os_user"] == "ops"


async def test_unlock_lets_the_user_log_in_again() -> None:
    env = make_env()
    from core.identity import LockUser

    user_id = await register(env)
    value(
        await env.deps(LockUser)(
            caller=await operator(env.deps), user_id=user_id, reason="x", client=CLIENT
        )
    )
    value(
        await env.deps(UnlockUser)(caller=await operator(env.deps), user_id=user_id, client=CLIENT)
    )
    await login(env)
    actions = [e.action for e in env.store.state.audit]
    assert AuditAction.USER_LOCKED in actions
    assert AuditAction.USER_UNLOCKED in actions


async def test_admin_mfa_reset_removes_totp_and_revokes_sessions() -> None:
    env = make_env()
    user_id = await register(env)
    pair = await login(env)
    await enable_mfa(env, user_id, pair)
    value(
        await env.deps(ResetUserMfa)(
            caller=await operator(env.deps), user_id=user_id, client=CLIENT
        )
    )
    assert await env.deps(Refresh)(refresh_token=pair.refresh_token, client=CLIENT) != Success(pair)
    await login(env)  # no challenge any more
    assert AuditAction.MFA_RESET_BY_ADMIN in [e.action for e in env.store.state.audit]


async def test_find_user_by_email_is_case_insensitive_and_admin_only() -> None:
    env = make_env()
    user_id = await register(env)
    found = value(
        await env.deps(FindUserByEmail)(caller=await operator(env.deps), email=EMAIL.upper())
    )
    assert found.user_id == user_id
    nobody = await env.deps(FindUserByEmail)(
        caller=await operator(env.deps), email="nobody@example.com"
    )
    assert isinstance(nobody.failure(), NotFound)


async def test_audit_query_filters_by_action_time_and_limit() -> None:
    env = make_env()
    admin = Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.ADMIN}), mfa=True)
    await register(env)
    await login(env)
    env.clock.advance(timedelta(minutes=1))
    middle = env.clock.now()
    await login(env)
    env.clock.advance(timedelta(minutes=1))
    await env.deps(Login)(email=EMAIL, password="wrong password!", client=CLIENT)
    query = env.deps(QueryAuditLog)
    logins = value(await query(caller=admin, query=AuditQuery(action=AuditAction.LOGIN_SUCCEEDED)))
    assert len(logins) == 2
    assert logins[0].at > logins[1].at
    since = value(await query(caller=admin, query=AuditQuery(since=middle)))
    assert [e.action for e in since] == [AuditAction.LOGIN_FAILED, AuditAction.LOGIN_SUCCEEDED]
    until = value(await query(caller=admin, query=AuditQuery(until=middle)))
    assert [e.action for e in until] == [AuditAction.LOGIN_SUCCEEDED]
    assert len(value(await query(caller=admin, query=AuditQuery(limit=1)))) == 1
