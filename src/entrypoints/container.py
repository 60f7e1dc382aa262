"""The one composition root: the only module that knows dependency-injector.

HTTP and CLI build the same container from the same settings. Use cases are singletons (they
are immutable and hold only a unit-of-work factory and a clock); every call opens its own unit
of work. Tests replace providers with `container.<name>.override(...)` instead of patching.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from dependency_injector import containers, providers
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis.bookings import PostgisBookingsUnitOfWork
from adapters.postgis.database import create_engine
from adapters.postgis.identity import PostgisIdentityUnitOfWork
from adapters.redis.idempotency import RedisIdempotencyStore
from adapters.redis.throttle import RedisRateLimiter, RedisThrottle
from adapters.security.access_tokens import Ed25519SigningKeyFactory, PyJwtAccessTokenCodec
from adapters.security.breached import ZxcvbnBreachedPasswords
from adapters.security.passwords import Argon2Params, Argon2PasswordHasher
from adapters.security.qr import SegnoQrRenderer
from adapters.security.sealing import AesGcmTokenSealer
from adapters.security.totp import PyotpTotpGenerator
from adapters.system.clock import SystemClock
from core.bookings import (
    AddPlace,
    AddResource,
    BookingSettings,
    CancelBooking,
    CompleteBooking,
    ConfirmBooking,
    CreateOffering,
    CreateProvider,
    GetAvailability,
    GetBooking,
    GetCatalog,
    GetOffering,
    HoldSlot,
    ListMyBookings,
    ListProviderBookings,
    ListProviders,
    MarkNoShow,
    RescheduleBooking,
    ScheduleSessions,
    SearchOfferings,
    SetOpeningHours,
)
from core.identity import (
    AccessTokenAuthenticator,
    BeginTotpEnrolment,
    ChangePassword,
    CompleteMfaLogin,
    ConfirmTotpEnrolment,
    DisableMfa,
    FindUserByEmail,
    GetAccount,
    GetJwks,
    GetMfaStatus,
    GrantAdmin,
    GrantStaff,
    IdentitySettings,
    ListSessions,
    ListUsers,
    LockUser,
    Login,
    QueryAuditLog,
    Refresh,
    RegenerateRecoveryCodes,
    Register,
    RequestPasswordReset,
    ResetPassword,
    ResetUserMfa,
    RevokeAdmin,
    RevokeAllSessions,
    RevokeSession,
    RevokeStaff,
    RotateSigningKey,
    SecondFactorCheck,
    SessionStarter,
    ShowTotpEnrolment,
    StartOperatorSession,
    StepUp,
    ThrottlePolicy,
    TokenIssuer,
    UnlockUser,
    VerifyAccessToken,
    VerifyEmail,
)
from core.shared.principal import Authenticator
from core.shared.use_case import UseCase
from entrypoints.http.rate_limit import RateLimitPolicy
from entrypoints.http.services import Services
from entrypoints.settings import Settings


async def _close(engine: AsyncEngine, redis: Redis) -> None:
    await redis.aclose()
    await engine.dispose()


class Container(containers.DeclarativeContainer):
    config = providers.Configuration(strict=True)

    # ------------------------------------------------------------ infrastructure
    clock = providers.Singleton(SystemClock)
    engine = providers.Singleton(create_engine, config.database_url, pool_size=config.db_pool_size)
    redis = providers.Singleton(Redis.from_url, config.redis_url)
    close = providers.Callable(_close, engine, redis)

    # ------------------------------------------------------------ bookings context
    bookings_uow = providers.Factory(PostgisBookingsUnitOfWork, engine)
    booking_settings = providers.Singleton(
        BookingSettings,
        hold_ttl=providers.Factory(timedelta, seconds=config.hold_ttl_seconds),
    )
    # Every bookings use case gets a fresh unit of work per call from this factory.
    _bookings = {"uow": bookings_uow.provider, "clock": clock, "settings": booking_settings}

    create_provider = providers.Singleton(CreateProvider, **_bookings)
    add_place = providers.Singleton(AddPlace, **_bookings)
    set_opening_hours = providers.Singleton(SetOpeningHours, **_bookings)
    add_resource = providers.Singleton(AddResource, **_bookings)
    create_offering = providers.Singleton(CreateOffering, **_bookings)
    schedule_sessions = providers.Singleton(ScheduleSessions, **_bookings)

    list_providers = providers.Singleton(ListProviders, **_bookings)
    get_catalog = providers.Singleton(GetCatalog, **_bookings)
    get_offering = providers.Singleton(GetOffering, **_bookings)
    get_availability = providers.Singleton(GetAvailability, **_bookings)
    search_offerings = providers.Singleton(SearchOfferings, **_bookings)

    hold_slot = providers.Singleton(HoldSlot, **_bookings)
    confirm_booking = providers.Singleton(ConfirmBooking, **_bookings)
    cancel_booking = providers.Singleton(CancelBooking, **_bookings)
    complete_booking = providers.Singleton(CompleteBooking, **_bookings)
    mark_no_show = providers.Singleton(MarkNoShow, **_bookings)
    reschedule_booking = providers.Singleton(RescheduleBooking, **_bookings)
    get_booking = providers.Singleton(GetBooking, **_bookings)
    list_my_bookings = providers.Singleton(ListMyBookings, **_bookings)
    list_provider_bookings = providers.Singleton(ListProviderBookings, **_bookings)
    del _bookings

    # ------------------------------------------------------------ cross-cutting HTTP concerns
    idempotency = providers.Singleton(
        RedisIdempotencyStore, redis, answer_ttl_seconds=config.idempotency_ttl_seconds
    )

    # ------------------------------------------------------------ identity context
    identity_uow = providers.Factory(PostgisIdentityUnitOfWork, engine)
    identity_settings = providers.Singleton(
        IdentitySettings,
        access_ttl=providers.Factory(timedelta, seconds=config.access_ttl_seconds),
        refresh_ttl=providers.Factory(timedelta, seconds=config.refresh_ttl_seconds),
        refresh_grace=providers.Factory(timedelta, seconds=config.refresh_grace_seconds),
    )
    _backoff = {
        "window": providers.Factory(timedelta, seconds=config.throttle_window_seconds),
        "base_block": providers.Factory(timedelta, seconds=config.throttle_base_block_seconds),
        "max_block": providers.Factory(timedelta, seconds=config.throttle_max_block_seconds),
    }
    # Failures (passwords, codes, tokens) per account and per IP.
    identity_throttle = providers.Singleton(
        RedisThrottle,
        redis,
        clock,
        providers.Factory(ThrottlePolicy, max_failures=config.login_max_failures, **_backoff),
    )
    # Requests that send mail (registrations, reset requests), counted whatever their outcome.
    request_throttle = providers.Singleton(
        RedisThrottle,
        redis,
        clock,
        providers.Factory(ThrottlePolicy, max_failures=config.auth_request_limit, **_backoff),
        prefix="throttle:requests:",
    )
    del _backoff
    rate_limiter = providers.Singleton(RedisRateLimiter, redis, clock)
    rate_limit_policy = providers.Singleton(
        RateLimitPolicy,
        requests=config.rate_limit_requests,
        window_seconds=config.rate_limit_window_seconds,
    )
    password_hasher = providers.Singleton(
        Argon2PasswordHasher,
        providers.Factory(
            Argon2Params,
            memory_cost_kib=config.argon2_memory_kib,
            time_cost=config.argon2_time_cost,
            parallelism=config.argon2_parallelism,
        ),
    )
    breached_passwords = providers.Singleton(ZxcvbnBreachedPasswords)
    access_token_codec = providers.Singleton(PyJwtAccessTokenCodec)
    token_sealer = providers.Singleton(AesGcmTokenSealer)
    totp_generator = providers.Singleton(PyotpTotpGenerator)
    qr_renderer = providers.Singleton(SegnoQrRenderer)
    # Steps several identity use cases take, built once and shared.
    token_issuer = providers.Singleton(
        TokenIssuer,
        settings=identity_settings,
        codec=access_token_codec,
        key_factory=providers.Singleton(Ed25519SigningKeyFactory),
    )
    session_starter = providers.Singleton(
        SessionStarter, settings=identity_settings, token_issuer=token_issuer
    )
    second_factor_check = providers.Singleton(
        SecondFactorCheck, totp=totp_generator, throttle=identity_throttle
    )

    start_operator_session = providers.Singleton(
        StartOperatorSession, uow=identity_uow.provider, clock=clock
    )

    register = providers.Singleton(
        Register,
        uow=identity_uow.provider,
        clock=clock,
        settings=identity_settings,
        passwords=password_hasher,
        breached=breached_passwords,
        request_throttle=request_throttle,
    )
    verify_email = providers.Singleton(
        VerifyEmail, uow=identity_uow.provider, clock=clock, throttle=identity_throttle
    )
    login = providers.Singleton(
        Login,
        uow=identity_uow.provider,
        clock=clock,
        settings=identity_settings,
        passwords=password_hasher,
        throttle=identity_throttle,
        session_starter=session_starter,
    )
    complete_mfa_login = providers.Singleton(
        CompleteMfaLogin,
        uow=identity_uow.provider,
        clock=clock,
        settings=identity_settings,
        second_factor=second_factor_check,
        session_starter=session_starter,
        throttle=identity_throttle,
    )
    refresh = providers.Singleton(
        Refresh,
        uow=identity_uow.provider,
        clock=clock,
        settings=identity_settings,
        sealer=token_sealer,
        token_issuer=token_issuer,
        throttle=identity_throttle,
    )
    change_password = providers.Singleton(
        ChangePassword,
        uow=identity_uow.provider,
        clock=clock,
        settings=identity_settings,
        passwords=password_hasher,
        breached=breached_passwords,
        throttle=identity_throttle,
    )
    request_password_reset = providers.Singleton(
        RequestPasswordReset,
        uow=identity_uow.provider,
        clock=clock,
        settings=identity_settings,
        request_throttle=request_throttle,
    )
    reset_password = providers.Singleton(
        ResetPassword,
        uow=identity_uow.provider,
        clock=clock,
        settings=identity_settings,
        passwords=password_hasher,
        breached=breached_passwords,
        throttle=identity_throttle,
    )
    get_account = providers.Singleton(GetAccount, uow=identity_uow.provider)

    list_sessions = providers.Singleton(ListSessions, uow=identity_uow.provider, clock=clock)
    revoke_session = providers.Singleton(RevokeSession, uow=identity_uow.provider, clock=clock)
    revoke_all_sessions = providers.Singleton(
        RevokeAllSessions,
        uow=identity_uow.provider,
        clock=clock,
    )

    get_mfa_status = providers.Singleton(GetMfaStatus, uow=identity_uow.provider)
    begin_totp_enrolment = providers.Singleton(
        BeginTotpEnrolment,
        uow=identity_uow.provider,
        clock=clock,
        settings=identity_settings,
        totp=totp_generator,
        qr=qr_renderer,
    )
    show_totp_enrolment = providers.Singleton(
        ShowTotpEnrolment,
        uow=identity_uow.provider,
        settings=identity_settings,
        totp=totp_generator,
        qr=qr_renderer,
    )
    confirm_totp_enrolment = providers.Singleton(
        ConfirmTotpEnrolment,
        uow=identity_uow.provider,
        clock=clock,
        settings=identity_settings,
        totp=totp_generator,
        token_issuer=token_issuer,
        throttle=identity_throttle,
    )
    step_up = providers.Singleton(
        StepUp,
        uow=identity_uow.provider,
        clock=clock,
        second_factor=second_factor_check,
        token_issuer=token_issuer,
        throttle=identity_throttle,
    )
    disable_mfa = providers.Singleton(
        DisableMfa,
        uow=identity_uow.provider,
        clock=clock,
        second_factor=second_factor_check,
        throttle=identity_throttle,
    )
    regenerate_recovery_codes = providers.Singleton(
        RegenerateRecoveryCodes,
        uow=identity_uow.provider,
        clock=clock,
        settings=identity_settings,
        second_factor=second_factor_check,
        throttle=identity_throttle,
    )

    grant_staff = providers.Singleton(GrantStaff, uow=identity_uow.provider, clock=clock)
    revoke_staff = providers.Singleton(RevokeStaff, uow=identity_uow.provider, clock=clock)
    grant_admin = providers.Singleton(GrantAdmin, uow=identity_uow.provider, clock=clock)
    revoke_admin = providers.Singleton(RevokeAdmin, uow=identity_uow.provider, clock=clock)
    lock_user = providers.Singleton(LockUser, uow=identity_uow.provider, clock=clock)
    unlock_user = providers.Singleton(UnlockUser, uow=identity_uow.provider, clock=clock)
    reset_user_mfa = providers.Singleton(ResetUserMfa, uow=identity_uow.provider, clock=clock)
    find_user_by_email = providers.Singleton(FindUserByEmail, uow=identity_uow.provider)
    list_users = providers.Singleton(ListUsers, uow=identity_uow.provider)
    query_audit_log = providers.Singleton(QueryAuditLog, uow=identity_uow.provider)

    get_jwks = providers.Singleton(
        GetJwks,
        uow=identity_uow.provider,
        clock=clock,
        settings=identity_settings,
    )
    rotate_signing_key = providers.Singleton(
        RotateSigningKey,
        uow=identity_uow.provider,
        clock=clock,
        token_issuer=token_issuer,
    )
    # One per process: it caches the verifying keys.
    verify_access_token = providers.Singleton(
        VerifyAccessToken,
        uow=identity_uow.provider,
        clock=clock,
        settings=identity_settings,
        codec=access_token_codec,
    )
    # Who is calling: the access token's claims as a principal (staff and admin roles only at
    # aal2). Tests of other contexts override it with a table of test tokens.
    authenticator: providers.Provider[Authenticator] = providers.Singleton(
        AccessTokenAuthenticator, verify_access_token
    )


def build_container(settings: Settings) -> Container:
    container = Container()
    container.config.from_dict(settings.model_dump())
    return container


def use_case_providers(container: containers.Container) -> dict[str, Callable[[], object]]:
    """Every use case of the container by provider name: registering a use case here, once,
    is what exposes it to the entrypoints (an HTTP handler names it as a parameter)."""
    return {
        name: provider
        for name, provider in container.providers.items()
        if isinstance(provider, providers.Singleton | providers.Factory)
        and isinstance(provider.provides, type)
        and issubclass(provider.provides, UseCase)
    }


def http_services(container: Container) -> Services:
    """What the HTTP app needs: providers, called per request, so overrides apply at any time."""
    return Services(
        use_cases=use_case_providers(container),
        authenticator=container.authenticator,
        idempotency=container.idempotency,
        rate_limiter=container.rate_limiter,
        rate_limit_policy=container.rate_limit_policy,
        close=container.close,
    )
