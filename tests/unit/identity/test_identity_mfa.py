"""TOTP enrolment, MFA login, recovery codes, step-up, replay protection, disabling."""

from __future__ import annotations

from datetime import timedelta

from identity_support import (
    CLIENT,
    NO_IP,
    STEP,
    enable_mfa,
    login,
    login_challenge,
    make_env,
    register,
    value,
    wrong_code,
)
from returns.result import Failure, Success

from core.identity import (
    BeginTotpEnrolment,
    CompleteMfaLogin,
    ConfirmTotpEnrolment,
    DisableMfa,
    GetMfaStatus,
    Refresh,
    RegenerateRecoveryCodes,
    StepUp,
)
from core.identity.common import TokenPair, new_recovery_code
from core.identity.errors import (
    InvalidMfaCode,
    InvalidToken,
    MfaAlreadyActive,
    MfaEnrolmentNotStarted,
    MfaNotActive,
    TooManyAttempts,
)
from core.identity.model import Aal, AuditAction, token_digest


def actions(env: object) -> list[AuditAction]:
    return [e.action for e in env.store.state.audit]  # type: ignore[attr-defined]


async def test_enrolment_gives_secret_uri_and_qr_code_and_stays_pending() -> None:
    env = make_env()
    user_id = await register(env)
    enrolment = value(await env.deps(BeginTotpEnrolment)(user_id=user_id))
    assert enrolment.otpauth_uri.startswith("otpauth://totp/Reserva:Alice.Liddell@example.com")
    assert enrolment.secret in enrolment.otpauth_uri
    assert enrolment.qr_png.startswith(b"\x89PNG")
    assert enrolment.qr_svg.startswith("<svg")
    status = value(await env.deps(GetMfaStatus)(user_id=user_id))
    assert (status.active, status.enrolment_pending) == (False, True)
    # Pending MFA does not change how login works.
    await login(env)


async def test_confirming_with_a_wrong_code_keeps_enrolment_pending() -> None:
    env = make_env()
    user_id = await register(env)
    pair = await login(env)
    enrolment = value(await env.deps(BeginTotpEnrolment)(user_id=user_id))
    result = await env.deps(ConfirmTotpEnrolment)(
        user_id=user_id,
        session_id=pair.session_id,
        code=wrong_code(env, enrolment.secret),
        client=CLIENT,
    )
    assert result == Failure(InvalidMfaCode())
    status = value(await env.deps(GetMfaStatus)(user_id=user_id))
    assert (status.active, status.enrolment_pending) == (False, True)


async def test_confirm_without_enrolment_is_refused() -> None:
    env = make_env()
    user_id = await register(env)
    pair = await login(env)
    result = await env.deps(ConfirmTotpEnrolment)(
        user_id=user_id, session_id=pair.session_id, code="123456", client=CLIENT
    )
    assert result == Failure(MfaEnrolmentNotStarted())


async def test_confirmation_activates_mfa_gives_ten_recovery_codes_and_aal2() -> None:
    env = make_env()
    user_id = await register(env)
    pair = await login(env)
    enrolment = value(await env.deps(BeginTotpEnrolment)(user_id=user_id))
    code = env.totp.code_at(enrolment.secret, env.clock.now())
    enabled = value(
        await env.deps(ConfirmTotpEnrolment)(
            user_id=user_id, session_id=pair.session_id, code=code, client=CLIENT
        )
    )
    assert len(enabled.recovery_codes) == 10
    assert len(set(enabled.recovery_codes)) == 10
    assert enabled.access.claims.aal is Aal.AAL2
    assert enabled.access.claims.session_id == pair.session_id
    stored = env.store.state.recovery_codes[user_id]
    assert all(code not in stored for code in enabled.recovery_codes)  # hashed only
    assert AuditAction.MFA_ENROLLED in actions(env)
    assert await env.deps(BeginTotpEnrolment)(user_id=user_id) == Failure(MfaAlreadyActive())


def test_a_recovery_code_carries_at_least_128_random_bits() -> None:
    """ASVS 5.0 V6.5.2 (below 112 bits a stored code needs a salted slow hash) and V11.5.1 (128)."""
    codes = [new_recovery_code() for _ in range(200)]
    symbols = [code.replace("-", "") for code in codes]

    assert {len(s) for s in symbols} == {28}  # 28 base32 symbols of 5 bits: 140 bits
    assert set("".join(symbols)) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert len(set(codes)) == len(codes)
    assert all(len(group) == 4 for code in codes for group in code.split("-"))


