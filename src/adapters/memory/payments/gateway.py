"""An in-memory card processor with the behaviour the core relies on from Stripe.

- Idempotency: a call that creates or moves something, made again with the same key, answers
  what the first call answered (a stored snapshot, as Stripe replays its saved response) and
  does nothing again; the same key with another request raises `IdempotencyConflict`.
- Intents: created in CREATED (no money moves); the customer's browser is played by `pay`
  with a test `Card` (3-D Secure -> REQUIRES_ACTION until `authenticate`; declines ->
  FAILED, after which the same intent may be paid again; a slow method -> PROCESSING until
  `finish_processing`). A success creates a charge, its fee (later, with `fees_later`), Radar's
  risk, a balance line and a transfer to the connected account.
- Refunds: succeed, stay pending, or fail by the `refund_mode` switch (a failing refund is
  answered "pending" and fails right after, with its webhook; `settle_refund` ends a pending
  one); more than what is left of a charge is refused outright.
- Off-session charges with a saved card, refused (`CardNotCharged`) when the card wants the
  customer present or declines.
- Connect accounts (`complete_onboarding`), payouts (`pay_out`), balance lines (tamper with
  them to test reconciliation).
- Every change emits a webhook, collected until a test takes them (`webhooks()`) to deliver
  in any order, as often as it likes.
- Faults: `crash_after(operation)` makes the next such call act, then raise `ProcessorCrash`
  (the answer is lost on the way back); `outage(operation)` raises before acting.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

import attrs
from returns.result import Failure, Result, Success

from adapters.memory.payments.webhooks import SIGNATURE, payload_of
from core.payments.amounts import portion
from core.payments.model import (
    CardNotCharged,
    IntentView,
    PaymentStatus,
    RefundStatus,
    RefundView,
    Risk,
)
from core.payments.ports import (
    AccountView,
    BalanceLine,
    IntentRequest,
    OffSessionRequest,
    PaymentGateway,
    PayoutView,
    ProcessorEvent,
    RefundRequest,
)
from core.shared.ids import ProviderId, UserId
from core.shared.money import Currency, Money
from core.shared.time import Clock

T = TypeVar("T")
FEE_PERCENT = 3


class ProcessorCrash(ConnectionError):
    """The processor could not be reached, or its answer was lost on the way back."""


class IdempotencyConflict(ValueError):
    """An idempotency key reused for another request (Stripe answers 400)."""


class ProcessorRefused(ValueError):
    """A request the processor refuses outright: a bug in the caller, never an answer."""


class OffSession(enum.Enum):
    OK = "ok"
    AUTHENTICATE = "authentication_required"  # the bank wants the customer present
    DECLINE = "declined"


@attrs.frozen(kw_only=True)
class Card:
    """A test card, as Stripe's test numbers behave."""

    fingerprint: str
    asks_3ds: bool = False
    declined: bool = False
    slow: bool = False  # PROCESSING first (a bank debit, say)
    off_session: OffSession = OffSession.OK
    risk_level: str = "normal"
    risk_score: int = 12


GOOD = Card(fingerprint="fp_4242")
ASKS_3DS_ALWAYS = Card(fingerprint="fp_3184", asks_3ds=True, off_session=OffSession.AUTHENTICATE)
ASKS_3DS_ONCE = Card(fingerprint="fp_3155", asks_3ds=True)
DECLINED = Card(fingerprint="fp_0002", declined=True)
DECLINES_LATER = Card(fingerprint="fp_9995", off_session=OffSession.DECLINE)
RISKY = Card(fingerprint="fp_4954", risk_level="elevated", risk_score=72)
SLOW = Card(fingerprint="fp_slow", slow=True)


class RefundMode(enum.Enum):
    SUCCEED = "succeed"
    PENDING = "pending"  # until settle_refund
    FAIL = "fail"  # answered "pending", failed right after (Stripe's refundFail card, no delay)


@attrs.frozen(kw_only=True)
class Webhook:
    payload: bytes
    signature: str
    event: ProcessorEvent


@attrs.define(kw_only=True)
class _Intent:
    id: str
    request: IntentRequest | OffSessionRequest
    status: PaymentStatus = PaymentStatus.CREATED
    card: Card | None = None
    charge_id: str | None = None
    payment_method_id: str | None = None
    failure: str | None = None
    fee_minor: int | None = None

    @property
    def amount(self) -> Money:
        return self.request.amount


