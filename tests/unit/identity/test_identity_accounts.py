"""Registration, email verification, login, password change and reset (fakes, fake clock)."""

from __future__ import annotations

from datetime import timedelta

from identity_support import (
    CLIENT,
    EMAIL,
    PASSWORD,
    events,
    login,
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
    VerifyEmail,
)
from core.identity.common import TokenPair
from core.identity.errors import (
    AccountLocked,
    InvalidCredentials,
    InvalidEmail,
    InvalidRefreshToken,
    InvalidToken,
    TooManyAttempts,
)
from core.identity.model import (
    EMAIL_VERIFICATION_REQUESTED,
    EXISTING_ACCOUNT_REGISTRATION_ATTEMPTED,
    PASSWORD_RESET_REQUESTED,
    AuditAction,
    ClientContext,
    Operator,
    token_digest,
)
from core.identity.password_policy import PasswordContainsEmail, PasswordTooShort
from core.shared.principal import Role


async def test_register_normalises_the_email_and_requests_verification() -> None:
    env = make_env()
    assert await Register(env.deps)(email="  Alice.Liddell@Example.COM ", password=PASSWORD) == (
        Success(None)
    )
    alice = user(env)
    assert alice.email.value == "Alice.Liddell@example.com"
    assert alice.email_verified_at is None
    assert alice.roles == {Role.CUSTOMER}
    [event] = events(env, EMAIL_VERIFICATION_REQUESTED)
    assert event.payload["user_id"] == str(alice.id)
    assert event.payload["email"] == "Alice.Liddell@example.com"
    [stored] = env.store.state.one_time_tokens.values()
    assert stored.token_hash == token_digest(event.payload["token"])  # only the hash is kept


async def test_register_rejects_a_malformed_email() -> None:
    env = make_env()
    result = await Register(env.deps)(email="not-an-email", password=PASSWORD)
    assert isinstance(result.failure(), InvalidEmail)


async def test_register_applies_the_password_policy_with_the_email() -> None:
    env = make_env()
    register_ = Register(env.deps)
    assert await register_(email=EMAIL, password="short") == Failure(PasswordTooShort(12))
    assert await register_(email=EMAIL, password="alice.liddell-rocks") == Failure(
        PasswordContainsEmail()
    )
    assert env.store.state.users == {}


async def test_register_for_an_existing_email_looks_the_same_and_tells_the_owner() -> None:
    env = make_env()
    first = await Register(env.deps)(email=EMAIL, password=PASSWORD)
    again = await Register(env.deps)(email="alice.liddell@EXAMPLE.com", password="other pass 12")
    assert first == again == Success(None)
    assert len(env.store.state.users) == 1
    [notice] = events(env, EXISTING_ACCOUNT_REGISTRATION_ATTEMPTED)
    assert notice.payload == {"user_id": str(user(env).id), "email": user(env).email.value}
    assert len(events(env, EMAIL_VERIFICATION_REQUESTED)) == 1


async def test_verification_token_is_single_use() -> None:
    env = make_env()
    user_id = await register(env)
    [event] = events(env, EMAIL_VERIFICATION_REQUESTED)
    verify = VerifyEmail(env.deps)
    assert await verify(token=event.payload["token"]) == Success(user_id)
    assert user(env).email_verified_at == env.clock.now()
    assert await verify(token=event.payload["token"]) == Failure(InvalidToken())


async def test_verification_token_expires() -> None:
    env = make_env()
    await register(env)
    [event] = events(env, EMAIL_VERIFICATION_REQUESTED)
    env.clock.advance(timedelta(hours=48))
    assert await VerifyEmail(env.deps)(token=event.payload["token"]) == Failure(InvalidToken())


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
    login_ = Login(env.deps)
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
    login_ = Login(env.deps)
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
    login_ = Login(env.deps)
    for n in range(5):
        await login_(email=f"user{n}@example.com", password="wrong password!", client=CLIENT)
    result = await login_(email="fresh@example.com", password=PASSWORD, client=CLIENT)
    assert isinstance(result.failure(), TooManyAttempts)


