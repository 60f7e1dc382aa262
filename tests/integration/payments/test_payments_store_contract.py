"""One contract for every PaymentsUnitOfWork: the in-memory store and PostGIS must agree.

Each test runs once per store in STORE_KINDS (payments_integration_support.py: the memory store
plugs in there), on PostGIS over a freshly emptied, migrated database, as the app role.
"""

from __future__ import annotations

import uuid
from typing import Any

import attrs
from payments_integration_support import (
    HOUR,
    MINUTE,
    NOW,
    Store,
    add,
    captured,
    eur,
    offering_terms,
    payment,
    refund,
)

from core.payments import ledger
from core.payments.fraud import Velocity
from core.payments.ledger import Balance, LedgerTransaction
from core.payments.model import (
    BookingOutcome,
    Payment,
    PaymentPart,
    PaymentStatus,
    RefundReason,
    RefundStatus,
    ReviewState,
    Risk,
)
from core.payments.ports import CustomerRef, InboxItem, ProcessorEvent, ProviderAccount
from core.shared.events import Event
from core.shared.ids import BookingId, OfferingId, ProviderId, UserId
from core.shared.unit_of_work import MAINTENANCE

# ---------------------------------------------------------------- the unit of work


async def test_nothing_is_kept_without_commit(store: Store) -> None:
    paid = payment()
    async with store.uow(MAINTENANCE) as uow:
        await uow.payments.add(paid)
        await uow.outbox.add(Event(name="payments.x", occurred_at=NOW, payload={}))
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.payments.get(paid.id) is None


# ---------------------------------------------------------------- payments


async def test_a_payment_reads_back_exactly_as_written(store: Store) -> None:
    full = captured(
        part=PaymentPart.DEPOSIT,
        terms=offering_terms(version=3, deposit=True),
        fee=eur(320),
        risk=Risk(level="elevated", score=67, outcome="authorized"),
        card_fingerprint="fp_1",
        payment_method_id="pm_1",
        review=ReviewState.PENDING,
        review_reason="the processor rates the risk elevated",
        booking_outcome=BookingOutcome.CONFIRMED,
        client_ip="203.0.113.7",
        refunded=eur(0),
        version=4,
    )
    balance = payment(part=PaymentPart.BALANCE, due_at=NOW + 48 * HOUR, failure="declined")
    await add(store, full, balance)

    async with store.uow(MAINTENANCE) as uow:
        assert await uow.payments.get(full.id) == full
        assert await uow.payments.get(balance.id) == balance
        assert await uow.payments.for_intent(str(full.intent_id)) == full
        assert await uow.payments.for_intent("pi_unknown") is None
        assert await uow.payments.get(payment().id) is None


async def test_payments_of_a_booking_oldest_first(store: Store) -> None:
    booking = BookingId(uuid.uuid4())
    later = payment(booking=booking, created_at=NOW + MINUTE, part=PaymentPart.BALANCE)
    first = payment(booking=booking, part=PaymentPart.DEPOSIT)
    await add(store, later, first, payment())

    async with store.uow(MAINTENANCE) as uow:
        assert await uow.payments.for_booking(booking) == [first, later]
        assert await uow.payments.for_booking(BookingId(uuid.uuid4())) == []


async def test_a_customers_payments_newest_first_in_pages(store: Store) -> None:
    customer = UserId(uuid.uuid4())
    mine = [payment(customer=customer, created_at=NOW + n * MINUTE) for n in range(5)]
    await add(store, *mine, payment())
    newest_first = mine[::-1]

    async with store.uow(MAINTENANCE) as uow:
        first = await uow.payments.for_customer(customer, 2, None)
        second = await uow.payments.for_customer(customer, 2, first[-1].id)
        rest = await uow.payments.for_customer(customer, 10, second[-1].id)
        unknown = await uow.payments.for_customer(customer, 10, payment().id)

    assert [*first, *second, *rest] == newest_first
    assert (len(first), len(second)) == (2, 2)
    assert unknown == []


