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

from adapters.postgis.bookings_repository import PostgisBookingsUnitOfWork
from adapters.postgis.database import create_engine
from adapters.postgis.identity_repository import PostgisIdentityUnitOfWork
from adapters.redis.idempotency import RedisIdempotencyStore
from adapters.redis.throttle import RedisRateLimiter, RedisThrottle
from adapters.security.access_tokens import Ed25519SigningKeyFactory, PyJwtAccessTokenCodec
from adapters.security.breached import ZxcvbnBreachedPasswords
from adapters.security.passwords import Argon2Params, Argon2PasswordHasher
from adapters.security.qr import SegnoQrRenderer
from adapters.security.sealing import AesGcmTokenSealer
from adapters.security.totp import PyotpTotpGenerator
from adapters.system.clock import SystemClock
from core.bookings.use_cases import (
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
    ShowTotpEnrolment,
    StepUp,
    UnlockUser,
    VerifyAccessToken,
    VerifyEmail,
)
from core.identity.common import IdentityDeps
from core.identity.settings import IdentitySettings
from core.identity.throttling import ThrottlePolicy
from core.shared.principal import Authenticator
from core.shared.use_case import UseCase
from entrypoints.http.rate_limit import RateLimitPolicy
from entrypoints.http.services import Services
from entrypoints.http.token_auth import AccessTokenAuthenticator
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
    # Failures (passwords, codes, tokens) per account and per IP; the core's login uses it too.
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
    identity_deps = providers.Singleton(
        IdentityDeps,
        uow=identity_uow.provider,
        clock=clock,
        settings=identity_settings,
        passwords=password_hasher,
        breached=providers.Singleton(ZxcvbnBreachedPasswords),
        codec=providers.Singleton(PyJwtAccessTokenCodec),
        key_factory=providers.Singleton(Ed25519SigningKeyFactory),
        sealer=providers.Singleton(AesGcmTokenSealer),
        totp=providers.Singleton(PyotpTotpGenerator),
        qr=providers.Singleton(SegnoQrRenderer),
        throttle=identity_throttle,
    )

    register = providers.Singleton(Register, identity_deps)
    verify_email = providers.Singleton(VerifyEmail, identity_deps)
    login = providers.Singleton(Login, identity_deps)
    complete_mfa_login = providers.Singleton(CompleteMfaLogin, identity_deps)
    refresh = providers.Singleton(Refresh, identity_deps)
    change_password = providers.Singleton(ChangePassword, identity_deps)
    request_password_reset = providers.Singleton(RequestPasswordReset, identity_deps)
    reset_password = providers.Singleton(ResetPassword, identity_deps)
    get_account = providers.Singleton(GetAccount, identity_deps)

    list_sessions = providers.Singleton(ListSessions, identity_deps)
    revoke_session = providers.Singleton(RevokeSession, identity_deps)
    revoke_all_sessions = providers.Singleton(RevokeAllSessions, identity_deps)

    get_mfa_status = providers.Singleton(GetMfaStatus, identity_deps)
    begin_totp_enrolment = providers.Singleton(BeginTotpEnrolment, identity_deps)
    show_totp_enrolment = providers.Singleton(ShowTotpEnrolment, identity_deps)
    confirm_totp_enrolment = providers.Singleton(ConfirmTotpEnrolment, identity_deps)
    step_up = providers.Singleton(StepUp, identity_deps)
    disable_mfa = providers.Singleton(DisableMfa, identity_deps)
    regenerate_recovery_codes = providers.Singleton(RegenerateRecoveryCodes, identity_deps)

    grant_staff = providers.Singleton(GrantStaff, identity_deps)
    revoke_staff = providers.Singleton(RevokeStaff, identity_deps)
    grant_admin = providers.Singleton(GrantAdmin, identity_deps)
    revoke_admin = providers.Singleton(RevokeAdmin, identity_deps)
    lock_user = providers.Singleton(LockUser, identity_deps)
    unlock_user = providers.Singleton(UnlockUser, identity_deps)
    reset_user_mfa = providers.Singleton(ResetUserMfa, identity_deps)
    find_user_by_email = providers.Singleton(FindUserByEmail, identity_deps)
    list_users = providers.Singleton(ListUsers, identity_deps)
    query_audit_log = providers.Singleton(QueryAuditLog, identity_deps)

    get_jwks = providers.Singleton(GetJwks, identity_deps)
    rotate_signing_key = providers.Singleton(RotateSigningKey, identity_deps)
    # One per process: it caches the verifying keys.
    verify_access_token = providers.Singleton(VerifyAccessToken, identity_deps)
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
        identity_throttle=container.identity_throttle,
        request_throttle=container.request_throttle,
        close=container.close,
    )
