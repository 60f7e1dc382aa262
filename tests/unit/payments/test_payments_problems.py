"""How payments errors look to a caller: a status per error, every error mapped, no class
names in what callers read, and no clash with the other contexts' tables."""

from __future__ import annotations

import inspect

import pytest
from payments_support import eur

from core import bookings, identity, payments
from core.payments import (
    PROBLEMS,
    BadSignature,
    CardNotCharged,
    GoodwillCapExceeded,
    NothingToPay,
    NotPayable,
    PaymentBlocked,
    ProviderCannotTakePayments,
    RefundExceedsRefundable,
    RefundNotFailed,
    RefundStatus,
    ReviewNotPending,
    TermsChangedMeanwhile,
)
from core.shared import problems as shared
from core.shared.errors import DomainError
from core.shared.problems import merged

ERRORS: list[DomainError] = [
    NothingToPay(),
    NotPayable(reason="the hold expired; book the slot again"),
    ProviderCannotTakePayments(),
    PaymentBlocked(reason="5 failed payments by this account within the hour"),
    RefundExceedsRefundable(requested=eur(5_000), refundable=eur(1_000)),
    GoodwillCapExceeded(cap=eur(5_000), given=eur(4_000)),
    RefundNotFailed(status=RefundStatus.SUCCEEDED),
    ReviewNotPending(),
    BadSignature(),
    CardNotCharged(reason="your card was declined"),
    TermsChangedMeanwhile(),
]


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NothingToPay, 409),
        (NotPayable, 409),
        (ProviderCannotTakePayments, 409),
        (PaymentBlocked, 403),
        (RefundExceedsRefundable, 422),
        (GoodwillCapExceeded, 422),
        (RefundNotFailed, 409),
        (ReviewNotPending, 409),
        (BadSignature, 400),
        (CardNotCharged, 402),
        (TermsChangedMeanwhile, 409),
    ],
)
def test_each_payments_error_has_its_status(error: type[DomainError], status: int) -> None:
    assert PROBLEMS[error].status == status


def test_every_error_the_context_exports_is_mapped() -> None:
    exported = {
        value
        for value in vars(payments).values()
        if inspect.isclass(value) and issubclass(value, DomainError)
    }

    assert exported == set(PROBLEMS)


def test_what_a_caller_reads_names_no_class_and_no_card() -> None:
    for error in ERRORS:
        assert type(error).__name__ not in error.detail
        assert error.detail
    assert ERRORS[4].detail == "cannot refund 50.00 EUR: only 10.00 EUR is left to refund"


def test_the_tables_of_all_contexts_merge_without_a_clash() -> None:
    merged([shared.PROBLEMS, bookings.PROBLEMS, identity.PROBLEMS, payments.PROBLEMS])