async def test_save_writes_only_over_the_version_it_read(store: Store) -> None:
    created = payment()
    await add(store, created)
    seen = attrs.evolve(
        created, status=PaymentStatus.REQUIRES_ACTION, intent_id="pi_1", updated_at=NOW + MINUTE
    )

    async with store.uow(MAINTENANCE) as uow:
        assert await uow.payments.save(seen)
        assert not await uow.payments.save(attrs.evolve(seen, status=PaymentStatus.FAILED))
        assert not await uow.payments.save(payment())  # never added
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.payments.get(created.id) == attrs.evolve(seen, version=1)


async def test_save_leaves_the_refunded_amount_to_reservations(store: Store) -> None:
    paid = captured(10_000)
    await add(store, paid)
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.payments.reserve_refund(paid.id, eur(4_000))
        # A copy read before the reservation is saved: the reservation must survive.
        assert await uow.payments.save(attrs.evolve(paid, review=ReviewState.APPROVED))
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        stored = await uow.payments.get(paid.id)
    assert stored is not None
    assert (stored.refunded, stored.review, stored.version) == (eur(4_000), ReviewState.APPROVED, 1)


async def test_refunds_reserve_at_most_what_was_captured(store: Store) -> None:
    paid = captured(10_000)
    await add(store, paid)
    async with store.uow(MAINTENANCE) as uow:
        results = [
            await uow.payments.reserve_refund(paid.id, eur(6_000)),
            await uow.payments.reserve_refund(paid.id, eur(4_001)),
            await uow.payments.reserve_refund(paid.id, eur(4_000)),
            await uow.payments.reserve_refund(paid.id, eur(1)),
        ]
        await uow.payments.release_refund(paid.id, eur(6_000))
        again = await uow.payments.reserve_refund(paid.id, eur(5_000))
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        stored = await uow.payments.get(paid.id)

    assert results == [True, False, True, False]
    assert again is True
    assert stored is not None
    assert stored.refunded == eur(9_000)


async def test_nothing_is_refundable_before_a_capture(store: Store) -> None:
    pending = payment()
    await add(store, pending)
    async with store.uow(MAINTENANCE) as uow:
        assert not await uow.payments.reserve_refund(pending.id, eur(1))
        assert not await uow.payments.reserve_refund(payment().id, eur(1))


async def test_the_sweepers_queues(store: Store) -> None:
    unsettled = captured(created_at=NOW)
    settled = captured(booking_outcome=BookingOutcome.CONFIRMED, fee=eur(100))
    due = payment(part=PaymentPart.BALANCE, due_at=NOW - MINUTE)
    due_later = payment(part=PaymentPart.BALANCE, due_at=NOW + MINUTE)
    charged = payment(part=PaymentPart.BALANCE, due_at=NOW - HOUR, status=PaymentStatus.PROCESSING)
    review = captured(
        review=ReviewState.PENDING, booking_outcome=BookingOutcome.CONFIRMED, fee=eur(100)
    )
    reviewed = captured(
        review=ReviewState.APPROVED, booking_outcome=BookingOutcome.CONFIRMED, fee=eur(100)
    )
    await add(store, unsettled, settled, due, due_later, charged, review, reviewed)

    async with store.uow(MAINTENANCE) as uow:
        assert await uow.payments.unsettled(10) == [unsettled]
        assert await uow.payments.balances_due(NOW, 10) == [due]
        assert await uow.payments.balances_due(NOW + HOUR, 1) == [due]
        assert await uow.payments.in_review(10) == [review]


