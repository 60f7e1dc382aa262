"""The payments context's public API: what entrypoints and other programs import.

Use cases (one class each, built with a payments unit-of-work factory, the processor gateway,
the bookings desk, a clock and `PaymentSettings`; called per request, returning
`Result[value, error]`), their inputs and outputs, the errors they return, and `PROBLEMS`, how
those errors look to a caller. The ports adapters implement are in `core.payments.ports`.
"""

from core.payments.amounts import is_chargeable, portion, step_of
from core.payments.books import (
    Difference,
    DifferenceKind,
    ExportLedger,
    LedgerBalances,
    Reconcile,
    Reconciliation,
)
from core.payments.checkout import (
    GetBookingPayments,
    ListMyPayments,
    PayForBooking,
    PaymentRecord,
    PaymentStarted,
)
from core.payments.connect import ProviderMoney, ProviderMoneyView, StartProviderOnboarding
from core.payments.fraud import VelocityLimits
from core.payments.ledger import Account, AccountKind, Balance, Entry, LedgerTransaction
from core.payments.model import (
    BadSignature,
    BookingOutcome,
    CardNotCharged,
    NothingToPay,
    NotPayable,
    Payment,
    PaymentBlocked,
    PaymentId,
    PaymentPart,
    PaymentStatus,
    ProviderCannotTakePayments,
    Refund,
    RefundExceedsRefundable,
    RefundId,
    RefundNotFailed,
    RefundReason,
    RefundStatus,
    ReviewNotPending,
    ReviewState,
    Risk,
)
from core.payments.offering_terms import (
    GetHeldTerms,
    GetOfferingTerms,
    SetOfferingTerms,
    TermsChangedMeanwhile,
)
from core.payments.ports import BookingState, PayableBooking
from core.payments.problems import PROBLEMS
from core.payments.refunds import (
    Cancellation,
    CancelWithRefund,
    GoodwillCapExceeded,
    GoodwillRefund,
    ListRefunds,
    ResolveRefund,
    RetryRefund,
)
from core.payments.review import ListPaymentsInReview, Reviewed, ReviewPayment
from core.payments.service import PaymentSettings, PaymentsUseCase
from core.payments.settlement import SettlementReport, SettlePayments
from core.payments.terms import (
    DEFAULT_POLICY,
    PROVIDER_CANCELS_PERCENT,
    CancellationPolicy,
    Canceller,
    DepositKind,
    DepositRule,
    OfferingTerms,
    RefundTier,
)
from core.payments.webhooks import ProcessProcessorEvents, ReceiveProcessorEvent

__all__ = [
    "DEFAULT_POLICY",
    "PROBLEMS",
    "PROVIDER_CANCELS_PERCENT",
    "Account",
    "AccountKind",
    "BadSignature",
    "Balance",
    "BookingOutcome",
    "BookingState",
    "CancelWithRefund",
    "Cancellation",
    "CancellationPolicy",
    "Canceller",
    "CardNotCharged",
    "DepositKind",
    "DepositRule",
    "Difference",
    "DifferenceKind",
    "Entry",
    "ExportLedger",
    "GetBookingPayments",
    "GetHeldTerms",
    "GetOfferingTerms",
    "GoodwillCapExceeded",
    "GoodwillRefund",
    "LedgerBalances",
    "LedgerTransaction",
    "ListMyPayments",
    "ListPaymentsInReview",
    "ListRefunds",
    "NotPayable",
    "NothingToPay",
    "OfferingTerms",
    "PayForBooking",
    "PayableBooking",
    "Payment",
    "PaymentBlocked",
    "PaymentId",
    "PaymentPart",
    "PaymentRecord",
    "PaymentSettings",
    "PaymentStarted",
    "PaymentStatus",
    "PaymentsUseCase",
    "ProcessProcessorEvents",
    "ProviderCannotTakePayments",
    "ProviderMoney",
    "ProviderMoneyView",
    "ReceiveProcessorEvent",
    "Reconcile",
    "Reconciliation",
    "Refund",
    "RefundExceedsRefundable",
    "RefundId",
    "RefundNotFailed",
    "RefundReason",
    "RefundStatus",
    "RefundTier",
    "ResolveRefund",
    "RetryRefund",
    "ReviewNotPending",
    "ReviewPayment",
    "ReviewState",
    "Reviewed",
    "Risk",
    "SetOfferingTerms",
    "SettlePayments",
    "SettlementReport",
    "StartProviderOnboarding",
    "TermsChangedMeanwhile",
    "VelocityLimits",
    "is_chargeable",
    "portion",
    "step_of",
]
