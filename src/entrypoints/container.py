"""The one composition root: the only module that knows dependency-injector.

HTTP and CLI build the same container from the same settings. Use cases are singletons (they
are immutable and hold only a unit-of-work factory and a clock); every call opens its own unit
of work. Tests replace providers with `container.<name>.override(...)` instead of patching.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, NoReturn, TypeVar

import attrs
from dependency_injector import containers, providers
from pydantic import SecretStr
from redis.asyncio import Redis
from returns.result import Result
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.bookings_desk import BookingsDesk
from adapters.cloudinary import CloudinaryConfig, CloudinaryMediaStore
from adapters.consent_policy import LedgerAnalyticsConsent, LedgerConsentPolicy
from adapters.ga4 import Ga4MeasurementProtocol
from adapters.identity_bridge import IdentityPasswordReAuthentication, IdentitySessionEnder
from adapters.postgis.analytics import PostgisAnalyticsUnitOfWork
from adapters.postgis.bookings import (
    PostgisBookableCatalog,
    PostgisBookingHolds,
    PostgisBookingsUnitOfWork,
)
from adapters.postgis.bookings.availability_reads import PostgisAvailabilityReads
from adapters.postgis.bookings.moves import PostgisBookingMoves, PostgisLapsedHolds
from adapters.postgis.bookings.unit_of_work import bookings_read_unit_of_work
from adapters.postgis.consent import PostgisConsentRecords, PostgisConsentUnitOfWork
from adapters.postgis.database import create_engine
from adapters.postgis.health import PostgisReadiness
from adapters.postgis.identity import PostgisIdentityUnitOfWork
from adapters.postgis.identity.records import identity_records as identity_personal_records
from adapters.postgis.integrations import PostgisIntegrationsUnitOfWork
from adapters.postgis.live import PostgisLiveRelay
from adapters.postgis.media import PostgisMediaUnitOfWork
from adapters.postgis.messaging import PostgisMessagingUnitOfWork
from adapters.postgis.messaging.records import PostgisMessagingRecords
from adapters.postgis.metrics import operations_state
from adapters.postgis.payments import PostgisPaymentsUnitOfWork
from adapters.postgis.payments.records import PostgisPaymentRecords
from adapters.postgis.payments.terms import PostgisTermsInEffect
from adapters.postgis.personal import PostgisPersonKeyVault
from adapters.postgis.privacy import MediaRecords, PostgisBookingRecords, PostgisRightsUnitOfWork
from adapters.postgis.replica import ReplicaReads, reading_as
from adapters.postgis.retention import PostgisAbandonedAccounts, PostgisRetentionStore
from adapters.postgis.sealed import PostgisSealedSecrets
from adapters.postgis.write_marks import WriteMarks, mark_writes
from adapters.redis.health import RedisReadiness
from adapters.redis.idempotency import RedisIdempotencyStore
from adapters.redis.live import RedisLiveFeed, RedisLivePublisher
from adapters.redis.sessions import RedisLiveSessions
from adapters.redis.throttle import RedisRateLimiter, RedisThrottle
from adapters.redis.write_marks import RedisWriteMarks
from adapters.rendering import IcalendarWriter, JinjaRenderer, WebLinks
from adapters.security.access_tokens import Ed25519SigningKeyFactory, PyJwtAccessTokenCodec
from adapters.security.breached import BundledBreachedPasswords
from adapters.security.erasure_register import FileErasureRegister
from adapters.security.hibp import HibpBreachedPasswords
from adapters.security.keyring import AesGcmKeyring, FileKeyStore
from adapters.security.passwords import Argon2Params, Argon2PasswordHasher
from adapters.security.personal import AesGcmPersonalData
from adapters.security.qr import SegnoQrRenderer
from adapters.security.sealing import AesGcmTokenSealer
from adapters.security.totp import PyotpTotpGenerator
from adapters.sendgrid import SendGridEmailEvents, SendGridEmailSender
from adapters.stripe import StripePaymentGateway, StripeWebhookVerifier
from adapters.system.clock import SystemClock
from adapters.webhooks_out import HttpxWebhookPoster
from adapters.whatsapp import E164Numbers, WhatsAppCloudEvents, WhatsAppCloudSender
from core.bookings import (
    AddPlace,
    AddResource,
    BookingSettings,
    CancelBooking,
    CompleteBooking,
    ConfirmBooking,
    ConfirmPaidBooking,
    CreateOffering,
    CreateProvider,
    ExpireHolds,
    FollowArea,
    FollowMyBookings,
    FollowOffering,
    GetAvailability,
    GetBooking,
    GetCatalog,
    GetOffering,
    HoldSlot,
    ListCancelledBookings,
    ListMyBookings,
    ListProviderBookings,
    ListProviders,
    MarkNoShow,
    ReadBookings,
    RescheduleBooking,
    ScheduleSessions,
    SearchOfferings,
    SetOpeningHours,
)
from core.consent import (
    Analytics,
    AnalyticsConsent,
    AnalyticsEvent,
    BuildExport,
    CheckConsent,
    DownloadExport,
    EnforceRetention,
    ExportNow,
    GetErasure,
    GetExport,
    GetPolicy,
    GrantConsent,
    ListCookieCategories,
    ListMyConsents,
    MergeAnonymousConsents,
    PersonalRecords,
    PublishPolicy,
    QueueTracking,
    RecordCookieChoices,
    RequestErasure,
    RequestExport,
    RightsSettings,
    RunErasure,
    TrackEvent,
    WithdrawConsent,
    erasure_steps,
)
from core.identity import (
    AccessTokenAuthenticator,
    BeginTotpEnrolment,
    BreachedPasswords,
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
    RotateKeyEncryptionKey,
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
    VerifyAuditLog,
    VerifyEmail,
)
from core.integrations import (
    DeliverWebhook,
    DisableEndpoint,
    DispatchEventToEndpoints,
    ListDeadDeliveries,
    ListDeliveries,
    ListEndpoints,
    RedeliverWebhook,
    RegisterEndpoint,
    RotateEndpointSecret,
)
from core.media import (
    AttachUploadedPhoto,
    DeleteOwnerPhotos,
    DeletePhoto,
    Delivery,
    DestroyAsset,
    DestroyOutcome,
    ListPhotos,
    MediaSettings,
    MediaStore,
    RequestPhotoUpload,
    UploadNotice,
    UploadRules,
    UploadTicket,
)
from core.messaging import (
    ConfirmWhatsAppSubscription,
    DispatchEvent,
    EmailEvents,
    EmailSender,
    GetContactPreferences,
    GetReminderPlan,
    IssueCalendarFeed,
    IssueProviderCalendarFeed,
    ListAllMessages,
    ListMyMessages,
    ListProviderMessages,
    MessageId,
    OutgoingEmail,
    OutgoingWhatsApp,
    ReadCalendarFeed,
    RecordEmailReports,
    RecordWhatsAppNotice,
    ResendMessage,
    SendFailedTemporarily,
    SendMessage,
    SendReceipt,
    SendRefused,
    SendReminder,
    SetContactPreferences,
    SetReminderPlan,
    ShowMessage,
    StatusReport,
    WhatsAppEvents,
    WhatsAppNotice,
    WhatsAppSender,
)
from core.payments import (
    CancelWithRefund,
    ExportLedger,
    GetBookingPayments,
    GetHeldTerms,
    GetOfferingTerms,
    GoodwillRefund,
    LedgerBalances,
    ListMyPayments,
    ListPaymentsInReview,
    ListRefunds,
    PayForBooking,
    PaymentSettings,
    ProcessProcessorEvents,
    ProviderMoney,
    ReceiveProcessorEvent,
    Reconcile,
    ResolveRefund,
    RetryRefund,
    ReviewPayment,
    SetOfferingTerms,
    SettlePayments,
    StartProviderOnboarding,
)
from core.payments.model import BadSignature, CardNotCharged, IntentView, RefundView
from core.payments.ports import (
    AccountView,
    BalanceLine,
    PaymentGateway,
    PayoutView,
    ProcessorEvent,
    WebhookVerifier,
)
from core.shared.ids import UserId
from core.shared.money import Money
from core.shared.principal import Authenticator
from core.shared.use_case import UseCase
from entrypoints.http.observability import Observability
from entrypoints.http.rate_limit import RateLimitPolicy
from entrypoints.http.services import Services
from entrypoints.metrics import watch_pools
from entrypoints.settings import NotConfigured, Settings

Closer = Callable[[], Awaitable[None]]
# Key reads are short and cached per person, so two connections serve a process's vault.
KEY_VAULT_POOL_SIZE = 2


async def _close(engines: list[AsyncEngine], redis: Redis, closers: list[Closer]) -> None:
    """Release what the process holds; clients built on first use registered their close."""
    for close in reversed(closers):
        await close()
    closers.clear()
    await redis.aclose()
    for engine in engines:
        await engine.dispose()


class PaymentsNotConfigured(NotConfigured):
    """A payments call needed Stripe in a process without its keys (STRIPE_API_KEY...)."""


class _NoProcessor:
    """Stands in for Stripe when no key is configured: everything that never reaches the
    processor (terms, holds, cancelling an unpaid booking) works; anything that would refuses,
    naming the setting. `reserva serve` always configures one (the local fake by default)."""

    def _refuse(self) -> NoReturn:
        raise PaymentsNotConfigured("payments need STRIPE_API_KEY and its companions")

    async def create_customer(self, *_: object) -> str:
        self._refuse()

    async def create_intent(self, *_: object) -> IntentView:
        self._refuse()

    async def intent(self, *_: object) -> IntentView:
        self._refuse()

    async def charge_off_session(self, *_: object) -> Result[IntentView, CardNotCharged]:
        self._refuse()

    async def cancel_intent(self, *_: object) -> IntentView:
        self._refuse()

    async def refund(self, *_: object) -> RefundView:
        self._refuse()

    async def refund_view(self, *_: object) -> RefundView:
        self._refuse()

    async def refunds_of(self, *_: object) -> Sequence[RefundView]:
        self._refuse()

    async def create_account(self, *_: object) -> AccountView:
        self._refuse()

    async def account(self, *_: object) -> AccountView:
        self._refuse()

    async def onboarding_link(self, *_: object) -> str:
        self._refuse()

    async def account_balance(self, *_: object) -> Sequence[tuple[str, Money]]:
        self._refuse()

    async def payout(self, *_: object) -> PayoutView:
        self._refuse()

    async def balance_lines(self, *_: object) -> Sequence[BalanceLine]:
        self._refuse()

    def verify(self, *_: object) -> Result[ProcessorEvent, BadSignature]:
        self._refuse()


def _payment_gateway(
    api_key: SecretStr | None, api_base: str, closers: list[Closer]
) -> PaymentGateway:
    if api_key is None:
        return _NoProcessor()
    gateway = StripePaymentGateway(api_key.get_secret_value(), api_base)
    closers.append(gateway.close)
    return gateway


def _webhook_verifier(secret: SecretStr | None, tolerance_seconds: int) -> WebhookVerifier:
    if secret is None:
        return _NoProcessor()  # a delivery answers 500: Stripe retries once we are configured
    return StripeWebhookVerifier(secret.get_secret_value(), tolerance_seconds)


class _NoEmail(EmailSender):
    """Stands in for SendGrid when no key is configured: mail waits in the queue (the send
    job retries) until the process runs with SENDGRID_API_KEY. `reserva serve` always has
    one (the local fake by default)."""

    async def send(self, email: OutgoingEmail) -> SendReceipt | SendRefused:
        raise SendFailedTemporarily("email is not configured (SENDGRID_API_KEY)")

    async def find(self, message_id: MessageId) -> SendReceipt | None:
        return None

    async def forget(self, address: str) -> None:
        """No provider configured: nothing was ever sent, so it holds nothing to delete."""


class _NoWhatsApp(WhatsAppSender):
    """Without WhatsApp settings nobody is sent WhatsApp messages: they fail at once."""

    async def send(self, message: OutgoingWhatsApp) -> SendReceipt | SendRefused:
        return SendRefused(reason="WhatsApp is not configured (WHATSAPP_ACCESS_TOKEN)")


class _NoEvents(EmailEvents, WhatsAppEvents):
    """Unconfigured webhooks: every delivery is unverifiable (401)."""

    def reports(
        self, body: bytes, headers: Mapping[str, str], now: datetime
    ) -> Sequence[StatusReport] | None:
        return None

    def notice(self, body: bytes, headers: Mapping[str, str]) -> WhatsAppNotice | None:
        return None

    def handshake(self, mode: str, verify_token: str, challenge: str) -> str | None:
        return None


def _email_sender(api_key: SecretStr | None, host: str, sender: str, name: str) -> EmailSender:
    if api_key is None:
        return _NoEmail()
    return SendGridEmailSender(api_key.get_secret_value(), sender, name, base_url=host)


def _email_events(public_key: str | None) -> EmailEvents:
    return _NoEvents() if public_key is None else SendGridEmailEvents(public_key)


def _whatsapp_sender(
    token: SecretStr | None, phone_number_id: str | None, base: str, closers: list[Closer]
) -> WhatsAppSender:
    if token is None or phone_number_id is None:
        return _NoWhatsApp()
    sender = WhatsAppCloudSender(token.get_secret_value(), phone_number_id, base_url=base)
    closers.append(sender.aclose)
    return sender


def _whatsapp_events(secret: SecretStr | None, verify_token: SecretStr | None) -> WhatsAppEvents:
    if secret is None or verify_token is None:
        return _NoEvents()
    return WhatsAppCloudEvents(secret.get_secret_value(), verify_token.get_secret_value())


class MediaNotConfigured(NotConfigured):
    """A photo call needed Cloudinary in a process without CLOUDINARY_URL."""


class _NoMediaStore(MediaStore):
    """Stands in for Cloudinary when it is not configured: photo uploads refuse, naming the
    setting; notifications are unverifiable; deletions wait in the queue (the job retries)."""

    def _refuse(self) -> NoReturn:
        raise MediaNotConfigured("photos need CLOUDINARY_URL")

    def upload_ticket(
        self, public_id: str, folder: str, rules: UploadRules, now: datetime
    ) -> UploadTicket:
        self._refuse()

    def verify_notification(
        self, body: bytes, headers: Mapping[str, str], now: datetime
    ) -> UploadNotice | None:
        return None

    def delivery(self, public_id: str, version: int | None, widths: Sequence[int]) -> Delivery:
        self._refuse()

    async def destroy(self, public_id: str) -> DestroyOutcome:
        self._refuse()


_CLOUDINARY_URL = re.compile(r"cloudinary://(?P<key>[^:]+):(?P<secret>[^@]+)@(?P<cloud>.+)")


def _media_store(
    url: SecretStr | None, upload_prefix: str, delivery_host: str | None, api_url: str
) -> MediaStore:
    if url is None:
        return _NoMediaStore()
    parts = _CLOUDINARY_URL.fullmatch(url.get_secret_value())
    if parts is None:  # the settings check the shape; this is their promise
        raise MediaNotConfigured("CLOUDINARY_URL is not cloudinary://<key>:<secret>@<cloud>")
    return CloudinaryMediaStore(
        CloudinaryConfig(
            cloud_name=parts["cloud"],
            api_key=parts["key"],
            api_secret=parts["secret"],
            notification_url=f"{api_url}/webhooks/cloudinary",
            upload_prefix=upload_prefix,
            delivery_host=delivery_host,
        )
    )


def _webhook_poster(allow_private: bool, closers: list[Closer]) -> HttpxWebhookPoster:
    poster = HttpxWebhookPoster(allow_private_addresses=allow_private)
    closers.append(poster.close)
    return poster


# ---------------------------------------------------------------- live availability (issue 12)
def _live_feed(redis: Redis, closers: list[Closer]) -> RedisLiveFeed:
    feed = RedisLiveFeed(redis)
    closers.append(feed.close)  # its reader task ends before Redis closes
    return feed


def _live_relay(
    enabled: bool,
    listen_url: str | None,
    direct_url: str | None,
    database_url: str,
    publisher: RedisLivePublisher,
) -> PostgisLiveRelay | None:
    """The relay this process contends to run (docs/adr/0032); None when turned off. Its
    LISTEN bypasses a transaction pooler (ADR 35): its own URL, else the direct one."""
    if not enabled:
        return None
    return PostgisLiveRelay(listen_url or direct_url or database_url, publisher)


async def _relay_live_changes(relay: PostgisLiveRelay | None) -> None:
    """Run this process's relay until cancelled (at once when it is turned off)."""
    if relay is not None:
        await relay.run()


