"""Payments and refunds: their states, what the processor says about them, and the errors.

A payment is one PaymentIntent at the processor for one part of a booking's price (all of
it, or a deposit and later the balance). Its status only ever follows what the processor
says when asked again (never an event's copy), and never leaves a final state, so replayed or
reordered webhooks cannot move money backwards. Refunds reserve their amount on the payment
when they are requested, so the refunds of a payment never add up to more than it captured.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any, NewType

import attrs
from returns.result import Failure, Result, Success

from core.payments.terms import OfferingTerms
from core.shared.errors import DomainError
from core.shared.events import Event
from core.shared.ids import BookingId, ProviderId, UserId
from core.shared.money import Money

PaymentId = NewType("PaymentId", uuid.UUID)
RefundId = NewType("RefundId", uuid.UUID)


class PaymentStatus(enum.StrEnum):
    CREATED = "created"  # stored with its idempotency key; the processor may not know it yet
    REQUIRES_ACTION = "requires_action"  # the bank asks for 3-D Secure
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the last attempt failed; the customer may try again with another card
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in (PaymentStatus.SUCCEEDED, PaymentStatus.CANCELLED)


class PaymentPart(enum.StrEnum):
    FULL = "full"
    DEPOSIT = "deposit"
    BALANCE = "balance"


class BookingOutcome(enum.StrEnum):
    """What the money did to the booking, recorded once the payment succeeded."""

    CONFIRMED = "confirmed"
    SLOT_LOST = "slot_lost"  # the hold expired and the slot was taken: refunded in full
    NOT_NEEDED = "not_needed"  # a balance payment: the booking was confirmed by its deposit


class ReviewState(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


@attrs.frozen(kw_only=True)
class Risk:
    """The processor's fraud assessment (Stripe Radar's outcome)."""

    level: str | None  # normal, elevated, highest
    score: int | None
    outcome: str | None  # authorized, manual_review, blocked


@attrs.frozen(kw_only=True)
class IntentView:
    """What the processor says about a payment intent, read from the processor itself."""

    intent_id: str
    status: PaymentStatus
    amount_received: int  # minor units
    client_secret: str | None = None  # for the customer's browser; never stored by us
    charge_id: str | None = None
    fee_minor: int | None = None  # the processor's fee, when its balance transaction exists
    risk: Risk | None = None
    card_fingerprint: str | None = None
    payment_method_id: str | None = None
    failure: str | None = None  # the decline or authentication failure, in words


@attrs.frozen(kw_only=True)
class Payment:
    id: PaymentId
    booking_id: BookingId
    customer_id: UserId
    provider_id: ProviderId
    part: PaymentPart
    amount: Money
    commission: Money  # the platform's share (Stripe application_fee_amount)
    terms: OfferingTerms  # the copy of the terms in effect when the booking was held
    status: PaymentStatus = PaymentStatus.CREATED
    idempotency_key: str  # stored before the processor is called; a retry reuses it
    intent_id: str | None = None
    charge_id: str | None = None  # the processor's charge: what its balance lines name
    processor_account: str  # the provider's connected account (destination of the charge)
    captured: Money  # what the processor received
    refunded: Money  # reserved by refunds requested, pending or succeeded
    fee: Money | None = None
    risk: Risk | None = None
    card_fingerprint: str | None = None
    payment_method_id: str | None = None  # saved for the balance when this is a deposit
    failure: str | None = None
    review: ReviewState | None = None
    review_reason: str | None = None
    booking_outcome: BookingOutcome | None = None
    due_at: datetime | None = None  # a balance: when it is charged off-session
    client_ip: str | None = None  # velocity rules count failures per address
    created_at: datetime
    updated_at: datetime
    version: int = 0  # optimistic concurrency: a save names the version it read

    @property
    def refundable(self) -> Money:
        return self.captured - self.refunded

    def observe(self, view: IntentView, at: datetime) -> Payment:
        """The payment as the processor now describes it. A final status never changes, so
        an older view (a late webhook, a stale read) cannot undo a success or a cancel; what
        the processor only learns after a success (its fee, the charge) is still taken."""
        if self.status.is_final:
            return self._learned_after(view, at)
        return attrs.evolve(
            self,
            intent_id=view.intent_id,
            status=view.status,
            captured=Money(view.amount_received, self.amount.currency),
            charge_id=view.charge_id or self.charge_id,
            fee=self.fee if view.fee_minor is None else Money(view.fee_minor, self.amount.currency),
            risk=view.risk or self.risk,
            card_fingerprint=view.card_fingerprint or self.card_fingerprint,
            payment_method_id=view.payment_method_id or self.payment_method_id,
            failure=view.failure if view.status is PaymentStatus.FAILED else None,
            updated_at=at,
        )

    def _learned_after(self, view: IntentView, at: datetime) -> Payment:
        """A succeeded payment's fee and charge, once known; nothing else moves."""
        fee = self.fee
        if fee is None and view.fee_minor is not None:
            fee = Money(view.fee_minor, self.amount.currency)
        charge_id = self.charge_id or view.charge_id
        same = self.status is PaymentStatus.SUCCEEDED and view.intent_id == self.intent_id
        if not same or (fee, charge_id) == (self.fee, self.charge_id):
            return self
        return attrs.evolve(self, fee=fee, charge_id=charge_id, updated_at=at)

    def event(self, name: str, at: datetime, **extra: Any) -> Event:
        payload: dict[str, Any] = {
            "payment_id": str(self.id),
            "booking_id": str(self.booking_id),
            "customer_id": str(self.customer_id),
            "provider_id": str(self.provider_id),
            "part": self.part.value,
            "amount_minor": self.amount.minor,
            "currency": self.amount.currency.code,
            "status": self.status.value,
        }
        payload.update(extra)
        return Event(name=f"payments.{name}", occurred_at=at, payload=payload)