async def test_velocity_counts_within_the_window(store: Store) -> None:
    customer = UserId(uuid.uuid4())
    since = NOW - HOUR

    def failed(**changes: Any) -> Payment:
        return payment(status=PaymentStatus.FAILED, updated_at=NOW - MINUTE, **changes)

    await add(
        store,
        failed(customer=customer, card_fingerprint="fp_a", client_ip="198.51.100.1"),
        failed(customer=customer, card_fingerprint="fp_b", client_ip="198.51.100.1"),
        failed(card_fingerprint="fp_a", client_ip="198.51.100.1"),  # someone else
        failed(card_fingerprint="fp_a", created_at=NOW - 3 * HOUR),  # not new: it failed now
        payment(  # failed before the window
            customer=customer,
            status=PaymentStatus.FAILED,
            updated_at=NOW - 2 * HOUR,
            created_at=NOW - 2 * HOUR,
            card_fingerprint="fp_a",
        ),
        payment(customer=customer),
        payment(customer=customer, created_at=NOW - 2 * HOUR),
    )

    async with store.uow(MAINTENANCE) as uow:
        seen = await uow.payments.velocity(customer, "fp_a", "198.51.100.1", since)
        nothing = await uow.payments.velocity(UserId(uuid.uuid4()), None, None, since)

    assert seen == Velocity(
        failed_by_account=2, failed_by_card=3, failed_by_ip=3, payments_by_account=3
    )
    assert nothing == Velocity()


# ---------------------------------------------------------------- refunds


async def test_one_refund_per_payment_and_request_key(store: Store) -> None:
    paid, other = captured(), captured()
    await add(store, paid, other)
    first = refund(paid, 3_000, requested_by=UserId(uuid.uuid4()), note="by the policy")
    again = refund(paid, 5_000)  # same payment, same key: the same request

    async with store.uow(MAINTENANCE) as uow:
        assert await uow.refunds.add(first)
        assert not await uow.refunds.add(again)
        assert await uow.refunds.add(refund(other, 3_000))
        later = refund(paid, 1_000, request_key="goodwill-1", created_at=NOW + MINUTE)
        assert await uow.refunds.add(later)
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.refunds.get(first.id) == first
        assert await uow.refunds.get(again.id) is None
        assert await uow.refunds.by_request(paid.id, "cancellation") == first
        assert await uow.refunds.by_request(paid.id, "unknown") is None
        assert [r.request_key for r in await uow.refunds.for_payment(paid.id)] == [
            "cancellation",
            "goodwill-1",
        ]


async def test_a_refund_changes_only_from_the_state_it_was_read_in(store: Store) -> None:
    paid = captured()
    await add(store, paid)
    asked = refund(paid, 2_000)
    async with store.uow(MAINTENANCE) as uow:
        await uow.refunds.add(asked)
        await uow.commit()
    pending = attrs.evolve(
        asked, status=RefundStatus.PENDING, processor_refund_id="re_1", updated_at=NOW + MINUTE
    )
    failed = attrs.evolve(pending, status=RefundStatus.FAILED, failure="card expired")
    retried = failed.retried(NOW + HOUR).unwrap()

    async with store.uow(MAINTENANCE) as uow:
        assert await uow.refunds.save(pending, RefundStatus.REQUESTED, 1)
        assert not await uow.refunds.save(pending, RefundStatus.REQUESTED, 1)
        assert await uow.refunds.for_processor("re_1") == pending
        assert await uow.refunds.save(failed, RefundStatus.PENDING, 1)
        assert await uow.refunds.save(retried, RefundStatus.FAILED, 1)
        assert not await uow.refunds.save(retried, RefundStatus.REQUESTED, 1)  # attempt is 2
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.refunds.get(asked.id) == retried
        assert await uow.refunds.for_processor("re_1") is None


async def test_refunds_by_status_and_age(store: Store) -> None:
    paid = captured()
    await add(store, paid)
    old = refund(paid, 100, "a", updated_at=NOW - 5 * MINUTE)
    older = refund(paid, 100, "b", updated_at=NOW - 9 * MINUTE)
    fresh = refund(paid, 100, "c", updated_at=NOW)
    done = refund(paid, 100, "d", status=RefundStatus.SUCCEEDED, updated_at=NOW - HOUR)
    async with store.uow(MAINTENANCE) as uow:
        for each in (old, older, fresh, done):
            await uow.refunds.add(each)
        await uow.commit()

    async with store.uow(MAINTENANCE) as uow:
        requested = RefundStatus.REQUESTED
        assert await uow.refunds.with_status(requested, NOW - MINUTE, 10) == [older, old]
        assert await uow.refunds.with_status(requested, None, 10) == [older, old, fresh]
        assert await uow.refunds.with_status(requested, None, 1) == [older]
        assert await uow.refunds.with_status(RefundStatus.FAILED, None, 10) == []


