"""What the payments context needs from the outside world. Adapters subclass these."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import attrs
from returns.result import Result

from core.payments.fraud import Velocity
from core.payments.ledger import Balance, LedgerTransaction
from core.payments.model import (
    BadSignature,
    CardNotCharged,
    IntentView,
    Payment,
    PaymentId,
    Refund,
    RefundId,
    RefundStatus,
    RefundView,
)
from core.payments.terms import Canceller, OfferingTerms
from core.shared.errors import DomainError
from core.shared.ids import BookingId, OfferingId, ProviderId, UserId
from core.shared.money import Money
from core.shared.principal import Principal
from core.shared.unit_of_work import UnitOfWork

# --- the bookings context, as payments sees it -----------------------------------------------


class BookingState(enum.StrEnum):
    HELD = "held"
    CONFIRMED = "confirmed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    OTHER = "other"  # completed, no-show, rescheduled: money no longer follows the booking


@attrs.frozen(kw_only=True)
class PayableBooking:
    id: BookingId
    offering_id: OfferingId
    provider_id: ProviderId
    customer_id: UserId
    price: Money
    starts_at: datetime
    held_at: datetime  # the terms in effect at this instant are the ones the customer saw
    state: BookingState
    hold_expires_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancelled_by: Canceller | None = None
    rescheduled_from: BookingId | None = None


class BookingDesk(Protocol):
    """The bookings context behind its public use cases (adapters/bookings_desk implements
    it). Every call is its own transaction in the bookings context."""

    async def payable(
        self, caller: Principal, booking_id: BookingId
    ) -> Result[PayableBooking, DomainError]:
        """The booking as `caller` may see it (NotFound otherwise)."""
        ...

    async def read(self, ids: Sequence[BookingId]) -> Mapping[BookingId, PayableBooking]:
        """The service's own read, for sweepers: every booking named that exists."""
        ...

    async def confirm_paid(self, booking_id: BookingId) -> Result[PayableBooking, DomainError]:
        """Confirm because the money arrived; idempotent. A hold that expired is taken again
        if its slot is still free; otherwise SlotUnavailable (the caller refunds)."""
        ...

    async def cancel(
        self, caller: Principal, booking_id: BookingId
    ) -> Result[PayableBooking, DomainError]:
        """Cancel as `caller` would through the bookings API (same checks, same errors)."""
        ...

    async def offering_provider(self, offering_id: OfferingId) -> ProviderId | None:
        """The provider of a public offering, or None when there is no such offering."""
        ...

    async def cancelled_since(self, since: datetime, limit: int) -> Sequence[PayableBooking]:
        """Bookings cancelled at or after `since`, oldest cancellation first: the sweeper
        checks that each paid one was refunded by its policy (a crash between cancelling
        and refunding, or a cancellation made outside the payments use case)."""
        ...


# --- the processor -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class IntentRequest:
    idempotency_key: str
    amount: Money
    commission: Money  # application_fee_amount
    destination: str  # the provider's connected account
    customer_ref: str  # the processor's customer
    save_card: bool  # a deposit: keep the card for charging the balance off-session
    metadata: Mapping[str, str]


@attrs.frozen(kw_only=True)
class OffSessionRequest:
    idempotency_key: str
    amount: Money
    commission: Money
    destination: str
    customer_ref: str
    payment_method_id: str
    metadata: Mapping[str, str]


@attrs.frozen(kw_only=True)
class RefundRequest:
    idempotency_key: str
    intent_id: str
    amount: Money
    reverse_transfer: bool  # take the provider's share back (policy refunds), not goodwill
    metadata: Mapping[str, str]


@attrs.frozen(kw_only=True)
class AccountView:
    account_ref: str
    charges_enabled: bool
    payouts_enabled: bool


@attrs.frozen(kw_only=True)
class PayoutView:
    payout_ref: str
    account_ref: str
    amount: Money
    status: str  # paid, failed, pending...
    arrived_at: datetime | None


@attrs.frozen(kw_only=True)
class BalanceLine:
    """One of the processor's balance transactions (the platform's): what reconciliation
    compares with the ledger."""

    ref: str
    kind: str  # charge, refund, transfer, ...
    source: str | None  # the charge, refund... it belongs to
    amount: Money  # signed
    fee: Money
    created_at: datetime


