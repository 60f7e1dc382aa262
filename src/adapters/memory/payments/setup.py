"""The payments context in memory: every payments use case wired to the fakes, one clock.

For unit tests and for other Python services' tests:

    app = payments_in_memory()
    provider = await app.open_provider()
    offering = app.desk.add_offering(provider)
    customer = app.customer()
    booking = app.desk.hold(customer.user_id, offering, price, starts_at)
    started = (await app(PayForBooking)(customer, booking.id, None)).unwrap()
    app.gateway.pay(started.payment.intent_id)      # the customer's browser
    await app.deliver()                              # the processor's webhooks

`PaymentsPorts` builds a use case from the ports its attrs fields name, with any adapters
(the contract suites wire the real ones the same way).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TypeVar

import attrs

from adapters.memory.clock import FixedClock
from adapters.memory.payments.bookings_desk import MemoryBookingDesk
from adapters.memory.payments.gateway import MemoryPaymentGateway, Webhook
from adapters.memory.payments.store import MemoryPaymentsStore
from adapters.memory.payments.webhooks import MemoryWebhookVerifier
from adapters.memory.setup import build
from core.payments.connect import StartProviderOnboarding
from core.payments.ports import BookingDesk, PaymentGateway, PaymentsUnitOfWork, WebhookVerifier
from core.payments.service import PaymentSettings
from core.payments.webhooks import ProcessProcessorEvents, ReceiveProcessorEvent
from core.shared.ids import ProviderId, UserId
from core.shared.principal import Principal, Role
from core.shared.time import Clock
from core.shared.unit_of_work import UnitOfWorkFactory

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class PaymentsPorts:
    uow: UnitOfWorkFactory[PaymentsUnitOfWork]
    gateway: PaymentGateway
    bookings: BookingDesk
    verifier: WebhookVerifier
    clock: Clock
    settings: PaymentSettings = attrs.field(factory=PaymentSettings)

    def __call__(self, use_case: type[T]) -> T:
        return build(use_case, self)


def _principal(
    *roles: Role, providers: frozenset[ProviderId] = frozenset(), mfa: bool = False
) -> Principal:
    return Principal(
        user_id=UserId(uuid.uuid4()), roles=frozenset(roles), provider_ids=providers, mfa=mfa
    )


@attrs.frozen(kw_only=True)
class InMemoryPayments:
    """Call it with a use-case class to get that use case, ready to call."""

    clock: FixedClock
    store: MemoryPaymentsStore  # what was committed: payments, refunds, ledger, audit, events
    gateway: MemoryPaymentGateway  # the processor: play the browser, take its webhooks
    desk: MemoryBookingDesk  # the bookings context: hold, take a slot, reschedule
    verifier: MemoryWebhookVerifier
    ports: PaymentsPorts
    admin: Principal = attrs.field(factory=lambda: _principal(Role.ADMIN, mfa=True))

    def __call__(self, use_case: type[T]) -> T:
        return self.ports(use_case)

    def customer(self) -> Principal:
        return _principal(Role.CUSTOMER)

    def staff(self, provider_id: ProviderId, mfa: bool = True) -> Principal:
        return _principal(Role.STAFF, providers=frozenset({provider_id}), mfa=mfa)

    async def open_provider(self) -> ProviderId:
        """A provider that finished onboarding at the processor and may take charges."""
        provider_id = ProviderId(uuid.uuid4())
        staff = self.staff(provider_id)
        start = self(StartProviderOnboarding)
        (
            await start(staff, provider_id, "https://app.test/back", "https://app.test/again")
        ).unwrap()
        account = next(a for a in self.store.accounts if a.provider_id == provider_id)
        assert account.account_ref is not None
        self.gateway.complete_onboarding(account.account_ref)
        await self.deliver()
        return provider_id

    async def deliver(self, webhooks: Sequence[Webhook] | None = None) -> int:
        """Deliver webhooks (by default every one sent since the last delivery) and process
        the inbox; how many events were handled."""
        receive = self(ReceiveProcessorEvent)
        for hook in self.gateway.webhooks() if webhooks is None else webhooks:
            (await receive(hook.payload, hook.signature)).unwrap()
        return await self(ProcessProcessorEvents)(limit=1000)


def payments_in_memory(
    now: datetime | None = None,
    settings: PaymentSettings | None = None,
    *,
    interleave: bool = False,
) -> InMemoryPayments:
    """Empty stores and a clock stopped at `now` (default: the current instant).
    `interleave`: the store yields to other tasks at every write (concurrency tests)."""
    clock = FixedClock(now or datetime.now(UTC))
    store, gateway = MemoryPaymentsStore(interleave), MemoryPaymentGateway(clock)
    desk, verifier = MemoryBookingDesk(clock), MemoryWebhookVerifier()
    ports = PaymentsPorts(
        uow=store,
        gateway=gateway,
        bookings=desk,
        verifier=verifier,
        clock=clock,
        settings=settings or PaymentSettings(),
    )
    return InMemoryPayments(
        clock=clock, store=store, gateway=gateway, desk=desk, verifier=verifier, ports=ports
    )