class _NoAnalytics(Analytics):
    """Without GA4 settings analytics is off: nothing is queued, nothing is sent."""

    @property
    def enabled(self) -> bool:
        return False

    async def send(self, client_id: str, events: Sequence[AnalyticsEvent]) -> None:
        return None


def _sections(*parts: PersonalRecords | Sequence[PersonalRecords]) -> list[PersonalRecords]:
    """Stores' records in order; a context that has several sections gives them as a tuple."""
    return [one for part in parts for one in (part if isinstance(part, Sequence) else (part,))]


def _erasing(run_erasure: RunErasure) -> Callable[[UserId], Awaitable[None]]:
    async def erase(person: UserId) -> None:
        await run_erasure(person, requested_by="retention: abandoned account")

    return erase


def _analytics_client(
    measurement_id: str | None,
    api_secret: SecretStr | None,
    endpoint: str,
    validation: bool,
    closers: list[Closer],
) -> Analytics:
    if measurement_id is None or api_secret is None:
        return _NoAnalytics()
    client = Ga4MeasurementProtocol(
        measurement_id, api_secret.get_secret_value(), endpoint=endpoint, validation=validation
    )
    closers.append(client.aclose)
    return client


# ---------------------------------------------------------------- replica (ADR 34)


def _write_marks(replica_url: str | None, redis: Redis, ttl_seconds: float) -> WriteMarks | None:
    """Where people's last writes are remembered; nowhere when there is no replica to lag."""
    if replica_url is None:
        return None
    return RedisWriteMarks(redis, ttl_seconds=ttl_seconds)


