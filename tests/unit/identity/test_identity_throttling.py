"""The reservation rules of the back-off on the memory fakes: every attempt is counted before its
check, a wrong secret keeps it, anything else gives it back; concurrent attempts get no more
checks than the same attempts one after another."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import attrs
from identity_support import (
    CLIENT,
    EMAIL,
    NO_IP,
    PASSWORD,
    START,
    Env,
    enable_mfa,
    events,
    login,
    login_challenge,
    mailed,
    make_env,
    register,
    value,
    wrong_code,
)
from returns.result import Failure, Result, Success

from adapters.memory.clock import FixedClock
from adapters.memory.security_fakes import MemoryThrottle
from core.identity import (
    CompleteMfaLogin,
    Login,
    RequestPasswordReset,
    ResetPassword,
)
from core.identity.common import TokenPair
from core.identity.errors import (
    InvalidCredentials,
    InvalidMfaCode,
    InvalidToken,
    TooManyAttempts,
    TooManyRequests,
)
from core.identity.model import PASSWORD_RESET_REQUESTED, OneTimeToken, TokenPurpose
from core.identity.password_policy import PasswordTooShort
from core.identity.throttling import ThrottlePolicy, guarded, ration
from core.shared.errors import DomainError
from guessing_support import GatedPasswordHasher, until_each_is_checked_or_answered

KEYS = ["t:acct:a", "t:ip:192.0.2.1"]


def mfa_challenges(env: Env) -> list[OneTimeToken]:
    tokens = env.store.state.one_time_tokens.values()
    return [t for t in tokens if t.purpose is TokenPurpose.MFA_CHALLENGE]


def throttle(max_failures: int = 5) -> MemoryThrottle:
    return MemoryThrottle(FixedClock(START), ThrottlePolicy(max_failures=max_failures))


async def test_attempts_in_flight_count_so_a_burst_gets_only_the_allowed_checks() -> None:
    limit = throttle()
    checking = asyncio.Event()
    checks = 0

    async def wrong_secret() -> Result[None, InvalidToken]:
        nonlocal checks
        checks += 1
        await checking.wait()
        return Failure(InvalidToken())

    burst = [
        asyncio.create_task(guarded(limit, KEYS, wrong_secret, counts=(InvalidToken,)))
        for _ in range(20)
    ]
    await asyncio.sleep(0)
    checking.set()
    results = await asyncio.gather(*burst)

    assert checks == 5
    assert results.count(Failure(InvalidToken())) == 5
    assert results.count(Failure(TooManyAttempts(2.0))) == 15


async def test_a_failure_that_does_not_count_gives_the_attempt_back() -> None:
    limit = throttle(max_failures=2)

    async def weak_password() -> Result[None, DomainError]:
        return Failure(PasswordTooShort(12))

    async def right_secret() -> Result[None, DomainError]:
        return Success(None)

    results = [
        await guarded(limit, KEYS, attempt, counts=(InvalidToken,))
        for attempt in [weak_password, right_secret] * 5
    ]

    assert results == [Failure(PasswordTooShort(12)), Success(None)] * 5
    for key in KEYS:
        assert await limit.retry_after(key) is None


async def test_rationed_requests_count_whatever_their_outcome_even_all_at_once() -> None:
    limit = throttle(max_failures=10)

    admitted = await asyncio.gather(*(ration(limit, KEYS) for _ in range(30)))

    assert admitted.count(Success(None)) == 10
    assert admitted.count(Failure(TooManyRequests(2.0))) == 20


async def test_a_burst_of_wrong_passwords_with_the_right_one_in_it_is_refused() -> None:
    env = make_env()
    await register(env)
    hasher = GatedPasswordHasher(env.passwords)
    login_ = attrs.evolve(env.deps, passwords=hasher)(Login)

    hasher.hold()
    guesses = [
        asyncio.create_task(login_(email=EMAIL, password="wrong password!", client=CLIENT))
        for _ in range(100)
    ]
    await until_each_is_checked_or_answered(hasher, guesses)
    right = asyncio.create_task(login_(email=EMAIL, password=PASSWORD, client=CLIENT))
    await until_each_is_checked_or_answered(hasher, [right], base=hasher.checks)
    hasher.release()
    results = await asyncio.gather(*guesses)

    assert hasher.checks == 5
    assert results.count(Failure(InvalidCredentials())) == 5
    assert isinstance((await right).failure(), TooManyAttempts)


async def test_the_right_password_gives_its_attempt_back_on_the_ip() -> None:
    env = make_env()
    await register(env)
    login_ = env.deps(Login)
    for n in range(4):
        await login_(email=f"user{n}@example.com", password="wrong password!", client=CLIENT)
    for _ in range(3):
        await login(env)  # from CLIENT as well
    last = await login_(email="user9@example.com", password="wrong password!", client=CLIENT)
    blocked = await login_(email=EMAIL, password=PASSWORD, client=CLIENT)

    assert last == Failure(InvalidCredentials())  # the fifth failure from this IP
    assert blocked == Failure(TooManyAttempts(2.0))


async def test_a_rejected_new_password_does_not_count_against_the_reset_back_off() -> None:
    env = make_env()
    await register(env)
    await env.deps(RequestPasswordReset)(email=EMAIL)
    [event] = events(env, PASSWORD_RESET_REQUESTED)
    reset = env.deps(ResetPassword)
    token = await mailed(env, event)

    for _ in range(10):
        weak = await reset(token=token, new_password="short", client=CLIENT)
        assert weak == Failure(PasswordTooShort(12))

    assert await reset(token=token, new_password="long enough now", client=CLIENT) == Success(None)


async def test_a_throttled_second_factor_gives_the_challenge_its_attempt_back() -> None:
    env = make_env()
    user_id = await register(env)
    secret, _ = await enable_mfa(env, user_id, await login(env))
    complete = env.deps(CompleteMfaLogin)
    spent = await login_challenge(env)
    for _ in range(5):
        wrong = wrong_code(env, secret)
        await complete(challenge_token=spent.challenge_token, code=wrong, client=NO_IP)
    fresh = await login_challenge(env)
    code = env.totp.code_at(secret, env.clock.now())

    throttled = await complete(challenge_token=fresh.challenge_token, code=code, client=NO_IP)

    challenges = [
        t
        for t in env.store.state.one_time_tokens.values()
        if t.purpose is TokenPurpose.MFA_CHALLENGE
    ]
    assert isinstance(throttled.failure(), TooManyAttempts)
    assert sorted(t.failed_attempts for t in challenges) == [0, 5]
    env.clock.advance(timedelta(seconds=2))
    code = env.totp.code_at(secret, env.clock.now())
    assert await complete(challenge_token=spent.challenge_token, code=code, client=NO_IP) == (
        Failure(InvalidToken())
    )
    again = await complete(challenge_token=fresh.challenge_token, code=code, client=NO_IP)
    assert isinstance(value(again), TokenPair)


async def test_a_wrong_code_keeps_the_challenge_attempt() -> None:
    env = make_env()
    user_id = await register(env)
    secret, _ = await enable_mfa(env, user_id, await login(env))
    challenge = await login_challenge(env)
    complete = env.deps(CompleteMfaLogin)

    wrong = await complete(
        challenge_token=challenge.challenge_token, code=wrong_code(env, secret), client=NO_IP
    )

    [token] = [
        t
        for t in env.store.state.one_time_tokens.values()
        if t.purpose is TokenPurpose.MFA_CHALLENGE
    ]
    assert wrong == Failure(InvalidMfaCode())
    assert token.failed_attempts == 1