class PaymentGateway(Protocol):
    """The card processor (Stripe). The money contract: `create_intent` moves no money (the
    customer's browser confirms); `refund` and `charge_off_session` do, and with the same
    idempotency key the processor acts at most once, however often they are called. The
    caller stores every key before calling. Network or processor outages raise; only the
    refusals listed in a Result are expected answers."""

    async def create_customer(self, user_id: UserId, idempotency_key: str) -> str: ...

    async def create_intent(self, request: IntentRequest) -> IntentView: ...

    async def intent(self, intent_id: str) -> IntentView:
        """Read back from the processor, with the client secret, charge, fee and risk."""
        ...

    async def charge_off_session(
        self, request: OffSessionRequest
    ) -> Result[IntentView, CardNotCharged]: ...

    async def cancel_intent(self, intent_id: str) -> IntentView: ...

    async def refund(self, request: RefundRequest) -> RefundView: ...

    async def refund_view(self, refund_ref: str) -> RefundView: ...

    async def refunds_of(self, intent_id: str) -> Sequence[RefundView]: ...

    async def create_account(
        self, provider_id: ProviderId, email: str | None, country: str, idempotency_key: str
    ) -> AccountView: ...

    async def account(self, account_ref: str) -> AccountView: ...

    async def onboarding_link(self, account_ref: str, return_url: str, refresh_url: str) -> str: ...

    async def account_balance(self, account_ref: str) -> Sequence[tuple[str, Money]]:
        """(available|pending, amount) per currency of a connected account."""
        ...

    async def payout(self, account_ref: str, payout_ref: str) -> PayoutView: ...

    async def balance_lines(self, since: datetime, until: datetime) -> Sequence[BalanceLine]: ...


@attrs.frozen(kw_only=True)
class ProcessorEvent:
    """A verified webhook: only its identity is kept; processing asks the processor again."""

    id: str
    type: str
    object_id: str
    account_ref: str | None  # a Connect event: the connected account it happened on
    created_at: datetime


class WebhookVerifier(Protocol):
    def verify(self, payload: bytes, signature: str) -> Result[ProcessorEvent, BadSignature]:
        """Checks the signature and the timestamp's tolerance; parses only after that."""
        ...


# --- storage -------------------------------------------------------------------------------


class PaymentRepository(Protocol):
    async def add(self, payment: Payment) -> bool:
        """False (nothing written) when the booking already has a payment of that part that
        is not CANCELLED: two requests raced, and the first one's payment is the one."""
        ...

    async def get(self, id: PaymentId) -> Payment | None: ...
    async def for_intent(self, intent_id: str) -> Payment | None: ...
    async def for_booking(self, booking_id: BookingId) -> Sequence[Payment]:
        """Oldest first."""
        ...

    async def for_customer(
        self, customer_id: UserId, limit: int, before: PaymentId | None
    ) -> Sequence[Payment]:
        """Newest first, keyset paging after the payment `before`."""
        ...

    async def save(self, payment: Payment) -> bool:
        """Write iff the stored version is `payment.version`; the stored one becomes +1.
        False: someone saved it first (re-read and decide again). `refunded` is not written:
        only `reserve_refund` and `release_refund` move it (they leave the version alone),
        so saving a copy read before a reservation cannot undo it."""
        ...

    async def reserve_refund(self, id: PaymentId, amount: Money) -> bool:
        """Atomically add to `refunded` iff it stays within `captured`; False otherwise."""
        ...

    async def release_refund(self, id: PaymentId, amount: Money) -> None: ...

    async def unsettled(self, limit: int) -> Sequence[Payment]:
        """Succeeded payments whose booking outcome, or processor fee, is not recorded yet."""
        ...

    async def balances_due(self, now: datetime, limit: int) -> Sequence[Payment]:
        """Balance payments still CREATED, without an intent yet, whose due time has come."""
        ...

    async def in_review(self, limit: int) -> Sequence[Payment]: ...

    async def velocity(
        self, customer_id: UserId, card_fingerprint: str | None, ip: str | None, since: datetime
    ) -> Velocity:
        """Over every customer's payments: FAILED ones last updated at or after `since` (by
        this customer, with this card, from this address; None matches nothing), and this
        customer's payments created at or after `since`."""
        ...


class RefundRepository(Protocol):
    async def add(self, refund: Refund) -> bool:
        """False when (payment, request key) is already taken: the same request twice."""
        ...

    async def get(self, id: RefundId) -> Refund | None: ...
    async def by_request(self, payment_id: PaymentId, request_key: str) -> Refund | None: ...
    async def for_payment(self, payment_id: PaymentId) -> Sequence[Refund]: ...
    async def for_processor(self, refund_ref: str) -> Refund | None: ...
    async def save(self, refund: Refund, expected: RefundStatus, expected_attempt: int) -> bool:
        """Write iff the stored one still has that status and attempt."""
        ...

    async def with_status(
        self, status: RefundStatus, older_than: datetime | None, limit: int
    ) -> Sequence[Refund]:
        """Refunds in `status` last changed before `older_than` (None: any), the longest
        unchanged first."""
        ...