# ---------------------------------------------------------------- terms


async def test_terms_versions_and_the_one_in_effect(store: Store) -> None:
    offering = OfferingId(uuid.uuid4())
    v1 = offering_terms(offering, 1, NOW)
    v2 = offering_terms(offering, 2, NOW + HOUR, deposit=True)

    async with store.uow(MAINTENANCE) as uow:
        assert await uow.terms.latest(offering) is None
        assert await uow.terms.add(v1)
        assert await uow.terms.add(v2)
        assert not await uow.terms.add(attrs.evolve(v2, effective_from=NOW + 2 * HOUR))
        assert await uow.terms.add(offering_terms(OfferingId(uuid.uuid4()), 1, NOW - HOUR))
        await uow.commit()

    async with store.uow(MAINTENANCE) as uow:
        assert await uow.terms.latest(offering) == v2
        assert await uow.terms.in_effect_at(offering, NOW - MINUTE) is None
        assert await uow.terms.in_effect_at(offering, NOW) == v1
        assert await uow.terms.in_effect_at(offering, NOW + HOUR - MINUTE) == v1
        assert await uow.terms.in_effect_at(offering, NOW + HOUR) == v2
        assert await uow.terms.in_effect_at(OfferingId(uuid.uuid4()), NOW) is None

    # The one-read port a hold's answer uses agrees with the unit of work's repository.
    in_effect = store.terms_in_effect
    assert await in_effect.at(offering, NOW - MINUTE) is None
    assert await in_effect.at(offering, NOW) == v1
    assert await in_effect.at(offering, NOW + HOUR - MINUTE) == v1
    assert await in_effect.at(offering, NOW + HOUR) == v2
    assert await in_effect.at(OfferingId(uuid.uuid4()), NOW) is None


# ---------------------------------------------------------------- ledger


async def test_a_ledger_key_is_posted_once(store: Store) -> None:
    paid = captured(10_000)
    await add(store, paid)
    capture = ledger.capture(paid, NOW)
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.ledger.post(capture)
        assert not await uow.ledger.post(attrs.evolve(capture, at=NOW + MINUTE))
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        assert not await uow.ledger.post(capture)
        assert await uow.ledger.transactions(NOW, NOW + HOUR) == [capture]


async def test_ledger_transactions_by_time_and_provider(store: Store) -> None:
    ours, theirs = ProviderId(uuid.uuid4()), ProviderId(uuid.uuid4())
    mine, other = captured(10_000, provider=ours), captured(5_000, provider=theirs)
    await add(store, mine, other)
    gave_back = refund(mine, 2_500, status=RefundStatus.SUCCEEDED, processor_refund_id="re_9")
    posted: list[LedgerTransaction] = [
        ledger.capture(mine, NOW),
        ledger.processor_fee(mine, eur(320), NOW + MINUTE),
        ledger.capture(other, NOW + 2 * MINUTE),
        ledger.refund(mine, gave_back, NOW + 3 * MINUTE),
        ledger.payout(ours, eur(4_000), "po_1", NOW + HOUR),
    ]
    async with store.uow(MAINTENANCE) as uow:
        await uow.refunds.add(gave_back)
        for transaction in posted:
            assert await uow.ledger.post(transaction)
        await uow.commit()

    async with store.uow(MAINTENANCE) as uow:
        everything = await uow.ledger.transactions(NOW, NOW + 2 * HOUR)
        first_hour = await uow.ledger.transactions(NOW, NOW + HOUR)
        of_ours = await uow.ledger.transactions(NOW, NOW + 2 * HOUR, ours)

    assert everything == posted
    assert first_hour == posted[:4]
    assert of_ours == [posted[0], posted[3], posted[4]]


