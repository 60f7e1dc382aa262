"""Admins reviewing payments, providers setting their terms and onboarding at the processor."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from payments_support import DAY, World, eur, failure, ok, open_world

from adapters.memory.payments import RISKY
from core.payments import (
    DEFAULT_POLICY,
    BookingState,
    CancellationPolicy,
    DepositRule,
    GetOfferingTerms,
    ListPaymentsInReview,
    PaymentId,
    ProviderMoney,
    RefundReason,
    RefundStatus,
    RefundTier,
    ReviewNotPending,
    ReviewPayment,
    ReviewState,
    SetOfferingTerms,
    StartProviderOnboarding,
)
from core.shared.errors import Forbidden, NotFound
from core.shared.ids import OfferingId, ProviderId
from core.shared.principal import MfaRequired, Principal, Role


@pytest.fixture
async def world() -> World:
    return await open_world()


# --- review --------------------------------------------------------------------------------


async def test_an_elevated_risk_sends_a_paid_booking_to_review(world: World) -> None:
    booking = world.hold()
    paid = await world.pay(booking, RISKY)

    assert paid.review is ReviewState.PENDING
    assert paid.review_reason == "the processor rates the risk elevated (score 72)"
    assert world.app.desk.booking(booking.id).state is BookingState.CONFIRMED  # keeps its slot
    (opened,) = world.store.events("payments.review_opened")
    assert opened.payload["reason"] == paid.review_reason
    (listed,) = ok(await world.app(ListPaymentsInReview)(world.app.admin))
    assert listed.id == paid.id


async def test_an_approved_payment_keeps_its_booking(world: World) -> None:
    booking = world.hold()
    paid = await world.pay(booking, RISKY)

    reviewed = ok(await world.app(ReviewPayment)(world.app.admin, paid.id, True, "known customer"))

    assert reviewed.payment.review is ReviewState.APPROVED
    assert reviewed.refund is None
    assert world.app.desk.booking(booking.id).state is BookingState.CONFIRMED
    (entry,) = [a for a in world.store.audit if a.action == "payment.reviewed"]
    assert (entry.actor, entry.details["decision"]) == (world.app.admin.user_id, "approved")
    assert ok(await world.app(ListPaymentsInReview)(world.app.admin)) == []


async def test_a_rejected_payment_cancels_the_booking_and_refunds_in_full(world: World) -> None:
    booking = world.hold(starts_in=10 * timedelta(hours=1))  # too late for any policy refund
    paid = await world.pay(booking, RISKY)

    reviewed = ok(await world.app(ReviewPayment)(world.app.admin, paid.id, False, "stolen card"))

    assert reviewed.payment.review is ReviewState.REJECTED
    assert reviewed.refund is not None
    assert (reviewed.refund.reason, reviewed.refund.amount, reviewed.refund.status) == (
        RefundReason.REVIEW_REJECTED,
        eur(10_000),
        RefundStatus.SUCCEEDED,
    )
    assert world.app.desk.booking(booking.id).state is BookingState.CANCELLED
    again = failure(await world.app(ReviewPayment)(world.app.admin, paid.id, True, ""))
    assert isinstance(again, ReviewNotPending)


async def test_reviewing_needs_an_admin_with_a_second_factor_and_a_pending_payment(
    world: World,
) -> None:
    paid = await world.pay(world.hold())
    review = world.app(ReviewPayment)
    unverified = Principal(user_id=world.app.admin.user_id, roles=frozenset({Role.ADMIN}))

    assert isinstance(failure(await review(world.manager, paid.id, True, "")), Forbidden)
    assert isinstance(failure(await review(unverified, paid.id, True, "")), MfaRequired)
    assert isinstance(failure(await review(world.app.admin, paid.id, True, "")), ReviewNotPending)
    unknown = await review(world.app.admin, PaymentId(uuid.uuid4()), True, "")
    assert isinstance(failure(unknown), NotFound)
    assert isinstance(failure(await world.app(ListPaymentsInReview)(world.customer)), Forbidden)


# --- terms ---------------------------------------------------------------------------------


async def test_an_offering_without_terms_has_the_platforms(world: World) -> None:
    terms = ok(await world.app(GetOfferingTerms)(world.offering))

    assert (terms.version, terms.policy, terms.deposit) == (0, DEFAULT_POLICY, None)
    unknown = await world.app(GetOfferingTerms)(OfferingId(uuid.uuid4()))
    assert isinstance(failure(unknown), NotFound)


async def test_each_change_of_terms_is_a_new_version(world: World) -> None:
    policy = ok(CancellationPolicy.of((RefundTier(notice=3 * DAY, percent=80),)))
    deposit = ok(DepositRule.of_fixed(eur(2_000), balance_due_before=DAY))
    set_terms = world.app(SetOfferingTerms)

    first = ok(await set_terms(world.manager, world.offering, DEFAULT_POLICY, None))
    world.app.clock.advance(timedelta(minutes=1))
    second = ok(await set_terms(world.manager, world.offering, policy, deposit))

    assert (first.version, second.version) == (1, 2)
    assert ok(await world.app(GetOfferingTerms)(world.offering)) == second
    changes = [a for a in world.store.audit if a.action == "terms.changed"]
    assert [c.details["version"] for c in changes] == [1, 2]
    assert changes[1].actor == world.manager.user_id


async def test_only_the_offerings_staff_with_a_second_factor_set_its_terms(world: World) -> None:
    set_terms = world.app(SetOfferingTerms)
    stranger = world.app.staff(ProviderId(uuid.uuid4()))
    unverified = world.app.staff(world.provider, mfa=False)

    assert isinstance(
        failure(await set_terms(stranger, world.offering, DEFAULT_POLICY, None)), Forbidden
    )
    assert isinstance(
        failure(await set_terms(unverified, world.offering, DEFAULT_POLICY, None)), MfaRequired
    )
    assert isinstance(
        failure(await set_terms(world.customer, world.offering, DEFAULT_POLICY, None)), Forbidden
    )
    unknown = await set_terms(world.manager, OfferingId(uuid.uuid4()), DEFAULT_POLICY, None)
    assert isinstance(failure(unknown), NotFound)


# --- Connect -------------------------------------------------------------------------------


async def test_onboarding_creates_the_account_once_and_links_to_it(world: World) -> None:
    provider = ProviderId(uuid.uuid4())
    staff = world.app.staff(provider)
    start = world.app(StartProviderOnboarding)

    before = world.app.gateway.calls.count("create_account")
    first = ok(await start(staff, provider, "https://app.test/done", "https://app.test/again"))
    second = ok(await start(staff, provider, "https://app.test/done", "https://app.test/again"))

    account = next(a for a in world.store.accounts if a.provider_id == provider)
    assert account.account_ref is not None
    assert account.account_ref in first
    assert first == second
    assert world.app.gateway.calls.count("create_account") == before + 1
    assert not account.charges_enabled


async def test_a_crash_creating_the_account_creates_it_once(world: World) -> None:
    provider = ProviderId(uuid.uuid4())
    staff = world.app.staff(provider)
    start = world.app(StartProviderOnboarding)
    before = world.app.gateway.calls.count("create_account")
    world.app.gateway.crash_after("create_account")

    with pytest.raises(ConnectionError):
        await start(staff, provider, "https://app.test/done", "https://app.test/again")
    link = ok(await start(staff, provider, "https://app.test/done", "https://app.test/again"))

    (account,) = [a for a in world.store.accounts if a.provider_id == provider]
    assert account.account_ref is not None
    assert account.account_ref in link
    # The same stored key twice: the processor answered the account it made the first time.
    assert world.app.gateway.calls.count("create_account") == before + 2
    assert len(world.app.gateway.accounts()) == 2  # the world's provider's, and this one


async def test_onboarding_and_money_views_are_for_the_providers_staff(world: World) -> None:
    start = world.app(StartProviderOnboarding)
    money = world.app(ProviderMoney)
    other = world.app.staff(ProviderId(uuid.uuid4()))

    assert isinstance(
        failure(await start(other, world.provider, "https://a", "https://b")), Forbidden
    )
    assert isinstance(failure(await money(other, world.provider)), Forbidden)
    assert isinstance(failure(await money(world.customer, world.provider)), Forbidden)
    view = ok(await money(world.manager, world.provider))
    assert (view.charges_enabled, view.payouts_enabled) == (True, True)
    assert view.ledger == ()
