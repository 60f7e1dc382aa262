"""Each context's table of problem kinds, and the lookup every transport shares."""

from __future__ import annotations

import pytest

from core import bookings, identity
from core.identity import InvalidEmail, PasswordRejected, TooManyAttempts
from core.identity.password_policy import PasswordTooShort
from core.shared import problems as shared
from core.shared.errors import DomainError, Forbidden
from core.shared.principal import MfaRequired
from core.shared.problems import ProblemKind, kind_of, merged

TABLE = merged([shared.PROBLEMS, bookings.PROBLEMS, identity.PROBLEMS])


def _slug(error: DomainError) -> str | None:
    kind = kind_of(error, TABLE)
    return kind.slug if kind else None


def test_a_subclass_without_an_entry_takes_its_nearest_ancestors() -> None:
    assert _slug(InvalidEmail(field="email", reason="no @")) == "invalid-input"
    assert _slug(PasswordTooShort(min_length=12)) == "password-rejected"
    assert kind_of(PasswordTooShort(min_length=12), TABLE) is TABLE[PasswordRejected]


def test_a_subclass_with_an_entry_of_its_own_wins_over_its_ancestor() -> None:
    assert _slug(MfaRequired(reason="step up")) == "mfa-required"
    assert _slug(Forbidden(reason="not yours")) == "forbidden"


def test_an_unmapped_error_has_no_kind() -> None:
    class Unheard(DomainError):
        pass

    assert kind_of(Unheard(), TABLE) is None


def test_too_many_attempts_says_when_to_retry_in_whole_seconds() -> None:
    kind = TABLE[TooManyAttempts]

    assert kind.status == 429
    assert kind.headers_for(TooManyAttempts(retry_after_seconds=7.2)) == {"Retry-After": "8"}
    assert kind.headers_for(TooManyAttempts(retry_after_seconds=0.1)) == {"Retry-After": "1"}
    assert TABLE[Forbidden].headers_for(Forbidden(reason="no")) == {}


def test_an_error_mapped_by_two_contexts_is_refused() -> None:
    again = {TooManyAttempts: ProblemKind(status=503, slug="busy", title="Busy")}

    with pytest.raises(ValueError, match="TooManyAttempts"):
        merged([identity.PROBLEMS, again])


def test_no_detail_names_a_python_class() -> None:
    class TokenWentMissing(DomainError):
        pass

    assert TokenWentMissing().detail == "token went missing"
    for error in (identity.InvalidRefreshToken(), identity.RefreshTokenReused()):
        assert type(error).__name__ not in error.detail
        assert "sign in again" in error.detail


def test_a_customer_told_to_pay_gets_402_payment_required() -> None:
    kind = TABLE[bookings.PaymentRequired]

    assert (kind.status, kind.slug, kind.title) == (402, "payment-required", "Payment required")