async def test_ledger_balances_overall_and_of_a_provider(store: Store) -> None:
    ours, theirs = ProviderId(uuid.uuid4()), ProviderId(uuid.uuid4())
    mine, other = captured(10_000, provider=ours), captured(5_000, provider=theirs)
    await add(store, mine, other)
    posted = [
        ledger.capture(mine, NOW),
        ledger.processor_fee(mine, eur(320), NOW),
        ledger.capture(other, NOW),
        ledger.payout(ours, eur(4_000), "po_1", NOW),
    ]
    async with store.uow(MAINTENANCE) as uow:
        for transaction in posted:
            await uow.ledger.post(transaction)
        await uow.commit()

    async with store.uow(MAINTENANCE) as uow:
        overall = await uow.ledger.balances()
        provider = await uow.ledger.balances(ours)

    assert overall == ledger.balances(posted)
    assert sum(b.minor for b in overall) == 0
    assert provider == [
        Balance(account=ledger.paid_out(ours), currency=eur(0).currency, minor=4_000),
        Balance(account=ledger.payable(ours), currency=eur(0).currency, minor=5_000),
    ]


# ---------------------------------------------------------------- processor events


def _event(id: str, at_minute: int = 0) -> ProcessorEvent:
    return ProcessorEvent(
        id=id,
        type="payment_intent.succeeded",
        object_id=f"pi_{id}",
        account_ref="acct_1" if id.endswith("c") else None,
        created_at=NOW + at_minute * MINUTE,
    )


async def test_an_event_is_recorded_once_and_claimed_until_done(store: Store) -> None:
    first, second, connect = _event("evt_a"), _event("evt_b", -5), _event("evt_c")
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.inbox.record(first, NOW)
        assert not await uow.inbox.record(first, NOW + MINUTE)
        assert await uow.inbox.record(second, NOW + MINUTE)
        assert await uow.inbox.record(connect, NOW + 2 * MINUTE)
        await uow.commit()

    async with store.uow(MAINTENANCE) as uow:  # new events are due even to an earlier clock
        early = await uow.inbox.claim(NOW - MINUTE, 10)
    async with store.uow(MAINTENANCE) as uow:
        claimed = await uow.inbox.claim(NOW + HOUR, 2)
        await uow.inbox.done(first.id, NOW + HOUR)
        await uow.inbox.failed(second.id, "processor down", NOW + 2 * HOUR)
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        before_retry = await uow.inbox.claim(NOW + HOUR, 10)
        at_retry = await uow.inbox.claim(NOW + 2 * HOUR, 10)

    assert early == [InboxItem(event=e, attempts=0) for e in (first, second, connect)]
    assert claimed == [InboxItem(event=first, attempts=0), InboxItem(event=second, attempts=0)]
    assert before_retry == [InboxItem(event=connect, attempts=0)]
    assert at_retry == [
        InboxItem(event=second, attempts=1, last_error="processor down"),
        InboxItem(event=connect, attempts=0),
    ]


# ---------------------------------------------------------------- accounts and customers


async def test_provider_accounts_are_kept_by_provider_and_by_reference(store: Store) -> None:
    provider = ProviderId(uuid.uuid4())
    started = ProviderAccount(
        provider_id=provider, account_ref=None, idempotency_key=f"acct-{provider}", updated_at=NOW
    )
    created = attrs.evolve(started, account_ref="acct_9", updated_at=NOW + MINUTE)
    enabled = attrs.evolve(created, charges_enabled=True, payouts_enabled=True)

    async with store.uow(MAINTENANCE) as uow:
        assert await uow.accounts.get(provider) is None
        await uow.accounts.put(started)
        assert await uow.accounts.get(provider) == started
        await uow.accounts.put(created)
        await uow.accounts.put(enabled)
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.accounts.get(provider) == enabled
        assert await uow.accounts.by_ref("acct_9") == enabled
        assert await uow.accounts.by_ref("acct_unknown") is None