async def test_locked_user_cannot_log_in_even_with_the_right_password() -> None:
    env = make_env()
    user_id = await register(env)
    value(
        await LockUser(env.deps)(actor=Operator(), user_id=user_id, reason="fraud", client=CLIENT)
    )
    assert await Login(env.deps)(email=EMAIL, password=PASSWORD, client=CLIENT) == Failure(
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
    result = await ChangePassword(env.deps)(
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
    result = await ChangePassword(env.deps)(
        user_id=user_id,
        session_id=here.session_id,
        current_password=PASSWORD,
        new_password="a whole new secret",
        client=CLIENT,
    )
    assert result == Success(None)
    refresh = Refresh(env.deps)
    value(await refresh(refresh_token=here.refresh_token, client=CLIENT))
    assert await refresh(refresh_token=elsewhere.refresh_token, client=CLIENT) == Failure(
        InvalidRefreshToken()
    )
    await login(env, password="a whole new secret")
    assert [e.action for e in env.store.state.audit].count(AuditAction.PASSWORD_CHANGED) == 1


async def test_request_reset_is_accepted_for_unknown_and_malformed_emails() -> None:
    env = make_env()
    request = RequestPasswordReset(env.deps)
    assert await request(email="nobody@example.com") == Success(None)
    assert await request(email="???") == Success(None)
    assert events(env, PASSWORD_RESET_REQUESTED) == []


async def test_reset_sets_the_password_revokes_all_sessions_and_is_single_use() -> None:
    env = make_env()
    await register(env)
    pair = await login(env)
    assert await RequestPasswordReset(env.deps)(email=EMAIL.upper()) == Success(None)
    [event] = events(env, PASSWORD_RESET_REQUESTED)
    token = event.payload["token"]
    reset = ResetPassword(env.deps)
    assert await reset(token=token, new_password="brand new secret", client=CLIENT) == Success(None)
    assert await Refresh(env.deps)(refresh_token=pair.refresh_token, client=CLIENT) == Failure(
        InvalidRefreshToken()
    )
    await login(env, password="brand new secret")
    again = await reset(token=token, new_password="another new secret", client=CLIENT)
    assert again == Failure(InvalidToken())
    assert user(env).email_verified_at is not None


async def test_reset_token_is_short_lived() -> None:
    env = make_env()
    await register(env)
    await RequestPasswordReset(env.deps)(email=EMAIL)
    [event] = events(env, PASSWORD_RESET_REQUESTED)
    env.clock.advance(timedelta(minutes=30))
    result = await ResetPassword(env.deps)(
        token=event.payload["token"], new_password="brand new secret", client=CLIENT
    )
    assert result == Failure(InvalidToken())


async def test_rejected_new_password_leaves_the_reset_token_usable() -> None:
    env = make_env()
    await register(env)
    await RequestPasswordReset(env.deps)(email=EMAIL)
    [event] = events(env, PASSWORD_RESET_REQUESTED)
    reset = ResetPassword(env.deps)
    token = event.payload["token"]
    assert await reset(token=token, new_password="short", client=CLIENT) == Failure(
        PasswordTooShort(12)
    )
    assert await reset(token=token, new_password="long enough now", client=CLIENT) == Success(None)


async def test_a_reset_invalidates_older_reset_tokens() -> None:
    env = make_env()
    await register(env)
    request = RequestPasswordReset(env.deps)
    await request(email=EMAIL)
    await request(email=EMAIL)
    first, second = (e.payload["token"] for e in events(env, PASSWORD_RESET_REQUESTED))
    reset = ResetPassword(env.deps)
    assert await reset(token=second, new_password="brand new secret", client=CLIENT) == Success(
        None
    )
    assert await reset(token=first, new_password="another secret!", client=CLIENT) == Failure(
        InvalidToken()
    )


async def test_get_account_describes_the_user() -> None:
    env = make_env()
    user_id = await register(env)
    account = value(await GetAccount(env.deps)(user_id=user_id))
    assert account.email == "Alice.Liddell@example.com"
    assert not account.email_verified
    assert not account.mfa_active
    assert not account.locked
    assert account.roles == {Role.CUSTOMER}