class TermsRepository(Protocol):
    async def add(self, terms: OfferingTerms) -> bool:
        """False when that (offering, version) exists: someone changed the terms first."""
        ...

    async def latest(self, offering_id: OfferingId) -> OfferingTerms | None: ...

    async def in_effect_at(self, offering_id: OfferingId, at: datetime) -> OfferingTerms | None:
        """The newest version effective at `at` (None: the platform default applies)."""
        ...


class TermsInEffect(Protocol):
    """The terms in effect for an offering at an instant, in one read of its own (one round
    trip on PostgreSQL): what the answer to a new hold shows."""

    async def at(self, offering_id: OfferingId, at: datetime) -> OfferingTerms | None:
        """As `TermsRepository.in_effect_at` (None: the platform default applies)."""
        ...


class Ledger(Protocol):
    async def post(self, transaction: LedgerTransaction) -> bool:
        """Append; False (and nothing written) when its key was posted before."""
        ...

    async def transactions(
        self, since: datetime, until: datetime, provider_id: ProviderId | None = None
    ) -> Sequence[LedgerTransaction]:
        """`at` in [since, until), by `at` then posting order; with a provider, the
        transactions with an entry in one of its accounts."""
        ...

    async def balances(self, provider_id: ProviderId | None = None) -> Sequence[Balance]:
        """In the order of `ledger.balances`; with a provider, its own accounts only."""
        ...


@attrs.frozen(kw_only=True)
class InboxItem:
    event: ProcessorEvent
    attempts: int
    last_error: str | None = None


class ProcessorInbox(Protocol):
    """Verified processor events by id: each is processed once in effect."""

    async def record(self, event: ProcessorEvent, received_at: datetime) -> bool:
        """False for an event id seen before (a redelivery)."""
        ...

    async def claim(self, now: datetime, limit: int) -> Sequence[InboxItem]:
        """Unprocessed events due for an attempt, oldest first, locked for this transaction
        (others skip them). An event never attempted nor leased is due whatever `now` says: a
        claimer whose clock was read just before another process recorded it must still take
        it, or it would wait for the sweeper."""
        ...

    async def lease(self, event_ids: Sequence[str], until: datetime) -> None:
        """Claimed events stay out of every claim until `until` (unless done or failed
        before): the claiming transaction commits and gives its connection back before the
        slow part (processor reads, other contexts) runs. A claimer that dies leaves them due
        again at `until`."""
        ...

    async def done(self, event_id: str, at: datetime) -> None: ...
    async def failed(self, event_id: str, error: str, retry_at: datetime) -> None: ...


@attrs.frozen(kw_only=True)
class ProviderAccount:
    provider_id: ProviderId
    account_ref: str | None  # None until the processor created it (key stored first)
    idempotency_key: str
    charges_enabled: bool = False
    payouts_enabled: bool = False
    updated_at: datetime


class ProviderAccounts(Protocol):
    async def get(self, provider_id: ProviderId) -> ProviderAccount | None: ...
    async def by_ref(self, account_ref: str) -> ProviderAccount | None: ...
    async def put(self, account: ProviderAccount) -> None: ...


@attrs.frozen(kw_only=True)
class CustomerRef:
    user_id: UserId
    customer_ref: str | None  # None until the processor created it (key stored first)
    idempotency_key: str


class ProcessorCustomers(Protocol):
    async def get(self, user_id: UserId) -> CustomerRef | None: ...
    async def put(self, customer: CustomerRef) -> None: ...


class MoneyAudit(Protocol):
    """Writes into the platform's one audit log (the hash chain of ADR 0015)."""

    async def append(
        self,
        action: str,
        at: datetime,
        actor: UserId | None,
        subject: UserId | None,
        details: Mapping[str, Any],
    ) -> None: ...


class PaymentsUnitOfWork(UnitOfWork, Protocol):
    payments: PaymentRepository
    refunds: RefundRepository
    terms: TermsRepository
    ledger: Ledger
    inbox: ProcessorInbox
    accounts: ProviderAccounts
    customers: ProcessorCustomers
    audit: MoneyAudit