class RefundStatus(enum.StrEnum):
    REQUESTED = "requested"  # stored with its processor key; not yet accepted by the processor
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # surfaced to admins: retried or resolved by hand


class RefundReason(enum.StrEnum):
    CANCELLATION = "cancellation"  # by the policy snapshot (customer) or in full (provider)
    SLOT_LOST = "slot_lost"  # paid after the hold expired and the slot was taken
    REVIEW_REJECTED = "review_rejected"
    GOODWILL = "goodwill"  # an admin's, on top of the policy, capped; the platform pays it


@attrs.frozen(kw_only=True)
class RefundView:
    """What the processor says about a refund."""

    refund_id: str
    status: RefundStatus
    failure: str | None = None


@attrs.frozen(kw_only=True)
class Refund:
    id: RefundId
    payment_id: PaymentId
    amount: Money
    reason: RefundReason
    request_key: str  # one refund per (payment, request key): the same request never twice
    status: RefundStatus = RefundStatus.REQUESTED
    attempt: int = 1
    processor_refund_id: str | None = None
    failure: str | None = None
    requested_by: UserId | None = None  # None: the platform itself (slot lost, cancellation)
    resolved_by: UserId | None = None  # an admin who settled a failed refund by hand
    note: str | None = None
    created_at: datetime
    updated_at: datetime

    @property
    def processor_key(self) -> str:
        """The idempotency key of this attempt at the processor, derived, never random: a
        retry after a crash sends the same key, a deliberate new attempt a new one."""
        return f"refund-{self.id}-{self.attempt}"

    @property
    def platform_funded(self) -> bool:
        """Goodwill comes out of the platform's pocket: the provider's transfer stays. So does
        a failed refund an admin settled by hand: the processor reversed no transfer."""
        return self.reason is RefundReason.GOODWILL or self.resolved_by is not None

    @property
    def holds_money(self) -> bool:
        """Counts against the payment's refundable amount."""
        return self.status is not RefundStatus.FAILED

    def observe(self, view: RefundView, at: datetime) -> Refund:
        """Follows the processor; a succeeded refund stays succeeded, and a failure of an
        earlier attempt (another processor refund id) does not touch this attempt."""
        if self.status is RefundStatus.SUCCEEDED:
            return self
        if self.processor_refund_id not in (None, view.refund_id):
            return self
        return attrs.evolve(
            self,
            processor_refund_id=view.refund_id,
            status=view.status,
            failure=view.failure,
            updated_at=at,
        )

    def retried(self, at: datetime) -> Result[Refund, DomainError]:
        if self.status is not RefundStatus.FAILED:
            return Failure(RefundNotFailed(status=self.status))
        return Success(
            attrs.evolve(
                self,
                status=RefundStatus.REQUESTED,
                attempt=self.attempt + 1,
                processor_refund_id=None,
                failure=None,
                updated_at=at,
            )
        )

    def resolved_by_hand(
        self, admin: UserId, note: str, at: datetime
    ) -> Result[Refund, DomainError]:
        """The money reached the customer outside the processor (a bank transfer)."""
        if self.status is not RefundStatus.FAILED:
            return Failure(RefundNotFailed(status=self.status))
        return Success(
            attrs.evolve(
                self, status=RefundStatus.SUCCEEDED, resolved_by=admin, note=note, updated_at=at
            )
        )

    def event(self, name: str, payment: Payment, at: datetime) -> Event:
        return payment.event(
            name,
            at,
            refund_id=str(self.id),
            refund_minor=self.amount.minor,
            reason=self.reason.value,
            refund_status=self.status.value,
        )


# --- errors ---------------------------------------------------------------------------------


@attrs.frozen
class NothingToPay(DomainError):
    reason: str = "this booking has nothing left to pay"

    @property
    def detail(self) -> str:
        return self.reason


@attrs.frozen
class NotPayable(DomainError):
    """Only a live hold (or a confirmed booking's balance) can be paid for."""

    reason: str

    @property
    def detail(self) -> str:
        return self.reason


@attrs.frozen
class ProviderCannotTakePayments(DomainError):
    @property
    def detail(self) -> str:
        return "this provider has not finished setting up payments yet"


@attrs.frozen
class PaymentBlocked(DomainError):
    """A fraud rule refused to start a payment; `reason` is readable by the customer."""

    reason: str

    @property
    def detail(self) -> str:
        return self.reason


@attrs.frozen
class RefundExceedsRefundable(DomainError):
    requested: Money
    refundable: Money

    @property
    def detail(self) -> str:
        return (
            f"cannot refund {self.requested.display()}: "
            f"only {self.refundable.display()} is left to refund"
        )


@attrs.frozen
class RefundNotFailed(DomainError):
    status: RefundStatus

    @property
    def detail(self) -> str:
        return f"only a failed refund can be retried or resolved; this one is {self.status}"


@attrs.frozen
class ReviewNotPending(DomainError):
    @property
    def detail(self) -> str:
        return "this payment is not waiting for review"


@attrs.frozen
class BadSignature(DomainError):
    """A webhook whose signature or timestamp does not verify: never processed."""

    reason: str = "signature does not verify"

    @property
    def detail(self) -> str:
        return self.reason


@attrs.frozen
class CardNotCharged(DomainError):
    """An off-session charge the bank refused or wants the customer present for."""

    reason: str

    @property
    def detail(self) -> str:
        return self.reason


PaymentError = (
    NothingToPay
    | NotPayable
    | ProviderCannotTakePayments
    | PaymentBlocked
    | RefundExceedsRefundable
    | RefundNotFailed
    | ReviewNotPending
)