def _replica_engine(
    url: str | None,
    pool_size: int,
    pool_timeout: float,
    transaction_pooler: bool,
    closers: list[Closer],
) -> AsyncEngine | None:
    if url is None:
        return None
    engine = create_engine(
        url, pool_size=pool_size, pool_timeout=pool_timeout, transaction_pooler=transaction_pooler
    )
    closers.append(engine.dispose)
    return engine


def _replica_reads(
    primary: AsyncEngine, replica: AsyncEngine | None, marks: WriteMarks | None
) -> ReplicaReads | None:
    if replica is None or marks is None:
        return None
    return ReplicaReads(primary, replica, marks)


# ---------------------------------------------------------------- end replica


def _breached_passwords(hibp_api_url: str | None, timeout_seconds: float) -> BreachedPasswords:
    """The bundled list, and Have I Been Pwned after it when a URL is configured."""
    bundled = BundledBreachedPasswords()
    if not hibp_api_url:
        return bundled
    return HibpBreachedPasswords(hibp_api_url, bundled, timeout_seconds=timeout_seconds)


# observe (issue 12)
def _heartbeat_limit(seconds: int | None) -> timedelta | None:
    return timedelta(seconds=seconds) if seconds else None


def _secret(value: object) -> str | None:
    return value.get_secret_value() if isinstance(value, SecretStr) else None