async def test_login_with_mfa_returns_a_challenge_then_aal2_tokens() -> None:
    env = make_env()
    user_id = await register(env)
    secret, _ = await enable_mfa(env, user_id, await login(env))
    challenge = await login_challenge(env)
    assert challenge.expires_at == env.clock.now() + timedelta(minutes=5)
    code = env.totp.code_at(secret, env.clock.now())
    pair = value(
        await env.deps(CompleteMfaLogin)(
            challenge_token=challenge.challenge_token, code=code, client=CLIENT
        )
    )
    assert pair.access.claims.aal is Aal.AAL2
    assert set(pair.access.claims.amr) == {"pwd", "otp", "mfa"}
    # Refreshing keeps the session's aal2.
    refreshed = value(await env.deps(Refresh)(refresh_token=pair.refresh_token, client=CLIENT))
    assert refreshed.access.claims.aal is Aal.AAL2


async def test_a_totp_code_is_accepted_at_most_once() -> None:
    env = make_env()
    user_id = await register(env)
    secret, _ = await enable_mfa(env, user_id, await login(env))
    code = env.totp.code_at(secret, env.clock.now())
    complete = env.deps(CompleteMfaLogin)
    first = await login_challenge(env)
    value(await complete(challenge_token=first.challenge_token, code=code, client=CLIENT))
    second = await login_challenge(env)
    replay = await complete(challenge_token=second.challenge_token, code=code, client=CLIENT)
    assert replay == Failure(InvalidMfaCode())


async def test_a_code_of_an_earlier_step_than_the_last_used_is_rejected() -> None:
    env = make_env()
    user_id = await register(env)
    secret, _ = await enable_mfa(env, user_id, await login(env))
    earlier = env.totp.code_at(secret, env.clock.now() - STEP)  # still within drift
    current = env.totp.code_at(secret, env.clock.now())
    complete = env.deps(CompleteMfaLogin)
    challenge = await login_challenge(env)
    value(await complete(challenge_token=challenge.challenge_token, code=current, client=CLIENT))
    challenge = await login_challenge(env)
    result = await complete(challenge_token=challenge.challenge_token, code=earlier, client=CLIENT)
    assert result == Failure(InvalidMfaCode())


async def test_the_challenge_is_single_use_and_short_lived() -> None:
    env = make_env()
    user_id = await register(env)
    secret, _ = await enable_mfa(env, user_id, await login(env))
    complete = env.deps(CompleteMfaLogin)
    challenge = await login_challenge(env)
    code = env.totp.code_at(secret, env.clock.now())
    value(await complete(challenge_token=challenge.challenge_token, code=code, client=CLIENT))
    env.clock.advance(STEP)
    code = env.totp.code_at(secret, env.clock.now())
    assert await complete(
        challenge_token=challenge.challenge_token, code=code, client=CLIENT
    ) == Failure(InvalidToken())
    late = await login_challenge(env)
    env.clock.advance(timedelta(minutes=5))
    code = env.totp.code_at(secret, env.clock.now())
    assert await complete(challenge_token=late.challenge_token, code=code, client=CLIENT) == (
        Failure(InvalidToken())
    )


async def test_wrong_codes_exhaust_the_challenge_and_back_off() -> None:
    env = make_env()  # per-user back-off only: the per-IP one is tested over HTTP
    user_id = await register(env)
    secret, _ = await enable_mfa(env, user_id, await login(env))
    complete = env.deps(CompleteMfaLogin)
    challenge = await login_challenge(env)
    wrong = wrong_code(env, secret)
    results = [
        await complete(challenge_token=challenge.challenge_token, code=wrong, client=NO_IP)
        for _ in range(5)
    ]
    assert results == [Failure(InvalidMfaCode())] * 5
    code = env.totp.code_at(secret, env.clock.now())
    fresh = await login_challenge(env)
    # The fifth failure started a back-off for this user's second factor.
    assert isinstance(
        (await complete(challenge_token=fresh.challenge_token, code=code, client=NO_IP)).failure(),
        TooManyAttempts,
    )
    env.clock.advance(timedelta(seconds=2))
    code = env.totp.code_at(secret, env.clock.now())
    assert await complete(
        challenge_token=challenge.challenge_token, code=code, client=NO_IP
    ) == Failure(InvalidToken())  # out of attempts
    assert isinstance(
        value(await complete(challenge_token=fresh.challenge_token, code=code, client=NO_IP)),
        TokenPair,
    )
    failed = [e for e in env.store.state.audit if e.action is AuditAction.LOGIN_FAILED]
    assert len(failed) == 5