@attrs.define(kw_only=True)
class _Refund:
    id: str
    intent: _Intent
    amount: Money
    status: RefundStatus
    provider_share: int  # taken back from the connected account (policy refunds)
    failure: str | None = None

    def view(self) -> RefundView:
        return RefundView(refund_id=self.id, status=self.status, failure=self.failure)


@attrs.define(kw_only=True)
class _Account:
    ref: str
    provider_id: ProviderId
    charges_enabled: bool = False
    payouts_enabled: bool = False
    balance: dict[Currency, int] = attrs.field(factory=dict)

    def view(self) -> AccountView:
        return AccountView(
            account_ref=self.ref,
            charges_enabled=self.charges_enabled,
            payouts_enabled=self.payouts_enabled,
        )

    def move(self, amount: Money) -> None:
        self.balance[amount.currency] = self.balance.get(amount.currency, 0) + amount.minor


class MemoryPaymentGateway(PaymentGateway):
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._numbers = itertools.count(1)
        self._answers: dict[str, tuple[str, object, object]] = {}
        self._customers: dict[str, UserId] = {}
        self._intents: dict[str, _Intent] = {}
        self._cards: dict[str, Card] = {}  # saved payment methods
        self._refunds: dict[str, _Refund] = {}
        self._accounts: dict[str, _Account] = {}
        self._payouts: dict[str, PayoutView] = {}
        self._lines: list[BalanceLine] = []
        self._pending: list[Webhook] = []
        self._crash_after: set[str] = set()
        self._down: set[str] = set()
        self.refund_mode = RefundMode.SUCCEED
        self.fees_later = False  # the fee shows only after settle_fees()
        self.calls: list[str] = []  # every API call by name, for tests to count

    # --- the port ------------------------------------------------------------------------

    async def create_customer(self, user_id: UserId, idempotency_key: str) -> str:
        def act() -> str:
            ref = self._new_id("cus")
            self._customers[ref] = user_id
            return ref

        return self._once("create_customer", idempotency_key, user_id, act)

    async def create_intent(self, request: IntentRequest) -> IntentView:
        def act() -> IntentView:
            intent = _Intent(id=self._new_id("pi"), request=request)
            self._intents[intent.id] = intent
            self._emit("payment_intent.created", intent.id)
            return self._view(intent)

        return self._once("create_intent", request.idempotency_key, request, act)

    async def intent(self, intent_id: str) -> IntentView:
        self._call("intent")
        return self._view(self._intent(intent_id))

    async def charge_off_session(
        self, request: OffSessionRequest
    ) -> Result[IntentView, CardNotCharged]:
        def act() -> Result[IntentView, CardNotCharged]:
            card = self._cards.get(request.payment_method_id)
            if card is None:
                raise ProcessorRefused(f"no saved payment method {request.payment_method_id}")
            if card.off_session is not OffSession.OK or card.declined:
                return Failure(CardNotCharged(reason=_refusal(card)))
            intent = _Intent(id=self._new_id("pi"), request=request, card=card)
            self._intents[intent.id] = intent
            self._succeed(intent)
            return Success(self._view(intent))

        return self._once("charge_off_session", request.idempotency_key, request, act)

    async def cancel_intent(self, intent_id: str) -> IntentView:
        """Once the intent succeeded, is processing or ended, Stripe refuses to cancel it and
        the gateway answers what it is instead (as StripePaymentGateway does: the contract)."""
        self._call("cancel_intent")
        intent = self._intent(intent_id)
        if intent.status not in (
            PaymentStatus.CREATED,
            PaymentStatus.REQUIRES_ACTION,
            PaymentStatus.FAILED,
        ):
            return self._view(intent)
        intent.status = PaymentStatus.CANCELLED
        self._emit("payment_intent.canceled", intent.id)
        return self._view(intent)

    async def refund(self, request: RefundRequest) -> RefundView:
        return self._once(
            "refund", request.idempotency_key, request, lambda: self._new_refund(request)
        )

    async def refund_view(self, refund_ref: str) -> RefundView:
        self._call("refund_view")
        return self._refund(refund_ref).view()

    async def refunds_of(self, intent_id: str) -> Sequence[RefundView]:
        self._call("refunds_of")
        return [r.view() for r in self._refunds.values() if r.intent.id == intent_id]

    async def create_account(
        self, provider_id: ProviderId, email: str | None, country: str, idempotency_key: str
    ) -> AccountView:
        def act() -> AccountView:
            account = _Account(ref=self._new_id("acct"), provider_id=provider_id)
            self._accounts[account.ref] = account
            return account.view()

        return self._once("create_account", idempotency_key, (provider_id, email, country), act)

    async def account(self, account_ref: str) -> AccountView:
        self._call("account")
        return self._account(account_ref).view()

    async def onboarding_link(self, account_ref: str, return_url: str, refresh_url: str) -> str:
        self._call("onboarding_link")
        self._account(account_ref)
        query = urlencode({"return_url": return_url, "refresh_url": refresh_url})
        return f"https://connect.memory.test/setup/{account_ref}?{query}"

    async def account_balance(self, account_ref: str) -> Sequence[tuple[str, Money]]:
        self._call("account_balance")
        balance = self._account(account_ref).balance
        return [("available", Money(minor, currency)) for currency, minor in balance.items()]

    async def payout(self, account_ref: str, payout_ref: str) -> PayoutView:
        self._call("payout")
        found = self._payouts.get(payout_ref)
        if found is None or found.account_ref != account_ref:
            raise ProcessorRefused(f"no payout {payout_ref} on {account_ref}")
        return found

    async def balance_lines(self, since: datetime, until: datetime) -> Sequence[BalanceLine]:
        self._call("balance_lines")
        return [line for line in self._lines if since <= line.created_at < until]

    # --- the customer's browser ----------------------------------------------------------

    def pay(self, intent_id: str, card: Card = GOOD) -> IntentView:
        """The customer confirms the intent with `card` (Stripe.js)."""
        intent = self._intent(intent_id)
        if intent.status not in (PaymentStatus.CREATED, PaymentStatus.FAILED):
            raise ProcessorRefused(f"{intent_id} is {intent.status}; it cannot be paid now")
        intent.card = card
        if card.declined:
            self._fail(intent, "your card was declined")
        elif card.asks_3ds:
            intent.status = PaymentStatus.REQUIRES_ACTION
            self._emit("payment_intent.requires_action", intent.id)
        else:
            self._proceed(intent)
        return self._view(intent)

    def authenticate(self, intent_id: str, passed: bool = True) -> IntentView:
        """The customer answers the bank's 3-D Secure challenge."""
        intent = self._intent(intent_id)
        if intent.status is not PaymentStatus.REQUIRES_ACTION:
            raise ProcessorRefused(f"{intent_id} asks for no authentication")
        if passed:
            self._proceed(intent)
        else:
            self._fail(intent, "the bank could not authenticate the card holder")
        return self._view(intent)

    def finish_processing(self, intent_id: str, succeeded: bool = True) -> IntentView:
        intent = self._intent(intent_id)
        if intent.status is not PaymentStatus.PROCESSING:
            raise ProcessorRefused(f"{intent_id} is not processing")
        if succeeded:
            self._succeed(intent)
        else:
            self._fail(intent, "the bank refused the debit")
        return self._view(intent)

    # --- the processor's side ------------------------------------------------------------

    def settle_fees(self) -> None:
        """The fees of charges made while `fees_later` was on become known."""
        for intent in self._intents.values():
            if intent.status is PaymentStatus.SUCCEEDED and intent.fee_minor is None:
                intent.fee_minor = _fee(intent.amount).minor
                self._emit("charge.updated", intent.charge_id or intent.id)

    def settle_refund(self, refund_ref: str, succeeded: bool = True) -> RefundView:
        refund = self._refund(refund_ref)
        if refund.status is not RefundStatus.PENDING:
            raise ProcessorRefused(f"{refund_ref} is not pending")
        if succeeded:
            refund.status = RefundStatus.SUCCEEDED
            self._emit("refund.updated", refund.id)
            self._emit("charge.refunded", refund.intent.charge_id or refund.intent.id)
        else:
            self._fail_refund(refund)
        return refund.view()

    def complete_onboarding(self, account_ref: str) -> None:
        account = self._account(account_ref)
        account.charges_enabled = account.payouts_enabled = True
        self._emit("account.updated", account.ref, account_ref=account.ref)

    def pay_out(self, account_ref: str, amount: Money) -> str:
        """Pay `amount` of the connected account's balance to its bank."""
        account = self._account(account_ref)
        if account.balance.get(amount.currency, 0) < amount.minor:
            raise ProcessorRefused("a payout above the account's balance")
        account.move(Money(-amount.minor, amount.currency))
        ref = self._new_id("po")
        self._payouts[ref] = PayoutView(
            payout_ref=ref,
            account_ref=account_ref,
            amount=amount,
            status="paid",
            arrived_at=self._clock.now(),
        )
        self._emit("payout.paid", ref, account_ref=account_ref)
        return ref

    # --- test controls and views ---------------------------------------------------------

    def crash_after(self, operation: str) -> None:
        """The next `operation` acts, then its answer is lost (ProcessorCrash)."""
        self._crash_after.add(operation)

    def outage(self, operation: str) -> None:
        """The next `operation` fails before acting (ProcessorCrash)."""
        self._down.add(operation)

    def webhooks(self) -> list[Webhook]:
        """The webhooks sent since the last call, oldest first."""
        taken, self._pending = self._pending, []
        return taken

    def intent_of(self, idempotency_key: str) -> IntentView | None:
        """The intent the processor made for a key, read now (not the replayed answer)."""
        found = [i for i in self._intents.values() if i.request.idempotency_key == idempotency_key]
        return self._view(found[0]) if found else None

    def succeeded_charges(self) -> list[IntentView]:
        return [
            self._view(i) for i in self._intents.values() if i.status is PaymentStatus.SUCCEEDED
        ]

    def accounts(self) -> list[AccountView]:
        return [a.view() for a in self._accounts.values()]

    def refunds(self) -> list[RefundView]:
        return [r.view() for r in self._refunds.values()]

    def net_received(self, currency: Currency) -> int:
        """Charged minus refunded (refunds that succeeded), in minor units."""
        charged = sum(
            i.amount.minor
            for i in self._intents.values()
            if i.status is PaymentStatus.SUCCEEDED and i.amount.currency == currency
        )
        refunded = sum(
            r.amount.minor
            for r in self._refunds.values()
            if r.status is RefundStatus.SUCCEEDED and r.amount.currency == currency
        )
        return charged - refunded

    def change_line(
        self,
        source: str,
        amount_minor: int | None = None,
        fee_minor: int | None = None,
        created_at: datetime | None = None,
    ) -> None:
        """Alter the balance lines of `source` (a charge or refund), as if the processor's
        books said something else."""
        for n, line in enumerate(self._lines):
            if line.source != source:
                continue
            currency = line.amount.currency
            self._lines[n] = attrs.evolve(
                line,
                amount=line.amount if amount_minor is None else Money(amount_minor, currency),
                fee=line.fee if fee_minor is None else Money(fee_minor, currency),
                created_at=created_at or line.created_at,
            )

    def drop_lines(self, source: str) -> None:
        self._lines = [line for line in self._lines if line.source != source]

    def add_line(self, line: BalanceLine) -> None:
        self._lines.append(line)

    # --- inside --------------------------------------------------------------------------

    def _once(self, operation: str, key: str, request: object, act: Callable[[], T]) -> T:
        """The idempotency rule: one action per key, the first answer to every repeat."""
        self._call(operation)
        known = self._answers.get(key)
        if known is not None:
            if known[:2] != (operation, request):
                raise IdempotencyConflict(f"key {key} was used for another request")
            answer: Any = known[2]
        else:
            answer = act()
            self._answers[key] = (operation, request, answer)
        if operation in self._crash_after:
            self._crash_after.discard(operation)
            raise ProcessorCrash(f"{operation}: the answer was lost")
        return answer  # type: ignore[no-any-return]

    def _call(self, operation: str) -> None:
        self.calls.append(operation)
        if operation in self._down:
            self._down.discard(operation)
            raise ProcessorCrash(f"{operation}: the processor is unreachable")

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._numbers):06d}"

    def _intent(self, intent_id: str) -> _Intent:
        found = self._intents.get(intent_id)
        if found is None:
            raise ProcessorRefused(f"no intent {intent_id}")
        return found

    def _refund(self, refund_ref: str) -> _Refund:
        found = self._refunds.get(refund_ref)
        if found is None:
            raise ProcessorRefused(f"no refund {refund_ref}")
        return found

    def _account(self, account_ref: str) -> _Account:
        found = self._accounts.get(account_ref)
        if found is None:
            raise ProcessorRefused(f"no account {account_ref}")
        return found

    def _view(self, intent: _Intent) -> IntentView:
        succeeded = intent.status is PaymentStatus.SUCCEEDED
        card = intent.card
        return IntentView(
            intent_id=intent.id,
            status=intent.status,
            amount_received=intent.amount.minor if succeeded else 0,
            client_secret=f"{intent.id}_secret_memory",
            charge_id=intent.charge_id,
            fee_minor=intent.fee_minor,
            risk=None if card is None else _risk(card, intent.status),
            card_fingerprint=None if card is None else card.fingerprint,
            payment_method_id=intent.payment_method_id,
            failure=intent.failure,
        )

    def _proceed(self, intent: _Intent) -> None:
        assert intent.card is not None
        if intent.card.slow:
            intent.status = PaymentStatus.PROCESSING
            self._emit("payment_intent.processing", intent.id)
        else:
            self._succeed(intent)

    def _succeed(self, intent: _Intent) -> None:
        assert intent.card is not None
        request = intent.request
        intent.status = PaymentStatus.SUCCEEDED
        intent.failure = None
        intent.charge_id = self._new_id("ch")
        intent.payment_method_id = self._new_id("pm")
        if isinstance(request, IntentRequest) and request.save_card:
            self._cards[intent.payment_method_id] = intent.card
        fee = _fee(intent.amount)
        intent.fee_minor = None if self.fees_later else fee.minor
        self._line("charge", intent.charge_id, intent.amount, fee)
        self._account(request.destination).move(intent.amount - request.commission)
        self._emit("payment_intent.succeeded", intent.id)
        self._emit("charge.succeeded", intent.charge_id)

    def _fail(self, intent: _Intent, reason: str) -> None:
        intent.status = PaymentStatus.FAILED
        intent.failure = reason
        self._emit("payment_intent.payment_failed", intent.id)

    def _new_refund(self, request: RefundRequest) -> RefundView:
        intent = self._intent(request.intent_id)
        left = self._refundable(intent)
        if not 0 < request.amount.minor <= left:
            raise ProcessorRefused(
                f"cannot refund {request.amount.minor} of {intent.id}: {left} left"
            )
        share = _provider_share(intent, request) if request.reverse_transfer else 0
        refund = _Refund(
            id=self._new_id("re"),
            intent=intent,
            amount=request.amount,
            status=RefundStatus.PENDING,
            provider_share=share,
        )
        self._refunds[refund.id] = refund
        self._line("refund", refund.id, Money(-request.amount.minor, request.amount.currency))
        self._account(intent.request.destination).move(Money(-share, request.amount.currency))
        self._emit("refund.created", refund.id)
        if self.refund_mode is RefundMode.SUCCEED:
            refund.status = RefundStatus.SUCCEEDED
            self._emit("charge.refunded", intent.charge_id or intent.id)
        answer = refund.view()
        if self.refund_mode is RefundMode.FAIL:
            self._fail_refund(refund)  # right after answering "pending", as Stripe does later
        return answer

    def _refundable(self, intent: _Intent) -> int:
        if intent.status is not PaymentStatus.SUCCEEDED:
            return 0
        return intent.amount.minor - sum(
            r.amount.minor
            for r in self._refunds.values()
            if r.intent is intent and r.status is not RefundStatus.FAILED
        )

    def _fail_refund(self, refund: _Refund) -> None:
        refund.status = RefundStatus.FAILED
        refund.failure = "expired_or_canceled_card"
        self._line("refund_failure", refund.id, refund.amount)
        self._account(refund.intent.request.destination).move(
            Money(refund.provider_share, refund.amount.currency)
        )
        self._emit("refund.failed", refund.id)

    def _line(self, kind: str, source: str, amount: Money, fee: Money | None = None) -> None:
        self._lines.append(
            BalanceLine(
                ref=self._new_id("txn"),
                kind=kind,
                source=source,
                amount=amount,
                fee=fee or Money(0, amount.currency),
                created_at=self._clock.now(),
            )
        )

    def _emit(self, type_: str, object_id: str, account_ref: str | None = None) -> None:
        event = ProcessorEvent(
            id=self._new_id("evt"),
            type=type_,
            object_id=object_id,
            account_ref=account_ref,
            created_at=self._clock.now(),
        )
        self._pending.append(Webhook(payload=payload_of(event), signature=SIGNATURE, event=event))


def _provider_share(intent: _Intent, request: RefundRequest) -> int:
    """What a reversed transfer takes back: the refund less its share of the commission."""
    commission = intent.request.commission.minor
    return request.amount.minor - commission * request.amount.minor // intent.amount.minor


def _fee(amount: Money) -> Money:
    return portion(amount, FEE_PERCENT)


def _risk(card: Card, status: PaymentStatus) -> Risk | None:
    if status not in (PaymentStatus.SUCCEEDED, PaymentStatus.FAILED):
        return None
    outcome = "authorized" if status is PaymentStatus.SUCCEEDED else "issuer_declined"
    return Risk(level=card.risk_level, score=card.risk_score, outcome=outcome)


def _refusal(card: Card) -> str:
    if card.declined or card.off_session is OffSession.DECLINE:
        return "your card was declined"
    return "the bank asks the customer to authenticate this payment"