U = TypeVar("U", bound=UseCase)
Ports = Mapping[str, providers.Provider[Any]]  # a use case's field name -> where it comes from


def _wired(use_case: type[U], ports: Ports) -> providers.Singleton[U]:
    """One singleton of `use_case` given the ports its attrs fields name: the class says what
    it needs, the container only where each port comes from. A required field with no port
    fails here, when the container class is defined, not at the first request."""
    fields = [f for f in attrs.fields(use_case) if f.init]  # type: ignore[arg-type]
    missing = [f.name for f in fields if f.default is attrs.NOTHING and f.name not in ports]
    if missing:
        raise TypeError(f"{use_case.__name__} needs ports the container lacks: {missing}")
    return providers.Singleton(
        use_case, **{f.name: ports[f.name] for f in fields if f.name in ports}
    )


class Container(containers.DeclarativeContainer):
    config = providers.Configuration(strict=True)

    # ------------------------------------------------------------ infrastructure
    clock = providers.Singleton(SystemClock)
    engine = providers.Singleton(
        create_engine,
        config.database_url,
        pool_size=config.db_pool_size,
        pool_timeout=config.db_pool_timeout_seconds,
        transaction_pooler=config.database_transaction_pooler,  # pool (ADR 35)
    )
    # Secrets at rest: sealed under data keys that the key file's KEKs wrap (docs/adr/0011).
    key_store = providers.Singleton(FileKeyStore, config.kek_file)
    keyring = providers.Singleton(AesGcmKeyring, key_store)
    # Personal data: sealed per person, so erasure destroys one key (docs/adr/0025); the
    # stores of identity, messaging and payments seal with it. The vault reads keys while a
    # unit of work holds a connection, so it has a pool of its own: with fixed-size pools, a
    # second connection asked of the same pool could wait for ever (pool starvation).
    key_vault_engine = providers.Singleton(
        create_engine,
        config.database_url,
        pool_size=KEY_VAULT_POOL_SIZE,
        pool_timeout=config.db_pool_timeout_seconds,
        transaction_pooler=config.database_transaction_pooler,  # pool (ADR 35)
    )
    person_key_vault = providers.Singleton(PostgisPersonKeyVault, key_vault_engine)
    erasure_register = providers.Singleton(FileErasureRegister.beside, config.kek_file)
    personal_data = providers.Singleton(
        AesGcmPersonalData, person_key_vault, keyring, erasure_register
    )
    redis = providers.Singleton(Redis.from_url, config.redis_url)
    closers: providers.Provider[list[Closer]] = providers.Singleton(
        list
    )  # of clients built on first use, e.g. Stripe's
    # The bookings context has a pool of its own for the same reason: payments, messaging and
    # integrations call bookings use cases (the bookings desk) while their own unit of work
    # holds a connection; from one fixed pool, eight such requests at once waited for ever
    # (bench/payments.py answered 503 after the pool timeout).
    # ------------------------------------------------------------ replica (ADR 34)
    # With DATABASE_REPLICA_URL, search and availability read a streaming replica, except for
    # a person whose last write it has not replayed yet: writes on the bookings engine made for
    # a person note the primary's WAL position (Redis), and their reads wait for it there.
    write_marks = providers.Singleton(
        _write_marks, config.database_replica_url, redis, config.read_your_writes_seconds
    )
    replica_engine = providers.Singleton(
        _replica_engine,
        config.database_replica_url,
        config.db_pool_size,
        config.db_pool_timeout_seconds,
        config.database_transaction_pooler,  # pool (ADR 35): a replica behind PgBouncer too
        closers,
    )
    # --- end replica
    bookings_engine = providers.Singleton(
        mark_writes,  # replica (ADR 34): a no-op without a replica
        providers.Singleton(
            create_engine,
            config.database_url,
            pool_size=config.db_pool_size,
            pool_timeout=config.db_pool_timeout_seconds,
            transaction_pooler=config.database_transaction_pooler,  # pool (ADR 35)
        ),
        write_marks,
    )
    # replica (ADR 34): None without DATABASE_REPLICA_URL, and every read stays on the primary.
    replica_reads = providers.Singleton(
        _replica_reads, bookings_engine, replica_engine, write_marks
    )
    close = providers.Callable(
        _close, providers.List(engine, bookings_engine, key_vault_engine), redis, closers
    )

    # ------------------------------------------------------------ bookings context
    bookings_uow = providers.Factory(PostgisBookingsUnitOfWork, bookings_engine)
    booking_settings = providers.Singleton(
        BookingSettings,
        hold_ttl=providers.Factory(timedelta, seconds=config.hold_ttl_seconds),
    )
    # Holds decide on catalog snapshots cached in this process; each write checks their version.
    bookable_catalog = providers.Singleton(PostgisBookableCatalog, bookings_engine)
    booking_holds = providers.Singleton(PostgisBookingHolds, bookings_engine)
    # A booking's transitions: one round trip to read, one to write (no unit of work).
    booking_moves = providers.Singleton(PostgisBookingMoves, bookings_engine)
    # Every bookings use case gets a fresh unit of work per call from this factory.
    _bookings: Ports = {
        "uow": bookings_uow.provider,
        "moves": booking_moves,
        "clock": clock,
        "settings": booking_settings,
        "catalog": bookable_catalog,
        "holds": booking_holds,
    }

    create_provider = _wired(CreateProvider, _bookings)
    add_place = _wired(AddPlace, _bookings)
    set_opening_hours = _wired(SetOpeningHours, _bookings)
    add_resource = _wired(AddResource, _bookings)
    create_offering = _wired(CreateOffering, _bookings)
    schedule_sessions = _wired(ScheduleSessions, _bookings)

    # replica (ADR 34): the public catalog's reads, on a replica when one is set.
    bookings_read_uow = providers.Factory(
        bookings_read_unit_of_work, bookings_engine, replica_reads
    )
    list_providers = _wired(ListProviders, {**_bookings, "uow": bookings_read_uow.provider})
    get_catalog = _wired(GetCatalog, {**_bookings, "uow": bookings_read_uow.provider})
    get_offering = _wired(GetOffering, _bookings)
    # Search and availability: one round trip each (no unit of work).
    availability_reads = providers.Singleton(
        PostgisAvailabilityReads, bookings_engine, replica_reads
    )
    get_availability = _wired(GetAvailability, {**_bookings, "reads": availability_reads})
    # Live availability (issue 12, docs/adr/0032): the database's changes, relayed to a Redis
    # stream by one process, followed by every API process's subscribers.
    live_publisher = providers.Singleton(
        RedisLivePublisher, redis, history=config.live_history_size
    )
    live_feed = providers.Singleton(_live_feed, redis, closers)
    live_relay = providers.Singleton(
        _live_relay,
        config.live_relay,
        config.live_listen_url,
        config.database_direct_url,
        config.database_url,
        live_publisher,
    )
    follow_offering = _wired(FollowOffering, {"feed": live_feed, "get_offering": get_offering})
    follow_area = _wired(FollowArea, {"feed": live_feed})
    follow_my_bookings = _wired(FollowMyBookings, {"feed": live_feed})
    search_offerings = _wired(SearchOfferings, {**_bookings, "reads": availability_reads})

    hold_slot = _wired(HoldSlot, _bookings)
    confirm_booking = _wired(ConfirmBooking, _bookings)
    cancel_booking = _wired(CancelBooking, _bookings)
    complete_booking = _wired(CompleteBooking, _bookings)
    mark_no_show = _wired(MarkNoShow, _bookings)
    reschedule_booking = _wired(RescheduleBooking, _bookings)
    get_booking = _wired(GetBooking, _bookings)
    list_my_bookings = _wired(ListMyBookings, _bookings)
    list_provider_bookings = _wired(ListProviderBookings, _bookings)
    # What the payments context calls once money moved; no person, and no HTTP route.
    confirm_paid_booking = _wired(ConfirmPaidBooking, _bookings)
    read_bookings = _wired(ReadBookings, _bookings)
    list_cancelled_bookings = _wired(ListCancelledBookings, _bookings)
    # The periodic sweep marking lapsed holds expired (migration 0021's function).
    expire_holds = _wired(
        ExpireHolds,
        {"lapsed_holds": providers.Singleton(PostgisLapsedHolds, bookings_engine), "clock": clock},
    )
    del _bookings

    # ------------------------------------------------------------ payments context
    payments_uow = providers.Factory(PostgisPaymentsUnitOfWork, engine, personal=personal_data)
    # Its part of export and erasure: rows stay for the books, client addresses go.
    payments_records = providers.Singleton(PostgisPaymentRecords, engine, personal_data)
    payment_settings = providers.Singleton(
        PaymentSettings,
        commission_percent=config.payments_commission_percent,
        goodwill_cap_percent=config.goodwill_cap_percent,
    )
    # Stripe, or the local fake Stripe that `reserva serve` starts when no key is configured.
    payment_gateway = providers.Singleton(
        _payment_gateway, config.stripe_api_key, config.stripe_api_base, closers
    )
    webhook_verifier = providers.Singleton(
        _webhook_verifier, config.stripe_webhook_secret, config.stripe_webhook_tolerance_seconds
    )
    # The bookings context as payments sees it: through the bookings use cases above.
    bookings_desk = providers.Singleton(
        BookingsDesk,
        get_booking=get_booking,
        cancel_booking=cancel_booking,
        confirm_paid_booking=confirm_paid_booking,
        read_bookings=read_bookings,
        get_offering=get_offering,
        list_cancelled_bookings=list_cancelled_bookings,
    )
    _payments: Ports = {
        "uow": payments_uow.provider,
        "gateway": payment_gateway,
        "bookings": bookings_desk,
        "verifier": webhook_verifier,
        "clock": clock,
        "settings": payment_settings,
    }
    pay_for_booking = _wired(PayForBooking, _payments)
    get_booking_payments = _wired(GetBookingPayments, _payments)
    list_my_payments = _wired(ListMyPayments, _payments)
    cancel_with_refund = _wired(CancelWithRefund, _payments)
    get_offering_terms = _wired(GetOfferingTerms, _payments)
    terms_in_effect = providers.Singleton(PostgisTermsInEffect, engine)
    get_held_terms = _wired(GetHeldTerms, {"terms": terms_in_effect, "settings": payment_settings})
    set_offering_terms = _wired(SetOfferingTerms, _payments)
    start_provider_onboarding = _wired(StartProviderOnboarding, _payments)
    provider_money = _wired(ProviderMoney, _payments)

    receive_processor_event = _wired(ReceiveProcessorEvent, _payments)
    process_processor_events = _wired(ProcessProcessorEvents, _payments)
    settle_payments = _wired(SettlePayments, _payments)

    list_payments_in_review = _wired(ListPaymentsInReview, _payments)
    review_payment = _wired(ReviewPayment, _payments)
    goodwill_refund = _wired(GoodwillRefund, _payments)
    list_refunds = _wired(ListRefunds, _payments)
    retry_refund = _wired(RetryRefund, _payments)
    resolve_refund = _wired(ResolveRefund, _payments)
    ledger_balances = _wired(LedgerBalances, _payments)
    export_ledger = _wired(ExportLedger, _payments)
    reconcile = _wired(Reconcile, _payments)
    del _payments

    # ------------------------------------------------------------ cross-cutting HTTP concerns
    idempotency = providers.Singleton(
        RedisIdempotencyStore, redis, answer_ttl_seconds=config.idempotency_ttl_seconds
    )

    # ------------------------------------------------------------ identity context
    sealed_secrets = providers.Singleton(PostgisSealedSecrets, engine, keyring)
    identity_uow = providers.Factory(PostgisIdentityUnitOfWork, engine, keyring, personal_data)
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
        keyed=personal_data,
    )
    # Requests that send mail (registrations, reset requests), counted whatever their outcome.
    request_throttle = providers.Singleton(
        RedisThrottle,
        redis,
        clock,
        providers.Factory(ThrottlePolicy, max_failures=config.auth_request_limit, **_backoff),
        prefix="throttle:requests:",
        keyed=personal_data,
    )
    del _backoff
    rate_limiter = providers.Singleton(RedisRateLimiter, redis, clock, keyed=personal_data)
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
    breached_passwords = providers.Singleton(
        _breached_passwords, config.hibp_api_url, config.hibp_timeout_seconds
    )
    access_token_codec = providers.Singleton(PyJwtAccessTokenCodec)
    token_sealer = providers.Singleton(AesGcmTokenSealer)
    totp_generator = providers.Singleton(PyotpTotpGenerator)
    qr_renderer = providers.Singleton(SegnoQrRenderer)
    # Ended sessions and authorization epochs, which every authenticated request checks.
    live_sessions = providers.Singleton(RedisLiveSessions, redis)
    # Identity's sections of a person's export and its part of their erasure ("account",
    # "sessions", "audit"; each one's erase runs all of identity's part).
    identity_records = providers.Singleton(
        identity_personal_records, identity_uow.provider, personal_data, live_sessions
    )
    # Any one of them erases all of identity's part (account, sessions, audit clients).
    identity_account_records = providers.Callable(lambda sections: sections[0], identity_records)
    # Steps several identity use cases take, built once and shared.
    token_issuer = providers.Singleton(
        TokenIssuer,
        settings=identity_settings,
        codec=access_token_codec,
        key_factory=providers.Singleton(Ed25519SigningKeyFactory),
        live_sessions=live_sessions,
    )
    session_starter = providers.Singleton(
        SessionStarter, settings=identity_settings, token_issuer=token_issuer
    )
    second_factor_check = providers.Singleton(
        SecondFactorCheck, totp=totp_generator, throttle=identity_throttle
    )

    # What identity use cases may ask for, by the name of their field.
    _identity: Ports = {
        "uow": identity_uow.provider,
        "clock": clock,
        "settings": identity_settings,
        "passwords": password_hasher,
        "breached": breached_passwords,
        "codec": access_token_codec,
        "sealer": token_sealer,
        "totp": totp_generator,
        "qr": qr_renderer,
        "throttle": identity_throttle,
        "request_throttle": request_throttle,
        "live_sessions": live_sessions,
        "token_issuer": token_issuer,
        "session_starter": session_starter,
        "second_factor": second_factor_check,
        "keyring": keyring,
        "key_store": key_store,
        "sealed_secrets": sealed_secrets,
    }
    start_operator_session = _wired(StartOperatorSession, _identity)
    register = _wired(Register, _identity)
    verify_email = _wired(VerifyEmail, _identity)
    login = _wired(Login, _identity)
    complete_mfa_login = _wired(CompleteMfaLogin, _identity)
    refresh = _wired(Refresh, _identity)
    change_password = _wired(ChangePassword, _identity)
    request_password_reset = _wired(RequestPasswordReset, _identity)
    reset_password = _wired(ResetPassword, _identity)
    get_account = _wired(GetAccount, _identity)

    list_sessions = _wired(ListSessions, _identity)
    revoke_session = _wired(RevokeSession, _identity)
    revoke_all_sessions = _wired(RevokeAllSessions, _identity)

    get_mfa_status = _wired(GetMfaStatus, _identity)
    begin_totp_enrolment = _wired(BeginTotpEnrolment, _identity)
    show_totp_enrolment = _wired(ShowTotpEnrolment, _identity)
    confirm_totp_enrolment = _wired(ConfirmTotpEnrolment, _identity)
    step_up = _wired(StepUp, _identity)
    disable_mfa = _wired(DisableMfa, _identity)
    regenerate_recovery_codes = _wired(RegenerateRecoveryCodes, _identity)

    grant_staff = _wired(GrantStaff, _identity)
    revoke_staff = _wired(RevokeStaff, _identity)
    grant_admin = _wired(GrantAdmin, _identity)
    revoke_admin = _wired(RevokeAdmin, _identity)
    lock_user = _wired(LockUser, _identity)
    unlock_user = _wired(UnlockUser, _identity)
    reset_user_mfa = _wired(ResetUserMfa, _identity)
    find_user_by_email = _wired(FindUserByEmail, _identity)
    list_users = _wired(ListUsers, _identity)
    query_audit_log = _wired(QueryAuditLog, _identity)
    verify_audit_log = _wired(VerifyAuditLog, _identity)

    get_jwks = _wired(GetJwks, _identity)
    rotate_signing_key = _wired(RotateSigningKey, _identity)
    rotate_key_encryption_key = _wired(RotateKeyEncryptionKey, _identity)

    # One per process: it caches the verifying keys.
    verify_access_token = _wired(VerifyAccessToken, _identity)
    # Who is calling: the access token's claims as a principal (staff and admin roles only at
    # aal2), if its session is live. Tests of other contexts override it with a table of test
    # tokens.
    authenticator: providers.Provider[Authenticator] = providers.Singleton(
        AccessTokenAuthenticator, verify_access_token, live_sessions
    )
    del _identity

    # ------------------------------------------------------------ consent context
    consent_uow = providers.Factory(PostgisConsentUnitOfWork, engine)
    _consent: Ports = {"uow": consent_uow.provider, "clock": clock}
    grant_consent = _wired(GrantConsent, _consent)
    withdraw_consent = _wired(WithdrawConsent, _consent)
    list_my_consents = _wired(ListMyConsents, _consent)
    check_consent = _wired(CheckConsent, _consent)  # messaging and analytics ask it
    publish_policy = _wired(PublishPolicy, _consent)
    get_policy = _wired(GetPolicy, _consent)
    list_cookie_categories = _wired(ListCookieCategories, _consent)
    record_cookie_choices = _wired(RecordCookieChoices, _consent)
    merge_anonymous_consents = _wired(MergeAnonymousConsents, _consent)
    # The consent part of a person's export and erasure (the privacy use cases list these).
    consent_records = providers.Singleton(PostgisConsentRecords, engine)
    del _consent

    # ------------------------------------------------------------ messaging context
    messaging_uow = providers.Factory(PostgisMessagingUnitOfWork, engine, personal=personal_data)
    # Messaging asks the consent ledger (the WhatsApp opt-in counts as a grant; ADR 26).
    consent = providers.Singleton(LedgerConsentPolicy, check_consent)
    renderer = providers.Singleton(JinjaRenderer)
    calendar_writer = providers.Singleton(IcalendarWriter)
    links = providers.Singleton(WebLinks, config.public_web_url, config.public_api_url)
    phone_numbers = providers.Singleton(E164Numbers)
    # SendGrid and WhatsApp, or the local fake `reserva serve` starts when no key is set.
    email_sender = providers.Singleton(
        _email_sender,
        config.sendgrid_api_key,
        config.sendgrid_api_host,
        config.mail_from_address,
        config.mail_from_name,
    )
    # Its part of export and erasure (docs/privacy.md). Erasure must run it BEFORE the
    # person's key is shredded: it asks SendGrid to forget the addresses, which must open.
    messaging_records = providers.Singleton(
        PostgisMessagingRecords, engine, personal_data, email_sender
    )
    whatsapp_sender = providers.Singleton(
        _whatsapp_sender,
        config.whatsapp_access_token,
        config.whatsapp_phone_number_id,
        config.whatsapp_api_base,
        closers,
    )
    # Built on first use: only the API's webhooks read them (a worker never does).
    email_events = providers.Singleton(_email_events, config.sendgrid_event_public_key)
    whatsapp_events = providers.Singleton(
        _whatsapp_events, config.whatsapp_app_secret, config.whatsapp_verify_token
    )
    _messaging: Ports = {
        "uow": messaging_uow.provider,
        "clock": clock,
        "consent": consent,
        "keyring": keyring,
        "renderer": renderer,
        "calendar_writer": calendar_writer,
        "links": links,
        "email": email_sender,
        "whatsapp": whatsapp_sender,
        "email_events": email_events,
        "whatsapp_events": whatsapp_events,
        "phones": phone_numbers,
    }
    # The worker's jobs.
    dispatch_event = _wired(DispatchEvent, _messaging)
    send_message = _wired(SendMessage, _messaging)
    send_reminder = _wired(SendReminder, _messaging)
    # Providers' webhooks.
    record_email_reports = _wired(RecordEmailReports, _messaging)
    record_whatsapp_notice = _wired(RecordWhatsAppNotice, _messaging)
    confirm_whatsapp_subscription = _wired(ConfirmWhatsAppSubscription, _messaging)
    # People, staff and admins.
    list_my_messages = _wired(ListMyMessages, _messaging)
    list_provider_messages = _wired(ListProviderMessages, _messaging)
    list_all_messages = _wired(ListAllMessages, _messaging)
    show_message = _wired(ShowMessage, _messaging)
    resend_message = _wired(ResendMessage, _messaging)
    get_contact_preferences = _wired(GetContactPreferences, _messaging)
    set_contact_preferences = _wired(SetContactPreferences, _messaging)
    get_reminder_plan = _wired(GetReminderPlan, _messaging)
    set_reminder_plan = _wired(SetReminderPlan, _messaging)
    issue_calendar_feed = _wired(IssueCalendarFeed, _messaging)
    issue_provider_calendar_feed = _wired(IssueProviderCalendarFeed, _messaging)
    read_calendar_feed = _wired(ReadCalendarFeed, _messaging)
    del _messaging

    # ------------------------------------------------------------ media context
    media_uow = providers.Factory(PostgisMediaUnitOfWork, engine)
    # One Cloudinary account per process (the SDK's configuration is global): a singleton.
    media_store = providers.Singleton(
        _media_store,
        config.cloudinary_url,
        config.cloudinary_upload_prefix,
        config.cloudinary_delivery_host,
        config.public_api_url,
    )
    media_settings = providers.Singleton(MediaSettings, moderation=config.media_moderation)
    _media: Ports = {
        "uow": media_uow.provider,
        "store": media_store,
        "clock": clock,
        "settings": media_settings,
    }
    request_photo_upload = _wired(RequestPhotoUpload, _media)
    attach_uploaded_photo = _wired(AttachUploadedPhoto, _media)
    list_photos = _wired(ListPhotos, _media)
    delete_photo = _wired(DeletePhoto, _media)
    delete_owner_photos = _wired(DeleteOwnerPhotos, _media)
    destroy_asset = _wired(DestroyAsset, _media)
    del _media

    # ------------------------------------------------------------ integrations context
    integrations_uow = providers.Factory(PostgisIntegrationsUnitOfWork, engine)
    webhook_poster = providers.Singleton(
        _webhook_poster, config.integration_webhooks_allow_private, closers
    )
    _integrations: Ports = {
        "uow": integrations_uow.provider,
        "keyring": keyring,
        "clock": clock,
        "poster": webhook_poster,
    }
    register_endpoint = _wired(RegisterEndpoint, _integrations)
    list_endpoints = _wired(ListEndpoints, _integrations)
    rotate_endpoint_secret = _wired(RotateEndpointSecret, _integrations)
    disable_endpoint = _wired(DisableEndpoint, _integrations)
    list_deliveries = _wired(ListDeliveries, _integrations)
    redeliver_webhook = _wired(RedeliverWebhook, _integrations)
    list_dead_deliveries = _wired(ListDeadDeliveries, _integrations)
    dispatch_event_to_endpoints = _wired(DispatchEventToEndpoints, _integrations)
    deliver_webhook = _wired(DeliverWebhook, _integrations)
    del _integrations

    # ------------------------------------------------------------ analytics (consent context)
    # GA4's Measurement Protocol, or off when GA4_MEASUREMENT_ID is unset (docs/adr/0029).
    analytics_uow = providers.Factory(PostgisAnalyticsUnitOfWork, engine)
    analytics = providers.Singleton(
        _analytics_client,
        config.ga4_measurement_id,
        config.ga4_api_secret,
        config.ga4_endpoint,
        config.ga4_validate,
        closers,
    )
    # Whether a person or an anonymous id granted analytics: the consent ledger's answer.
    analytics_consent: providers.Provider[AnalyticsConsent] = providers.Singleton(
        LedgerAnalyticsConsent, check_consent
    )
    _analytics: Ports = {
        "uow": analytics_uow.provider,
        "analytics": analytics,
        "analytics_consent": analytics_consent,
        "personal_data": personal_data,
        "clock": clock,
    }
    queue_tracking = _wired(QueueTracking, _analytics)
    track_event = _wired(TrackEvent, _analytics)
    del _analytics
    # ------------------------------------------------------------ privacy rights (issue 10 §3)
    rights_uow = providers.Factory(PostgisRightsUnitOfWork, engine, personal_data)
    rights_settings = providers.Singleton(
        RightsSettings,
        link_ttl=providers.Factory(timedelta, seconds=config.export_link_ttl_seconds),
        keep_export=providers.Factory(timedelta, seconds=config.export_keep_seconds),
    )
    booking_records = providers.Singleton(PostgisBookingRecords, engine)
    media_records = providers.Singleton(MediaRecords)
    # Every store's PersonalRecords, in the export's order: each context adds its own here
    # (identity: account, sessions, audit; payments; messaging; consent).
    personal_records = providers.Callable(
        _sections,
        identity_records,
        booking_records,
        payments_records,
        messaging_records,
        consent_records,
        media_records,
    )
    # The erasure's order: the stores that need the person's values in clear (messaging forgets
    # addresses at its providers; media deletes at Cloudinary), then the data key's
    # destruction, then every other store's erase (identity deletes the users row).
    erasure_records_before_shredding = providers.List(messaging_records, media_records)
    erasure_records_after_shredding = providers.Callable(
        _sections, identity_account_records, booking_records, payments_records, consent_records
    )
    erasure_steps = providers.Singleton(
        erasure_steps,
        before_shredding=erasure_records_before_shredding,
        personal_data=personal_data,
        after_shredding=erasure_records_after_shredding,
    )
    # Re-authentication (the current password) and ending sessions, over identity.
    privacy_reauthentication = providers.Singleton(
        IdentityPasswordReAuthentication, identity_uow.provider, password_hasher, identity_throttle
    )
    privacy_session_ender = providers.Singleton(
        IdentitySessionEnder, identity_uow.provider, live_sessions, clock
    )
    _rights: Ports = {
        "uow": rights_uow.provider,
        "clock": clock,
        "settings": rights_settings,
        "records": personal_records,
        "steps": erasure_steps,
        "reauthentication": privacy_reauthentication,
        "sessions": privacy_session_ender,
    }
    request_export = _wired(RequestExport, _rights)
    get_export = _wired(GetExport, _rights)
    build_export = _wired(BuildExport, _rights)
    export_now = _wired(ExportNow, _rights)
    download_export = _wired(DownloadExport, _rights)
    request_erasure = _wired(RequestErasure, _rights)
    get_erasure = _wired(GetErasure, _rights)
    run_erasure = _wired(RunErasure, _rights)
    del _rights
    # ------------------------------------------------------------ retention (issue 10)
    # Abandoned accounts are erased the way a requested erasure is (resumable, every store).
    enforce_retention = _wired(
        EnforceRetention,
        {
            "store": providers.Singleton(PostgisRetentionStore, engine),
            "accounts": providers.Singleton(PostgisAbandonedAccounts, engine),
            "erase": providers.Singleton(_erasing, run_erasure),
            "clock": clock,
        },
    )

    # ---- observe: readiness and operational state (issue 12 §2, docs/adr/0033)
    postgis_readiness = providers.Singleton(
        PostgisReadiness,
        engine,
        worker_silent_after=providers.Callable(
            _heartbeat_limit, config.worker_heartbeat_max_age_seconds
        ),
    )
    redis_readiness = providers.Singleton(RedisReadiness, redis)
    # ---- end of observe


