"""Guessing in parallel, at the use cases with real Redis and PostgreSQL: a burst of concurrent
guesses gets no more checks than the same guesses one after another (passwords, TOTP and
recovery codes, reset and verification tokens, the attempts of one MFA challenge)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

import attrs
import pytest
from redis.asyncio import Redis
from returns.result import Failure, Result

from adapters.memory.clock import FixedClock
from adapters.redis.throttle import RedisThrottle
from adapters.security.totp import PyotpTotpGenerator
from core.identity import (
    BeginTotpEnrolment,
    CompleteMfaLogin,
    ConfirmTotpEnrolment,
    DisableMfa,
    Login,
    Register,
    ResetPassword,
    VerifyEmail,
)
from core.identity.common import MfaChallenge, TokenPair
from core.identity.model import ClientContext
from core.identity.throttling import ThrottlePolicy
from core.shared.ids import UserId
from guessing_support import (
    CountingTotpGenerator,
    GatedPasswordHasher,
    until_each_is_checked_or_answered,
)
from identity_wiring import IdentityPorts

CLIENT = ClientContext(ip="198.51.100.77", user_agent="integration")
NO_IP = ClientContext(user_agent="integration")
PASSWORD = "correct horse battery staple"
EMAIL = "ada@example.org"
ALLOWED = 5  # ThrottlePolicy().max_failures and IdentitySettings().mfa_challenge_max_attempts
BURST = 100
CODE_BURST = 50
STEP = timedelta(seconds=30)


def kinds(results: Sequence[Result[Any, Any]]) -> Counter[str]:
    return Counter(type(r.failure()).__name__ for r in results if isinstance(r, Failure))


@pytest.fixture
def redis_throttle(redis: Redis, clock: FixedClock) -> Callable[[ThrottlePolicy], RedisThrottle]:
    return lambda policy: RedisThrottle(redis, clock, policy, prefix=f"test:{uuid.uuid4().hex}:")


@pytest.fixture
def deps(
    pg_deps: IdentityPorts, redis_throttle: Callable[[ThrottlePolicy], RedisThrottle]
) -> IdentityPorts:
    """The production adapters, Redis back-off included; the hasher and TOTP counted."""
    return attrs.evolve(
        pg_deps,
        passwords=GatedPasswordHasher(pg_deps.passwords),
        totp=CountingTotpGenerator(pg_deps.totp),
        throttle=redis_throttle(ThrottlePolicy()),
    )


async def registered(deps: IdentityPorts) -> TokenPair:
    assert not isinstance(await deps(Register)(email=EMAIL, password=PASSWORD), Failure)
    pair = (await deps(Login)(email=EMAIL, password=PASSWORD, client=NO_IP)).unwrap()
    assert isinstance(pair, TokenPair)
    return pair


@attrs.frozen
class Enrolled:
    user_id: UserId
    secret: str
    recovery_codes: tuple[str, ...]


async def with_mfa(deps: IdentityPorts, clock: FixedClock) -> Enrolled:
    pair = await registered(deps)
    user_id = pair.access.claims.user_id
    secret = (await deps(BeginTotpEnrolment)(user_id=user_id)).unwrap().secret
    enabled = await deps(ConfirmTotpEnrolment)(
        user_id=user_id,
        session_id=pair.session_id,
        code=PyotpTotpGenerator().code_at(secret, clock.now()),
        client=NO_IP,
    )
    clock.advance(STEP)  # the confirmation used this step's code
    return Enrolled(user_id, secret, enabled.unwrap().recovery_codes)


async def challenge(deps: IdentityPorts) -> str:
    started = (await deps(Login)(email=EMAIL, password=PASSWORD, client=NO_IP)).unwrap()
    assert isinstance(started, MfaChallenge)
    return started.challenge_token


def wrong_code(secret: str, clock: FixedClock) -> str:
    valid = {PyotpTotpGenerator().code_at(secret, clock.now() + k * STEP) for k in (-1, 0, 1)}
    return next(c for c in (f"{n:06d}" for n in range(4)) if c not in valid)


async def test_a_burst_of_wrong_passwords_reaches_the_hasher_five_times_and_the_right_one_none(
    deps: IdentityPorts,
) -> None:
    await registered(deps)
    hasher = deps.passwords
    assert isinstance(hasher, GatedPasswordHasher)
    login = deps(Login)

    hasher.hold()
    guesses = [
        asyncio.create_task(login(email=EMAIL, password="wrong password!", client=CLIENT))
        for _ in range(BURST)
    ]
    await until_each_is_checked_or_answered(hasher, guesses)
    checked = hasher.checks
    right = asyncio.create_task(login(email=EMAIL, password=PASSWORD, client=CLIENT))
    await until_each_is_checked_or_answered(hasher, [right], base=checked)
    hasher.release()
    results = await asyncio.gather(*guesses)

    assert hasher.checks == ALLOWED
    assert kinds(results) == {"InvalidCredentials": ALLOWED, "TooManyAttempts": BURST - ALLOWED}
    assert kinds([await right]) == {"TooManyAttempts": 1}


async def test_a_burst_of_codes_on_one_challenge_gets_only_its_attempts_checked(
    pg_deps: IdentityPorts,
    redis_throttle: Callable[[ThrottlePolicy], RedisThrottle],
    clock: FixedClock,
) -> None:
    # A back-off too lenient to matter: the challenge's own attempt count is under test.
    totp = CountingTotpGenerator(pg_deps.totp)
    lenient = redis_throttle(ThrottlePolicy(max_failures=1000))
    deps = attrs.evolve(pg_deps, totp=totp, throttle=lenient)
    secret = (await with_mfa(deps, clock)).secret
    token = await challenge(deps)
    complete = deps(CompleteMfaLogin)
    totp.checks = 0

    results = await asyncio.gather(
        *(
            complete(challenge_token=token, code=wrong_code(secret, clock), client=NO_IP)
            for _ in range(CODE_BURST)
        )
    )

    assert totp.checks == ALLOWED
    assert kinds(results) == {"InvalidMfaCode": ALLOWED, "InvalidToken": CODE_BURST - ALLOWED}


Guess = Callable[[IdentityPorts, int], Awaitable[Result[object, object]]]


async def _reset(deps: IdentityPorts, n: int) -> Result[object, object]:
    reset = deps(ResetPassword)
    return await reset(token=f"forged-{n}", new_password=PASSWORD + "!", client=CLIENT)


async def _verify(deps: IdentityPorts, n: int) -> Result[object, object]:
    return await deps(VerifyEmail)(token=f"forged-{n}", client=CLIENT)


@pytest.mark.parametrize(
    ("guess", "refused"),
    [(_reset, "InvalidToken"), (_verify, "InvalidToken")],
    ids=["reset tokens", "verification tokens"],
)
async def test_a_burst_of_forged_tokens_gets_five_lookups(
    deps: IdentityPorts, guess: Guess, refused: str
) -> None:
    results = await asyncio.gather(*(guess(deps, n) for n in range(BURST)))

    assert kinds(results) == {refused: ALLOWED, "TooManyAttempts": BURST - ALLOWED}


@pytest.mark.parametrize("client", [CLIENT, NO_IP], ids=["from one ip", "per account only"])
async def test_a_burst_of_wrong_recovery_codes_gets_five_checks(
    deps: IdentityPorts, clock: FixedClock, client: ClientContext
) -> None:
    enrolled = await with_mfa(deps, clock)
    disable = deps(DisableMfa)
    real = enrolled.recovery_codes[0]
    guesses = [f"{n:04d}{real[4:]}" for n in range(CODE_BURST)]  # well-formed, wrong

    results = await asyncio.gather(
        *(disable(user_id=enrolled.user_id, code=g, client=client) for g in guesses)
    )

    assert kinds(results) == {"InvalidMfaCode": ALLOWED, "TooManyAttempts": CODE_BURST - ALLOWED}