async def test_recovery_codes_are_single_use_and_audited() -> None:
    env = make_env()
    user_id = await register(env)
    _, codes = await enable_mfa(env, user_id, await login(env))
    complete = env.deps(CompleteMfaLogin)
    challenge = await login_challenge(env)
    typed = codes[0].lower().replace("-", " ")  # case and separators do not matter
    pair = value(
        await complete(challenge_token=challenge.challenge_token, code=typed, client=CLIENT)
    )
    assert pair.access.claims.aal is Aal.AAL2
    again = await login_challenge(env)
    assert await complete(
        challenge_token=again.challenge_token, code=codes[0], client=CLIENT
    ) == Failure(InvalidMfaCode())
    assert AuditAction.MFA_RECOVERY_CODE_USED in actions(env)
    assert value(await env.deps(GetMfaStatus)(user_id=user_id)).recovery_codes_left == 9


async def test_regenerating_recovery_codes_needs_totp_and_replaces_the_old_ones() -> None:
    env = make_env()
    user_id = await register(env)
    secret, old = await enable_mfa(env, user_id, await login(env))
    regenerate = env.deps(RegenerateRecoveryCodes)
    assert await regenerate(user_id=user_id, code=old[0], client=CLIENT) == Failure(
        InvalidMfaCode()
    )
    code = env.totp.code_at(secret, env.clock.now())
    new = value(await regenerate(user_id=user_id, code=code, client=CLIENT))
    assert len(new) == 10
    assert set(new).isdisjoint(old)
    challenge = await login_challenge(env)
    complete = env.deps(CompleteMfaLogin)
    assert await complete(
        challenge_token=challenge.challenge_token, code=old[1], client=CLIENT
    ) == Failure(InvalidMfaCode())
    value(await complete(challenge_token=challenge.challenge_token, code=new[1], client=CLIENT))
    assert AuditAction.MFA_RECOVERY_CODES_REGENERATED in actions(env)


async def test_disabling_mfa_needs_a_code() -> None:
    env = make_env()
    user_id = await register(env)
    secret, _ = await enable_mfa(env, user_id, await login(env))
    disable = env.deps(DisableMfa)
    assert await disable(user_id=user_id, code=wrong_code(env, secret), client=CLIENT) == Failure(
        InvalidMfaCode()
    )
    code = env.totp.code_at(secret, env.clock.now())
    assert await disable(user_id=user_id, code=code, client=CLIENT) == Success(None)
    assert AuditAction.MFA_DISABLED in actions(env)
    assert await disable(user_id=user_id, code=code, client=CLIENT) == Failure(MfaNotActive())
    await login(env)  # plain password login again
    assert env.store.state.recovery_codes.get(user_id) is None


async def test_step_up_raises_a_session_to_aal2() -> None:
    env = make_env()
    user_id = await register(env)
    first, other = await login(env), await login(env)
    secret, _ = await enable_mfa(env, user_id, first)
    assert env.store.state.sessions[other.session_id].aal is Aal.AAL1
    code = env.totp.code_at(secret, env.clock.now())
    stepped = value(
        await env.deps(StepUp)(
            user_id=user_id, session_id=other.session_id, code=code, client=CLIENT
        )
    )
    assert stepped.claims.aal is Aal.AAL2
    assert stepped.claims.session_id == other.session_id
    session = env.store.state.sessions[other.session_id]
    assert session.aal is Aal.AAL2
    assert session.amr == ("pwd", "otp", "mfa")


async def test_step_up_needs_active_mfa_and_a_fresh_code() -> None:
    env = make_env()
    user_id = await register(env)
    pair = await login(env)
    step_up = env.deps(StepUp)
    assert await step_up(
        user_id=user_id, session_id=pair.session_id, code="123456", client=CLIENT
    ) == Failure(MfaNotActive())
    other = await login(env)
    secret, _ = await enable_mfa(env, user_id, pair)
    code = env.totp.code_at(secret, env.clock.now())
    value(await step_up(user_id=user_id, session_id=other.session_id, code=code, client=CLIENT))
    assert await step_up(
        user_id=user_id, session_id=other.session_id, code=code, client=CLIENT
    ) == Failure(InvalidMfaCode())


async def test_enrolment_secret_is_not_in_the_audit_or_outbox() -> None:
    env = make_env()
    user_id = await register(env)
    secret, codes = await enable_mfa(env, user_id, await login(env))
    dump = repr(env.store.state.audit) + repr(env.store.state.outbox)
    assert secret not in dump
    assert all(code not in dump and token_digest(code) not in dump for code in codes)
