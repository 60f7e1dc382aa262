"""A complete Reserva in memory: every use case of the core wired to the fakes, one clock.

For other Python services' tests and for trying the core out (docs/importing.md):

    app = in_memory()
    booking = await app(HoldSlot)(customer, SlotRequest(...))

A use case is built with the ports its attrs fields name, as the container builds it with the
real adapters; `IdentityPorts` does the same for any identity unit of work (PostGIS included).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, TypeVar

import attrs

from adapters.memory.availability_reads import MemoryAvailabilityReads
from adapters.memory.booking_moves import MemoryBookingMoves
from adapters.memory.bookings import MemoryBookingsStore
from adapters.memory.clock import FixedClock
from adapters.memory.holds import MemoryBookableCatalog, MemoryBookingHolds
from adapters.memory.identity import MemoryIdentityStore, MemorySealedSecrets
from adapters.memory.keyring import MemoryKeyring
from adapters.memory.live_sessions import MemoryLiveSessions
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
from core.bookings import BookingSettings
from core.bookings.ports import (
    AvailabilityReads,
    BookableCatalog,
    BookingHolds,
    BookingMoves,
    BookingsUnitOfWork,
)
from core.identity import IdentitySettings, SecondFactorCheck, SessionStarter, TokenIssuer
from core.identity.ports import (
    AccessTokenCodec,
    BreachedPasswords,
    IdentityUnitOfWork,
    LiveSessions,
    PasswordHasher,
    QrRenderer,
    SigningKeyFactory,
    Throttle,
    TokenSealer,
    TotpGenerator,
)
from core.shared.ids import UserId
from core.shared.keyring import Keyring, KeyStore, SealedSecrets
from core.shared.principal import Principal, Role
from core.shared.time import Clock
from core.shared.unit_of_work import UnitOfWorkFactory

T = TypeVar("T")


def build(use_case: type[T], ports: object) -> T:
    """`use_case` built with the attributes of `ports` its fields name; defaults for the rest."""
    fields: tuple[Any, ...] = attrs.fields(use_case)  # type: ignore[arg-type]
    given = {f.name: getattr(ports, f.name) for f in fields if f.init and hasattr(ports, f.name)}
    return use_case(**given)


@attrs.frozen(kw_only=True)
class BookingsPorts:
    uow: UnitOfWorkFactory[BookingsUnitOfWork]
    moves: BookingMoves
    reads: AvailabilityReads
    clock: Clock
    catalog: BookableCatalog  # holds decide on its snapshots ...
    holds: BookingHolds  # ... and write in one transaction
    settings: BookingSettings = attrs.field(factory=BookingSettings)

    @classmethod
    def over(
        cls, store: MemoryBookingsStore, clock: Clock, settings: BookingSettings | None = None
    ) -> BookingsPorts:
        """Every bookings port on one in-memory store."""
        return cls(
            uow=store,
            moves=MemoryBookingMoves(store),
            reads=MemoryAvailabilityReads(store),
            clock=clock,
            catalog=MemoryBookableCatalog(store),
            holds=MemoryBookingHolds(store),
            settings=settings or BookingSettings(),
        )

    def __call__(self, use_case: type[T]) -> T:
        return build(use_case, self)


@attrs.frozen(kw_only=True)
class IdentityPorts:
    uow: UnitOfWorkFactory[IdentityUnitOfWork]
    clock: Clock
    settings: IdentitySettings
    passwords: PasswordHasher
    breached: BreachedPasswords
    codec: AccessTokenCodec
    key_factory: SigningKeyFactory
    sealer: TokenSealer
    totp: TotpGenerator
    qr: QrRenderer
    throttle: Throttle  # failures: passwords, codes, tokens
    request_throttle: Throttle  # requests that send mail
    keyring: Keyring
    key_store: KeyStore
    sealed_secrets: SealedSecrets
    live_sessions: LiveSessions = attrs.field(factory=MemoryLiveSessions)

    @property
    def token_issuer(self) -> TokenIssuer:
        return TokenIssuer(
            settings=self.settings,
            codec=self.codec,
            key_factory=self.key_factory,
            live_sessions=self.live_sessions,
        )

    @property
    def session_starter(self) -> SessionStarter:
        return SessionStarter(settings=self.settings, token_issuer=self.token_issuer)

    @property
    def second_factor(self) -> SecondFactorCheck:
        return SecondFactorCheck(totp=self.totp, throttle=self.throttle)

    def __call__(self, use_case: type[T]) -> T:
        return build(use_case, self)


def fake_identity_ports(
    store: MemoryIdentityStore, clock: Clock, settings: IdentitySettings | None = None
) -> IdentityPorts:
    """The identity ports over `store` on fast, deterministic fakes (a password hash is a
    SHA-256, the keyring a toy cipher)."""
    keyring = MemoryKeyring()
    return IdentityPorts(
        uow=store.uow,
        clock=clock,
        settings=settings or IdentitySettings(),
        passwords=FakePasswordHasher(),
        breached=FakeBreachedPasswords(),
        codec=FakeAccessTokenCodec(),
        key_factory=FakeSigningKeyFactory(),
        sealer=FakeTokenSealer(),
        totp=FakeTotpGenerator(),
        qr=FakeQrRenderer(),
        throttle=MemoryThrottle(clock),
        request_throttle=MemoryThrottle(clock),
        keyring=keyring,
        key_store=keyring,
        sealed_secrets=MemorySealedSecrets(store, keyring),
    )


@attrs.frozen(kw_only=True)
class InMemory:
    """Call it with a use-case class to get that use case, ready to call."""

    clock: FixedClock  # move it by hand: holds expire, tokens age
    bookings: MemoryBookingsStore  # `.outbox`: the committed events
    identity: MemoryIdentityStore  # `.state`: users, sessions, audit, outbox
    bookings_ports: BookingsPorts
    identity_ports: IdentityPorts
    # A platform administrator with a second factor, to set up a catalog.
    admin: Principal = attrs.field(
        factory=lambda: Principal(
            user_id=UserId(uuid.uuid4()), roles=frozenset({Role.ADMIN}), mfa=True
        )
    )

    def __call__(self, use_case: type[T]) -> T:
        context = use_case.__module__.split(".")[1]
        return build(
            use_case, self.identity_ports if context == "identity" else self.bookings_ports
        )

    def customer(self) -> Principal:
        """A new customer, as an access token of theirs would present them."""
        return Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.CUSTOMER}))


def in_memory(now: datetime | None = None) -> InMemory:
    """Empty stores and a clock stopped at `now` (default: the current instant)."""
    clock = FixedClock(now or datetime.now(UTC))
    bookings, identity = MemoryBookingsStore(), MemoryIdentityStore()
    return InMemory(
        clock=clock,
        bookings=bookings,
        identity=identity,
        bookings_ports=BookingsPorts.over(bookings, clock),
        identity_ports=fake_identity_ports(identity, clock),
    )