def observability(container: Container) -> Observability:
    """observe (issue 12): what the HTTP app needs for request ids, /metrics and /health."""
    config = container.config() or {}

    def watch() -> None:
        watch_pools(
            {
                "main": container.engine(),
                "bookings": container.bookings_engine(),
                "key_vault": container.key_vault_engine(),
            }
        )

    return Observability(
        request_id_header=config.get("request_id_header"),
        metrics_token=_secret(config.get("metrics_token")),
        metrics_public=bool(config.get("metrics_public", False)),
        operations_state=lambda: operations_state(container.engine()),
        readiness={
            "database": lambda: container.postgis_readiness().problems(),
            "redis": lambda: container.redis_readiness().problems(),
        },
        on_start=watch,
        sentry_dsn=_secret(config.get("sentry_dsn")),
        sentry_environment=config.get("sentry_environment") or "production",
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
    config = container.config() or {}
    return Services(
        use_cases=use_case_providers(container),
        authenticator=container.authenticator,
        idempotency=container.idempotency,
        rate_limiter=container.rate_limiter,
        rate_limit_policy=container.rate_limit_policy,
        close=container.close,
        cors_origins=tuple(config.get("cors_origins", ())),
        stripe_publishable_key=config.get("stripe_publishable_key"),
        reading_as=reading_as if config.get("database_replica_url") else None,  # ADR 34
        observability=observability(container),  # observe (issue 12)
        live_relay=lambda: _relay_live_changes(container.live_relay()),
    )
