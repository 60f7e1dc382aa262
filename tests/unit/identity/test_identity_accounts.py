"""Registration, email verification, login, password change and reset (fakes, fake clock)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from identity_support import (
    CLIENT,
    EMAIL,
    NO_IP,
    PASSWORD,
    events,
    login,
    mailed,
    make_env,
    register,
    user,
    value,
)
from returns.result import Failure, Success

from core.identity import (
    ChangePassword,
    GetAccount,
    LockUser,
    Login,
    Refresh,
    Register,
    RequestPasswordReset,
    ResetPassword,
    StartOperatorSession,
    VerifyEmail,
)
from core.identity.admin import operator_email
from core.identity.common import TokenPair
from core.identity.errors import (
    AccountLocked,
    InvalidCredentials,
    InvalidEmail,
    InvalidRefreshToken,
    InvalidToken,
    TooManyAttempts,
    TooManyRequests,
)
from core.identity.model import (
    EMAIL_VERIFICATION_REQUESTED,
    EXISTING_ACCOUNT_REGISTRATION_ATTEMPTED,
    NO_PASSWORD,
    PASSWORD_RESET_REQUESTED,
    AuditAction,
    ClientContext,
    Email,
    User,
    token_digest,
)
from core.identity.password_policy import PasswordContainsEmail, PasswordTooShort
from core.shared.errors import Forbidden
from core.shared.ids import UserId
from core.shared.principal import Role
from identity_wiring import operator


async def test_register_normalises_the_email_and_requests_verification() -> None:
    env = make_env()
    assert await env.deps(Register)(email="  Alice.Liddell@Example.COM ", password=PASSWORD) == (
        Success(None)
    )
    alice = user(env)
    assert alice.email.value == "Alice.Liddell@example.com"
    assert alice.email_verified_at is None
    assert alice.roles == {Role.CUSTOMER}
    [event] = events(env, EMAIL_VERIFICATION_REQUESTED)
    assert event.payload["user_id"] == str(alice.id)
    assert "email" not in event.payload  # ids only: messaging reads the current address
    [stored] = env.store.state.one_time_tokens.values()
    token = await mailed(env, event)
    assert stored.token_hash == token_digest(token)  # only the hash is kept
    assert "token" not in event.payload  # and the outbox holds it sealed
    assert token not in repr(event.payload)


async def test_register_rejects_a_malformed_email() -> None:
    env = make_env()
    result = await env.deps(Register)(email="not-an-email", password=PASSWORD)
    assert isinstance(result.failure(), InvalidEmail)


async def test_register_applies_the_password_policy_with_the_email() -> None:
    env = make_env()
    register_ = env.deps(Register)
    assert await register_(email=EMAIL, password="short") == Failure(PasswordTooShort(12))
    assert await register_(email=EMAIL, password="alice.liddell-rocks") == Failure(
        PasswordContainsEmail()
    )
    assert env.store.state.users == {}


async def test_register_for_an_existing_email_looks_the_same_and_tells_the_owner() -> None:
    env = make_env()
    first = await env.deps(Register)(email=EMAIL, password=PASSWORD)
    again = await env.deps(Register)(email="alice.liddell@EXAMPLE.com", password="other pass 12")
    assert first == again == Success(None)
    assert len(env.store.state.users) == 1
    [notice] = events(env, EXISTING_ACCOUNT_REGISTRATION_ATTEMPTED)
    assert notice.payload == {"user_id": str(user(env).id)}
    assert len(events(env, EMAIL_VERIFICATION_REQUESTED)) == 1


async def test_verification_token_is_single_use() -> None:
    env = make_env()
    user_id = await register(env)
    [event] = events(env, EMAIL_VERIFICATION_REQUESTED)
    verify = env.deps(VerifyEmail)
    assert await verify(token=await mailed(env, event), client=CLIENT) == Success(user_id)
    assert user(env).email_verified_at == env.clock.now()
    assert await verify(token=await mailed(env, event), client=CLIENT) == Failure(InvalidToken())


async def test_verification_token_expires() -> None:
    env = make_env()
    await register(env)
    [event] = events(env, EMAIL_VERIFICATION_REQUESTED)
    env.clock.advance(timedelta(hours=48))
    assert await env.deps(VerifyEmail)(token=await mailed(env, event), client=CLIENT) == Failure(
        InvalidToken()
    )


async def test_login_with_right_password_gives_aal1_tokens_and_is_audited() -> None:
    env = make_env()
    user_id = await register(env)
    pair = await login(env, email="ALICE.LIDDELL@example.com")
    claims = pair.access.claims
    assert claims.user_id == user_id
    assert claims.session_id == pair.session_id
    assert claims.aal.value == "aal1"
    assert claims.amr == ("pwd",)
    assert claims.expires_at - claims.issued_at == timedelta(minutes=10)
    [session] = env.store.state.sessions.values()
    assert (session.ip, session.user_agent) == (CLIENT.ip, CLIENT.user_agent)
    [entry] = env.store.state.audit
    assert entry.action is AuditAction.LOGIN_SUCCEEDED
    assert entry.subject_user_id == user_id


async def test_refresh_token_is_stored_only_as_its_sha256() -> None:
    env = make_env()
    await register(env)
    pair = await login(env)
    assert len(pair.refresh_token) >= 43  # token_urlsafe(32)
    [stored] = env.store.state.refresh_tokens.values()
    assert stored.token_hash == token_digest(pair.refresh_token)


async def test_unknown_email_and_wrong_password_fail_alike_and_both_cost_a_hash() -> None:
    env = make_env()
    await register(env)
    login_ = env.deps(Login)
    before = env.passwords.verifications
    unknown = await login_(email="nobody@example.com", password=PASSWORD, client=CLIENT)
    wrong = await login_(email=EMAIL, password="wrong password!", client=CLIENT)
    assert unknown == wrong == Failure(InvalidCredentials())
    assert env.passwords.verifications == before + 2
    failures = [e for e in env.store.state.audit if e.action is AuditAction.LOGIN_FAILED]
    assert [e.subject_user_id for e in failures] == [None, user(env).id]


async def test_repeated_failures_back_off_per_account_for_known_and_unknown_emails() -> None:
    env = make_env()
    await register(env)
    login_ = env.deps(Login)
    no_ip = ClientContext(user_agent="pytest")
    for email in (EMAIL, "nobody@example.com"):
        for _ in range(5):
            await login_(email=email, password="wrong password!", client=no_ip)
        blocked = await login_(email=email, password=PASSWORD, client=no_ip)
        assert blocked == Failure(TooManyAttempts(2.0))
    env.clock.advance(timedelta(seconds=2))
    assert isinstance(value(await login_(email=EMAIL, password=PASSWORD, client=no_ip)), TokenPair)


async def test_back_off_per_ip_spans_accounts() -> None:
    env = make_env()
    login_ = env.deps(Login)
    for n in range(5):
        await login_(email=f"user{n}@example.com", password="wrong password!", client=CLIENT)
    result = await login_(email="fresh@example.com", password=PASSWORD, client=CLIENT)
    assert isinstance(result.failure(), TooManyAttempts)


async def test_locked_user_cannot_log_in_even_with_the_right_password() -> None:
    env = make_env()
    user_id = await register(env)
    value(
        await env.deps(LockUser)(
            caller=await operator(env.deps), user_id=user_id, reason="fraud", client=CLIENT
        )
    )
    assert await env.deps(Login)(email=EMAIL, password=PASSWORD, client=CLIENT) == Failure(
        AccountLocked()
    )


async def test_login_rehashes_when_hash_parameters_changed() -> None:
    env = make_env()
    await register(env)
    old_hash = user(env).password_hash
    env.passwords.version = 2  # e.g. Argon2 memory raised in configuration
    await login(env)
    new_hash = user(env).password_hash
    assert new_hash != old_hash
    assert not env.passwords.needs_rehash(new_hash)
    await login(env)  # and the new hash verifies


async def test_change_password_needs_the_current_one() -> None:
    env = make_env()
    user_id = await register(env)
    pair = await login(env)
    result = await env.deps(ChangePassword)(
        user_id=user_id,
        session_id=pair.session_id,
        current_password="not my password",
        new_password="a whole new secret",
        client=CLIENT,
    )
    assert result == Failure(InvalidCredentials())


async def test_change_password_revokes_the_other_sessions_only() -> None:
    env = make_env()
    user_id = await register(env)
    here, elsewhere = await login(env), await login(env)
    result = await env.deps(ChangePassword)(
        user_id=user_id,
        session_id=here.session_id,
        current_password=PASSWORD,
        new_password="a whole new secret",
        client=CLIENT,
    )
    assert result == Success(None)
    refresh = env.deps(Refresh)
    value(await refresh(refresh_token=here.refresh_token, client=CLIENT))
    assert await refresh(refresh_token=elsewhere.refresh_token, client=CLIENT) == Failure(
        InvalidRefreshToken()
    )
    await login(env, password="a whole new secret")
    assert [e.action for e in env.store.state.audit].count(AuditAction.PASSWORD_CHANGED) == 1


async def test_request_reset_is_accepted_for_unknown_and_malformed_emails() -> None:
    env = make_env()
    request = env.deps(RequestPasswordReset)
    assert await request(email="nobody@example.com") == Success(None)
    assert await request(email="???") == Success(None)
    assert events(env, PASSWORD_RESET_REQUESTED) == []


async def test_reset_sets_the_password_revokes_all_sessions_and_is_single_use() -> None:
    env = make_env()
    await register(env)
    pair = await login(env)
    assert await env.deps(RequestPasswordReset)(email=EMAIL.upper()) == Success(None)
    [event] = events(env, PASSWORD_RESET_REQUESTED)
    token = await mailed(env, event)
    reset = env.deps(ResetPassword)
    assert await reset(token=token, new_password="brand new secret", client=CLIENT) == Success(None)
    assert await env.deps(Refresh)(refresh_token=pair.refresh_token, client=CLIENT) == Failure(
        InvalidRefreshToken()
    )
    await login(env, password="brand new secret")
    again = await reset(token=token, new_password="another new secret", client=CLIENT)
    assert again == Failure(InvalidToken())
    assert user(env).email_verified_at is not None


async def test_reset_token_is_short_lived() -> None:
    env = make_env()
    await register(env)
    await env.deps(RequestPasswordReset)(email=EMAIL)
    [event] = events(env, PASSWORD_RESET_REQUESTED)
    env.clock.advance(timedelta(minutes=30))
    result = await env.deps(ResetPassword)(
        token=await mailed(env, event), new_password="brand new secret", client=CLIENT
    )
    assert result == Failure(InvalidToken())


async def test_rejected_new_password_leaves_the_reset_token_usable() -> None:
    env = make_env()
    await register(env)
    await env.deps(RequestPasswordReset)(email=EMAIL)
    [event] = events(env, PASSWORD_RESET_REQUESTED)
    reset = env.deps(ResetPassword)
    token = await mailed(env, event)
    assert await reset(token=token, new_password="short", client=CLIENT) == Failure(
        PasswordTooShort(12)
    )
    assert await reset(token=token, new_password="long enough now", client=CLIENT) == Success(None)


async def test_a_reset_invalidates_older_reset_tokens() -> None:
    env = make_env()
    await register(env)
    request = env.deps(RequestPasswordReset)
    await request(email=EMAIL)
    await request(email=EMAIL)
    first, second = [await mailed(env, e) for e in events(env, PASSWORD_RESET_REQUESTED)]
    reset = env.deps(ResetPassword)
    assert await reset(token=second, new_password="brand new secret", client=CLIENT) == Success(
        None
    )
    assert await reset(token=first, new_password="another secret!", client=CLIENT) == Failure(
        InvalidToken()
    )


async def test_get_account_describes_the_user() -> None:
    env = make_env()
    user_id = await register(env)
    account = value(await env.deps(GetAccount)(user_id=user_id))
    assert account.email == "Alice.Liddell@example.com"
    assert not account.email_verified
    assert not account.mfa_active
    assert not account.locked
    assert account.roles == {Role.CUSTOMER}


# --- the CLI's operator accounts ----------------------------------------------------------------


async def test_an_operator_account_is_created_once_per_os_user_and_audited() -> None:
    env = make_env()
    first = await operator(env.deps, os_user="Ana Ops")
    again = await operator(env.deps, os_user="Ana Ops")
    other = await operator(env.deps, os_user="bob")
    assert first.user_id == again.user_id != other.user_id
    assert first.is_admin
    assert first.mfa
    account = user(env, operator_email("Ana Ops"))
    assert account.id == first.user_id
    assert account.is_admin
    assert not account.has_password
    started = [e for e in env.store.state.audit if e.action is AuditAction.OPERATOR_SESSION_STARTED]
    assert [e.actor_user_id for e in started] == [first.user_id, first.user_id, other.user_id]
    assert started[0].details == {"via": "operator", "os_user": "Ana Ops"}


async def test_concurrent_first_runs_share_one_operator_account() -> None:
    env = make_env()
    callers = await asyncio.gather(*(operator(env.deps, os_user="ops") for _ in range(5)))
    assert len({caller.user_id for caller in callers}) == 1


async def test_an_operator_account_cannot_log_in_and_costs_what_a_wrong_password_costs() -> None:
    env = make_env()
    await operator(env.deps, os_user="ops")
    login_ = env.deps(Login)
    before = env.passwords.verifications
    for guess in ("", NO_PASSWORD, PASSWORD):
        refused = await login_(email=operator_email("ops"), password=guess, client=CLIENT)
        assert refused == Failure(InvalidCredentials())
    assert env.passwords.verifications == before + 3


async def test_the_operator_domain_cannot_be_registered_or_taken_over() -> None:
    env = make_env()
    refused = await env.deps(Register)(email=operator_email("ops"), password=PASSWORD)
    assert isinstance(refused.failure(), InvalidEmail)
    env.store.state.users[UserId(uuid.uuid4())] = User(
        id=UserId(uuid.uuid4()),
        email=value(Email.parse(operator_email("mallory"))),
        password_hash=await env.passwords.hash(PASSWORD),
        created_at=env.clock.now(),
    )
    squatted = await env.deps(StartOperatorSession)(os_user="mallory", client=CLIENT)
    assert isinstance(squatted.failure(), Forbidden)


# --- throttling decided in core -----------------------------------------------------------------


async def test_bad_refresh_tokens_back_off_per_ip_under_the_refresh_key() -> None:
    env = make_env()
    refresh = env.deps(Refresh)
    results = [await refresh(refresh_token=f"bogus-{n}", client=CLIENT) for n in range(6)]
    assert results[:5] == [Failure(InvalidRefreshToken())] * 5
    assert isinstance(results[5].failure(), TooManyAttempts)
    assert await env.throttle.retry_after(f"refresh:ip:{CLIENT.ip}") is not None


async def test_registrations_are_rationed_per_address_whatever_their_outcome() -> None:
    env = make_env()
    register_ = env.deps(Register)
    admitted = [await register_.admit(email=f" {EMAIL.upper()}", client=NO_IP) for _ in range(6)]
    assert admitted[:5] == [Success(None)] * 5
    assert isinstance(admitted[5].failure(), TooManyRequests)
    key = f"register:acct:{EMAIL.lower()}"
    assert await env.deps.request_throttle.retry_after(key) is not None
