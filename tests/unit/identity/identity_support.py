"""Builders shared by the identity unit tests: fakes wired to a hand-moved clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import attrs
from returns.result import Result, Success

from adapters.memory.clock import FixedClock
from adapters.memory.identity import MemoryIdentityStore, MemorySealedSecrets
from adapters.memory.keyring import MemoryKeyring
from adapters.memory.security_fakes import (
    FakeAccessTokenCodec,
    FakeBreachedPasswords,
    FakePasswordHasher,
    FakeQrRenderer,
    FakeSigningKeyFactory,
    FakeTokenSealer,
    FakeTotpGenerator,
    MemoryThrottle,
)
from core.identity import (
    BeginTotpEnrolment,
    ConfirmTotpEnrolment,
    Login,
    Register,
    open_mailed_token,
)
from core.identity.common import MfaChallenge, TokenPair
from core.identity.model import ClientContext, Email, User
from core.identity.settings import IdentitySettings
from core.shared.events import Event
from core.shared.ids import UserId
from identity_wiring import IdentityPorts

START = datetime(2026, 1, 5, 9, 0, 7, tzinfo=UTC)
EMAIL = "Alice.Liddell@Example.COM"
PASSWORD = "correct horse battery staple"
CLIENT = ClientContext(ip="203.0.113.7", user_agent="pytest")
# Without an IP the per-IP back-off has no key: for tests of what that back-off would hide.
NO_IP = ClientContext(user_agent="pytest")
STEP = timedelta(seconds=30)  # one TOTP time step

T = TypeVar("T")


@attrs.define
class Env:
    clock: FixedClock
    store: MemoryIdentityStore
    passwords: FakePasswordHasher
    totp: FakeTotpGenerator
    throttle: MemoryThrottle
    deps: IdentityPorts


def make_env(settings: IdentitySettings | None = None) -> Env:
    clock = FixedClock(START)
    store = MemoryIdentityStore()
    passwords = FakePasswordHasher()
    totp = FakeTotpGenerator()
    throttle = MemoryThrottle(clock)
    keyring = MemoryKeyring()
    deps = IdentityPorts(
        uow=store.uow,
        clock=clock,
        settings=settings or IdentitySettings(),
        passwords=passwords,
        breached=FakeBreachedPasswords(),
        codec=FakeAccessTokenCodec(),
        key_factory=FakeSigningKeyFactory(),
        sealer=FakeTokenSealer(),
        totp=totp,
        qr=FakeQrRenderer(),
        throttle=throttle,
        request_throttle=MemoryThrottle(clock),
        keyring=keyring,
        key_store=keyring,
        sealed_secrets=MemorySealedSecrets(store, keyring),
    )
    return Env(
        clock=clock, store=store, passwords=passwords, totp=totp, throttle=throttle, deps=deps
    )


def value(result: Result[T, Any]) -> T:
    """The success value; fails the test with the error otherwise."""
    assert isinstance(result, Success), f"expected Success, got {result!r}"
    return result.unwrap()  # type: ignore[no-any-return]


def events(env: Env, name: str) -> list[Event]:
    return [e for e in env.store.state.outbox if e.name == name]


def user(env: Env, email: str = EMAIL) -> User:
    key = value(Email.parse(email)).key
    return next(u for u in env.store.state.users.values() if u.email.key == key)


async def register(env: Env, email: str = EMAIL, password: str = PASSWORD) -> UserId:
    value(await env.deps(Register)(email=email, password=password))
    return user(env, email).id


async def login(env: Env, email: str = EMAIL, password: str = PASSWORD) -> TokenPair:
    pair = value(await env.deps(Login)(email=email, password=password, client=CLIENT))
    assert isinstance(pair, TokenPair)
    return pair


async def login_challenge(env: Env, email: str = EMAIL, password: str = PASSWORD) -> MfaChallenge:
    challenge = value(await env.deps(Login)(email=email, password=password, client=CLIENT))
    assert isinstance(challenge, MfaChallenge)
    return challenge


async def enable_mfa(env: Env, user_id: UserId, pair: TokenPair) -> tuple[str, tuple[str, ...]]:
    """Enrol and confirm TOTP; returns the secret and the recovery codes. Leaves the clock one
    step later so the next code is fresh."""
    enrolment = value(await env.deps(BeginTotpEnrolment)(user_id=user_id))
    code = env.totp.code_at(enrolment.secret, env.clock.now())
    enabled = value(
        await env.deps(ConfirmTotpEnrolment)(
            user_id=user_id, session_id=pair.session_id, code=code, client=CLIENT
        )
    )
    env.clock.advance(STEP)
    return enrolment.secret, enabled.recovery_codes


def wrong_code(env: Env, secret: str) -> str:
    """A six-digit code that no step within the drift window accepts right now."""
    now = env.clock.now()
    valid = {env.totp.code_at(secret, now + k * STEP) for k in (-1, 0, 1)}
    return next(c for c in (f"{n:06d}" for n in range(4)) if c not in valid)


async def mailed(env: Env, event: Event) -> str:
    """The one-time token a mail event carries, opened as the mail sender would."""
    return await open_mailed_token(env.deps.keyring, event)