async def test_processor_customers_are_kept_by_user(store: Store) -> None:
    user = UserId(uuid.uuid4())
    started = CustomerRef(user_id=user, customer_ref=None, idempotency_key=f"cus-{user}")
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.customers.get(user) is None
        await uow.customers.put(started)
        await uow.customers.put(attrs.evolve(started, customer_ref="cus_1"))
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.customers.get(user) == attrs.evolve(started, customer_ref="cus_1")
        assert await uow.customers.get(UserId(uuid.uuid4())) is None


async def test_money_actions_are_audited_beside_the_change(store: Store) -> None:
    paid = captured()
    async with store.uow(MAINTENANCE) as uow:
        await uow.payments.add(paid)
        await uow.audit.append(
            "refund.requested",
            NOW,
            UserId(uuid.uuid4()),
            paid.customer_id,
            {"payment_id": str(paid.id), "amount_minor": 100, "reason": RefundReason.GOODWILL},
        )
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.payments.get(paid.id) == paid


# ---------------------------------------------------------------- added with the entry wiring


async def test_a_booking_has_one_open_payment_of_each_part(store: Store) -> None:
    first = payment()
    rival = payment(booking=first.booking_id)  # a second request, racing the first
    deposit = payment(booking=first.booking_id, part=PaymentPart.DEPOSIT, created_at=NOW + MINUTE)
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.payments.add(first)
        assert not await uow.payments.add(rival)
        assert await uow.payments.add(deposit)  # another part
        await uow.commit()

    async with store.uow(MAINTENANCE) as uow:
        assert [p.id for p in await uow.payments.for_booking(first.booking_id)] == [
            first.id,
            deposit.id,
        ]
        cancelled = attrs.evolve(first, status=PaymentStatus.CANCELLED)
        assert await uow.payments.save(cancelled)
        assert await uow.payments.add(payment(booking=first.booking_id))  # room again
        await uow.commit()


async def test_a_success_whose_fee_is_unknown_stays_in_the_sweepers_queue(store: Store) -> None:
    fee_unknown = captured(booking_outcome=BookingOutcome.CONFIRMED)
    known = captured(booking_outcome=BookingOutcome.CONFIRMED, fee=eur(59))
    charging = payment(
        part=PaymentPart.BALANCE, due_at=NOW - MINUTE, intent_id=f"pi_{uuid.uuid4().hex}"
    )
    await add(store, fee_unknown, known, charging)

    async with store.uow(MAINTENANCE) as uow:
        assert [p.id for p in await uow.payments.unsettled(10)] == [fee_unknown.id]
        assert await uow.payments.balances_due(NOW, 10) == []


async def test_a_leased_event_is_out_of_every_claim_until_its_lease_ends(store: Store) -> None:
    """The claimer commits its claim with a lease, then handles the event with no transaction
    open (docs/adr/0035): meanwhile no other claim takes it, even a never-attempted one."""
    fresh, other = _event("evt_l1"), _event("evt_l2")
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.inbox.record(fresh, NOW)
        assert await uow.inbox.record(other, NOW)
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        (claimed,) = await uow.inbox.claim(NOW, 1)
        await uow.inbox.lease([claimed.event.id], NOW + HOUR)
        await uow.commit()

    async with store.uow(MAINTENANCE) as uow:
        during = await uow.inbox.claim(NOW + MINUTE, 10)
    async with store.uow(MAINTENANCE) as uow:
        after = await uow.inbox.claim(NOW + HOUR, 10)

    assert claimed == InboxItem(event=fresh, attempts=0)
    assert during == [InboxItem(event=other, attempts=0)]
    assert after == [InboxItem(event=fresh, attempts=0), InboxItem(event=other, attempts=0)]
